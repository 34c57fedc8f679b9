package dev.atelier.engine.report;

import dev.atelier.engine.report.DemoReport.CatalogHit;
import dev.atelier.engine.report.DemoReport.GeneratedEntry;
import dev.atelier.engine.report.DemoReport.LossPoint;
import dev.atelier.engine.report.DemoReport.Photo;
import dev.atelier.engine.report.DemoReport.SimilarityFigure;
import dev.atelier.engine.report.DemoReport.StageTime;
import dev.atelier.engine.report.DemoReport.Variant;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * A demo report over small real PNG and JPEG files drawn here (jacket silhouettes in seeded
 * colours). Every file has a width of its own, so a test can tell from an image's decoded width
 * which file it showed.
 */
final class SampleReport {
    final DemoReport report;
    /** File name -> width in pixels of every image written. */
    final Map<String, Integer> widths = new HashMap<>();
    final Path dir;
    private int nextWidth = 48;

    static final double BASE = 0.583, LORA = 0.712, OTHER = 0.641;

    SampleReport(Path dir) {
        this.dir = dir;
        Random rng = new Random(7);
        List<Photo> wardrobe = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            boolean png = i % 2 == 0;
            Path p = image("wardrobe_" + i + (png ? ".png" : ".jpg"), 1.25, warm(rng), rng);
            wardrobe.add(new Photo(p, "photo " + (i + 1) + (i == 3 ? " <denim & \"co\">" : "")));
        }
        String[] keys = {DemoReport.WITHOUT_LORA, DemoReport.WITH_LORA, DemoReport.OTHER_LORA};
        String[] names = {"Without LoRA", "With this person's LoRA", "With another person's LoRA"};
        double[] means = {BASE, LORA, OTHER};
        String[] categories = {"jackets", "coats", "blazers", "tops", "dresses"};
        List<Variant> variants = new ArrayList<>();
        List<SimilarityFigure> figures = new ArrayList<>();
        for (int v = 0; v < 3; v++) {
            List<GeneratedEntry> entries = new ArrayList<>();
            for (int s = 0; s < 2; s++) {
                int seed = 42 + s;
                Path g = image(keys[v] + "_seed" + seed + ".png", 1.0, v == 1 ? warm(rng) : cool(rng), rng);
                List<CatalogHit> top = new ArrayList<>();
                for (int k = 0; k < 5; k++) {
                    boolean png = k == 4;
                    Path c = image("cat_" + keys[v] + "_" + s + "_" + k + (png ? ".png" : ".jpg"), 1.3, cool(rng), rng);
                    top.add(new CatalogHit(c, "item-" + v + s + k, categories[k], 0.9 - 0.05 * k - 0.01 * v - 0.001 * s));
                }
                String settings = "a photo of a jacket, studio light\nNegative prompt: blurry, text\n"
                        + "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: " + seed + ", Size: 512x512, Model: sd15"
                        + (v == 0 ? "" : ", Lora hashes: \"" + keys[v] + ": 0123abcd\"");
                Photo best = wardrobe.get((v * 3 + s) % wardrobe.size());
                entries.add(new GeneratedEntry(g, settings, best, means[v] + 0.02 * (s == 0 ? 1 : -1), top));
            }
            variants.add(new Variant(keys[v], names[v], entries));
            figures.add(new SimilarityFigure(keys[v], names[v], means[v]));
        }
        List<LossPoint> loss = new ArrayList<>();
        Random noise = new Random(3);
        for (int step = 1; step <= 200; step++) {
            loss.add(new LossPoint(step, 0.08 + 0.12 * Math.exp(-step / 40.0) + 0.03 * noise.nextGaussian()));
        }
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("Model", "sd15-tiny (fixture)");
        facts.put("Embedder", "MobileNetV3-Large, 128-d PCA");
        facts.put("Machine", "2 cores, CPU");
        facts.put("Atelier", "0.1.0-SNAPSHOT");
        List<StageTime> timings = List.of(
                new StageTime("load model", Duration.ofMillis(850), true),
                new StageTime("train LoRA", Duration.ofSeconds(312, 400_000_000), false),
                new StageTime("train other LoRA", Duration.ofMillis(420), true),
                new StageTime("generate", Duration.ofSeconds(95), false),
                new StageTime("embed and search", Duration.ofMillis(2300), false));
        report = new DemoReport("Atelier demo: person A, \"jacket\"", Instant.parse("2025-11-27T21:30:00Z"), facts, wardrobe,
                figures, variants, loss, timings);
    }

    /** Writes a jacket-like picture with a width of its own and returns its path. */
    private Path image(String name, double aspect, Color colour, Random rng) {
        int w = nextWidth;
        nextWidth += 2;
        int h = (int) Math.round(w * aspect);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setPaint(new GradientPaint(0, 0, new Color(244, 241, 236), 0, h, new Color(226, 221, 212)));
        g.fillRect(0, 0, w, h);
        double cx = w / 2.0, top = h * 0.18, bottom = h * (0.86 + 0.06 * rng.nextDouble()), half = w * 0.22, sleeve = w * 0.16;
        Polygon body = new Polygon();
        body.addPoint((int) (cx - half), (int) top);
        body.addPoint((int) (cx + half), (int) top);
        body.addPoint((int) (cx + half + sleeve * 1.4), (int) (h * 0.66));
        body.addPoint((int) (cx + half + sleeve * 0.6), (int) (h * 0.68));
        body.addPoint((int) (cx + half * 0.95), (int) (h * 0.42));
        body.addPoint((int) (cx + half * 1.05), (int) bottom);
        body.addPoint((int) (cx - half * 1.05), (int) bottom);
        body.addPoint((int) (cx - half * 0.95), (int) (h * 0.42));
        body.addPoint((int) (cx - half - sleeve * 0.6), (int) (h * 0.68));
        body.addPoint((int) (cx - half - sleeve * 1.4), (int) (h * 0.66));
        g.setColor(colour);
        g.fillPolygon(body);
        g.setColor(colour.darker());
        g.setStroke(new BasicStroke(Math.max(1f, w / 60f)));
        g.drawPolygon(body);
        g.drawLine((int) cx, (int) top + h / 12, (int) cx, (int) bottom);
        Polygon collar = new Polygon(new int[] {(int) (cx - half * 0.6), (int) cx, (int) (cx + half * 0.6)},
                new int[] {(int) top, (int) (top + h * 0.12), (int) top}, 3);
        g.setColor(new Color(250, 248, 244));
        g.fillPolygon(collar);
        g.dispose();
        Path p = dir.resolve(name);
        try {
            Files.createDirectories(dir);
            if (!ImageIO.write(img, name.endsWith(".png") ? "png" : "jpg", p.toFile())) {
                throw new IllegalStateException("no ImageIO writer for " + name);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        widths.put(name, w);
        return p;
    }

    private static Color warm(Random rng) {
        return Color.getHSBColor(0.02f + 0.08f * rng.nextFloat(), 0.45f + 0.3f * rng.nextFloat(), 0.45f + 0.35f * rng.nextFloat());
    }

    private static Color cool(Random rng) {
        return Color.getHSBColor(0.55f + 0.12f * rng.nextFloat(), 0.25f + 0.4f * rng.nextFloat(), 0.3f + 0.45f * rng.nextFloat());
    }
}
