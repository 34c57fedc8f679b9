package dev.atelier.engine.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.report.DemoReport.GeneratedEntry;
import dev.atelier.engine.report.DemoReport.LossPoint;
import dev.atelier.engine.report.DemoReport.Photo;
import dev.atelier.engine.report.DemoReport.SimilarityFigure;
import dev.atelier.engine.report.DemoReport.StageTime;
import dev.atelier.engine.report.DemoReport.Variant;
import dev.atelier.engine.report.Dom.Element;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer without a browser: escaping, embedding, no external references, atomic writes. */
class ReportWriterTest {
    private static final String EVIL = "<script>alert('x')</script> & \"quoted\"";

    @Test
    void textIsEscapedEverywhere(@TempDir Path tmp) {
        SampleReport s = new SampleReport(tmp);
        DemoReport r = s.report;
        Photo p = new Photo(r.wardrobe().get(0).image(), EVIL);
        GeneratedEntry e = r.variants().get(0).images().get(0);
        GeneratedEntry evil = new GeneratedEntry(e.image(), EVIL + "\nSeed: 9", p, 0.4,
                List.of(new DemoReport.CatalogHit(e.top().get(0).image(), EVIL, EVIL, 0.3)));
        DemoReport bad = new DemoReport(EVIL, r.created(), Map.of(EVIL, EVIL), List.of(p),
                List.of(new SimilarityFigure("base", EVIL, 0.4)), List.of(new Variant("base", EVIL, List.of(evil))),
                List.of(), List.of(new StageTime(EVIL, Duration.ofSeconds(1), false)));
        String html = ReportWriter.render(bad);
        assertFalse(html.contains("<script>alert"), "raw markup from the data");
        assertFalse(html.contains("'x'"), "quotes inside attribute values");
        String escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;";
        // title, fact name and value, photo label (caption, alt, best-match caption), figure, variant,
        // settings, item id, category, stage name (text and data-stage)
        int count = html.split(Pattern.quote(escaped), -1).length - 1;
        assertTrue(count >= 14, "escaped text occurrences: " + count);
        assertEquals(1, count(html, "<script>"), "only the report's own script");
    }

    @Test
    void noExternalReferences(@TempDir Path tmp) {
        String html = ReportWriter.render(new SampleReport(tmp).report);
        assertFalse(html.contains("http://"));
        assertFalse(html.contains("https://"));
        assertFalse(Pattern.compile("(src|href)\\s*=\\s*\"?//").matcher(html).find());
        assertFalse(Pattern.compile("url\\(").matcher(html).find(), "no CSS url()");
        assertFalse(html.contains("@import"));
        List<Element> imgs = Dom.all(html, "img");
        assertEquals(52, imgs.size());
        for (Element img : imgs) {
            assertTrue(img.attr("src").startsWith("data:image/"), img.attr("data-file"));
        }
        assertTrue(Dom.all(html, "link").isEmpty());
        assertTrue(Dom.all(html, "a").isEmpty());
        assertTrue(html.contains("default-src 'none'; img-src data:;"), "a CSP that blocks any fetch");
    }

    @Test
    void cspHashMatchesTheInlineScript(@TempDir Path tmp) throws Exception {
        String html = ReportWriter.render(new SampleReport(tmp).report);
        Matcher script = Pattern.compile("<script>(.*?)</script>", Pattern.DOTALL).matcher(html);
        assertTrue(script.find());
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(script.group(1).getBytes(StandardCharsets.UTF_8));
        assertTrue(html.contains("script-src 'sha256-" + Base64.getEncoder().encodeToString(digest) + "'"),
                "the browser runs the script only if its hash is in the policy");
    }

    @Test
    void imagesAreEmbeddedByteForByteWithTheirType(@TempDir Path tmp) throws Exception {
        SampleReport s = new SampleReport(tmp);
        String html = ReportWriter.render(s.report);
        int checked = 0;
        for (Element img : Dom.all(html, "img")) {
            String src = img.attr("src");
            String file = img.attr("data-file");
            String type = file.endsWith(".png") ? "image/png" : "image/jpeg";
            assertTrue(src.startsWith("data:" + type + ";base64,"), file);
            byte[] bytes = Base64.getDecoder().decode(src.substring(src.indexOf(',') + 1));
            assertArrayEquals(Files.readAllBytes(tmp.resolve(file)), bytes, file);
            checked++;
        }
        assertEquals(52, checked);
        assertEquals(html, ReportWriter.render(s.report), "the same report renders to the same text");
    }

