package dev.atelier.engine.catalog;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * DeepFashion's attribute labels, where a layout has them: the names in
 * {@code Anno/list_attr_cloth.txt} (In-shop: {@code attribute_name}; Category and Attribute
 * Prediction: {@code attribute_name attribute_type}; names may hold spaces), and one record per
 * item (In-shop {@code list_attr_items.txt}) or image (Category {@code list_attr_img.txt}) with one
 * value per attribute: 1 means present, -1 or 0 absent.
 */
final class DeepFashionAttributes {
    private DeepFashionAttributes() {}

    /** Record name (item id or image name) to its present attributes; empty when the files are absent. */
    static Map<String, List<String>> read(Path root, String valuesFile) {
        Path clothPath = root.resolve("Anno/list_attr_cloth.txt");
        Path valuesPath = root.resolve("Anno/" + valuesFile);
        if (!Files.exists(clothPath) || !Files.exists(valuesPath)) {
            return Map.of();
        }
        ListFile cloth = ListFile.read(clothPath, 0, true);
        List<String> names = new ArrayList<>();
        for (ListFile.Row row : cloth.rows()) {
            String name = row.name();
            int space = name.lastIndexOf(' ');
            // Category and Attribute Prediction ends each line with the attribute type (1..5).
            if (space > 0 && name.substring(space + 1).matches("[0-9]+")) {
                name = name.substring(0, space).strip();
            }
            names.add(name);
        }
        ListFile values = ListFile.read(valuesPath, names.size(), true);
        Map<String, List<String>> present = new HashMap<>();
        for (ListFile.Row row : values.rows()) {
            if (row.fields().length != names.size()) {
                throw values.error(row.line(), "expected " + names.size() + " attribute values (list_attr_cloth.txt), got "
                        + row.fields().length);
            }
            List<String> on = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                int v = values.intField(row, i, "attribute value");
                if (v != 1 && v != -1 && v != 0) {
                    throw values.error(row.line(), "attribute values must be 1, 0 or -1, got " + v);
                }
                if (v == 1) {
                    on.add(names.get(i));
                }
            }
            present.put(row.name(), List.copyOf(on));
        }
        return present;
    }
}
