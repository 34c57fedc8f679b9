package dev.atelier.benchmarks.search;

import dev.atelier.engine.core.NativeInfo;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.index.SearchKernel;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Search benchmark: clustered unit vectors (n base, 1,000 held-out queries, 128-d),
 * exact results from FAISS's own flat search, then flat, HNSW32 (efConstruction 200), IVF-Flat
 * and IVF-PQ through Atelier's {@code VectorIndex}, and Lucene's HNSW, each at the smallest
 * search breadth reaching the target recall@5. Flat and HNSW are measured twice on the same
 * index: answered by FAISS 1.7.3's own search and by Atelier's kernels ({@link SearchKernel});
 * IVF indexes are always searched by FAISS. Prints a Markdown table with ratios against Lucene
 * and appends it to --out when given. benchmarks/search/run.sh runs it.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xmx8g \
 *     -cp benchmarks/target/benchmarks.jar dev.atelier.benchmarks.search.SearchBenchmark \
 *     --n 800000 [--queries 1000] [--clusters N/200] [--spread 0.05] [--seed 42] [--threads 2] \
 *     [--only flat,hnsw,ivfflat,ivfpq,lucene] [--kernels faiss,auto] [--flat-singles 200] [--out results.md]</pre>
 */
public final class SearchBenchmark {
    private static final int K = 5;
    private static final double TARGET = 0.95;
    private static final int[] EF = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
    private static final int[] NPROBE = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    private static final int[] CANDIDATES = {5, 10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};

    private SearchBenchmark() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = options(args);
        int n = Integer.parseInt(opt.getOrDefault("n", "100000"));
        int nq = Integer.parseInt(opt.getOrDefault("queries", "1000"));
        int d = Integer.parseInt(opt.getOrDefault("dim", "128"));
        int clusters = Integer.parseInt(opt.getOrDefault("clusters", Integer.toString(Math.max(1, n / 200))));
        float spread = Float.parseFloat(opt.getOrDefault("spread", "0.05"));
        long seed = Long.parseLong(opt.getOrDefault("seed", "42"));
        int threads = Integer.parseInt(opt.getOrDefault("threads", "2"));
        Set<String> only = Set.of(opt.getOrDefault("only", "flat,hnsw,ivfflat,ivfpq,lucene").split(","));
        List<SearchKernel> kernels = java.util.Arrays.stream(opt.getOrDefault("kernels", "faiss,auto").split(","))
                .map(SearchKernel::fromName).toList();
        // FAISS answers a single flat query at 800,000 in a scalar loop (tens of ms): fewer singles there.
        int flatSingles = Integer.parseInt(opt.getOrDefault("flat-singles", "200"));
        Path out = opt.containsKey("out") ? Path.of(opt.get("out")) : null;

        NativeInfo.setThreads(threads);
        String header = String.format(Locale.ROOT,
                "n=%d queries=%d d=%d clusters=%d spread=%.3f seed=%d threads=%d k=%d target recall@%d=%.2f; load at start: %s",
                n, nq, d, clusters, spread, seed, threads, K, K, TARGET, loadAverage());
        System.out.println(header);
        long t0 = System.nanoTime();
        ClusteredVectors data = ClusteredVectors.generate(n, nq, d, clusters, spread, seed);
        System.out.printf("generated in %.1f s%n", (System.nanoTime() - t0) / 1e9);

