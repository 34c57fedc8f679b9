package dev.atelier.engine.index;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Search sizes a user picks, against a small catalog. */
class CatalogIndexLimitsTest {
    @Test
    void kAboveTheItemCountFindsEveryItemWithoutAllocatingForK() {
        Random random = new Random(3);
        int n = 40, dim = 16;
        float[][] vectors = new float[n][dim];
        List<CatalogItem> items = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < dim; j++) {
                vectors[i][j] = (float) random.nextGaussian();
            }
            items.add(new CatalogItem("img/" + i + ".png", "id_" + i, i % 4 == 0 ? "A" : "B"));
        }
        for (IndexSpec spec : List.of(IndexSpec.flat(), IndexSpec.hnsw())) {
            try (CatalogIndex index = CatalogIndex.build(vectors, items, CatalogIndex.Options.of(spec))) {
                // A k of two billion would need 24 GB of result arrays per query; it is the item count.
                List<CatalogSearch.Hit> all = index.search(vectors[0], Integer.MAX_VALUE, Optional.empty());
                assertEquals(n, all.size(), spec.toString());
                assertEquals(n, new HashSet<>(all.stream().map(CatalogSearch.Hit::id).toList()).size());
                assertEquals(0, all.getFirst().id());
                List<CatalogSearch.Hit> a = index.search(vectors[1], Integer.MAX_VALUE, Optional.of("A"));
                assertEquals(n / 4, a.size(), spec.toString());
                a.forEach(h -> assertEquals("A", h.item().category()));
                assertEquals(index.search(vectors[2], n, Optional.empty()),
                        index.search(vectors[2], n + 1000, Optional.empty()));
                assertThrows(InvalidInputException.class, () -> index.search(vectors[0], 0, Optional.empty()));
            }
        }
    }
}
