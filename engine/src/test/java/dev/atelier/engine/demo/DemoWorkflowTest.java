package dev.atelier.engine.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.report.Dom;
import dev.atelier.engine.report.HeadlessChromium;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo workflow end to end on the embedded default, at a small size: every stage runs, the
 * report is written, a second run reuses every stage, and a run interrupted in the middle of a
 * stage leaves no half-written result and resumes there.
 */
class DemoWorkflowTest {

    /** Records what the workflow reports; can interrupt one step after a number of units. */
    private static final class Recorder implements DemoListener {
        final List<String> started = new ArrayList<>();
        final List<String> reused = new ArrayList<>();
        final List<String> notes = new ArrayList<>();
        final String interruptStep;
        final long interruptAfter;

        Recorder(String interruptStep, long interruptAfter) {
            this.interruptStep = interruptStep;
            this.interruptAfter = interruptAfter;
        }

        @Override
        public void stageStarted(String stage, String description) {
            started.add(stage);
        }

        @Override
        public void stageReused(String stage, String description, Path dir) {
            reused.add(stage);
        }

        @Override
        public void note(String message) {
            notes.add(message);
        }

        @Override
        public Progress progress(String step, String unit) {
            return (done, total) -> !(step.equals(interruptStep) && done >= interruptAfter);
        }
    }

    private static final List<String> STAGES = List.of("wardrobes", "catalog", "embedder", "lora-ana", "lora-ben",
            "generate", "index", "evaluate");

    @Test
    void runsEveryStageThenReusesThemAndResumesAfterAnInterruption(@TempDir Path work) throws Exception {
        DemoSettings settings = DemoSettings.defaults(work).small();
        DefaultModel model = DefaultModel.locate();

        // 1. Interrupted while training the second LoRA (as Ctrl-C would, between steps).
        Recorder first = new Recorder("train ben", 3);
        assertThrows(AtelierException.CancelledException.class, () -> new DemoWorkflow(settings, model, first).run());
        assertEquals(List.of("wardrobes", "catalog", "embedder", "lora-ana", "lora-ben"), first.started);
        assertTrue(Files.isRegularFile(work.resolve("lora-ana/lora.safetensors")), "finished stage kept");
        assertFalse(Files.exists(work.resolve("lora-ben")), "no half-trained LoRA where a finished one belongs");

        // 2. Resumed: the finished stages are reused, the interrupted one runs again, the leftover is gone.
        Recorder second = new Recorder("", 0);
        DemoWorkflow.Result result = new DemoWorkflow(settings, model, second).run();
        assertEquals(List.of("wardrobes", "catalog", "embedder", "lora-ana"), second.reused);
        assertEquals(List.of("lora-ben", "generate", "index", "evaluate"), second.started);
        try (Stream<Path> s = Files.list(work)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "partial folders left behind");
        }

        // The result: three variants of `images` each, evaluated against the person's 10 photos, 5 catalog hits each.
        Evaluation e = result.evaluation();
        assertEquals(List.of("base", "lora", "other-lora"), e.variants().stream().map(Evaluation.VariantResult::name).toList());
        assertEquals(settings.wardrobeSize(), e.wardrobe().size());
        for (Evaluation.VariantResult v : e.variants()) {
            assertEquals(settings.images(), v.images().size());
            assertTrue(v.meanBest() >= v.meanSimilarity() && v.meanBest() <= 1.0001, v.name() + ": " + v.meanBest());
            for (Evaluation.ImageResult img : v.images()) {
                assertTrue(Files.isRegularFile(work.resolve(img.image())), img.image());
                assertEquals(5, img.catalog().size());
                assertEquals(5, img.catalog().stream().map(Evaluation.Hit::itemId).distinct().count(), "5 different items");
                assertTrue(img.settings().contains("Seed: "), img.settings());
                assertTrue(Files.isRegularFile(work.resolve(img.catalog().get(0).image())), img.catalog().get(0).image());
            }
        }
        assertEquals(settings.loraSteps(), result.loraLoss().size());
        assertEquals(4, second.notes.size(), "catalog precision, then one line per variant: " + second.notes);

