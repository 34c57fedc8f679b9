package dev.atelier.engine.index;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.catalog.DeepFashionInShop;
import dev.atelier.engine.catalog.Split;
import dev.atelier.engine.catalog.SyntheticInShop;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.UnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The catalog index over a synthetic In-shop catalog. */
class CatalogIndexTest {
    static final int ITEMS = 300, DIM = 64, PCA = 32;

    @TempDir
    static Path root;

    static List<CatalogItem> gallery = new ArrayList<>();
    static float[][] galleryVectors;
    static List<CatalogItem> queries = new ArrayList<>();
    static float[][] queryVectors;
    static CatalogIndex flat;
    static CatalogIndex hnsw;

    @BeforeAll
    static void buildCatalog() throws IOException {
        // Noise sigma 1.2 per dimension against unit-variance centres: views of one item have
        // cosine about 0.4, so retrieval is not trivially perfect.
        SyntheticInShop s = SyntheticInShop.write(root.resolve("catalog"), ITEMS, DIM, 1.2f, 42);
        Catalog catalog = DeepFashionInShop.read(s.root);
        List<float[]> gv = new ArrayList<>(), qv = new ArrayList<>();
        for (CatalogImage image : catalog.images()) {
            float[] f = s.features.get(image.item().path());
            if (image.split() == Split.GALLERY) {
                gallery.add(image.item());
                gv.add(f);
            } else {
                queries.add(image.item());
                qv.add(f);
            }
        }
        galleryVectors = gv.toArray(float[][]::new);
        queryVectors = qv.toArray(float[][]::new);
        flat = CatalogIndex.build(galleryVectors, gallery, CatalogIndex.Options.of(IndexSpec.flat()).withPca(PCA));
        hnsw = CatalogIndex.build(galleryVectors, gallery, CatalogIndex.Options.of(IndexSpec.hnsw()).withPca(PCA));
    }

    @AfterAll
    static void close() {
        flat.close();
        hnsw.close();
    }

    static double top5Accuracy(CatalogIndex index) {
        List<List<CatalogIndex.Hit>> results = index.searchBatch(queryVectors, 5, Optional.empty());
        int hits = 0;
        for (int q = 0; q < queries.size(); q++) {
            String wanted = queries.get(q).itemId();
            if (results.get(q).stream().anyMatch(h -> h.item().itemId().equals(wanted))) {
                hits++;
            }
        }
        return hits / (double) queries.size();
    }

    @Test
    void retrievalAccuracyAndFlatHnswAgreement() {
        double flatAcc = top5Accuracy(flat), hnswAcc = top5Accuracy(hnsw);
        List<List<CatalogIndex.Hit>> a = flat.searchBatch(queryVectors, 5, Optional.empty());
        List<List<CatalogIndex.Hit>> b = hnsw.searchBatch(queryVectors, 5, Optional.empty());
        int same = 0;
        for (int q = 0; q < a.size(); q++) {
            Set<Long> sa = new HashSet<>(), sb = new HashSet<>();
            a.get(q).forEach(h -> sa.add(h.id()));
            b.get(q).forEach(h -> sb.add(h.id()));
            if (sa.equals(sb)) {
                same++;
            }
        }
        double agreement = same / (double) a.size();
        System.out.printf("synthetic In-shop, %d queries vs %d gallery images, %d-d -> PCA %d: top-5 accuracy flat %.4f, "
                + "HNSW %.4f; flat/HNSW identical top-5 sets %.4f (%s)%n", queries.size(), gallery.size(), DIM, PCA,
                flatAcc, hnswAcc, agreement, hnsw.description());
        assertTrue(agreement >= 0.95, "flat and HNSW agree on " + agreement + " of top-5 sets");
        assertTrue(flatAcc > 0.5, "top-5 accuracy " + flatAcc);
        // Cosine similarity: scores are at most 1 and sorted.
        for (List<CatalogIndex.Hit> hits : a) {
            assertEquals(5, hits.size());
            for (int j = 0; j < hits.size(); j++) {
                assertTrue(hits.get(j).score() <= 1.0001f);
                if (j > 0) assertTrue(hits.get(j).score() <= hits.get(j - 1).score());
            }
        }
    }