        List<Row> rows = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) {
            FaissRunner faiss = new FaissRunner(data, arena, K, threads);
            long[][] exact;
            System.out.println("flat");
            FaissRunner.Built flat = faiss.build(IndexSpec.flat(), 0);
            try {
                flat.index().setSearchKernel(SearchKernel.FAISS);
                exact = faiss.batchSearch(flat.index());
                if (only.contains("flat")) {
                    for (SearchKernel kernel : kernels) {
                        flat.index().setSearchKernel(kernel);
                        rows.add(faiss.measure("Flat (exact)", "-", flat, exact, 2, flatSingles));
                        print(rows.getLast());
                    }
                }
            } finally {
                flat.index().close();
            }
            if (only.contains("hnsw")) {
                System.out.println("HNSW32 efConstruction=200");
                FaissRunner.Built hnsw = faiss.build(IndexSpec.hnsw(), 0);
                try {
                    for (SearchKernel kernel : kernels) {
                        hnsw.index().setSearchKernel(kernel);
                        System.out.println("  search: " + FaissRunner.engine(kernel));
                        int ef = faiss.sweep("efSearch", hnsw.index(), EF, hnsw.index()::setEfSearch, exact, TARGET);
                        hnsw.index().setEfSearch(ef);
                        rows.add(faiss.measure("HNSW32 efC=200", "efSearch=" + ef, hnsw, exact, 3, data.nq()));
                        print(rows.getLast());
                        if (ef != 64) { // Atelier's default
                            hnsw.index().setEfSearch(64);
                            rows.add(faiss.measure("HNSW32 efC=200", "efSearch=64 (default)", hnsw, exact, 3, data.nq()));
                            print(rows.getLast());
                        }
                    }
                } finally {
                    hnsw.index().close();
                }
            }
            int nlist = (int) Math.round(4 * Math.sqrt(n));
            // FAISS wants >= 39 training points per list; 50 per list keeps k-means quick. "np": no
            // polysemous training (FAISS's factory default for IVF-PQ), which takes minutes and serves only
            // Hamming-distance filtering, unused here.
            int trainRows = Math.min(n, 50 * nlist);
            for (String kind : List.of("ivfflat", "ivfpq")) {
                if (!only.contains(kind)) {
                    continue;
                }
                String factory = kind.equals("ivfflat") ? "IVF" + nlist + ",Flat" : "IVF" + nlist + ",PQ32np";
                System.out.println(factory + " (trained on " + trainRows + ")");
                FaissRunner.Built ivf = faiss.build(IndexSpec.of(factory), trainRows);
                try {
                    ivf.index().setSearchKernel(SearchKernel.FAISS); // IVF is FAISS's search whatever the setting
                    int nprobe = faiss.sweep("nprobe", ivf.index(), NPROBE, ivf.index()::setNprobe, exact, TARGET);
                    ivf.index().setNprobe(nprobe);
                    rows.add(faiss.measure(factory, "nprobe=" + nprobe, ivf, exact, 3, data.nq()));
                    print(rows.getLast());
                } finally {
                    ivf.index().close();
                }
            }
            if (only.contains("lucene")) {
                System.out.println("lucene HNSW");
                Path dir = Files.createTempDirectory("atelier-lucene-bench");
                try (LuceneRunner lucene = new LuceneRunner(data, dir, K)) {
                    lucene.build();
                    System.out.printf("  built in %.1f s, %d segment(s), %.0f MiB%n", lucene.buildSeconds, lucene.segments, lucene.sizeMiB);
                    int cands = lucene.sweep(CANDIDATES, exact, TARGET, threads);
                    rows.add(lucene.measure(cands, exact, threads));
                    print(rows.getLast());
                }
            }
        }
        String table = table(rows);
        String report = "\n### Search, " + header + "; load at end: " + loadAverage() + "\n\n" + table;
        System.out.println(report);
        if (out != null) {
            Files.writeString(out, report, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
    }

    /** Markdown table; the ratio columns compare each row with the Lucene row (when there is one). */
    static String table(List<Row> rows) {
        Row lucene = rows.stream().filter(r -> r.engine().equals("lucene")).findFirst().orElse(null);
        StringBuilder s = new StringBuilder();
        s.append("| engine | index | setting | build s | size MiB | RSS +MiB | recall@5 | p50 us | p99 us | batch q/s | ")
                .append("2-thread single q/s | Lucene p50 / p50 | batch q/s / Lucene q/s |\n");
        s.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            s.append(String.format(Locale.ROOT, "| %s | %s | %s | %.1f | %.0f | %s | %.4f | %.0f | %.0f | %.0f | %.0f | %s | %s |%n",
                    r.engine(), r.index(), r.setting(), r.buildSeconds(), r.sizeMiB(),
                    Double.isNaN(r.rssDeltaMiB()) ? "-" : String.format(Locale.ROOT, "%.0f", r.rssDeltaMiB()),
                    r.recall(), r.p50Micros(), r.p99Micros(), r.batchQps(), r.parallelQps(),
                    lucene == null ? "-" : String.format(Locale.ROOT, "%.2fx", lucene.p50Micros() / r.p50Micros()),
                    lucene == null ? "-" : String.format(Locale.ROOT, "%.2fx", r.batchQps() / lucene.batchQps())));
        }
        return s.toString();
    }

    private static void print(Row r) {
        System.out.printf(Locale.ROOT, "  %s %s: recall@5=%.4f p50=%.0fus p99=%.0fus batch=%.0f q/s parallel=%.0f q/s build=%.1fs%n",
                r.index(), r.setting(), r.recall(), r.p50Micros(), r.p99Micros(), r.batchQps(), r.parallelQps(), r.buildSeconds());
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2] + " (" + Runtime.getRuntime().availableProcessors() + " cores)";
        } catch (IOException e) {
            return "unknown";
        }
    }

    static Map<String, String> options(String[] args) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + args[i]);
            }
            m.put(args[i].substring(2), args[++i]);
        }
        return m;
    }
}