        // Prompt fidelity and catalog precision, measured with the trained embedder's heads.
        assertEquals("jacket", e.garment());
        for (Evaluation.VariantResult v : e.variants()) {
            assertTrue(v.typeFidelity() != null && v.typeFidelity() >= 0 && v.typeFidelity() <= 1, v.name() + ": " + v.typeFidelity());
            long seenJackets = v.images().stream().filter(img -> "jacket".equals(img.seenType())).count();
            assertEquals((double) seenJackets / v.images().size(), v.typeFidelity(), 1e-12, v.name());
            long hitsOfType = v.images().stream().flatMap(img -> img.catalog().stream())
                    .filter(h -> h.category().equals("MEN/Jackets_Vests")).count();
            assertEquals(hitsOfType / (5.0 * v.images().size()), v.catalogTypeShare(), 1e-12, v.name());
        }
        Evaluation.Retrieval retrieval = e.retrieval();
        assertEquals(5, retrieval.k());
        assertTrue(retrieval.type().queries() > 10, "the catalog's query split: " + retrieval.type().queries());
        assertTrue(retrieval.type().value() > 0.5, "the trained embedder finds garments of the query's type: " + retrieval.type().value());
        assertEquals(retrieval.type().queries(), retrieval.pattern().queries(), "every synthetic item has a pattern");

        // The report, as a reader's browser shows it: every image decoded, the three figures and the loss curve there.
        Path html = DemoReportBuilder.write(result, Duration.ofSeconds(1));
        String dom = HeadlessChromium.find(work.resolve("chromium")).dumpDom(html);
        List<Dom.Element> imgs = Dom.all(dom, "img");
        int generatedImages = 3 * settings.images();
        assertEquals(settings.wardrobeSize() + generatedImages * (1 + 1 + 5), imgs.size(), "wardrobe, generated, best match, 5 catalog items");
        for (Dom.Element img : imgs) {
            assertEquals("true", img.attr("data-loaded"), img.attr("data-file") + " did not render");
        }
        for (Evaluation.VariantResult v : e.variants()) {
            Dom.Element figure = Dom.where(dom, "span", "class", "figure").stream().filter(f -> f.has("data-variant", v.name()))
                    .findFirst().orElseThrow(() -> new AssertionError("no figure for " + v.name()));
            assertEquals(String.format(java.util.Locale.ROOT, "%.3f", v.meanBest()), figure.text(), v.name() + " figure");
        }
        assertEquals(String.valueOf(settings.loraSteps()), Dom.one(dom, "svg", "data-role", "loss-chart").attr("data-points"));
        assertEquals(generatedImages * 5, Dom.where(dom, "span", "data-hook", "catalog-score").size());
        for (Evaluation.VariantResult v : e.variants()) {
            Dom.Element kept = Dom.where(dom, "span", "data-hook", "type-fidelity").stream().filter(f -> f.has("data-variant", v.name()))
                    .findFirst().orElseThrow(() -> new AssertionError("no type fidelity for " + v.name()));
            assertEquals(Math.round(100 * v.typeFidelity()) + "%", kept.text(), v.name());
        }
        List<Dom.Element> precision = Dom.where(dom, "span", "data-hook", "precision");
        assertEquals(2, precision.size(), "precision by garment type and by pattern");
        assertEquals(String.format(java.util.Locale.ROOT, "%.4f", retrieval.type().value()), precision.get(0).attr("data-value"));

        // 3. A third run builds nothing.
        Recorder third = new Recorder("", 0);
        new DemoWorkflow(settings, model, third).run();
        assertEquals(STAGES, third.reused);
        assertTrue(third.started.isEmpty());

        // 4. A changed setting rebuilds that stage and everything after it, nothing before.
        DemoSettings moreSteps = settings.with(settings.images(), settings.steps() + 1, settings.loraSteps(), settings.catalogItems());
        Recorder fourth = new Recorder("", 0);
        new DemoWorkflow(moreSteps, model, fourth).run();
        assertEquals(List.of("generate", "evaluate"), fourth.started);
    }
}
