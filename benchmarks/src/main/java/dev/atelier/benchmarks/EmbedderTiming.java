package dev.atelier.benchmarks;

import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;

/**
 * The timing of the embedder throughput benchmarks (libtorch and ONNX Runtime), so that both
 * measure the same way: the same random input, one second of warm-up, then calls for the given
 * time (at least 3), reported as images per second and the median call time.
 */
final class EmbedderTiming {
    private EmbedderTiming() {}

    /** batch transformed images [batch, 3, 224, 224] of standard normal values (seed 1234) in arena. */
    static TensorView randomImages(Arena arena, int batch) {
        float[] values = new float[batch * 3 * 224 * 224];
        Random random = new Random(1234);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return TensorView.ofFloats(arena, values, batch, 3, 224, 224);
    }

    /**
     * Times call (one batch through the network) and prints
     * {@code ENGINE batch=B threads=T images_per_s=X p50_ms=Y runs=N}.
     */
    static void time(String engine, int batch, int threads, double seconds, Runnable call) {
        long warmupEnd = System.nanoTime() + 1_000_000_000L;
        do {
            call.run();
        } while (System.nanoTime() < warmupEnd);
        long[] times = new long[100_000];
        int runs = 0;
        long start = System.nanoTime(), end = start + (long) (seconds * 1e9);
        while ((System.nanoTime() < end || runs < 3) && runs < times.length) {
            long t0 = System.nanoTime();
            call.run();
            times[runs++] = System.nanoTime() - t0;
        }
        double total = (System.nanoTime() - start) / 1e9;
        long[] sorted = Arrays.copyOf(times, runs);
        Arrays.sort(sorted);
        System.out.printf("%s batch=%d threads=%d images_per_s=%.1f p50_ms=%.2f runs=%d%n",
                engine, batch, threads, runs * (double) batch / total, sorted[runs / 2] / 1e6, runs);
    }
}
