package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.BoundingBox;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * DeepFashion In-shop Clothes Retrieval: {@code img/<GENDER>/<Category>/<item_id>/<view>.jpg},
 * {@code Eval/list_eval_partition.txt} ({@code image_name item_id evaluation_status}, status
 * train|query|gallery), {@code Anno/list_bbox_inshop.txt} ({@code image_name clothes_type
 * pose_type x_1 y_1 x_2 y_2}), {@code Anno/list_item_inshop.txt} (the item ids) and, when present,
 * the item attributes ({@link DeepFashionAttributes}: {@code list_attr_cloth.txt},
 * {@code list_attr_items.txt}). The
 * category of an image is its folder below img/, e.g. "WOMEN/Dresses".
 */
public final class DeepFashionInShop {
    private DeepFashionInShop() {}

    /** Reads the catalog at root; missing images are skipped and listed in {@link Catalog#problems()}. */
    public static Catalog read(Path root) {
        ListFile partition = ListFile.read(root.resolve("Eval/list_eval_partition.txt"), 2, true);
        Map<String, BoundingBox> boxes = new HashMap<>();
        Path bboxPath = root.resolve("Anno/list_bbox_inshop.txt");
        if (Files.exists(bboxPath)) {
            ListFile bbox = ListFile.read(bboxPath, 6, true);
            for (ListFile.Row row : bbox.rows()) {
                boxes.put(row.name(), bbox.box(row, 2));
            }
        }
        List<String> problems = new ArrayList<>();
        Set<String> knownItems = null;
        Path itemPath = root.resolve("Anno/list_item_inshop.txt");
        if (Files.exists(itemPath)) {
            knownItems = new HashSet<>();
            for (ListFile.Row row : readItemList(itemPath).rows()) {
                knownItems.add(row.name());
            }
        }
        Map<String, List<String>> attributes = DeepFashionAttributes.read(root, "list_attr_items.txt");
        List<CatalogImage> images = new ArrayList<>();
        for (ListFile.Row row : partition.rows()) {
            String itemId = row.fields()[0];
            Split split = Split.fromName(row.fields()[1]);
            if (split == null) {
                throw partition.error(row.line(), "evaluation_status must be train, query or gallery, got \"" + row.fields()[1] + "\"");
            }
            if (knownItems != null && !knownItems.contains(itemId)) {
                problems.add(partition.path() + ":" + row.line() + ": item " + itemId + " is not in list_item_inshop.txt");
            }
            if (!Files.isRegularFile(root.resolve(row.name()))) {
                problems.add(root.resolve(row.name()) + ": image missing; skipped");
                continue;
            }
            CatalogItem item = new CatalogItem(row.name(), itemId, categoryOf(row.name()));
            images.add(new CatalogImage(item, Optional.ofNullable(boxes.get(row.name())), split,
                    attributes.getOrDefault(itemId, List.of())));
        }
        return new Catalog(root, images, problems);
    }

    /** list_item_inshop.txt: a count line then item ids, with or without an "item_id" header line. */
    private static ListFile readItemList(Path path) {
        try {
            return ListFile.read(path, 0, false);
        } catch (dev.atelier.engine.core.AtelierException.FormatException e) {
            return ListFile.read(path, 0, true);
        }
    }

    /** "img/WOMEN/Dresses/id_00000002/02_1_front.jpg" -> "WOMEN/Dresses". */
    static String categoryOf(String imageName) {
        String[] parts = imageName.split("/");
        int start = parts.length > 0 && parts[0].equals("img") ? 1 : 0;
        if (parts.length - start >= 4) {
            return parts[start] + "/" + parts[start + 1];
        }
        return parts.length - start >= 2 ? parts[parts.length - 2] : "";
    }
}
