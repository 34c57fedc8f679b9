package dev.atelier.engine.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.report.DemoReport.GeneratedEntry;
import dev.atelier.engine.report.DemoReport.Photo;
import dev.atelier.engine.report.DemoReport.SimilarityFigure;
import dev.atelier.engine.report.DemoReport.Variant;
import dev.atelier.engine.report.Dom.Element;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Opens written reports in headless Chromium and checks what a reader would see: every image
 * decoded (the page's own script records each decode result in the DOM) at the width of the file
 * it came from, and every number present. Needs Debian's chromium (scripts/setup.sh installs it);
 * without it the tests fail, they are not skipped.
 */
class ReportBrowserTest {
    /** Kept after the run for a person to look at: report.html and report.png. */
    private static final Path OUT = Path.of("target", "report-browser");

    @Test
    void everyImageRendersAndEveryNumberIsPresent(@TempDir Path tmp) throws Exception {
        SampleReport sample = new SampleReport(tmp.resolve("images"));
        Path html = OUT.resolve("report.html");
        ReportWriter.write(sample.report, html);
        String dom = HeadlessChromium.find(OUT.resolve("chromium")).dumpDom(html);

        Element body = Dom.all(dom, "body").get(0);
        List<Element> imgs = Dom.all(dom, "img");
        assertEquals(10 + 3 * 2 * (1 + 1 + 5), imgs.size(), "img elements");
        assertEquals(String.valueOf(imgs.size()), body.attr("data-images-checked"), "the page's image check ran over every image");
        assertEquals("0", body.attr("data-images-failed"));
        for (Element img : imgs) {
            String file = img.attr("data-file");
            assertEquals("true", img.attr("data-loaded"), file + " did not render");
            assertEquals(String.valueOf(sample.widths.get(file)), img.attr("data-natural-width"), file + ": decoded width");
            assertTrue(img.attr("src").startsWith("data:image/" + (file.endsWith(".png") ? "png" : "jpeg") + ";base64,"), file);
        }
        assertEquals(Map.of("wardrobe", 10L, "generated", 6L, "best-match", 6L, "catalog", 30L),
                imgs.stream().collect(java.util.stream.Collectors.groupingBy(e -> e.attr("data-role"), java.util.stream.Collectors.counting())));
        assertTrue(Dom.where(dom, "span", "class", "img-failed").isEmpty(), "no image-failed notes");

        assertEquals("0.583", figure(dom, DemoReport.WITHOUT_LORA).text());
        Element lora = figure(dom, DemoReport.WITH_LORA);
        assertEquals("0.712", lora.text());
        assertEquals("true", lora.attr("data-highest"), "the highest figure is marked");
        assertEquals("0.641", figure(dom, DemoReport.OTHER_LORA).text());
        assertEquals(1, Dom.where(dom, "span", "data-highest", "true").size());
        String verdict = Dom.one(dom, "p", "data-hook", "verdict").text();
        assertTrue(verdict.startsWith("The LoRA moved the images towards the wardrobe: 0.712 with it vs 0.583 without"), verdict);

        List<String> best = Dom.where(dom, "span", "data-hook", "best-score").stream().map(Element::text).toList();
        assertEquals(List.of("0.603", "0.563", "0.732", "0.692", "0.661", "0.621"), best);
        List<Element> scores = Dom.where(dom, "span", "data-hook", "catalog-score");
        assertEquals(30, scores.size());
        assertEquals("0.900", scores.get(0).text());
        assertEquals("0.679", scores.get(29).text());
        List<String> categories = Dom.where(dom, "span", "data-hook", "category").stream().map(Element::text).toList();
        assertEquals(30, categories.size());
        assertEquals(List.of("jackets", "coats", "blazers", "tops", "dresses"), categories.subList(0, 5));

        Map<String, String> times = new java.util.LinkedHashMap<>();
        for (Element t : Dom.where(dom, "span", "data-hook", "stage-time")) {
            times.put(t.attr("data-stage"), t.text());
        }
        assertEquals(Map.of("load model", "850 ms", "train LoRA", "5 min 12 s", "train other LoRA", "420 ms", "generate",
                "1 min 35 s", "embed and search", "2.3 s"), times);
        assertEquals(2, Dom.where(dom, "span", "data-reused", "true").size());
        assertEquals("410.970", Dom.one(dom, "span", "data-hook", "total-time").attr("data-seconds"));
        assertEquals("6 min 51 s", Dom.one(dom, "span", "data-hook", "total-time").text());

        assertEquals("200", Dom.one(dom, "svg", "data-role", "loss-chart").attr("data-points"));
        assertEquals("200", Dom.one(dom, "strong", "data-hook", "loss-steps").text());
        assertNotNull(Dom.one(dom, "strong", "data-hook", "loss-last").text());
        assertEquals(18, Dom.where(dom, "pre", "data-hook", "settings").size() * 3, "one settings block per generated image");
        assertTrue(dom.contains("Seed: 43"));
        assertTrue(dom.contains("photo 4 &lt;denim &amp; \"co\"&gt;"), "labels are escaped, not markup");

        // what a person sees: a full-page screenshot, not blank, kept next to the report
        Path png = OUT.resolve("report.png");
        HeadlessChromium.find(OUT.resolve("chromium")).screenshot(html, png, 1280, 4200);
        BufferedImage shot = ImageIO.read(png.toFile());
        assertEquals(1280, shot.getWidth());
        assertTrue(distinctColours(shot) > 500, "screenshot looks blank: " + distinctColours(shot) + " colours");
    }

    @Test
    void undecodableImagesAreReportedAsNotRendered(@TempDir Path tmp) throws Exception {
        SampleReport sample = new SampleReport(tmp.resolve("images"));
        Photo good = sample.report.wardrobe().get(0);
        // signature, junk, end marker: the writer's checks pass, no browser can decode the pixels
        Path junkPng = tmp.resolve("junk.png");
        Files.write(junkPng, junk(new int[] {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
                new int[] {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82}));
        Path junkJpeg = tmp.resolve("junk.jpg");
        Files.write(junkJpeg, junk(new int[] {0xff, 0xd8, 0xff, 0xe0}, new int[] {0xff, 0xd9}));
        GeneratedEntry a = new GeneratedEntry(junkPng, "Seed: 1", good, 0.5, List.of());
        GeneratedEntry b = new GeneratedEntry(junkJpeg, "Seed: 2", good, 0.5, List.of());
        DemoReport report = new DemoReport("broken", Instant.EPOCH, Map.of(), List.of(good),
                List.of(new SimilarityFigure("base", "Without LoRA", 0.5)), List.of(new Variant("base", "Without LoRA", List.of(a, b))),
                List.of(), List.of());
        Path html = OUT.resolve("broken.html");
        ReportWriter.write(report, html);
        String dom = HeadlessChromium.find(OUT.resolve("chromium")).dumpDom(html);

        Element body = Dom.all(dom, "body").get(0);
        assertEquals("5", body.attr("data-images-checked"), "one wardrobe photo, two generated images, two best matches");
        assertEquals("2", body.attr("data-images-failed"));
        assertTrue(body.attr("class").contains("has-failed-images"));
        Set<String> failed = new HashSet<>();
        for (Element img : Dom.all(dom, "img")) {
            if ("false".equals(img.attr("data-loaded"))) {
                failed.add(img.attr("data-file"));
            } else {
                assertEquals("true", img.attr("data-loaded"));
                assertEquals(good.image().getFileName().toString(), img.attr("data-file"));
            }
        }
        assertEquals(Set.of("junk.png", "junk.jpg"), failed);
        assertEquals(List.of("image failed: junk.png", "image failed: junk.jpg"),
                Dom.where(dom, "span", "class", "img-failed").stream().map(Element::text).toList(), "visible notes for readers");
    }

    /** The headline figure of a variant: {@code <span class="figure" data-variant="...">}. */
    static Element figure(String dom, String variant) {
        List<Element> found = Dom.where(dom, "span", "class", "figure").stream().filter(e -> e.has("data-variant", variant)).toList();
        assertEquals(1, found.size(), "figures of " + variant);
        return found.get(0);
    }

    private static byte[] junk(int[] head, int[] tail) {
        byte[] b = new byte[300];
        java.util.Random rng = new java.util.Random(5);
        rng.nextBytes(b);
        for (int i = 0; i < head.length; i++) {
            b[i] = (byte) head[i];
        }
        for (int i = 0; i < tail.length; i++) {
            b[b.length - tail.length + i] = (byte) tail[i];
        }
        return b;
    }

    private static int distinctColours(BufferedImage img) {
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 2) {
            for (int x = 0; x < img.getWidth(); x += 2) {
                colours.add(img.getRGB(x, y));
            }
        }
        return colours.size();
    }
}
