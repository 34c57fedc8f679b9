package dev.atelier.tools;

import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.serve.GenerationService;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.FolderLock;
import dev.atelier.tools.batch.BatchJob;
import dev.atelier.tools.batch.BatchRun;
import dev.atelier.tools.batch.JobFile;
import dev.atelier.tools.batch.Manifest;
import dev.atelier.tools.serve.ServerLimits;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

    @Mixin
    ServedModelOptions served;

    @Override
    public Integer call() throws InterruptedException {
        ServedModelOptions.Resolved m = served.resolve();
        Path loraDir = m.loraDir();
        // Every line is checked before the model loads: a bad line costs nothing.
        List<BatchJob> all = JobFile.read(jobs, ServerLimits.defaults(), loraDir);
        served.threads.apply();
        int window = 2 * served.maxBatch;
        BatchRun.Result result;
        // One run per output folder: a second one fails at once instead of doing the same requests
        // and appending to the same manifest.
        try (FolderLock writer = FolderLock.acquire(out, "atelier batch", Duration.ZERO); Manifest manifest = Manifest.open(out)) {
            AtomicFiles.removeStale(out); // PNGs of a killed run, half written
            try (Pipeline pipeline = Pipeline.load(m.checkpoint(), m.pipeline());
                    GenerationService service = new GenerationService(pipeline, loraDir, served.service(window + 1))) {
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
}
