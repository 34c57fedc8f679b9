package dev.atelier.engine.synth;

import dev.atelier.engine.util.SplitMix64;
import dev.atelier.engine.embed.BoundingBox;
import dev.atelier.engine.util.StagedDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A shop catalog of drawn garments in DeepFashion In-shop layout, readable by
 * {@link dev.atelier.engine.catalog.DeepFashionInShop#read}:
 * {@code img/<MEN|WOMEN>/<Category>/id_NNNNNNNN/01_1_front.jpg} (and {@code 01_2_side.jpg} for
 * about 60% of the items: the same garment framed differently and turned a little),
 * {@code Eval/list_eval_partition.txt}, {@code Anno/list_bbox_inshop.txt},
 * {@code Anno/list_item_inshop.txt} and the items' pattern and colour as attributes
 * ({@code Anno/list_attr_cloth.txt}, {@code Anno/list_attr_items.txt}). Styles are spread evenly over every type, colour and
 * pattern. About half the items are train items; of the others the front view is a query and the
 * side view a gallery image (a one-view item is a gallery image).
 */
public final class SyntheticCatalog {
    /** The most items one catalog holds. */
    public static final int MAX_ITEMS = 100_000;
    private static final double TWO_VIEWS = 0.6, TRAIN = 0.5;

    private SyntheticCatalog() {}

    /** Writes the catalog at root (which must be missing or empty), atomically; returns the number of images. */
    public static int write(Path root, int items, int size, long seed) {
        return write(root, items, size, seed, false);
    }

    /** As {@link #write(Path, int, int, long)}; with `replace`, an existing root is replaced. */
    public static int write(Path root, int items, int size, long seed, boolean replace) {
        return write(root, items, size, seed, replace, dev.atelier.engine.core.Progress.NONE);
    }

    /** As {@link #write(Path, int, int, long, boolean)}, reporting items done (from the rendering threads, one at a time). */
    public static int write(Path root, int items, int size, long seed, boolean replace, dev.atelier.engine.core.Progress progress) {
        java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
        StyleDeck.checkCount("items", items, MAX_ITEMS);
        GarmentRenderer.checkSize(size);
        GarmentSpec[] specs = StyleDeck.deal(items, seed);
        String[][] partition = new String[items][], bbox = new String[items][];
        try (StagedDirectory staged = StagedDirectory.begin(root, replace)) {
            StyleDeck.parallel(items, root, i -> {
                SplittableRandom r = Seeds.random(seed, 1_000_000_000L + i);
                int views = r.nextDouble() < TWO_VIEWS ? 2 : 1;
                boolean train = r.nextDouble() < TRAIN;
                String itemId = String.format("id_%08d", i + 1);
                String folder = "img/" + specs[i].type().deepFashionFolder() + "/" + itemId + "/";
                try {
                    Files.createDirectories(staged.path().resolve(folder));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                partition[i] = new String[views];
                bbox[i] = new String[views];
                long garmentSeed = SplitMix64.stream(seed, i);
                for (int v = 0; v < views; v++) {
                    GarmentRenderer.View view = GarmentRenderer.View.values()[v];
                    String name = folder + "01_" + (v + 1) + "_" + view.name().toLowerCase(java.util.Locale.ROOT) + ".jpg";
                    RenderedGarment g = GarmentRenderer.render(specs[i], size, garmentSeed, view);
                    ImageFiles.jpeg(g.image(), staged.path().resolve(name));
                    String status = train ? "train" : views == 2 && v == 0 ? "query" : "gallery";
                    partition[i][v] = name + " " + itemId + " " + status;
                    BoundingBox b = g.box();
                    bbox[i][v] = name + " " + specs[i].type().clothesType() + " " + (v + 1) + " "
                            + b.left() + " " + b.top() + " " + b.right() + " " + b.bottom();
                }
                synchronized (done) {
                    if (!progress.onStep(done.incrementAndGet(), items)) {
                        throw new dev.atelier.engine.core.AtelierException.CancelledException("catalog writing cancelled");
                    }
                }
            });
            List<String> partitionRows = new ArrayList<>(), bboxRows = new ArrayList<>(), itemRows = new ArrayList<>();
            for (int i = 0; i < items; i++) {
                partitionRows.addAll(List.of(partition[i]));
                bboxRows.addAll(List.of(bbox[i]));
                itemRows.add(String.format("id_%08d", i + 1));
            }
            // Count line, then DeepFashion's header line (list_item_inshop.txt has none), then one record a line.
            writeList(staged.path().resolve("Eval/list_eval_partition.txt"), "image_name item_id evaluation_status", partitionRows);
            writeList(staged.path().resolve("Anno/list_bbox_inshop.txt"), "image_name clothes_type pose_type x_1 y_1 x_2 y_2", bboxRows);
            writeList(staged.path().resolve("Anno/list_item_inshop.txt"), null, itemRows);
            writeAttributes(staged.path(), specs);
            staged.commit();
            return partitionRows.size();
        }
    }

    /**
     * The items' pattern and primary colour as In-shop attribute labels: {@code list_attr_cloth.txt}
     * names them (pattern words, then colour words), {@code list_attr_items.txt} gives each item 1
     * for its two and -1 for the others.
     */
    private static void writeAttributes(Path root, GarmentSpec[] specs) {
        List<String> names = new ArrayList<>();
        for (GarmentPattern p : GarmentPattern.values()) {
            names.add(p.word());
        }
        for (GarmentColour c : GarmentColour.values()) {
            names.add(c.word());
        }
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < specs.length; i++) {
            StringBuilder row = new StringBuilder(String.format("id_%08d", i + 1));
            for (String name : names) {
                boolean on = name.equals(specs[i].pattern().word()) || name.equals(specs[i].colour().word());
                row.append(on ? " 1" : " -1");
            }
            rows.add(row.toString());
        }
        writeList(root.resolve("Anno/list_attr_cloth.txt"), "attribute_name", names);
        writeList(root.resolve("Anno/list_attr_items.txt"), "item_id attribute_labels", rows);
    }

    private static void writeList(Path path, String header, List<String> rows) {
        StringBuilder text = new StringBuilder().append(rows.size()).append('\n');
        if (header != null) {
            text.append(header).append('\n');
        }
        rows.forEach(row -> text.append(row).append('\n'));
        try {
            Files.createDirectories(path.getParent());
            Files.writeString(path, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw StagedDirectory.io(path, e);
        }
    }
}
