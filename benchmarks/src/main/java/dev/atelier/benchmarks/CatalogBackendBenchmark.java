package dev.atelier.benchmarks;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.index.es.BulkIndexer;
import dev.atelier.engine.index.es.ElasticsearchCatalog;
import dev.atelier.engine.index.es.ElasticsearchLocation;
import dev.atelier.engine.index.es.ElasticsearchOptions;
import dev.atelier.engine.index.es.VectorIndexType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Catalog backends side by side in one run (not part of the test suite; scripts/bench-es.sh
 * starts the cluster and runs it): on the same synthetic vectors (100,000 clustered,
 * L2-normalised, 128-d), bulk indexing throughput into the 2-node cluster, then recall@5
 * against exact search and kNN latency p50/p99 and QPS from 8 concurrent clients for
 * Elasticsearch hnsw and int8_hnsw, and for Atelier's in-process FAISS HNSW32 at the smallest
 * efSearch whose recall reaches Elasticsearch hnsw's.
 *
 * <p>Arguments: [hosts (127.0.0.1:9200,127.0.0.1:9201)] [n (100000)] [queries (2000)].
 */
public final class CatalogBackendBenchmark {
    static final int DIM = 128, K = 5, CLIENTS = 8;
    static final float RESCORE_OVERSAMPLE = 3f;

    public static void main(String[] args) throws Exception {
        String hosts = args.length > 0 ? args[0] : "127.0.0.1:9200,127.0.0.1:9201";
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
        int queryCount = args.length > 2 ? Integer.parseInt(args[2]) : 2000;
        Random random = new Random(7);
        float[][] centres = new float[1000][DIM];
        for (float[] c : centres) for (int j = 0; j < DIM; j++) c[j] = (float) random.nextGaussian();
        float[][] vectors = new float[n][];
        List<CatalogItem> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int c = random.nextInt(centres.length);
            vectors[i] = point(centres[c], random);
            items.add(new CatalogItem("img/c" + c + "/item" + i + ".jpg", "item" + i, "cat" + (c % 10)));
        }
        float[][] queries = new float[queryCount][];
        for (int q = 0; q < queryCount; q++) queries[q] = point(centres[random.nextInt(centres.length)], random);

        System.out.printf("%,d vectors x %d, %,d queries, %d concurrent clients, k %d%n", n, DIM, queryCount, CLIENTS, K);
        List<List<CatalogSearch.Hit>> truth;
        try (CatalogIndex flat = CatalogIndex.build(vectors, items, CatalogIndex.Options.of(IndexSpec.flat()))) {
            truth = flat.searchBatch(queries, K, Optional.empty());
        }
        System.out.printf("%-28s %12s %9s %9s %9s %9s %11s%n", "backend", "build v/s", "recall@5", "p50 ms", "p99 ms", "QPS", "1-client p50");

        double esHnswRecall = 0;
        for (VectorIndexType type : List.of(VectorIndexType.HNSW, VectorIndexType.INT8_HNSW)) {
            ElasticsearchLocation loc = ElasticsearchLocation.parse("es://" + hosts + "/atelier-bench-" + type.esName().replace('_', '-'));
            ElasticsearchOptions options = ElasticsearchOptions.defaults().withType(type).withReplicas(1);
            BulkIndexer.Result r = BulkIndexer.build(loc, options, null, DIM, BulkIndexer.of(vectors, items),
                    BulkIndexer.Options.defaults(), BulkIndexer.Listener.NONE, () -> false);
            double buildRate = r.documents() / (r.elapsed().toNanos() / 1e9);
            try (ElasticsearchCatalog es = ElasticsearchCatalog.open(loc, options)) {
                Row row = measure(es, queries, truth);
                if (type == VectorIndexType.HNSW) esHnswRecall = row.recall;
                print("elasticsearch " + type.esName() + " nc" + options.numCandidates(), buildRate, row);
            }
            if (type == VectorIndexType.INT8_HNSW) {
                // The same int8 index, its candidates rescored with the float vectors (rescore_vector).
                ElasticsearchOptions rescored = options.withRescoreOversample(RESCORE_OVERSAMPLE);
                try (ElasticsearchCatalog es = ElasticsearchCatalog.open(loc, rescored)) {
                    print("  + rescore x" + RESCORE_OVERSAMPLE, buildRate, measure(es, queries, truth));
                }
            }
        }

