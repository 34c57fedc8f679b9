package dev.atelier.benchmarks.search;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.index.Neighbors;
import dev.atelier.engine.index.SearchKernel;
import dev.atelier.engine.index.VectorIndex;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.IntConsumer;

/** Builds and measures FAISS indexes through Atelier's {@link VectorIndex}, on native copies of the vectors. */
final class FaissRunner {
    static final int BATCH = 1000;

    private final ClusteredVectors data;
    private final MemorySegment base;
    private final MemorySegment queries;
    private final int k;
    private final int threads;

    FaissRunner(ClusteredVectors data, Arena arena, int k, int threads) {
        this.data = data;
        this.k = k;
        this.threads = threads;
        base = arena.allocate(ValueLayout.JAVA_FLOAT, (long) data.n() * data.dimension());
        MemorySegment.copy(data.base(), 0, base, ValueLayout.JAVA_FLOAT, 0, data.base().length);
        queries = arena.allocate(ValueLayout.JAVA_FLOAT, (long) data.nq() * data.dimension());
        MemorySegment.copy(data.queries(), 0, queries, ValueLayout.JAVA_FLOAT, 0, data.queries().length);
    }

    /** An index with its build cost. */
    record Built(VectorIndex index, double seconds, double sizeMiB, double rssDeltaMiB) {}

    /** Creates, trains (on the first trainRows vectors, a random sample: rows are in random cluster order) and fills an index. */
    Built build(IndexSpec spec, int trainRows) {
        double rss0 = Measurements.rssMiB();
        long t0 = System.nanoTime();
        VectorIndex index = VectorIndex.create(spec, data.dimension());
        index.train(rows(base, 0, Math.min(trainRows, data.n())));
        index.add(rows(base, 0, data.n()));
        double seconds = (System.nanoTime() - t0) / 1e9;
        double rss = Measurements.rssMiB() - rss0;
        double size = index.toBytes().length / (1024.0 * 1024.0);
        return new Built(index, seconds, size, rss);
    }

    /** The top k of every query, in batches of {@link #BATCH} (one native call each). */
    long[][] batchSearch(VectorIndex index) {
        long[][] out = new long[data.nq()][];
        for (int start = 0; start < data.nq(); start += BATCH) {
            int m = Math.min(BATCH, data.nq() - start);
            Neighbors found = index.search(rows(queries, start, m), k, null);
            for (int q = 0; q < m; q++) {
                out[start + q] = java.util.Arrays.copyOfRange(found.ids(), q * k, (q + 1) * k);
            }
        }
        return out;
    }

    /** Queries per second of {@link #batchSearch}, best of rounds (the machine's load varies). */
    double batchQps(VectorIndex index, int rounds) {
        double best = 0;
        for (int r = 0; r < rounds; r++) {
            long t0 = System.nanoTime();
            batchSearch(index);
            best = Math.max(best, data.nq() / ((System.nanoTime() - t0) / 1e9));
        }
        return best;
    }

    /** Top k of query i alone (one native call, which runs it on one OpenMP thread). */
    long[] single(VectorIndex index, int i) {
        return index.search(rows(queries, i, 1), k, null).ids();
    }

    /**
     * Full measurements of index with its current settings and search kernel against exact results;
     * single-query latency and throughput over the first singles queries.
     */
    Row measure(String name, String setting, Built built, long[][] exact, int batchRounds, int singles) throws Exception {
        VectorIndex index = built.index();
        double recall = Measurements.recall(batchSearch(index), exact, k);
        double qps = batchQps(index, batchRounds);
        int m = Math.min(singles, data.nq());
        Measurements.Latency latency = Measurements.singles(m, i -> single(index, i));
        double parallel = Measurements.parallelSingles(m, threads, 2, i -> single(index, i));
        return new Row(engine(index.searchKernel()), name, setting, built.seconds(), built.sizeMiB(), built.rssDeltaMiB(),
                recall, latency.p50Micros(), latency.p99Micros(), qps, parallel);
    }

    /** The table's engine column: whose search code answered (the index itself is FAISS's either way). */
    static String engine(SearchKernel kernel) {
        return kernel == SearchKernel.FAISS ? "faiss 1.7.3" : "atelier (" + kernel.nativeName() + ")";
    }

    /**
     * Tries values (ascending) with setter until batch recall reaches target; returns the first that
     * does, else the one with the best recall. Prints each step.
     */
    int sweep(String what, VectorIndex index, int[] values, IntConsumer setter, long[][] exact, double target) throws Exception {
        return Measurements.sweep(what, values, exact, k, target, "batch_qps", v -> {
            setter.accept(v);
            long t0 = System.nanoTime();
            long[][] found = batchSearch(index);
            return new Measurements.SweepStep(found, data.nq() / ((System.nanoTime() - t0) / 1e9));
        });
    }

    private TensorView rows(MemorySegment all, int first, int count) {
        long bytes = (long) data.dimension() * Float.BYTES;
        return TensorView.of(all.asSlice(first * bytes, count * bytes), DType.F32, count, data.dimension());
    }
}
