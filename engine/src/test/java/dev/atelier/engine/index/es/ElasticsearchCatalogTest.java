package dev.atelier.engine.index.es;

import static org.junit.jupiter.api.Assertions.*;

import co.elastic.clients.json.JsonData;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.index.IndexSpec;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The Elasticsearch catalog on the real 2-node cluster (scripts/es-cluster.sh): 100,000 synthetic
 * clustered 128-d vectors with 1 replica, recall@5 against exact FAISS search, the category
 * filter, PCA parity with the FAISS backend, concurrent adders, fail-over when a node stops,
 * wrong mapping dims.
 */
@Tag("es")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ElasticsearchCatalogTest {
    static final int N = 100_000, DIM = 128, QUERIES = 500, K = 5;
    static SyntheticVectors data;
    static CatalogIndex exact;
    static ElasticsearchCatalog catalog;
    static ElasticsearchLocation location = TestCluster.location("recall");

    @BeforeAll
    static void build() throws Exception {
        TestCluster.deleteTestIndices();
        // 1,000 clusters, noise 0.35 per dimension: neighbours are close but not duplicates.
        data = SyntheticVectors.make(N, DIM, 1000, 10, QUERIES, 0.35f, 7);
        exact = CatalogIndex.build(data.vectors, data.items, CatalogIndex.Options.of(IndexSpec.flat()));
        AtomicLong lastLine = new AtomicLong();
        BulkIndexer.Result r = BulkIndexer.build(location, ElasticsearchOptions.defaults().withReplicas(1), null, DIM,
                BulkIndexer.of(data.vectors, data.items), BulkIndexer.Options.defaults(), p -> {
                    if (p.done() - lastLine.get() >= 20_000 || p.done() == p.total()) {
                        lastLine.set(p.done());
                        System.out.println("bulk: " + p.line());
                    }
                }, () -> false);
        System.out.printf("bulk: %,d documents in %.1f s (%,.0f vectors/s, replicas copied and green included)%n",
                r.documents(), r.elapsed().toMillis() / 1e3, r.documents() / (r.elapsed().toMillis() / 1e3));
        catalog = ElasticsearchCatalog.open(location, ElasticsearchOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (catalog != null) catalog.close();
        if (exact != null) exact.close();
    }

    static double recall(List<List<CatalogSearch.Hit>> got, List<List<CatalogSearch.Hit>> want) {
        double sum = 0;
        for (int q = 0; q < want.size(); q++) {
            Set<Long> truth = new HashSet<>();
            want.get(q).forEach(h -> truth.add(h.id()));
            sum += got.get(q).stream().filter(h -> truth.contains(h.id())).count() / (double) want.get(q).size();
        }
        return sum / want.size();
    }

    static List<List<CatalogSearch.Hit>> searchAll(CatalogSearch index, float[][] queries, Optional<String> category) {
        List<List<CatalogSearch.Hit>> out = new ArrayList<>();
        for (int start = 0; start < queries.length; start += 50) {
            out.addAll(index.searchBatch(java.util.Arrays.copyOfRange(queries, start, Math.min(queries.length, start + 50)), K, category));
        }
        return out;
    }

    @Test
    @Order(1)
    void holdsTheCatalogWithOneReplicaBehindTheAlias() throws Exception {
        assertEquals(N, catalog.count());
        assertTrue(catalog.published());
        var settings = catalog.client().indices().getSettings(g -> g.index(catalog.concreteIndex())).result()
                .get(catalog.concreteIndex()).settings().index();
        assertEquals("1", settings.numberOfReplicas());
        assertEquals(Set.of(catalog.concreteIndex()),
                catalog.client().indices().getAlias(g -> g.name(location.name())).result().keySet());
    }

    @Test
    @Order(2)
    void recallAtFiveAgainstExactFaissSearch() {
        List<List<CatalogSearch.Hit>> want = searchAll(exact, data.queries, Optional.empty());
        List<List<CatalogSearch.Hit>> got = searchAll(catalog, data.queries, Optional.empty());
        double recall = recall(got, want);
        System.out.printf("recall@5 (hnsw, num_candidates %d, %d queries): %.4f%n",
                catalog.options().numCandidates(), QUERIES, recall);
        assertTrue(recall >= 0.99, "recall@5 " + recall);
        // Same form as the FAISS backend: item, id, cosine score.
        CatalogSearch.Hit a = got.getFirst().getFirst(), b = want.getFirst().getFirst();
        assertEquals(b.item(), a.item());
        assertEquals(b.score(), a.score(), 1e-4);
    }

    @Test
    @Order(3)
    void categoryPreFilter() {
        float[][] queries = java.util.Arrays.copyOf(data.queries, 100);
        List<List<CatalogSearch.Hit>> want = searchAll(exact, queries, Optional.of("cat3"));
        List<List<CatalogSearch.Hit>> got = searchAll(catalog, queries, Optional.of("cat3"));
        for (List<CatalogSearch.Hit> hits : got) {
            assertEquals(K, hits.size());
            hits.forEach(h -> assertEquals("cat3", h.item().category()));
        }
        double recall = recall(got, want);
        System.out.printf("recall@5 with a category filter (10%% of the catalog): %.4f%n", recall);
        assertTrue(recall >= 0.99, "filtered recall@5 " + recall);
        assertEquals(List.of(), catalog.search(data.queries[0], K, Optional.of("no-such-category")));
    }

    @Test
    @Order(4)
    void samePcaAndResultsAsTheFaissBackend() throws Exception {
        // 256-d raw features, PCA to 128 trained by the FAISS index; the ES catalog gets that PCA,
        // stores it in the cluster, and a fresh open through the factory reads it back.
        SyntheticVectors raw = SyntheticVectors.make(3000, 256, 50, 5, 40, 0.5f, 11);
        try (CatalogIndex faiss = CatalogIndex.build(raw.vectors, raw.items, CatalogIndex.Options.of(IndexSpec.flat()).withPca(128))) {
            ElasticsearchLocation loc = TestCluster.location("pca");
            BulkIndexer.build(loc, ElasticsearchOptions.defaults().withType(VectorIndexType.FLAT), faiss.pca(), 256,
                    BulkIndexer.of(raw.vectors, raw.items), BulkIndexer.Options.defaults(), BulkIndexer.Listener.NONE, () -> false);
            try (CatalogSearch es = CatalogSearches.open(loc.toString())) {
                assertInstanceOf(ElasticsearchCatalog.class, es);
                assertEquals(256, es.inputDimension());
                List<List<CatalogSearch.Hit>> want = faiss.searchBatch(raw.queries, K, Optional.empty());
                List<List<CatalogSearch.Hit>> got = es.searchBatch(raw.queries, K, Optional.empty());
                assertEquals(1.0, recall(got, want), 1e-9);
                for (int q = 0; q < raw.queries.length; q++) {
                    for (int j = 0; j < K; j++) {
                        assertEquals(want.get(q).get(j).score(), got.get(q).get(j).score(), 1e-4);
                    }
                }
                // add() goes through the same PCA.
                es.add(new float[][] {raw.queries[0]}, List.of(new CatalogItem("img/added.jpg", "added", "cat0")));
                CatalogSearch.Hit top = es.search(raw.queries[0], 1, Optional.empty()).getFirst();
                assertEquals("img/added.jpg", top.item().path());
                assertEquals(1.0, top.score(), 1e-4);
                assertEquals(3001, es.count());
                // The build numbered its items 0..2999 by position; an addition continues after them.
                assertEquals(3000, top.id());
            }
        }
    }

    @Test
    @Order(6)
    void concurrentWritersNeverNumberTwoItemsAlike() throws Exception {
        // Two catalogs opened at one location (as two `atelier index add` processes would: each its
        // own client) add 6 batches of 25 items each at the same time, after a build of 500.
        SyntheticVectors raw = SyntheticVectors.make(800, 64, 20, 5, 0, 0.5f, 13);
        ElasticsearchLocation loc = TestCluster.location("concurrent-add");
        BulkIndexer.build(loc, ElasticsearchOptions.defaults().withType(VectorIndexType.FLAT), null, 64,
                BulkIndexer.of(java.util.Arrays.copyOf(raw.vectors, 500), raw.items.subList(0, 500)), BulkIndexer.Options.defaults(),
                BulkIndexer.Listener.NONE, () -> false);
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        List<Thread> writers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            int writer = w;
            writers.add(Thread.ofPlatform().start(() -> {
                try (ElasticsearchCatalog own = ElasticsearchCatalog.open(loc, ElasticsearchOptions.defaults())) {
                    for (int b = 0; b < 6; b++) {
                        int from = 500 + writer * 150 + b * 25;
                        own.add(java.util.Arrays.copyOfRange(raw.vectors, from, from + 25), raw.items.subList(from, from + 25));
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        for (Thread t : writers) t.join();
        assertEquals(List.of(), List.copyOf(errors));
        try (ElasticsearchCatalog check = ElasticsearchCatalog.open(loc, ElasticsearchOptions.defaults())) {
            check.refresh();
            assertEquals(800, check.count(), "every added item is in the catalog");
            @SuppressWarnings("rawtypes")
            var hits = check.client().search(q -> q.index(loc.name()).size(1000).source(src -> src.filter(f -> f.includes("ord", "path"))),
                    Map.class).hits().hits();
            Map<Long, String> byOrd = new java.util.HashMap<>();
            for (var h : hits) {
                long ord = ((Number) h.source().get("ord")).longValue();
                String path = (String) h.source().get("path");
                String before = byOrd.put(ord, path);
                assertNull(before, "ord " + ord + " given to both " + before + " and " + path);
            }
            assertEquals(800, byOrd.size());
            for (int i = 0; i < 500; i++) {
                assertEquals(raw.items.get(i).path(), byOrd.get((long) i), "the build's ords are catalog positions");
            }
            assertEquals(Set.of(), byOrd.keySet().stream().filter(o -> o < 0 || o >= 800).collect(java.util.stream.Collectors.toSet()),
                    "reservations leave no gaps when nothing fails");
        }
    }

    @Test
    @Order(5)
    void wrongMappingDimsIsAClearError() throws Exception {
        ElasticsearchLocation loc = TestCluster.location("wrong-dims");
        // An index that claims to be an Atelier catalog of 128-d vectors without PCA, mapped with 64 dims.
        catalog.client().indices().create(c -> c.index(loc.name() + "-1").aliases(loc.name(), a -> a)
                .mappings(m -> m.meta(Map.of("atelier_format", JsonData.of(1), "input_dimension", JsonData.of(128), "pca_sha256", JsonData.of("")))
                        .properties("vector", p -> p.denseVector(d -> d.dims(64)))));
        FormatException e = assertThrows(FormatException.class, () -> ElasticsearchCatalog.open(loc, ElasticsearchOptions.defaults()));
        assertTrue(e.getMessage().contains("64 dims") && e.getMessage().contains("128"), e.getMessage());
        // And an index that is not Atelier's at all.
        ElasticsearchLocation other = TestCluster.location("not-atelier");
        catalog.client().indices().create(c -> c.index(other.name()));
        FormatException e2 = assertThrows(FormatException.class, () -> ElasticsearchCatalog.open(other, ElasticsearchOptions.defaults()));
        assertTrue(e2.getMessage().contains("not an Atelier catalog"), e2.getMessage());
    }

    @Test
    @Order(10)
    void searchesGoOnWhenANodeStops() throws Exception {
        // Stop the node that is not the elected master (a 2-node cluster's voting configuration
        // holds one node; stopping it would leave no master, which reads survive but writes do not).
        String master = catalog.client().cat().master().valueBody().getFirst().node();
        int victim = master.equals("node1") ? 2 : 1;
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicLong answered = new AtomicLong();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        List<List<CatalogSearch.Hit>> want = searchAll(exact, java.util.Arrays.copyOf(data.queries, 20), Optional.empty());
        List<Thread> clients = new ArrayList<>();
        for (int t = 0; t < 3; t++) {
            int offset = t;
            clients.add(Thread.ofPlatform().start(() -> {
                for (int i = offset; running.get(); i++) {
                    try {
                        int q = i % 20;
                        List<CatalogSearch.Hit> hits = catalog.search(data.queries[q], K, Optional.empty());
                        if (hits.size() != K) {
                            throw new AssertionError("query " + q + " answered " + hits.size() + " hits");
                        }
                        answered.incrementAndGet();
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }
            }));
        }
        try {
            Thread.sleep(1000);
            long before = answered.get();
            TestCluster.script("stop-node", String.valueOf(victim));
            long during = answered.get() - before;
            Thread.sleep(3000);
            running.set(false);
            for (Thread t : clients) t.join();
            System.out.printf("fail-over: node%d stopped; %d searches answered while it stopped, %d in all, %d errors%n",
                    victim, during, answered.get(), errors.size());
            assertTrue(errors.isEmpty(), () -> "searches failed: " + errors.peek());
            assertTrue(answered.get() > before, "searches went on after the node stopped");
            assertEquals(N, catalog.count(), "nothing indexed is lost");
            assertTrue(recall(searchAll(catalog, java.util.Arrays.copyOf(data.queries, 20), Optional.empty()), want) >= 0.99);
        } finally {
            running.set(false);
            TestCluster.script("start-node", String.valueOf(victim));
        }
    }
}
