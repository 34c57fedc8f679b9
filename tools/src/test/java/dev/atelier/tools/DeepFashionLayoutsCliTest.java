package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.demo.DefaultModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The retrieval and prompt-fidelity measures through the command line, unchanged on both
 * DeepFashion layouts (a made-up In-shop catalog from `atelier synth catalog`, a made-up Category
 * and Attribute Prediction folder), with the project's trained embedder and with weights in
 * torchvision's ImageNet layout and .pth format (the fixture's: torchvision's initialisation, no
 * garment heads), as a user's downloaded torchvision weights would come.
 */
class DeepFashionLayoutsCliTest {
    @TempDir
    Path dir;

    private static final Path TRAINED = DefaultModel.locate().embedder();

    @Test
    void inShopLayoutWithTheTrainedEmbedder() throws IOException {
        Path catalog = dir.resolve("inshop");
        assertEquals(0, CliRun.of("synth", "catalog", "--out", catalog.toString(), "--items", "600", "--size", "96", "--seed", "31").code());
        Path generated = jackets(dir.resolve("generated"), 64);
        JsonNode json = evaluate(TRAINED, catalog, generated, "MEN/Jackets_Vests");

        JsonNode retrieval = json.get("retrieval");
        assertEquals(5, retrieval.get("k").asInt());
        assertTrue(retrieval.get("type").get("queries").asInt() > 10, retrieval.toString());
        assertTrue(retrieval.get("type").get("precision").asDouble() >= 0.9, retrieval.toString());
        assertTrue(retrieval.get("pattern").get("precision").asDouble() >= 0.7, retrieval.toString());
        assertTrue(retrieval.get("type").get("by_label").has("MEN/Jackets_Vests"), retrieval.toString());
        JsonNode garment = json.get("garment");
        assertEquals("jacket", garment.get("garment").asText());
        assertTrue(garment.get("type_fidelity").asDouble() >= 0.8, garment.toString());
        assertTrue(garment.get("catalog_type_share").asDouble() >= 0.8, garment.toString());
        assertEquals(6, garment.get("seen_types").size());
    }

    @Test
    void categoryLayoutWithTrainedAndImagenetWeights() throws IOException {
        Path catalog = categoryFolder(dir.resolve("category"));
        Path generated = jackets(dir.resolve("generated"), 64);
        JsonNode trained = evaluate(TRAINED, catalog, generated, "Jacket");
        JsonNode retrieval = trained.get("retrieval");
        assertEquals(60, retrieval.get("type").get("queries").asInt(), "the test split queries");
        assertTrue(retrieval.get("type").get("precision").asDouble() >= 0.9, retrieval.toString());
        assertTrue(retrieval.get("pattern").get("precision").asDouble() >= 0.7,
                "texture attributes named like the pattern head: " + retrieval);
        assertTrue(trained.get("garment").get("type_fidelity").asDouble() >= 0.8, trained.toString());

        // torchvision ImageNet weights (the fixture's .pth): the same command; no garment heads, so
        // no pattern figure and no type fidelity, but catalog precision by type and catalog share.
        Path imagenet = CatalogCliTest.mobilenet().resolve("mobilenet_v3_large.pth");
        JsonNode plain = evaluate(imagenet, catalog, generated, "Jacket");
        assertTrue(plain.get("retrieval").has("type"));
        assertFalse(plain.get("retrieval").has("pattern"));
        assertFalse(plain.get("garment").has("type_fidelity"));
        assertTrue(plain.get("garment").has("catalog_type_share"));
        // The fixture's weights are torchvision's random initialisation: search by type near chance (1/4).
        assertTrue(plain.get("retrieval").get("type").get("precision").asDouble() < 0.6, plain.toString());
    }

    /** index build, then evaluate with retrieval precision and prompt fidelity; the JSON answer. */
    private JsonNode evaluate(Path model, Path catalog, Path generated, String category) {
        Path index = dir.resolve("index-" + model.getFileName() + "-" + catalog.getFileName());
        CliRun build = CliRun.of("index", "build", "--model", model.toString(), "--catalog", catalog.toString(), "--index",
                index.toString(), "--pca", "0");
        assertEquals(0, build.code(), build.err());
        CliRun eval = CliRun.of("evaluate", "--model", model.toString(), "--generated", generated.toString(), "--wardrobe",
                generated.toString(), "--index", index.toString(), "--out", dir.resolve("report").toString(), "--catalog-images",
                catalog.toString(), "--garment", "jacket", "--garment-category", category, "--json");
        assertEquals(0, eval.code(), eval.err());
        System.out.println(model.getFileName() + " on " + catalog.getFileName() + ": retrieval " + eval.json().get("retrieval")
                + ", garment " + eval.json().get("garment"));
        return eval.json();
    }

