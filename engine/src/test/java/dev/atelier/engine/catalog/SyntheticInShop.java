package dev.atelier.engine.catalog;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * A synthetic DeepFashion In-shop catalog written by tests: tiny PNG images in
 * img/GENDER/Category/id_N/, the three list files, and a feature vector per image (item =
 * a random cluster centre, each view = centre + Gaussian noise), standing in for embeddings.
 */
public final class SyntheticInShop {
    public static final String[] CATEGORIES = {"WOMEN/Dresses", "WOMEN/Skirts", "MEN/Shirts_Polos", "MEN/Denim"};
    public static final String[] VIEWS = {"1_front", "2_side", "3_back", "4_full"};

    public final Path root;
    /** Feature vector of each image, by image name. */
    public final Map<String, float[]> features = new HashMap<>();

    private SyntheticInShop(Path root) {
        this.root = root;
    }

    /** Writes items x VIEWS.length images: view 0 of each item is a query, the others gallery. */
    public static SyntheticInShop write(Path root, int items, int dimension, float noise, long seed) throws IOException {
        SyntheticInShop s = new SyntheticInShop(root);
        Random random = new Random(seed);
        List<String> partition = new ArrayList<>();
        List<String> bbox = new ArrayList<>();
        List<String> itemIds = new ArrayList<>();
        for (int i = 0; i < items; i++) {
            String itemId = String.format("id_%08d", i + 1);
            itemIds.add(itemId);
            String category = CATEGORIES[i % CATEGORIES.length];
            float[] centre = gaussian(random, dimension, 1f);
            for (int v = 0; v < VIEWS.length; v++) {
                String name = "img/" + category + "/" + itemId + "/" + String.format("%02d_", v + 1) + VIEWS[v] + ".png";
                writePng(root.resolve(name), random);
                float[] f = gaussian(random, dimension, noise);
                for (int j = 0; j < dimension; j++) {
                    f[j] += centre[j];
                }
                s.features.put(name, f);
                partition.add(name + " " + itemId + " " + (v == 0 ? "query" : "gallery"));
                bbox.add(name + " " + (1 + i % 3) + " " + (v + 1) + " 1 1 3 3");
            }
        }
        writeList(root.resolve("Eval/list_eval_partition.txt"), "image_name item_id evaluation_status", partition);
        writeList(root.resolve("Anno/list_bbox_inshop.txt"), "image_name clothes_type pose_type x_1 y_1 x_2 y_2", bbox);
        writeList(root.resolve("Anno/list_item_inshop.txt"), null, itemIds);
        return s;
    }

    public static void writeList(Path path, String header, List<String> rows) throws IOException {
        Files.createDirectories(path.getParent());
        List<String> lines = new ArrayList<>();
        lines.add(Integer.toString(rows.size()));
        if (header != null) {
            lines.add(header);
        }
        lines.addAll(rows);
        Files.write(path, lines);
    }

    private static float[] gaussian(Random random, int n, float sigma) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian() * sigma;
        }
        return v;
    }

    private static void writePng(Path path, Random random) throws IOException {
        Files.createDirectories(path.getParent());
        BufferedImage image = new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB);
        image.setRGB(0, 0, random.nextInt(1 << 24));
        ImageIO.write(image, "png", path.toFile());
    }
}