    @Test
    void categoryFilterReturnsOnlyThatCategory() {
        for (CatalogIndex index : List.of(flat, hnsw)) {
            for (String category : SyntheticInShop.CATEGORIES) {
                for (int q = 0; q < 20; q++) {
                    List<CatalogIndex.Hit> hits = index.search(queryVectors[q], 5, Optional.of(category));
                    assertEquals(5, hits.size());
                    hits.forEach(h -> assertEquals(category, h.item().category()));
                }
            }
            assertEquals(List.of(), index.search(queryVectors[0], 5, Optional.of("NO/Such")));
        }
        // A query of one category searched in its own category finds the same best hit as unfiltered search.
        CatalogIndex.Hit best = flat.search(queryVectors[0], 1, Optional.empty()).getFirst();
        assertEquals(best, flat.search(queryVectors[0], 1, Optional.of(best.item().category())).getFirst());
    }

    @Test
    void addToExistingIndexFindsNewItems() {
        try (CatalogIndex index = CatalogIndex.build(galleryVectors, gallery, CatalogIndex.Options.of(IndexSpec.hnsw()).withPca(PCA))) {
            List<CatalogItem> extra = List.of(new CatalogItem("new/a.png", "new_a", "NEW"), new CatalogItem("new/b.png", "new_b", "NEW"));
            index.search(queryVectors[0], 5, Optional.of("WOMEN/Dresses")); // fills the filter cache before the add
            index.add(new float[][] {queryVectors[3], queryVectors[7]}, extra);
            assertEquals(gallery.size() + 2, index.size());
            CatalogIndex.Hit hit = index.search(queryVectors[7], 1, Optional.empty()).getFirst();
            assertEquals("new_b", hit.item().itemId());
            assertEquals(1.0f, hit.score(), 1e-4f);
            assertEquals(List.of("new_a", "new_b"),
                    index.search(queryVectors[3], 5, Optional.of("NEW")).stream().map(h -> h.item().itemId()).sorted().toList());
        }
    }

    @Test
    void ivfPqAndGpuRequests() {
        try (CatalogIndex ivf = CatalogIndex.build(galleryVectors, gallery,
                CatalogIndex.Options.of(IndexSpec.of("IVF16,Flat").withNprobe(16)).withPca(PCA))) {
            assertEquals(16, ivf.vectorIndex().nprobe());
            assertEquals(top5Accuracy(flat), top5Accuracy(ivf), 1e-9); // all lists probed: exact
        }
        assertThrows(UnavailableException.class, () -> VectorIndex.create(IndexSpec.flat().withGpu(true), 8));
    }

    @Test
    void saveAndLoadGiveTheSameResults(@TempDir Path dir) {
        hnsw.save(dir);
        try (CatalogIndex back = CatalogIndex.load(dir)) {
            assertEquals(hnsw.items(), back.items());
            assertEquals(hnsw.description(), back.description());
            assertEquals(hnsw.searchBatch(queryVectors, 5, Optional.empty()), back.searchBatch(queryVectors, 5, Optional.empty()));
        }
    }