        long t0 = System.nanoTime();
        try (CatalogIndex hnsw = CatalogIndex.build(vectors, items, CatalogIndex.Options.of(IndexSpec.hnsw()))) {
            double buildRate = n / ((System.nanoTime() - t0) / 1e9);
            Row chosen = null;
            int chosenEf = 0;
            for (int ef : new int[] {16, 32, 64, 128, 256}) {
                hnsw.vectorIndex().setEfSearch(ef);
                double recall = recall(searchAll(hnsw, queries), truth);
                if (recall >= esHnswRecall - 1e-9 || ef == 256) {
                    chosenEf = ef;
                    chosen = measure(hnsw, queries, truth);
                    break;
                }
            }
            print("faiss HNSW32 efSearch " + chosenEf, buildRate, chosen);
        }
    }

    /** p50/p99/QPS from CLIENTS concurrent clients; p50One from one client alone (no queueing: the cost of one request). */
    record Row(double recall, double p50, double p99, double qps, double p50One) {}

    static void print(String name, double buildRate, Row row) {
        System.out.printf("%-28s %,12.0f %9.4f %9.3f %9.3f %,9.0f %11.3f%n", name, buildRate, row.recall, row.p50, row.p99, row.qps, row.p50One);
    }

    /** Recall over every query, then single-query latency from CLIENTS threads sharing the queries, then from one. */
    static Row measure(CatalogSearch index, float[][] queries, List<List<CatalogSearch.Hit>> truth) throws InterruptedException {
        double recall = recall(searchAll(index, queries), truth);
        for (int i = 0; i < Math.min(200, queries.length); i++) index.search(queries[i], K, Optional.empty()); // warm-up
        long start = System.nanoTime();
        long[] latency = latencies(index, queries, CLIENTS);
        double seconds = (System.nanoTime() - start) / 1e9;
        long[] alone = latencies(index, Arrays.copyOf(queries, Math.min(500, queries.length)), 1);
        return new Row(recall, latency[latency.length / 2] / 1e6, latency[(int) (latency.length * 0.99)] / 1e6, queries.length / seconds,
                alone[alone.length / 2] / 1e6);
    }

    /** Sorted per-query latencies (ns) of searching queries from clients threads. */
    static long[] latencies(CatalogSearch index, float[][] queries, int clients) throws InterruptedException {
        long[] latency = new long[queries.length];
        AtomicInteger next = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < clients; t++) {
            threads.add(Thread.ofPlatform().start(() -> {
                for (int q = next.getAndIncrement(); q < queries.length; q = next.getAndIncrement()) {
                    long s = System.nanoTime();
                    index.search(queries[q], K, Optional.empty());
                    latency[q] = System.nanoTime() - s;
                }
            }));
        }
        for (Thread t : threads) t.join();
        Arrays.sort(latency);
        return latency;
    }

    static List<List<CatalogSearch.Hit>> searchAll(CatalogSearch index, float[][] queries) {
        List<List<CatalogSearch.Hit>> out = new ArrayList<>();
        for (int s = 0; s < queries.length; s += 100) {
            out.addAll(index.searchBatch(Arrays.copyOfRange(queries, s, Math.min(queries.length, s + 100)), K, Optional.empty()));
        }
        return out;
    }

    static double recall(List<List<CatalogSearch.Hit>> got, List<List<CatalogSearch.Hit>> want) {
        double sum = 0;
        for (int q = 0; q < want.size(); q++) {
            Set<Long> ids = new HashSet<>();
            want.get(q).forEach(h -> ids.add(h.id()));
            sum += got.get(q).stream().filter(h -> ids.contains(h.id())).count() / (double) want.get(q).size();
        }
        return sum / want.size();
    }

    static float[] point(float[] centre, Random random) {
        float[] v = new float[centre.length];
        double norm = 0;
        for (int j = 0; j < v.length; j++) {
            v[j] = centre[j] + 0.35f * (float) random.nextGaussian();
            norm += v[j] * v[j];
        }
        for (int j = 0; j < v.length; j++) v[j] /= (float) Math.sqrt(norm);
        return v;
    }
}
