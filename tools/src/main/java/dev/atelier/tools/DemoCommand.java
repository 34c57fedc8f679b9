package dev.atelier.tools;

import static dev.atelier.bindings.atelier_h.atl_tensor_sum;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code atelier demo}: the README's main job. Until the workflow (LoRA, generation,
 * evaluation) lands, it prints {@code atelier info} and runs one end-to-end call through
 * native code: a safetensors file written, memory-mapped, handed to libtorch without a copy
 * and reduced there.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the main job on the embedded default (for now: info and an end-to-end native call).",
        footer = {"", "Examples:", "  atelier demo", "  atelier demo --work /tmp/atelier-demo"})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--work", description = "Folder for the demo's files (default: ${DEFAULT-VALUE}).",
            defaultValue = "work/demo")
    Path work;

    @Override
    public Integer call() throws Exception {
        InfoCommand.describe().forEach((k, v) -> System.out.printf("%-16s %s%n", k, v));
        Files.createDirectories(work);
        Path file = work.resolve("end-to-end.safetensors");
        int n = 1 << 20;
        try (Arena arena = Arena.ofConfined()) {
            TensorView ramp = TensorView.allocate(arena, dev.atelier.engine.core.DType.F32, 1024, n / 1024);
            for (int i = 0; i < n; i++) {
                ramp.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, i % 1000);
            }
            new SafeTensorsWriter().add("ramp", ramp).metadata("made_by", "atelier demo").write(file);
        }
        try (SafeTensorsFile mapped = SafeTensorsFile.open(file); Weights weights = new Weights();
                Arena arena = Arena.ofConfined()) {
            TensorView view = mapped.view("ramp");
            weights.add("ramp", view, mapped);
            boolean zeroCopy = weights.address("ramp") == view.data().address();
            MemorySegment sum = arena.allocate(ValueLayout.JAVA_DOUBLE);
            Status.check(atl_tensor_sum(view.toNative(arena), sum));
            double expected = 0;
            for (int i = 0; i < n; i++) {
                expected += i % 1000;
            }
            double got = sum.get(ValueLayout.JAVA_DOUBLE, 0);
            System.out.printf("end-to-end       %s: %d floats mapped, handed to libtorch %s, sum %.0f (expected %.0f)%n",
                    file, n, zeroCopy ? "without a copy" : "WITH A COPY", got, expected);
            if (!zeroCopy || got != expected) {
                throw new AtelierException(AtelierException.INTERNAL, "end-to-end check failed");
            }
        }
        return 0;
    }
}
