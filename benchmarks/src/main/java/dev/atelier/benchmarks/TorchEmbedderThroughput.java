package dev.atelier.benchmarks;

import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.embed.TorchEmbedder;
import dev.atelier.engine.embed.EmbedderOptions;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

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
            float[] values = new float[batch * 3 * 224 * 224];
            Random random = new Random(1234);
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextGaussian();
            }
            TensorView input = TensorView.ofFloats(arena, values, batch, 3, 224, 224);
            long warmupEnd = System.nanoTime() + 1_000_000_000L;
            do {
                embedder.forward(input, false, false);
            } while (System.nanoTime() < warmupEnd);
            long[] times = new long[100_000];
            int runs = 0;
            long start = System.nanoTime(), end = start + (long) (seconds * 1e9);
            while ((System.nanoTime() < end || runs < 3) && runs < times.length) {
                long t0 = System.nanoTime();
                embedder.forward(input, false, false);
                times[runs++] = System.nanoTime() - t0;
            }
            double total = (System.nanoTime() - start) / 1e9;
            long[] sorted = Arrays.copyOf(times, runs);
            Arrays.sort(sorted);
            System.out.printf("libtorch batch=%d threads=%d images_per_s=%.1f p50_ms=%.2f runs=%d%n",
                    batch, threads, runs * (double) batch / total, sorted[runs / 2] / 1e6, runs);
        }
    }
}
