package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Device;
import dev.atelier.engine.core.NativeInfo;
import picocli.CommandLine.Option;

/** {@code --device cpu|cuda[:N]}: where the Stable Diffusion networks run. */
final class DeviceOption {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda[:N]",
            description = "Where the networks run: cpu, or a CUDA GPU (weights copied there once; --precision fp16 "
                    + "allowed there). Needs a libatelier built against a CUDA libtorch. Default: ${DEFAULT-VALUE}.")
    String device;

    /**
     * The device; an unknown name, or a GPU the library does not see, is bad input (checked here,
     * before any model loads; the library is loaded only when a GPU is asked for).
     */
    Device device() {
        Device d = Device.parse(device);
        if (d.isCuda()) {
            int visible = NativeInfo.read().cudaDevices();
            if (d.index() >= visible) {
                throw new InvalidInputException("--device " + d + ": this libatelier sees " + visible + " CUDA device"
                        + (visible == 1 ? "" : "s") + (visible == 0 ? " (it needs a CUDA build of libtorch and a GPU)" : ""));
            }
        }
        return d;
    }
}
