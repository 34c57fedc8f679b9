package dev.atelier.engine.index.es;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.CancelledException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Resumable, retrying bulk builds against the real 2-node cluster. */
@Tag("es")
class BulkIndexerTest {
    static final int N = 10_000, DIM = 128;
    static SyntheticVectors data;

    @TempDir
    Path dir;

    @BeforeAll
    static void data() throws Exception {
        TestCluster.deleteTestIndices();
        data = SyntheticVectors.make(N, DIM, 200, 4, 0, 0.35f, 3);
    }

    /** A source that counts the chunks it is asked for. */
    static BulkIndexer.Source counting(AtomicInteger reads) {
        BulkIndexer.Source all = BulkIndexer.of(data.vectors, data.items);
        return new BulkIndexer.Source() {
            @Override
            public long size() {
                return all.size();
            }

            @Override
            public BulkIndexer.Chunk read(long start, int count) throws Exception {
                reads.incrementAndGet();
                return all.read(start, count);
            }
        };
    }

    @Test
    void interruptedBuildResumesWithExactlyTheCatalog() throws Exception {
        ElasticsearchLocation loc = TestCluster.location("resume");
        Path checkpoint = dir.resolve("build.checkpoint.json");
        BulkIndexer.Options options = BulkIndexer.Options.defaults().withCheckpoint(checkpoint);
        AtomicBoolean cancel = new AtomicBoolean();
        AtomicInteger firstReads = new AtomicInteger();
        assertThrows(CancelledException.class, () -> BulkIndexer.build(loc, ElasticsearchOptions.defaults(), null, DIM,
                counting(firstReads), options, p -> {
                    if (p.done() >= N / 2) cancel.set(true);
                }, cancel::get));
        assertTrue(Files.exists(checkpoint), "the checkpoint survives a cancelled build");
        BuildCheckpoint.State state = BuildCheckpoint.read(checkpoint).orElseThrow();
        int chunks = N / options.chunkSize();
        assertTrue(state.done().size() >= chunks / 2 && state.done().size() < chunks, "done chunks " + state.done().size());

        AtomicInteger secondReads = new AtomicInteger();
        BulkIndexer.Result r = BulkIndexer.build(loc, ElasticsearchOptions.defaults(), null, DIM, counting(secondReads), options,
                BulkIndexer.Listener.NONE, () -> false);
        System.out.printf("resume: first run read %d chunks, second %d (skipped %d), index %s%n",
                firstReads.get(), secondReads.get(), r.chunksSkipped(), r.index());
        assertEquals(state.index(), r.index(), "the resumed build writes into the same index");
        assertEquals(state.done().size(), r.chunksSkipped());
        assertEquals(chunks - state.done().size(), secondReads.get(), "the second run reads only what was missing");
        assertEquals(N, r.documents());
        assertFalse(Files.exists(checkpoint), "a finished build removes its checkpoint");
        try (ElasticsearchCatalog c = ElasticsearchCatalog.open(loc, ElasticsearchOptions.defaults())) {
            assertEquals(N, c.count(), "no duplicates, no gaps");
            // N documents with ords in [0, N) summing to N(N-1)/2: every ord is there (cardinality
            // aggregations are approximate, so check min, max and sum instead).
            var agg = c.client().search(s -> s.index(loc.name()).size(0)
                    .aggregations("min", a -> a.min(m -> m.field("ord")))
                    .aggregations("max", a -> a.max(m -> m.field("ord")))
                    .aggregations("sum", a -> a.sum(m -> m.field("ord"))), Void.class);
            assertEquals(0, agg.aggregations().get("min").min().value(), 0);
            assertEquals(N - 1, agg.aggregations().get("max").max().value(), 0);
            assertEquals((double) N * (N - 1) / 2, agg.aggregations().get("sum").sum().value(), 0);
            // And running the whole build again (no checkpoint) gives a new index, swapped in, with the same documents.
            BulkIndexer.Result again = BulkIndexer.build(loc, ElasticsearchOptions.defaults(), null, DIM,
                    BulkIndexer.of(data.vectors, data.items), BulkIndexer.Options.defaults(), BulkIndexer.Listener.NONE, () -> false);
            assertNotEquals(r.index(), again.index());
            assertEquals(N, c.count());
            assertFalse(c.client().indices().exists(e -> e.index(r.index())).value(), "the replaced index is deleted");
        }
    }

