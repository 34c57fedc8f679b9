package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import java.util.Objects;

/** The compute dtype, kernels and device of a network's params, checked together as the library does. */
final class Placement {
    private Placement() {}

    /**
     * F32 or BF16 anywhere, F16 on CUDA only; a CUDA network runs libtorch's ops, so its kernels
     * are {@link OpKernel#AUTO} or {@link OpKernel#TORCH}. Bad input names the network.
     */
    static void check(String network, DType dtype, OpKernel kernels, Device device) {
        Objects.requireNonNull(kernels, "kernels");
        Objects.requireNonNull(device, "device");
        boolean cuda = device.isCuda();
        if (dtype != DType.F32 && dtype != DType.BF16 && !(cuda && dtype == DType.F16)) {
            throw new InvalidInputException(network + ": compute dtype must be F32 or BF16"
                    + (cuda ? " or F16" : " (F16 runs on CUDA only)") + ", got " + dtype);
        }
        if (cuda && kernels != OpKernel.AUTO && kernels != OpKernel.TORCH) {
            throw new InvalidInputException(network + ": a CUDA network runs libtorch's ops; kernels must be auto or torch, got "
                    + kernels.nativeName());
        }
    }
}
