package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.BoundingBox;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * DeepFashion Category and Attribute Prediction: {@code img/<Item_Name>/img_N.jpg},
 * {@code Anno/list_category_cloth.txt} ({@code category_name category_type}, line order gives
 * the labels 1, 2, ...), {@code Anno/list_category_img.txt} ({@code image_name category_label}),
 * {@code Anno/list_bbox.txt} ({@code image_name x_1 y_1 x_2 y_2}) and
 * {@code Eval/list_eval_partition.txt} ({@code image_name evaluation_status}, train|val|test) and,
 * when present, the image attributes ({@link DeepFashionAttributes}: {@code list_attr_cloth.txt},
 * {@code list_attr_img.txt}).
 * The item id of an image is its folder name.
 */
public final class DeepFashionCategory {
    private DeepFashionCategory() {}

    /** Reads the catalog at root; missing images are skipped and listed in {@link Catalog#problems()}. */
    public static Catalog read(Path root) {
        ListFile cloth = ListFile.read(root.resolve("Anno/list_category_cloth.txt"), 1, true);
        List<String> categories = new ArrayList<>();
        for (ListFile.Row row : cloth.rows()) {
            cloth.intField(row, 0, "category_type");
            categories.add(row.name());
        }
        Map<String, BoundingBox> boxes = new HashMap<>();
        Path bboxPath = root.resolve("Anno/list_bbox.txt");
        if (Files.exists(bboxPath)) {
            ListFile bbox = ListFile.read(bboxPath, 4, true);
            for (ListFile.Row row : bbox.rows()) {
                boxes.put(row.name(), bbox.box(row, 0));
            }
        }
        Map<String, Split> splits = new HashMap<>();
        Path partitionPath = root.resolve("Eval/list_eval_partition.txt");
        if (Files.exists(partitionPath)) {
            ListFile partition = ListFile.read(partitionPath, 1, true);
            for (ListFile.Row row : partition.rows()) {
                Split split = Split.fromName(row.fields()[0]);
                if (split == null) {
                    throw partition.error(row.line(), "evaluation_status must be train, val or test, got \"" + row.fields()[0] + "\"");
                }
                splits.put(row.name(), split);
            }
        }
        Map<String, List<String>> attributes = DeepFashionAttributes.read(root, "list_attr_img.txt");
        ListFile labels = ListFile.read(root.resolve("Anno/list_category_img.txt"), 1, true);
        List<String> problems = new ArrayList<>();
        List<CatalogImage> images = new ArrayList<>();
        for (ListFile.Row row : labels.rows()) {
            int label = labels.intField(row, 0, "category_label");
            if (label < 1 || label > categories.size()) {
                throw labels.error(row.line(), "category_label " + label + " is not in 1.." + categories.size()
                        + " (list_category_cloth.txt)");
            }
            if (!Files.isRegularFile(root.resolve(row.name()))) {
                problems.add(root.resolve(row.name()) + ": image missing; skipped");
                continue;
            }
            String[] parts = row.name().split("/");
            String itemId = parts.length >= 2 ? parts[parts.length - 2] : "";
            CatalogItem item = new CatalogItem(row.name(), itemId, categories.get(label - 1));
            images.add(new CatalogImage(item, Optional.ofNullable(boxes.get(row.name())),
                    splits.getOrDefault(row.name(), Split.NONE), attributes.getOrDefault(row.name(), List.of())));
        }
        return new Catalog(root, images, problems);
    }
}
