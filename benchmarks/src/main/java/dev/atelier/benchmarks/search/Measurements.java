package dev.atelier.benchmarks.search;

import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/** Timing helpers shared by the FAISS and Lucene runs: single-query latencies, parallel throughput, recall. */
final class Measurements {
    private Measurements() {}

    /** Latency percentiles of single queries run one after another on the calling thread. */
    record Latency(double p50Micros, double p99Micros, long[][] results) {}

    /**
     * Runs every query once to warm up, then again timed, one at a time on this thread.
     * search(i) returns the ids of query i's top k.
     */
    static Latency singles(int nq, IntFunction<long[]> search) {
        for (int i = 0; i < Math.min(nq, 200); i++) {
            search.apply(i);
        }
        long[] nanos = new long[nq];
        long[][] results = new long[nq][];
        for (int i = 0; i < nq; i++) {
            long t0 = System.nanoTime();
            results[i] = search.apply(i);
            nanos[i] = System.nanoTime() - t0;
        }
        Arrays.sort(nanos);
        return new Latency(percentile(nanos, 0.50) / 1e3, percentile(nanos, 0.99) / 1e3, results);
    }

    /** Queries per second of single queries spread over threads (query i on thread i % threads); best of rounds. */
    static double parallelSingles(int nq, int threads, int rounds, IntFunction<long[]> search) throws Exception {
        double best = 0;
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            for (int round = 0; round < rounds; round++) {
                long t0 = System.nanoTime();
                Future<?>[] parts = new Future<?>[threads];
                for (int t = 0; t < threads; t++) {
                    int first = t;
                    parts[t] = pool.submit(() -> {
                        for (int i = first; i < nq; i += threads) {
                            search.apply(i);
                        }
                    });
                }
                for (Future<?> f : parts) {
                    f.get();
                }
                best = Math.max(best, nq / ((System.nanoTime() - t0) / 1e9));
            }
        }
        return best;
    }

    /** Mean over queries of |found top k ∩ exact top k| / k. */
    static double recall(long[][] found, long[][] exact, int k) {
        double sum = 0;
        for (int q = 0; q < exact.length; q++) {
            int hit = 0;
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    if (found[q][a] == exact[q][b] && found[q][a] >= 0) {
                        hit++;
                        break;
                    }
                }
            }
            sum += hit / (double) k;
        }
        return sum / exact.length;
    }

    /** What one setting of a sweep gave: the search results of every query and their queries per second. */
    record SweepStep(long[][] found, double qps) {}

    /** One setting of a sweep, measured. */
    @FunctionalInterface
    interface SweepMeasure {
        SweepStep run(int value) throws Exception;
    }

    /**
     * Tries values (ascending) until recall@k against exact reaches target; returns the first that
     * does, else the one with the best recall. Prints each step as
     * {@code sweep NAME=V recall@K=R QPS_LABEL=Q}.
     */
    static int sweep(String name, int[] values, long[][] exact, int k, double target, String qpsLabel, SweepMeasure measure)
            throws Exception {
        int best = values[0];
        double bestRecall = -1;
        for (int v : values) {
            SweepStep step = measure.run(v);
            double recall = recall(step.found(), exact, k);
            System.out.printf("  sweep %s=%d recall@%d=%.4f %s=%.0f%n", name, v, k, recall, qpsLabel, step.qps());
            if (recall > bestRecall + 1e-9) {
                best = v;
                bestRecall = recall;
            }
            if (recall >= target) {
                return v;
            }
        }
        return best;
    }

    /** The nearest-rank percentile of sorted values. */
    static double percentile(long[] sorted, double p) {
        int i = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    /** Resident memory of this process in MiB (Linux), for build-memory deltas; -1 elsewhere. */
    static double rssMiB() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