    /** Six jackets drawn at size (the garment rows of a small training set). */
    private Path jackets(Path out, int size) throws IOException {
        Path set = dir.resolve("set" + size);
        assertEquals(0, CliRun.of("synth", "training-set", "--out", set.toString(), "--count", "120", "--size", String.valueOf(size),
                "--seed", "9090").code());
        Files.createDirectories(out);
        int n = 0;
        for (Map<String, String> row : metadata(set)) {
            if (row.get("category").equals("jacket") && n < 6) {
                Files.copy(set.resolve(row.get("file")), out.resolve(String.format("%02d.png", n++)));
            }
        }
        assertEquals(6, n);
        return out;
    }

    /**
     * A Category and Attribute Prediction folder: img/<Pattern>_<Category>/img_NNNNNNNN.png for four
     * categories, list_category_cloth/img, a train/val/test partition and texture attributes.
     */
    private Path categoryFolder(Path root) throws IOException {
        Path set = dir.resolve("category-set");
        assertEquals(0, CliRun.of("synth", "training-set", "--out", set.toString(), "--count", "600", "--size", "96", "--seed", "9191")
                .code());
        Map<String, String> names = Map.of("jacket", "Jacket", "dress", "Dress", "skirt", "Skirt", "tshirt", "Tee");
        List<String> categories = List.of("Jacket", "Dress", "Skirt", "Tee");
        List<String> attributes = List.of("plain", "striped", "checked", "dotted", "colorblock");
        List<String> labels = new ArrayList<>(), partition = new ArrayList<>(), attrs = new ArrayList<>();
        int n = 0;
        for (Map<String, String> row : metadata(set)) {
            String category = names.get(row.get("category"));
            if (category == null || n >= 240) {
                continue;
            }
            String name = "img/" + capitalise(row.get("pattern")) + "_" + category + "_" + n + "/img_00000001.png";
            Files.createDirectories(root.resolve(name).getParent());
            Files.copy(set.resolve(row.get("file")), root.resolve(name));
            labels.add(name + " " + (categories.indexOf(category) + 1));
            partition.add(name + " " + (n % 4 == 0 ? "test" : n % 4 == 1 ? "val" : "train"));
            StringBuilder values = new StringBuilder(name);
            attributes.forEach(a -> values.append(a.equals(row.get("pattern")) ? " 1" : " -1"));
            attrs.add(values.toString());
            n++;
        }
        List<String> cloth = categories.stream().map(c -> c + " " + (c.equals("Dress") ? 3 : c.equals("Skirt") ? 2 : 1)).toList();
        writeList(root.resolve("Anno/list_category_cloth.txt"), "category_name  category_type", cloth);
        writeList(root.resolve("Anno/list_category_img.txt"), "image_name  category_label", labels);
        writeList(root.resolve("Eval/list_eval_partition.txt"), "image_name  evaluation_status", partition);
        writeList(root.resolve("Anno/list_attr_cloth.txt"), "attribute_name  attribute_type",
                attributes.stream().map(a -> a + " 1").toList());
        writeList(root.resolve("Anno/list_attr_img.txt"), "image_name  attribute_labels", attrs);
        return root;
    }

    private static List<Map<String, String>> metadata(Path set) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Map<String, String>> rows = new ArrayList<>();
        for (String line : Files.readAllLines(set.resolve("metadata.jsonl"))) {
            rows.add(json.readValue(line, new TypeReference<Map<String, String>>() {}));
        }
        return rows;
    }

    private static void writeList(Path file, String header, List<String> rows) throws IOException {
        Files.createDirectories(file.getParent());
        StringBuilder s = new StringBuilder().append(rows.size()).append('\n').append(header).append('\n');
        rows.forEach(r -> s.append(r).append('\n'));
        Files.writeString(file, s, StandardCharsets.UTF_8);
    }

    private static String capitalise(String s) {
        return Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }
}
