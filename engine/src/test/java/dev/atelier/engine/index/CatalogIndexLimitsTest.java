package dev.atelier.engine.index;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Search sizes a user picks, against a small catalog. */
class CatalogIndexLimitsTest {
    @TempDir
    Path dir;

    @Test
    void aManifestLargerThanAnyRealOneIsRefusedUnread() throws IOException {
        float[][] vectors = {{1, 0, 0, 0}, {0, 1, 0, 0}};
        List<CatalogItem> items = List.of(new CatalogItem("a.png", "a", "A"), new CatalogItem("b.png", "b", "B"));
        try (CatalogIndex index = CatalogIndex.build(vectors, items, CatalogIndex.Options.of(IndexSpec.flat()))) {
            index.save(dir);
        }
        Path manifest = dir.resolve(CatalogIndexStore.MANIFEST);
        // Still valid JSON: leading blanks, 2 MiB of them.
        Files.writeString(manifest, " ".repeat(2 << 20) + Files.readString(manifest));
        FormatException e = assertThrows(FormatException.class, () -> CatalogIndex.load(dir));
        assertTrue(e.getMessage().contains("manifest.json") && e.getMessage().contains("at most 1048576"), e.getMessage());
    }

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
