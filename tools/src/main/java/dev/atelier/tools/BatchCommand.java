package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.demo.DefaultModel;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.tools.batch.BatchJob;
import dev.atelier.tools.batch.BatchRun;
import dev.atelier.tools.batch.JobFile;
import dev.atelier.tools.batch.Manifest;
import dev.atelier.tools.serve.ServerLimits;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code atelier batch}: many txt2img requests from a JSON Lines file, batched together, resumable. */
@Command(name = "batch", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the txt2img requests of JOBS (JSON Lines: one object per line with the HTTP API's fields, "
                + "prompt, negative_prompt, seed, steps, cfg_scale, width, height, sampler_name, batch_size, n_iter, "
                + "and an optional id) through one loaded model; requests with different LoRAs (<lora:NAME:W> in the "
                + "prompt) share UNet batches.",
                "Every line is checked before any work starts. Each finished request's PNGs are written to "
                        + "OUT/<id>-<k>-<seed>.png and a line to OUT/manifest.jsonl; run again with the same JOBS and "
                        + "--out to do only what is not done yet."},
        footer = {"", "Examples:",
            "  atelier batch jobs.jsonl --out out/",
            "  atelier batch jobs.jsonl --model rv6.safetensors --loras loras/ --max-batch 8 --out out/",
            "", "A line of jobs.jsonl:",
            "  {\"id\": \"anna-1\", \"prompt\": \"a denim jacket <lora:anna:0.8>\", \"seed\": 7, \"steps\": 20}"})
final class BatchCommand extends CliCommand {
    @Parameters(index = "0", paramLabel = "JOBS", description = "JSON Lines file of requests; the id defaults to the line number.")
    Path jobs;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder: PNGs and manifest.jsonl.")
    Path out;

    @Option(names = "--model", paramLabel = "PATH",
            description = "SD1.x checkpoint: a single .safetensors or .ckpt in the LDM layout, or a diffusers folder "
                    + "(default: the embedded default model).")
    Path model;

    @Option(names = "--config", paramLabel = "YAML", description = "LDM-style YAML of the model (default: SD1.5's settings).")
    Path config;

    @Option(names = "--tokenizer", paramLabel = "DIR", description = "Folder with CLIP vocab.json and merges.txt (default: MODEL_DIR/tokenizer).")
    Path tokenizer;

    @Option(names = "--loras", paramLabel = "DIR",
            description = "Folder of LoRA .safetensors files; <lora:NAME:W> names a file below it without the extension "
                    + "(default: the demo's work/demo with the default model).")
    Path loras;

    @Option(names = "--max-batch", defaultValue = "8", paramLabel = "N", description = "Images per UNet batch at most. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--lora-cache-mb", defaultValue = "1024", paramLabel = "MB",
            description = "LoRA file bytes kept applied while unused. Default: ${DEFAULT-VALUE}.")
    long loraCacheMb;

    @Mixin
    PrecisionOption precision;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws InterruptedException {
        if (maxBatch < 1 || loraCacheMb < 0) {
            throw new InvalidInputException("--max-batch must be >= 1 and --lora-cache-mb >= 0");
        }
        Path checkpoint = model;
        Path yaml = config, tok = tokenizer, loraDir = loras;
        if (checkpoint == null) {
            DefaultModel d = DefaultModel.locate();
            checkpoint = d.checkpoint();
            yaml = yaml == null ? d.config() : yaml;
            tok = tok == null ? d.tokenizer() : tok;
            Path demo = d.checkpoint().toAbsolutePath().getParent().getParent().getParent().resolve("work/demo");
            loraDir = loraDir == null && Files.isDirectory(demo) ? demo : loraDir;
        }
        loraDir = loraFolder(loraDir);
        Pipeline.Options defaults = Pipeline.Options.defaults();
        Pipeline.Options po = new Pipeline.Options(Optional.ofNullable(tok), Optional.ofNullable(yaml), defaults.vae(),
                precision.dtype(), defaults.longPrompt(), defaults.kernels(), defaults.schedule());
        // Every line is checked before the model loads: a bad line costs nothing.
        List<BatchJob> all = JobFile.read(jobs, ServerLimits.defaults(), loraDir);
        threads.apply();
        int window = 2 * maxBatch;
        BatchRun.Result result;
        try (Manifest manifest = Manifest.open(out)) {
            try (Pipeline pipeline = Pipeline.load(checkpoint, po);
                    GenerationService service = new GenerationService(pipeline, loraDir, new GenerationService.Options(
                            maxBatch, window + 1, loraCacheMb << 20, GenerationService.Options.defaults().gather()))) {
                BatchRun run = new BatchRun(service, out, manifest, window);
                long done = all.stream().filter(run::done).count();
                if (done > 0) {
                    System.err.println("atelier batch: " + done + " of " + all.size()
                            + " requests already done (in " + manifest.file() + "), skipped");
                }
                result = run.run(all, new ProgressBar("batch", "image"));
            }
            if (json()) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("out", out.toString());
                r.put("manifest", manifest.file().toString());
                r.put("requests", all.size());
                r.put("done", result.requests());
                r.put("skipped", result.skipped());
                r.put("images", result.images());
                printJson(r);
            } else {
                out().println(result.images() + " images of " + result.requests() + " requests in " + out + ", "
                        + result.skipped() + " requests skipped as done before (" + manifest.file() + ")");
            }
        }
        return 0;
    }

    /** The LoRA folder, or an empty temporary one when none is given (prompts then cannot name LoRAs). */
    private static Path loraFolder(Path dir) {
        if (dir != null) {
            if (!Files.isDirectory(dir)) {
                throw new InvalidInputException("--loras " + dir + ": not a folder");
            }
            return dir;
        }
        try {
            Path empty = Files.createTempDirectory("atelier-loras");
            empty.toFile().deleteOnExit();
            return empty;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