    /** A catalog index to write into directly, with the package's load loop. */
    static ElasticsearchCatalog fresh(String name) throws Exception {
        ElasticsearchCatalog c = ElasticsearchCatalog.create(TestCluster.location(name), ElasticsearchOptions.defaults().withReplicas(1), null, DIM);
        // Until its shards are started, Elasticsearch holds writes (and would wait out a block itself).
        c.client().cluster().health(h -> h.index(c.concreteIndex()).waitForStatus(co.elastic.clients.elasticsearch._types.HealthStatus.Green)
                .timeout(t -> t.time("120s")));
        return c;
    }

    static void block(ElasticsearchCatalog c, boolean on) throws Exception {
        // read_only_allow_delete answers writes with 429 (the block Elasticsearch sets itself at the flood-stage disk watermark).
        c.client().indices().putSettings(p -> p.index(c.concreteIndex()).settings(s -> s.blocks(b -> b.readOnlyAllowDelete(on))));
    }

    @Test
    void rejectedItemsAreRetriedUntilTheyLand() throws Exception {
        try (ElasticsearchCatalog c = fresh("retry")) {
            block(c, true);
            // Lift the block once Elasticsearch has rejected something (429) and a retry is pending.
            AtomicInteger retries = new AtomicInteger();
            BulkIndexer.Listener liftOnRetry = new BulkIndexer.Listener() {
                @Override
                public void onProgress(BulkIndexer.Progress progress) {}

                @Override
                public void onRetry(String reason, int attempt, Duration delay) {
                    assertTrue(reason.contains("429"), reason);
                    if (retries.getAndIncrement() == 0) {
                        try {
                            block(c, false);
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                    }
                }
            };
            BuildCheckpoint checkpoint = new BuildCheckpoint(null, c.concreteIndex(), 2000, 500, new BitSet());
            BulkIndexer.Loaded loaded = BulkIndexer.load(c, BulkIndexer.of(java.util.Arrays.copyOf(data.vectors, 2000), data.items.subList(0, 2000)),
                    BulkIndexer.Options.defaults().withRetries(10, Duration.ofMillis(200), Duration.ofSeconds(2)), checkpoint,
                    liftOnRetry, () -> false);
            c.refresh();
            System.out.printf("retry: %d items sent again after 429s%n", loaded.retried());
            assertTrue(loaded.retried() > 0, "the block made items fail and be retried");
            assertEquals(2000, c.count());
            assertEquals(4, checkpoint.doneCount());
        }
    }

    @Test
    void itemsStillRejectedAfterTheRetriesFailTheBuildLoudly() throws Exception {
        try (ElasticsearchCatalog c = fresh("give-up")) {
            block(c, true);
            BuildCheckpoint checkpoint = new BuildCheckpoint(null, c.concreteIndex(), 1000, 500, new BitSet());
            BackendException e = assertThrows(BackendException.class, () -> BulkIndexer.load(c,
                    BulkIndexer.of(java.util.Arrays.copyOf(data.vectors, 1000), data.items.subList(0, 1000)),
                    BulkIndexer.Options.defaults().withRetries(2, Duration.ofMillis(50), Duration.ofMillis(200)), checkpoint,
                    BulkIndexer.Listener.NONE, () -> false));
            assertTrue(e.getMessage().contains("after 2 retries") && e.getMessage().contains("429"), e.getMessage());
            assertEquals(0, checkpoint.doneCount(), "no chunk counts as done");
            block(c, false);
        }
    }

    @Test
    void anItemTheMappingRefusesStopsTheBuildWithItsPath() throws Exception {
        try (ElasticsearchCatalog c = fresh("refused")) {
            // A vector of the wrong length cannot come through the projection; write one directly.
            List<CatalogDocument> docs = List.of(
                    CatalogDocument.of(new CatalogItem("img/ok.jpg", "ok", "a"), 0, data.vectors[0]),
                    CatalogDocument.of(new CatalogItem("img/bad.jpg", "bad", "a"), 1, new float[64]));
            BackendException e = assertThrows(BackendException.class,
                    () -> BulkIndexer.send(c.transport(), c.concreteIndex(), docs, BulkIndexer.Options.defaults(), BulkIndexer.Listener.NONE, () -> false));
            assertTrue(e.getMessage().contains("img/bad.jpg") && e.getMessage().contains("400"), e.getMessage());
        }
    }

    @Test
    void progressReportsThroughputAndEta() {
        BulkIndexer.Progress p = new BulkIndexer.Progress(45_000, 100_000, 3100, Optional.of(Duration.ofSeconds(18)), 0);
        assertEquals("45,000/100,000 45.0% 3,100 vectors/s ETA 0:18", p.line());
    }
}