    @Test
    void typeComesFromTheSignatureNotTheName(@TempDir Path tmp) throws Exception {
        SampleReport s = new SampleReport(tmp);
        Path jpegNamedPng = tmp.resolve("really-a-jpeg.png");
        Files.copy(tmp.resolve("wardrobe_1.jpg"), jpegNamedPng);
        String html = ReportWriter.render(withWardrobe(s.report, List.of(new Photo(jpegNamedPng, "x"))));
        Element img = Dom.where(html, "img", "data-role", "wardrobe").get(0);
        assertTrue(img.attr("src").startsWith("data:image/jpeg;base64,"));
    }

    @Test
    void missingOrBrokenImagesNameTheFile(@TempDir Path tmp) throws Exception {
        SampleReport s = new SampleReport(tmp);
        Path missing = tmp.resolve("nowhere.png");
        FormatException e = assertThrows(FormatException.class,
                () -> ReportWriter.render(withWardrobe(s.report, List.of(new Photo(missing, "gone")))));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("does not exist"), e.getMessage());

        Path text = tmp.resolve("notes.png");
        Files.writeString(text, "not an image at all");
        e = assertThrows(FormatException.class, () -> ReportWriter.render(withWardrobe(s.report, List.of(new Photo(text, "t")))));
        assertTrue(e.getMessage().contains(text.toString()) && e.getMessage().contains("not a PNG, JPEG"), e.getMessage());

