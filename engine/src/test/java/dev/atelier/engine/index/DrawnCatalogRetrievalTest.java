package dev.atelier.engine.index;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.DeepFashionInShop;
import dev.atelier.engine.catalog.Split;
import dev.atelier.engine.catalog.SyntheticGarmentCatalog;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.BoundingBox;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.embed.ImageInput;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Catalog retrieval through images: a drawn In-shop catalog (40 items, 5 views each,
 * poses, crops and colour shifts) read by {@link DeepFashionInShop}, embedded with the fixture
 * MobileNetV3-Large (random weights, so retrieval is far from perfect) using the catalog's
 * bounding boxes, indexed flat and HNSW (Atelier's defaults) after PCA; the top-5 accuracy of the
 * query split against the gallery split is printed, and flat and HNSW must agree on at least 95%
 * of the top-5 sets.
 */
class DrawnCatalogRetrievalTest {
    private static final int ITEMS = 40;
    private static final int TRAIN_ITEMS = 8;
    private static final int PCA = 64; // the paper's 128 needs more gallery images than 128 to train

    @Test
    void queriesAgainstGalleryThroughTheEmbedder(@TempDir Path dir) throws IOException {
        Catalog catalog = DeepFashionInShop.read(SyntheticGarmentCatalog.write(dir, ITEMS, TRAIN_ITEMS, 20261127L));
        assertEquals(List.of(), catalog.problems());
        assertEquals(ITEMS * SyntheticGarmentCatalog.VIEWS, catalog.images().size());
        List<CatalogImage> gallery = catalog.images().stream().filter(i -> i.split() == Split.GALLERY).toList();
        List<CatalogImage> queries = catalog.images().stream().filter(i -> i.split() == Split.QUERY).toList();
        int testItems = ITEMS - TRAIN_ITEMS;
        assertEquals(testItems, queries.size());
        assertEquals(testItems * (SyntheticGarmentCatalog.VIEWS - 1), gallery.size());
        assertTrue(catalog.images().stream().allMatch(i -> i.bbox().isPresent()), "every image has its box");

        Path weights = Fixtures.sd15Tiny().resolve("mobilenet_v3_large/mobilenet_v3_large.safetensors");
        float[][] galleryFeatures;
        float[][] queryFeatures;
        try (ImageEmbedder embedder = ImageEmbedder.open(weights, Backend.TORCH, EmbedderOptions.defaults())) {
            galleryFeatures = embedder.embed(inputs(catalog, gallery), Progress.NONE);
            queryFeatures = embedder.embed(inputs(catalog, queries), Progress.NONE);
        }
        List<dev.atelier.engine.catalog.CatalogItem> galleryItems = gallery.stream().map(CatalogImage::item).toList();
        try (CatalogIndex flat = CatalogIndex.build(galleryFeatures, galleryItems, CatalogIndex.Options.of(IndexSpec.flat()).withPca(PCA));
             CatalogIndex hnsw = CatalogIndex.build(galleryFeatures, galleryItems, CatalogIndex.Options.of(IndexSpec.hnsw()).withPca(PCA))) {
            List<List<CatalogIndex.Hit>> a = flat.searchBatch(queryFeatures, 5, Optional.empty());
            List<List<CatalogIndex.Hit>> b = hnsw.searchBatch(queryFeatures, 5, Optional.empty());
            int same = 0;
            for (int q = 0; q < queries.size(); q++) {
                assertEquals(5, a.get(q).size());
                // The same top 5, or an equally good one: items tied (to float rounding) at the 5th
                // score may come back in either index.
                if (ids(a.get(q)).equals(ids(b.get(q))) || sameScores(a.get(q), b.get(q))) {
                    same++;
                }
            }
            double agreement = same / (double) queries.size();
            // With 4 gallery views per item, a random top 5 holds one of them with probability
            // 1 - C(g-4, 5) / C(g, 5).
            int g = gallery.size();
            double chance = 1 - binomial(g - 4, 5) / binomial(g, 5);
            System.out.printf("drawn In-shop catalog, %d queries vs %d gallery images, MobileNetV3-Large (random "
                    + "weights) 960 -> PCA %d: top-5 accuracy flat %.4f, HNSW %.4f (chance %.4f); identical flat/HNSW "
                    + "top-5 sets %.4f (%s)%n", queries.size(), g, PCA, accuracy(a, queries), accuracy(b, queries), chance,
                    agreement, hnsw.description());
            assertTrue(agreement >= 0.95, "flat and HNSW agree on " + agreement + " of top-5 sets");
        }
    }

    private static List<ImageInput> inputs(Catalog catalog, List<CatalogImage> images) {
        return images.stream().map(i -> {
            dev.atelier.engine.embed.BoundingBox b = i.bbox().orElseThrow();
            return ImageInput.of(catalog.resolve(i.item()), b);
        }).toList();
    }

    private static boolean sameScores(List<CatalogIndex.Hit> a, List<CatalogIndex.Hit> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (Math.abs(a.get(i).score() - b.get(i).score()) > 1e-5f * Math.max(1f, Math.abs(a.get(i).score()))) {
                return false;
            }
        }
        return true;
    }

    private static Set<Long> ids(List<CatalogIndex.Hit> hits) {
        Set<Long> s = new HashSet<>();
        hits.forEach(h -> s.add(h.id()));
        return s;
    }

    /** Share of queries with an image of their own item among the top 5. */
    private static double accuracy(List<List<CatalogIndex.Hit>> results, List<CatalogImage> queries) {
        int hits = 0;
        for (int q = 0; q < queries.size(); q++) {
            String item = queries.get(q).item().itemId();
            if (results.get(q).stream().anyMatch(h -> h.item().itemId().equals(item))) {
                hits++;
            }
        }
        return hits / (double) queries.size();
    }

    private static double binomial(int n, int k) {
        double r = 1;
        for (int i = 0; i < k; i++) {
            r = r * (n - i) / (i + 1);
        }
        return r;
    }
}