    @Test
    void truncatedOrAlteredFilesFailWithClearErrors(@TempDir Path dir) throws IOException {
        flat.save(dir);
        Path indexFile;
        try (var files = Files.list(dir)) {
            indexFile = files.filter(p -> p.getFileName().toString().endsWith(".faiss")).findFirst().orElseThrow();
        }
        byte[] good = Files.readAllBytes(indexFile);

        Files.write(indexFile, java.util.Arrays.copyOf(good, good.length - 100));
        FormatException e = assertThrows(FormatException.class, () -> CatalogIndex.load(dir));
        assertTrue(e.getMessage().contains(indexFile.getFileName().toString()) && e.getMessage().contains("truncated"), e.getMessage());

        byte[] altered = good.clone();
        altered[altered.length / 2] ^= 0x40;
        Files.write(indexFile, altered);
        e = assertThrows(FormatException.class, () -> CatalogIndex.load(dir));
        assertTrue(e.getMessage().contains(indexFile.getFileName().toString()) && e.getMessage().contains("checksum"), e.getMessage());

        Files.write(indexFile, good);
        Path manifest = dir.resolve("manifest.json");
        String text = Files.readString(manifest);
        Files.writeString(manifest, text.replace("\"version\" : 1", "\"version\" : 99"));
        e = assertThrows(FormatException.class, () -> CatalogIndex.load(dir));
        assertTrue(e.getMessage().contains("manifest.json") && e.getMessage().contains("version 99"), e.getMessage());
        Files.writeString(manifest, text.substring(0, text.length() / 2));
        e = assertThrows(FormatException.class, () -> CatalogIndex.load(dir));
        assertTrue(e.getMessage().contains("manifest.json"), e.getMessage());

        // Even past the checksum, FAISS's reader rejects a truncated buffer (native check).
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            var seg = arena.allocate(good.length - 100);
            seg.copyFrom(java.lang.foreign.MemorySegment.ofArray(java.util.Arrays.copyOf(good, good.length - 100)));
            assertThrows(FormatException.class, () -> VectorIndex.fromBytes(seg));
        }
    }

    @Test
    void interruptedSaveLeavesThePreviousIndexLoadable(@TempDir Path dir) {
        flat.save(dir);
        for (String failAfter : List.of("index", "pca", "items")) {
            FormatException e = assertThrows(FormatException.class, () -> CatalogIndexStore.save(hnsw, dir, name -> {
                if (name.startsWith(failAfter)) {
                    throw new IOException("simulated crash after " + name);
                }
            }));
            assertTrue(e.getMessage().contains("simulated crash"), e.getMessage());
            try (CatalogIndex back = CatalogIndex.load(dir)) {
                assertEquals(flat.description(), back.description());
                assertEquals(flat.search(queryVectors[1], 5, Optional.empty()), back.search(queryVectors[1], 5, Optional.empty()));
            }
        }
        // A later complete save replaces it and removes the files of other generations.
        hnsw.save(dir);
        try (CatalogIndex back = CatalogIndex.load(dir)) {
            assertEquals(hnsw.description(), back.description());
        }
        try (var files = Files.list(dir)) {
            assertEquals(4, files.count()); // manifest, index, pca, items
        } catch (IOException e) {
            fail(e);
        }
    }

    @Test
    void concurrentSearchesMatchSequentialOnes() throws Exception {
        for (CatalogIndex index : List.of(flat, hnsw)) {
            List<List<CatalogIndex.Hit>> expected = new ArrayList<>();
            for (float[] q : queryVectors) {
                expected.add(index.search(q, 5, Optional.empty()));
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<Boolean>> futures = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    int offset = t;
                    futures.add(pool.submit(() -> {
                        for (int round = 0; round < 3; round++) {
                            for (int i = 0; i < queryVectors.length; i++) {
                                int q = (i + offset * 37) % queryVectors.length;
                                Optional<String> category = (i % 5 == 0) ? Optional.of(SyntheticInShop.CATEGORIES[q % 4]) : Optional.empty();
                                List<CatalogIndex.Hit> got = index.search(queryVectors[q], 5, category);
                                if (category.isEmpty() && !got.equals(expected.get(q))) {
                                    return false;
                                }
                                if (category.isPresent() && !got.stream().allMatch(h -> h.item().category().equals(category.get()))) {
                                    return false;
                                }
                            }
                        }
                        return true;
                    }));
                }
                for (Future<Boolean> f : futures) {
                    assertTrue(f.get(), "a concurrent search differed from the sequential one");
                }
            } finally {
                pool.shutdown();
            }
        }
    }
}
