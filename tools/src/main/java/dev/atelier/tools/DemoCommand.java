package dev.atelier.tools;

import dev.atelier.engine.core.Progress;
import dev.atelier.engine.demo.DefaultModel;
import dev.atelier.engine.demo.DemoListener;
import dev.atelier.engine.demo.DemoReportBuilder;
import dev.atelier.engine.demo.DemoSettings;
import dev.atelier.engine.demo.DemoWorkflow;
import dev.atelier.engine.demo.Evaluation;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code atelier demo}: the README's main job. The paper's workflow on the embedded default, each
 * stage resumable ({@link DemoWorkflow}), ending in a self-contained report.html.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run the paper's workflow on the embedded default: make two wardrobes and a catalog, fine-tune a "
                + "LoRA on each wardrobe, generate \"jacket\" without LoRA / with the person's / with the other person's, "
                + "embed, index, evaluate, and write WORK/report.html.",
                "A second run reuses every finished stage; an interrupted run resumes at the stage it was in."},
        footer = {"", "Examples:", "  atelier demo", "  atelier demo --work /tmp/atelier-demo --images 4",
                "  atelier --json demo"})
final class DemoCommand extends CliCommand {
    @Option(names = "--work", paramLabel = "DIR", defaultValue = "work/demo",
            description = "Folder for the demo's files and report.html (default: ${DEFAULT-VALUE}).")
    Path work;

    @Option(names = "--model", paramLabel = "DIR",
            description = "Folder of the default model (model.safetensors, model.yaml, tokenizer/); default: models/default.")
    Path model;

    @Option(names = "--images", paramLabel = "N", description = "Images per variant (default 8).")
    Integer images;

    @Option(names = "--steps", paramLabel = "N", description = "Sampling steps (default 20).")
    Integer steps;

    @Option(names = "--lora-steps", paramLabel = "N", description = "LoRA training steps (default 300).")
    Integer loraSteps;

    @Option(names = "--lora-lr", paramLabel = "LR", description = "LoRA learning rate (default 3e-3: the default model is small and the LoRA gets 300 steps).")
    Float loraLr;

    @Option(names = "--lora-weight", paramLabel = "MULT", description = "LoRA multiplier when generating (default 1).")
    Float loraWeight;

    @Option(names = "--catalog-items", paramLabel = "N", description = "Items in the generated catalog (default 3000).")
    Integer catalogItems;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() {
        threads.apply();
        DemoSettings d = DemoSettings.defaults(work);
        DemoSettings s = d.with(Optional.ofNullable(images).orElse(d.images()), Optional.ofNullable(steps).orElse(d.steps()),
                Optional.ofNullable(loraSteps).orElse(d.loraSteps()), Optional.ofNullable(catalogItems).orElse(d.catalogItems()));
        s = s.withLora(Optional.ofNullable(loraLr).orElse(s.loraLr()), Optional.ofNullable(loraWeight).orElse(s.loraWeight()));
        DefaultModel m = model == null ? DefaultModel.locate() : DefaultModel.in(model);
        long start = System.nanoTime();
        boolean quiet = json();
        DemoWorkflow.Result r = new DemoWorkflow(s, m, new Listener(quiet)).run();
        Duration total = Duration.ofNanos(System.nanoTime() - start);
        Path html = DemoReportBuilder.write(r, total);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("report", html.toAbsolutePath().toString());
        Map<String, Object> figures = new LinkedHashMap<>();
        for (Evaluation.VariantResult v : r.evaluation().variants()) {
            figures.put(v.name(), Map.of("mean_best_wardrobe_similarity", v.meanBest(), "mean_similarity", v.meanSimilarity()));
        }
        result.put("similarity", figures);
        result.put("seconds", total.toMillis() / 1000.0);
        result.put("stages", r.stages().stream().map(b -> Map.of("stage", b.name(), "seconds", b.time().toMillis() / 1000.0,
                "reused", b.reused())).toList());
        if (quiet) {
            printJson(result);
            return 0;
        }
        out().println();
        out().println("Wardrobe similarity (mean best cosine similarity to " + s.person() + "'s wardrobe):");
        List<Evaluation.VariantResult> vs = r.evaluation().variants();
        Evaluation.VariantResult best = vs.stream().max(java.util.Comparator.comparingDouble(Evaluation.VariantResult::meanBest))
                .orElseThrow();
        for (Evaluation.VariantResult v : vs) {
            out().printf(Locale.ROOT, "  %-11s %.4f  %s%s%n", v.name(), v.meanBest(), v.description(), v == best ? "  <- highest" : "");
        }
        out().printf(Locale.ROOT, "Report: %s (%.1f s)%n", html.toAbsolutePath(), total.toMillis() / 1000.0);
        return 0;
    }

    /** Stage lines and progress bars on stderr. */
    private static final class Listener implements DemoListener {
        private final boolean quiet;

        Listener(boolean quiet) {
            this.quiet = quiet;
        }

        @Override
        public void stageStarted(String stage, String description) {
            if (!quiet) {
                System.err.printf("== %-12s %s%n", stage, description);
            }
        }

        @Override
        public void stageReused(String stage, String description, Path dir) {
            if (!quiet) {
                System.err.printf("== %-12s reused from %s%n", stage, dir);
            }
        }

        @Override
        public void stageFinished(String stage, Duration time) {
            if (!quiet) {
                System.err.printf(Locale.ROOT, "   %-12s done in %s%n", stage, ProgressBar.clock(time.toMillis() / 1000.0));
            }
        }

        @Override
        public Progress progress(String step, String unit) {
            return quiet ? Progress.NONE : new ProgressBar(step, unit);
        }

        @Override
        public void note(String message) {
            if (!quiet) {
                System.err.println("   " + message);
            }
        }
    }
}
