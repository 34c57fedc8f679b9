package dev.atelier.engine.synth;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.DeepFashionInShop;
import dev.atelier.engine.catalog.Split;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticCatalogTest {
    @TempDir
    Path dir;

    @Test
    void deepFashionInShopReadsItWithoutProblems() throws Exception {
        Path root = dir.resolve("shop");
        Files.createDirectories(dir.resolve(".shop.partial/left-over")); // as an interrupted run leaves it
        int images = SyntheticCatalog.write(root, 120, 32, 3);
        assertFalse(Files.exists(dir.resolve(".shop.partial")), "the staging folder is gone");

        Catalog c = DeepFashionInShop.read(root);
        assertEquals(List.of(), c.problems());
        assertEquals(images, c.images().size());
        assertTrue(images > 120 * 1.4 && images < 120 * 1.8, images + " images: about 60% of items have two views");
        Set<String> items = c.images().stream().map(i -> i.item().itemId()).collect(Collectors.toSet());
        assertEquals(120, items.size());
        Set<String> expected = new TreeSet<>();
        for (GarmentType t : GarmentType.values()) {
            expected.add(t.deepFashionFolder());
        }
        assertEquals(expected, c.images().stream().map(i -> i.item().category()).collect(Collectors.toCollection(TreeSet::new)));

        Map<Split, Integer> splits = new HashMap<>();
        Map<String, Set<Split>> byItem = new HashMap<>();
        for (CatalogImage image : c.images()) {
            splits.merge(image.split(), 1, Integer::sum);
            byItem.computeIfAbsent(image.item().itemId(), k -> new java.util.HashSet<>()).add(image.split());
            assertTrue(image.bbox().isPresent(), image.item().path());
            var b = image.bbox().get();
            assertTrue(b.left() >= 0 && b.top() >= 0 && b.right() < 32 && b.bottom() < 32
                    && Math.max(b.right() - b.left(), b.bottom() - b.top()) > 20, b.toString());
        }
        assertEquals(Set.of(Split.TRAIN, Split.QUERY, Split.GALLERY), splits.keySet());
        for (Set<Split> s : byItem.values()) {
            assertTrue(s.equals(Set.of(Split.TRAIN)) || s.equals(Set.of(Split.QUERY, Split.GALLERY)) || s.equals(Set.of(Split.GALLERY)), s.toString());
        }
        assertTrue(splits.get(Split.TRAIN) > images / 4 && splits.get(Split.TRAIN) < images * 3 / 4, splits.toString());

        // Attributes (list_attr_cloth.txt, list_attr_items.txt): each item's pattern, then its colour.
        Set<String> patterns = new TreeSet<>();
        for (CatalogImage image : c.images()) {
            List<String> a = image.attributes();
            assertEquals(2, a.size(), image.item().path() + ": " + a);
            GarmentPattern.fromWord(a.get(0));
            GarmentColour.fromWord(a.get(1));
            patterns.add(a.get(0));
        }
        assertEquals(GarmentPattern.values().length, patterns.size(), "every pattern is in the catalog: " + patterns);

        CatalogImage first = c.images().getFirst();
        assertTrue(first.item().path().matches("img/(MEN|WOMEN)/[A-Za-z_]+/id_00000001/01_1_front\\.jpg"), first.item().path());
        BufferedImage jpeg = ImageIO.read(c.resolve(first.item()).toFile());
        assertEquals(32, jpeg.getWidth());
        assertEquals("120", Files.readAllLines(root.resolve("Anno/list_item_inshop.txt")).getFirst());
    }

    @Test
    void badArgumentsAreRejected() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> SyntheticCatalog.write(dir.resolve("c"), 0, 64, 1));
        assertEquals("items must be between 1 and 100000, got 0", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> SyntheticCatalog.write(dir.resolve("c"), 10, 2000, 1));
        assertEquals("image size must be between 32 and 1024 pixels, got 2000", e.getMessage());
        assertFalse(Files.exists(dir.resolve("c")));
    }
}
