package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.BoundingBox;
import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CatalogReadersTest {
    @TempDir
    Path dir;

    @Test
    void readsInShopLayout() throws Exception {
        SyntheticInShop s = SyntheticInShop.write(dir, 6, 8, 0.1f, 1);
        Catalog c = DeepFashionInShop.read(dir);
        assertEquals(24, c.images().size());
        assertEquals(List.of(), c.problems());
        CatalogImage first = c.images().getFirst();
        assertEquals("WOMEN/Dresses", first.item().category());
        assertEquals("id_00000001", first.item().itemId());
        assertEquals(Split.QUERY, first.split());
        assertEquals(new BoundingBox(1, 1, 3, 3), first.bbox().orElseThrow());
        assertEquals(Split.GALLERY, c.images().get(1).split());
        assertTrue(Files.isRegularFile(c.resolve(first.item())));
        assertTrue(s.features.containsKey(first.item().path()));
    }

    @Test
    void missingImageIsSkippedAndReported() throws Exception {
        SyntheticInShop.write(dir, 3, 8, 0.1f, 2);
        Path gone = dir.resolve("img/WOMEN/Skirts/id_00000002/03_3_back.png");
        Files.delete(gone);
        Catalog c = DeepFashionInShop.read(dir);
        assertEquals(11, c.images().size());
        assertEquals(1, c.problems().size());
        assertTrue(c.problems().getFirst().contains("03_3_back.png") && c.problems().getFirst().contains("missing"),
                c.problems().getFirst());
    }

    @Test
    void malformedLineNamesFileAndLine() throws Exception {
        SyntheticInShop.write(dir, 2, 8, 0.1f, 3);
        Path partition = dir.resolve("Eval/list_eval_partition.txt");
        List<String> lines = new java.util.ArrayList<>(Files.readAllLines(partition));
        lines.set(4, "img/WOMEN/Dresses/id_00000001/03_3_back.png"); // file line 5: fields missing
        Files.write(partition, lines);
        FormatException e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(e.getMessage().contains("list_eval_partition.txt:5:"), e.getMessage());

        lines.set(4, "img/WOMEN/Dresses/id_00000001/03_3_back.png id_00000001 holdout");
        Files.write(partition, lines);
        e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(e.getMessage().contains("list_eval_partition.txt:5:") && e.getMessage().contains("holdout"), e.getMessage());

        Path bbox = dir.resolve("Anno/list_bbox_inshop.txt");
        List<String> boxLines = new java.util.ArrayList<>(Files.readAllLines(bbox));
        boxLines.set(3, boxLines.get(3).replace(" 1 1 3 3", " 1 x 3 3"));
        Files.write(bbox, boxLines);
        e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(e.getMessage().contains("list_bbox_inshop.txt:4:") && e.getMessage().contains("y_1"), e.getMessage());

        boxLines.set(3, boxLines.get(3).replace(" 1 x 3 3", " 3 1 3 3"));
        Files.write(bbox, boxLines);
        e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(e.getMessage().contains("list_bbox_inshop.txt:4:") && e.getMessage().contains("x_1 < x_2"), e.getMessage());
    }

    @Test
    void aListFileThatIsNotUtf8NamesTheFileAndLine() throws Exception {
        SyntheticInShop.write(dir, 2, 8, 0.1f, 3);
        Path partition = dir.resolve("Eval/list_eval_partition.txt");
        List<String> lines = new java.util.ArrayList<>(Files.readAllLines(partition));
        lines.set(4, lines.get(4) + " caf\u00e9");
        Files.write(partition, lines, java.nio.charset.StandardCharsets.ISO_8859_1);
        FormatException e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(e.getMessage().contains("list_eval_partition.txt:5: not UTF-8 text (byte 0xE9"), e.getMessage());
    }

    @Test
    void countLineIsVerified() throws Exception {
        SyntheticInShop.write(dir, 2, 8, 0.1f, 4);
        Path partition = dir.resolve("Eval/list_eval_partition.txt");
        List<String> lines = new java.util.ArrayList<>(Files.readAllLines(partition));
        lines.set(0, "9");
        Files.write(partition, lines);
        FormatException e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(e.getMessage().contains("list_eval_partition.txt:1:") && e.getMessage().contains("9"), e.getMessage());
    }

    /** An image name that is absolute or climbs out of the dataset is refused, even when that file exists. */
    @Test
    void imageNamesThatLeaveTheDatasetAreRefused() throws Exception {
        Path data = Files.createDirectories(dir.resolve("inshop"));
        Path outside = Files.write(dir.resolve("outside.png"), new byte[] {1});
        SyntheticInShop.write(data, 2, 8, 0.1f, 4);
        Path partition = data.resolve("Eval/list_eval_partition.txt");
        List<String> lines = Files.readAllLines(partition);
        int images = DeepFashionInShop.read(data).images().size();
        for (String name : List.of("../outside.png", outside.toString(), "img/../../outside.png")) {
            List<String> changed = new java.util.ArrayList<>(lines);
            changed.set(3, name + " id_00000001 train"); // file line 4
            Files.write(partition, changed);
            FormatException e = assertThrows(FormatException.class, () -> DeepFashionInShop.read(data), name);
            assertTrue(e.getMessage().contains("list_eval_partition.txt:4:") && e.getMessage().contains("leaves the dataset folder"),
                    e.getMessage());
        }
        List<String> inside = new java.util.ArrayList<>(lines);
        inside.set(3, "img/WOMEN/../" + lines.get(3).substring("img/".length())); // out of a folder and back: inside
        Files.write(partition, inside);
        assertEquals(images, DeepFashionInShop.read(data).images().size());
    }

    @Test
    void readsCategoryAttributeLayout() throws Exception {
        for (String name : List.of("img/Floral_Dress/img_00000001.jpg", "img/Floral_Dress/img_00000002.jpg",
                "img/Denim_Shorts/img_00000001.jpg")) {
            Files.createDirectories(dir.resolve(name).getParent());
            Files.write(dir.resolve(name), new byte[] {1});
        }
        SyntheticInShop.writeList(dir.resolve("Anno/list_category_cloth.txt"), "category_name  category_type",
                List.of("Shorts                  2", "Dress                   3"));
        SyntheticInShop.writeList(dir.resolve("Anno/list_category_img.txt"), "image_name  category_label",
                List.of("img/Floral_Dress/img_00000001.jpg 2", "img/Floral_Dress/img_00000002.jpg 2",
                        "img/Denim_Shorts/img_00000001.jpg 1", "img/Denim_Shorts/img_00000002.jpg 1"));
        SyntheticInShop.writeList(dir.resolve("Anno/list_bbox.txt"), "image_name  x_1  y_1  x_2  y_2",
                List.of("img/Floral_Dress/img_00000001.jpg 10 20 30 40"));
        SyntheticInShop.writeList(dir.resolve("Eval/list_eval_partition.txt"), "image_name  evaluation_status",
                List.of("img/Floral_Dress/img_00000001.jpg train", "img/Floral_Dress/img_00000002.jpg val",
                        "img/Denim_Shorts/img_00000001.jpg test"));
        Catalog c = DeepFashionCategory.read(dir);
        assertEquals(3, c.images().size());
        assertEquals(1, c.problems().size()); // img_00000002 of Denim_Shorts does not exist
        assertEquals(new CatalogItem("img/Floral_Dress/img_00000001.jpg", "Floral_Dress", "Dress"), c.images().get(0).item());
        assertEquals(new BoundingBox(10, 20, 30, 40), c.images().get(0).bbox().orElseThrow());
        assertEquals(Split.VAL, c.images().get(1).split());
        assertEquals("Shorts", c.images().get(2).item().category());

        SyntheticInShop.writeList(dir.resolve("Anno/list_category_img.txt"), "image_name  category_label",
                List.of("img/Floral_Dress/img_00000001.jpg 7"));
        FormatException e = assertThrows(FormatException.class, () -> DeepFashionCategory.read(dir));
        assertTrue(e.getMessage().contains("list_category_img.txt:3:"), e.getMessage());
    }

    @Test
    void readsInShopItemAttributes() throws Exception {
        SyntheticInShop.write(dir, 3, 8, 0.1f, 1);
        // In-shop names attributes one a line (names may hold spaces) and gives each item 1 / -1 per attribute.
        SyntheticInShop.writeList(dir.resolve("Anno/list_attr_cloth.txt"), "attribute_name", List.of("floral print", "striped", "red"));
        SyntheticInShop.writeList(dir.resolve("Anno/list_attr_items.txt"), "item_id attribute_labels",
                List.of("id_00000001 1 -1 1", "id_00000002 -1 1 -1", "id_00000003 -1 -1 -1"));
        Catalog c = DeepFashionInShop.read(dir);
        for (CatalogImage image : c.images()) {
            List<String> expected = switch (image.item().itemId()) {
                case "id_00000001" -> List.of("floral print", "red");
                case "id_00000002" -> List.of("striped");
                default -> List.of();
            };
            assertEquals(expected, image.attributes(), image.item().path());
        }

        SyntheticInShop.writeList(dir.resolve("Anno/list_attr_items.txt"), "item_id attribute_labels",
                List.of("id_00000001 1 -1 2", "id_00000002 -1 1 -1", "id_00000003 -1 -1 -1"));
        FormatException bad = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(bad.getMessage().contains("list_attr_items.txt:3:") && bad.getMessage().contains("got 2"), bad.getMessage());
        SyntheticInShop.writeList(dir.resolve("Anno/list_attr_items.txt"), "item_id attribute_labels", List.of("id_00000001 1 -1"));
        FormatException shortRow = assertThrows(FormatException.class, () -> DeepFashionInShop.read(dir));
        assertTrue(shortRow.getMessage().contains("list_attr_items.txt:3:"), shortRow.getMessage());
    }

    @Test
    void readsCategoryImageAttributes() throws Exception {
        for (String name : List.of("img/Floral_Dress/img_00000001.jpg", "img/Striped_Tee/img_00000001.jpg")) {
            Files.createDirectories(dir.resolve(name).getParent());
            Files.write(dir.resolve(name), new byte[] {1});
        }
        SyntheticInShop.writeList(dir.resolve("Anno/list_category_cloth.txt"), "category_name  category_type",
                List.of("Tee 1", "Dress 3"));
        SyntheticInShop.writeList(dir.resolve("Anno/list_category_img.txt"), "image_name  category_label",
                List.of("img/Floral_Dress/img_00000001.jpg 2", "img/Striped_Tee/img_00000001.jpg 1"));
        // Category and Attribute Prediction: "attribute_name attribute_type", values 1 / -1 / 0 per image.
        SyntheticInShop.writeList(dir.resolve("Anno/list_attr_cloth.txt"), "attribute_name  attribute_type",
                List.of("floral                       1", "a-line                       3", "striped                      1"));
        SyntheticInShop.writeList(dir.resolve("Anno/list_attr_img.txt"), "image_name  attribute_labels",
                List.of("img/Floral_Dress/img_00000001.jpg 1 1 0", "img/Striped_Tee/img_00000001.jpg -1 0 1"));
        Catalog c = DeepFashionCategory.read(dir);
        assertEquals(List.of("floral", "a-line"), c.images().get(0).attributes());
        assertEquals(List.of("striped"), c.images().get(1).attributes());
    }

    @Test
    void readsPlainImageFolder() throws Exception {
        for (String name : List.of("shirts/a.jpg", "shirts/b.PNG", "shoes/c.jpeg", "notes.txt", "top.png")) {
            Files.createDirectories(dir.resolve(name).getParent());
            Files.write(dir.resolve(name), new byte[] {1});
        }
        Catalog c = ImageFolder.read(dir);
        assertEquals(List.of(new CatalogItem("shirts/a.jpg", "shirts/a", "shirts"), new CatalogItem("shirts/b.PNG", "shirts/b", "shirts"),
                new CatalogItem("shoes/c.jpeg", "shoes/c", "shoes"), new CatalogItem("top.png", "top", "")), c.items());
    }
}