        for (String name : List.of("wardrobe_0.png", "wardrobe_1.jpg")) {
            byte[] whole = Files.readAllBytes(tmp.resolve(name));
            Path cut = tmp.resolve("cut-" + name);
            Files.write(cut, Arrays.copyOf(whole, whole.length * 2 / 3));
            e = assertThrows(FormatException.class, () -> ReportWriter.render(withWardrobe(s.report, List.of(new Photo(cut, "c")))));
            assertTrue(e.getMessage().contains(cut.toString()) && e.getMessage().contains("truncated"), e.getMessage());
        }
    }

    @Test
    void writeIsAtomicAndLeavesNothingBehind(@TempDir Path tmp) throws Exception {
        SampleReport s = new SampleReport(tmp.resolve("images"));
        Path out = tmp.resolve("out");
        Path html = out.resolve("report.html");
        ReportWriter.write(s.report, html);
        ReportWriter.write(s.report, html);
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(html), files.toList(), "no temporary file left");
        }
        byte[] before = Files.readAllBytes(html);
        assertEquals(ReportWriter.render(s.report), new String(before, StandardCharsets.UTF_8));

        // a report whose image vanished: the write fails before touching the old report
        DemoReport broken = withWardrobe(s.report, List.of(new Photo(tmp.resolve("images/gone.png"), "gone")));
        assertThrows(FormatException.class, () -> ReportWriter.write(broken, html));
        assertArrayEquals(before, Files.readAllBytes(html), "old report intact");
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(html), files.toList());
        }
    }

    @Test
    void timingsHaveATotalAndMarkReusedStages(@TempDir Path tmp) {
        String html = ReportWriter.render(new SampleReport(tmp).report);
        assertEquals(5, Dom.where(html, "span", "data-hook", "stage-time").size());
        assertEquals(List.of("load model", "train other LoRA"),
                Dom.where(html, "span", "data-reused", "true").stream().map(e -> e.attr("data-stage")).toList());
        assertEquals(2, count(html, ">reused</span>"));
        assertEquals("410.970", Dom.one(html, "span", "data-hook", "total-time").attr("data-seconds"));
    }

    @Test
    void durationsReadNaturally() {
        assertEquals("0 ms", Html.duration(Duration.ZERO));
        assertEquals("999 ms", Html.duration(Duration.ofMillis(999)));
        assertEquals("1.0 s", Html.duration(Duration.ofMillis(1000)));
        assertEquals("59.9 s", Html.duration(Duration.ofMillis(59_940)));
        assertEquals("1 min 05 s", Html.duration(Duration.ofSeconds(65)));
        assertEquals("1 h 02 min", Html.duration(Duration.ofMinutes(62)));
    }

    @Test
    void verdictSaysWhatTheFiguresShow() {
        assertEquals("The LoRA moved the images towards the wardrobe: 0.712 with it vs 0.583 without, and 0.641 with another "
                + "person's LoRA, so the shift is specific to this wardrobe.", Verdict.sentence(figures(0.583, 0.712, 0.641)));
        assertEquals("The LoRA moved the images towards the wardrobe: 0.712 with it vs 0.583 without, but another person's "
                + "LoRA reached 0.730, so the shift is not specific to this wardrobe.", Verdict.sentence(figures(0.583, 0.712, 0.73)));
        assertEquals("The LoRA did not move the images towards the wardrobe: 0.550 with it vs 0.583 without "
                + "(0.541 with another person's LoRA).", Verdict.sentence(figures(0.583, 0.55, 0.541)));
        assertEquals("The LoRA made no measurable difference: 0.583 with it, 0.583 without (0.500 with another person's LoRA).",
                Verdict.sentence(figures(0.5831, 0.5834, 0.5)));
        assertEquals("The LoRA moved the images towards the wardrobe: 0.600 with it vs 0.500 without.",
                Verdict.sentence(figures(0.5, 0.6, Double.NaN)));
        assertEquals("Highest wardrobe similarity: b (0.700).",
                Verdict.sentence(List.of(new SimilarityFigure("a", "a", 0.6), new SimilarityFigure("b", "b", 0.7))));
    }

    @Test
    void theHighestFigureIsMarked(@TempDir Path tmp) {
        String html = ReportWriter.render(new SampleReport(tmp).report);
        List<Element> highest = Dom.where(html, "span", "data-highest", "true");
        assertEquals(1, highest.size());
        assertEquals(DemoReport.WITH_LORA, highest.get(0).attr("data-variant"));
        assertEquals(1, count(html, ">highest</span>"));
    }

    @Test
    void lossChartHasTicksAndSmoothsLongRuns() {
        assertEquals(List.of(0.0, 0.05, 0.1, 0.15, 0.2), LossChart.ticks(-0.01, 0.21, 5).stream()
                .map(t -> Math.round(t * 100) / 100.0).toList());
        assertEquals(List.of(0.0, 200.0, 400.0, 600.0, 800.0, 1000.0), LossChart.ticks(0, 1000, 6));

        List<LossPoint> few = List.of(new LossPoint(1, 0.3), new LossPoint(2, 0.2), new LossPoint(3, 0.25));
        String small = LossChart.svg(few);
        assertEquals(3, count(small, "<circle"));
        assertEquals(0, count(small, "class=\"smooth\""));

        List<LossPoint> many = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            many.add(new LossPoint(i, 0.1 + 0.05 * Math.sin(i)));
        }
        String big = LossChart.svg(many);
        assertEquals(1, count(big, "class=\"smooth\""));
        assertEquals(1, count(big, "class=\"raw faint\""));
        assertEquals("500", Dom.one(big, "svg", "data-role", "loss-chart").attr("data-points"));

        String one = LossChart.svg(List.of(new LossPoint(10, 0.2)));
        assertFalse(one.contains("NaN") || one.contains("Infinity"), one);
        // the smoothed line starts at the first value (bias corrected), not near zero
        assertEquals(0.1, LossChart.smoothed(many).get(0)[1], 1e-12);
    }

    @Test
    void aRunWithoutTrainingOrTimingsSaysSo(@TempDir Path tmp) {
        DemoReport r = new SampleReport(tmp).report;
        DemoReport bare = new DemoReport(r.title(), r.created(), Map.of(), r.wardrobe(), List.of(), r.variants(), List.of(), List.of());
        String html = ReportWriter.render(bare);
        assertTrue(html.contains("The LoRA was not trained in this run"));
        assertTrue(html.contains("No timings recorded."));
        assertTrue(html.contains("No similarity figures in this run."));
        assertTrue(Dom.where(html, "svg", "data-role", "loss-chart").isEmpty());
    }

    static List<SimilarityFigure> figures(double base, double lora, double other) {
        List<SimilarityFigure> f = new ArrayList<>(List.of(new SimilarityFigure(DemoReport.WITHOUT_LORA, "without", base),
                new SimilarityFigure(DemoReport.WITH_LORA, "with", lora)));
        if (!Double.isNaN(other)) {
            f.add(new SimilarityFigure(DemoReport.OTHER_LORA, "other", other));
        }
        return f;
    }

    private static DemoReport withWardrobe(DemoReport r, List<Photo> wardrobe) {
        return new DemoReport(r.title(), r.created(), r.facts(), wardrobe, r.figures(), r.variants(), r.loss(), r.timings());
    }

    private static int count(String s, String part) {
        return s.split(Pattern.quote(part), -1).length - 1;
    }
}
