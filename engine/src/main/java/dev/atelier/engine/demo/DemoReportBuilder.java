package dev.atelier.engine.demo;

import dev.atelier.engine.report.DemoReport;
import dev.atelier.engine.report.ReportWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Turns a demo run's stored results into the report's data, and writes report.html. */
public final class DemoReportBuilder {
    private DemoReportBuilder() {}

    public static DemoReport build(DemoWorkflow.Result r, Duration total) {
        Path work = r.work().toAbsolutePath();
        DemoSettings s = r.settings();
        Evaluation e = r.evaluation();
        List<DemoReport.Photo> wardrobe = new ArrayList<>();
        for (String w : e.wardrobe()) {
            Path p = work.resolve(w);
            wardrobe.add(new DemoReport.Photo(p, p.getFileName().toString()));
        }
        List<DemoReport.SimilarityFigure> figures = new ArrayList<>();
        List<DemoReport.Variant> variants = new ArrayList<>();
        for (Evaluation.VariantResult v : e.variants()) {
            figures.add(new DemoReport.SimilarityFigure(v.name(), v.description(), v.meanBest(), optional(v.typeFidelity()),
                    optional(v.catalogTypeShare())));
            List<DemoReport.GeneratedEntry> entries = new ArrayList<>();
            for (Evaluation.ImageResult img : v.images()) {
                List<DemoReport.CatalogHit> hits = img.catalog().stream()
                        .map(h -> new DemoReport.CatalogHit(work.resolve(h.image()), h.itemId(), h.category(), h.score()))
                        .toList();
                entries.add(new DemoReport.GeneratedEntry(work.resolve(img.image()), img.settings(),
                        wardrobe.get(img.bestWardrobe()), img.bestScore(), hits));
            }
            variants.add(new DemoReport.Variant(v.name(), capitalise(v.description()), entries));
        }
        List<DemoReport.LossPoint> loss = new ArrayList<>();
        for (int i = 0; i < r.loraLoss().size(); i++) {
            loss.add(new DemoReport.LossPoint(i + 1, r.loraLoss().get(i)));
        }
        List<DemoReport.StageTime> timings = r.stages().stream()
                .map(b -> new DemoReport.StageTime(b.name(), b.time(), b.reused())).toList();

        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("Person", s.person() + " (the LoRA's wardrobe); control: " + s.otherPerson());
        facts.put("Prompt", "\"" + s.prompt() + "\"" + (s.negative().isEmpty() ? "" : ", negative \"" + s.negative() + "\""));
        facts.put("Generation", String.format(Locale.ROOT, "%s, %d steps, CFG %.1f, 64x64, seeds %d..%d, LoRA weight %.2f",
                s.sampler().displayName(), s.steps(), s.cfg(), s.seed(), s.seed() + s.images() - 1, s.loraWeight()));
        facts.put("LoRA training", String.format(Locale.ROOT, "%d steps, rank %d (attention, MLP and 3x3 convs), lr %s, batch 4",
                s.loraSteps(), s.loraRank(), s.loraLr()));
        facts.put("Base model", "Atelier's embedded default: SD1.5 architecture at a small size, trained by the project on "
                + "its own generated garments (" + work.relativize(r.model().checkpoint().toAbsolutePath()).toString()
                .replace('\\', '/') + ")");
        facts.put("Embedder", "MobileNetV3-Large (torchvision's architecture) trained by the project on its own garments with "
                + "garment type, pattern and colour heads (" + work.relativize(r.model().embedder().toAbsolutePath()).toString()
                .replace('\\', '/') + "); pooled 960-d features, PCA to 128-d fitted on the catalog; run on "
                + DemoWorkflow.EMBEDDER_BACKEND.name().toLowerCase(Locale.ROOT) + " (" + (DemoWorkflow.EMBEDDER_BACKEND
                == dev.atelier.engine.embed.Backend.ONNX ? "ONNX Runtime" : "libtorch") + ")");
        facts.put("Wardrobe similarity", "per image, the best cosine similarity to a wardrobe photo; the figure is the mean "
                + "over the variant's images");
        for (Evaluation.VariantResult v : e.variants()) {
            facts.put("Mean over all pairs (" + v.name() + ")", String.format(Locale.ROOT, "%.4f", v.meanSimilarity()));
        }
        facts.put("Catalog", s.catalogItems() + " generated items, DeepFashion In-shop layout");
        facts.put("Machine", Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.name") + " "
                + System.getProperty("os.arch") + ", Java " + Runtime.version());
        facts.put("Total time", String.format(Locale.ROOT, "%.1f s", total.toMillis() / 1000.0));
        if (e.garment() != null) {
            facts.put("Prompted garment", e.garment() + " (a label of the embedder's type head)");
        }
        List<DemoReport.PrecisionFigure> retrieval = new ArrayList<>();
        if (e.retrieval() != null) {
            Evaluation.Retrieval rp = e.retrieval();
            retrieval.add(new DemoReport.PrecisionFigure("garment type", rp.k(), rp.type().value(), rp.type().queries(), rp.type().byLabel()));
            if (rp.pattern() != null) {
                retrieval.add(new DemoReport.PrecisionFigure("pattern", rp.k(), rp.pattern().value(), rp.pattern().queries(),
                        rp.pattern().byLabel()));
            }
        }
        return new DemoReport("Atelier demo: " + s.person() + "'s wardrobe", Instant.now(), facts, wardrobe, figures,
                variants, loss, timings, retrieval);
    }

    public static Path write(DemoWorkflow.Result r, Duration total) {
        Path html = r.work().resolve("report.html");
        ReportWriter.write(build(r, total), html);
        return html;
    }

    private static java.util.OptionalDouble optional(Double v) {
        return v == null ? java.util.OptionalDouble.empty() : java.util.OptionalDouble.of(v);
    }

    private static String capitalise(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }
}
