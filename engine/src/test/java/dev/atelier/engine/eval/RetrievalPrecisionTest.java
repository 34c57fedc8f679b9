package dev.atelier.engine.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.catalog.Split;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.IndexSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Precision@k of catalog search against hand-worked answers on a seven-image catalog. */
class RetrievalPrecisionTest {
    private static final List<String> PATTERNS = List.of("plain", "striped");

    private record Entry(String path, String item, String category, Split split, String pattern, float[] vector) {}

    // Type A lies along axis 0, type B along axis 1; b3 is filed as B but looks like A. a1b is a
    // second view of a1 (its nearest neighbour, and never a hit of a1: the query's own item).
    private static final List<Entry> ENTRIES = List.of(
            new Entry("a1.jpg", "a1", "A", Split.QUERY, "striped", new float[] {1, 0, 0.01f, 0}),
            new Entry("a1b.jpg", "a1", "A", Split.GALLERY, "striped", new float[] {1, 0, 0.01f, 0}),
            new Entry("a2.jpg", "a2", "A", Split.GALLERY, "striped", new float[] {1, 0, 0.02f, 0}),
            new Entry("a3.jpg", "a3", "A", Split.GALLERY, "plain", new float[] {1, 0, 0.03f, 0}),
            new Entry("b1.jpg", "b1", "B", Split.QUERY, "plain", new float[] {0.1f, 1, 0, 0.01f}),
            new Entry("b2.jpg", "b2", "B", Split.GALLERY, "plain", new float[] {0, 1, 0, 0.02f}),
            new Entry("b3.jpg", "b3", "B", Split.GALLERY, "striped", new float[] {1, 0.5f, 0, 0}));

    @Test
    void scoresTheNearestOtherItemsByTypeAndPattern() {
        Catalog catalog = catalog();
        List<CatalogImage> queries = RetrievalPrecision.queries(catalog);
        assertEquals(List.of("a1.jpg", "b1.jpg"), queries.stream().map(q -> q.item().path()).toList(), "the query split");
        try (CatalogIndex index = index()) {
            float[][] features = {ENTRIES.get(0).vector(), ENTRIES.get(4).vector()};
            RetrievalPrecision.Result r = RetrievalPrecision.measure(index, catalog, queries, features, PATTERNS, 3);
            // a1: a2, a3, b3 (a1b is its own item): types A A B, patterns striped plain striped.
            // b1: b2, b3, a1: types B B A, patterns plain striped striped.
            assertEquals(3, r.k());
            assertEquals(2.0 / 3, r.type().precision(), 1e-9);
            assertEquals(2, r.type().queries());
            assertNear(Map.of("A", 2.0 / 3, "B", 2.0 / 3), r.type().byLabel());
            assertEquals(0.5, r.pattern().orElseThrow().precision(), 1e-9);
            assertNear(Map.of("striped", 2.0 / 3, "plain", 1.0 / 3), r.pattern().get().byLabel());

            // k = 1: a1 -> a2 (A, striped), b1 -> b2 (B, plain): all right.
            RetrievalPrecision.Result one = RetrievalPrecision.measure(index, catalog, queries, features, PATTERNS, 1);
            assertEquals(1.0, one.type().precision(), 1e-9);
            assertEquals(1.0, one.pattern().orElseThrow().precision(), 1e-9);

            // Without pattern labels there is no pattern figure.
            assertTrue(RetrievalPrecision.measure(index, catalog, queries, features, List.of(), 3).pattern().isEmpty());
            assertThrows(InvalidInputException.class,
                    () -> RetrievalPrecision.measure(index, catalog, queries, new float[][] {features[0]}, PATTERNS, 3));
            assertThrows(InvalidInputException.class, () -> RetrievalPrecision.measure(index, catalog, queries, features, PATTERNS, 0));
        }
    }

    @Test
    void everyImageQueriesWhenTheCatalogHasNoQuerySplit() {
        List<CatalogImage> images = new ArrayList<>();
        for (Entry e : ENTRIES) {
            images.add(new CatalogImage(new CatalogItem(e.path(), e.item(), e.category()), Optional.empty(), Split.NONE));
        }
        assertEquals(ENTRIES.size(), RetrievalPrecision.queries(new Catalog(Path.of("."), images, List.of())).size());
    }

    private static Catalog catalog() {
        List<CatalogImage> images = new ArrayList<>();
        for (Entry e : ENTRIES) {
            images.add(new CatalogImage(new CatalogItem(e.path(), e.item(), e.category()), Optional.empty(), e.split(),
                    List.of(e.pattern(), "red")));
        }
        return new Catalog(Path.of("."), images, List.of());
    }

    private static CatalogIndex index() {
        float[][] vectors = ENTRIES.stream().map(Entry::vector).toArray(float[][]::new);
        List<CatalogItem> items = ENTRIES.stream().map(e -> new CatalogItem(e.path(), e.item(), e.category())).toList();
        return CatalogIndex.build(vectors, items, CatalogIndex.Options.of(IndexSpec.flat()));
    }

    private static void assertNear(Map<String, Double> expected, Map<String, Double> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((label, v) -> assertEquals(v, actual.get(label), 1e-9, label));
    }
}
