package dev.atelier.benchmarks;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.embed.TorchEmbedder;
import dev.atelier.engine.embed.EmbedderOptions;
import java.lang.foreign.Arena;
import java.nio.file.Path;

/**
 * MobileNetV3-Large images per second on Atelier's libtorch backend (the native embedder), the
 * network alone on already-transformed input as the ONNX and torchvision measurements do: batch 1
 * on one thread and batch 32 on two threads. benchmarks/embedder/compare.sh runs it beside them.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar \
 *     dev.atelier.benchmarks.TorchEmbedderThroughput WEIGHTS.safetensors [SECONDS]</pre>
 *
 * Prints one line per setting: {@code libtorch batch=B threads=T images_per_s=X p50_ms=Y runs=N}.
 */
public final class TorchEmbedderThroughput {
    private TorchEmbedderThroughput() {}

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: TorchEmbedderThroughput WEIGHTS.safetensors [SECONDS per setting]");
            System.exit(2);
        }
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 5;
        Path weights = Path.of(args[0]);
        measure(weights, 1, 1, seconds);
        measure(weights, 32, 2, seconds);
    }

    private static void measure(Path weights, int batch, int threads, double seconds) {
        EmbedderOptions options = EmbedderOptions.defaults().withBatchSize(batch).withThreads(threads);
        try (TorchEmbedder embedder = TorchEmbedder.open(weights, options); Arena arena = Arena.ofConfined()) {
            TensorView input = EmbedderTiming.randomImages(arena, batch);
            EmbedderTiming.time("libtorch", batch, threads, seconds, () -> embedder.forward(input, false, false));
        }
    }
}
