package dev.atelier.engine.train;

import dev.atelier.engine.util.SplitMix64;
import dev.atelier.engine.util.Sha256;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.text.ClipTokenizer;
import dev.atelier.engine.text.LongPromptMode;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A LoRA training run: Java owns the data (photos decoded, VAE-encoded and captions encoded
 * once), the order of batches, the learning-rate schedule, checkpoints and reporting; the
 * native {@link LoraTrainer} runs each forward/backward pass and optimizer update.
 *
 * <p>Latents are cached as a SAMPLE of the VAE posterior times the scale factor, drawn once per
 * image with the run's seed (kohya's {@code cache_latents} stores {@code latent_dist.sample()}).
 * With flips, the mirrored photo is encoded and cached too. Captions are encoded once unless the
 * text encoder is trained (then its token ids go to every pass).
 *
 * <p>Determinism: the batch order of epoch e is a function of (seed, e), a pass's flips, noise and
 * timesteps of (seed, pass index); so resuming from a checkpoint continues the same loss curve.
 *
 * <p>Failure: a NaN loss (or overflowing parameters) stops the run with a BackendException
 * naming the step and the last checkpoint; checkpoints are separate files written atomically,
 * so none is lost or half-written.
 */
public final class LoraTraining {
    private static final Logger LOG = LoggerFactory.getLogger(LoraTraining.class);
    /** Metadata keys of a training-state file. */
    static final String STATE_STEP = "atelier_step", STATE_FINGERPRINT = "atelier_fingerprint";

    /**
     * What a run produced.
     *
     * @param output   the LoRA file
     * @param steps    the last update number
     * @param losses   loss of each update of this run (after a resume: from the resumed step on)
     * @param metadata the ss_* metadata written
     */
    public record Result(Path output, long steps, List<Float> losses, Map<String, String> metadata) {}

    private record Cached(float[] latent, float[] flipped, int latentH, int latentW, int caption) {}

    private final LoraTrainingConfig c;
    private final TrainingListener listener;
    private final List<TrainingImages.Image> images;
    private final List<Cached> cache = new ArrayList<>();
    private final List<String> captions = new ArrayList<>();
    private final List<float[]> contexts = new ArrayList<>(); // per caption, [77 * width]
    private final List<long[]> captionIds = new ArrayList<>(); // per caption, [77]
    private int contextWidth;
    private int batchesPerEpoch;
    private long cachedEpoch = -1;
    private List<int[]> epochBatches;

    private LoraTraining(LoraTrainingConfig c, TrainingListener listener) {
        this.c = c;
        this.listener = listener;
        this.images = TrainingImages.load(c.images(), c.resolution(), c.buckets(), c.caption());
    }

    /** Runs the whole training described by config and writes config.output(). */
    public static Result run(LoraTrainingConfig config, TrainingListener listener) {
        return new LoraTraining(config, listener == null ? TrainingListener.NONE : listener).run();
    }

    private Result run() {
        LdmConfig ldm = c.ldm().withComputeDtype(c.bf16() ? DType.BF16 : DType.F32);
        ModelHash hash = ModelHash.of(c.model());
        ClipTokenizer tokenizer = ClipTokenizer.load(c.tokenizer());
        Instant started = Instant.now();
        try (StableDiffusionWeights weights = StableDiffusionWeights.open(c.model()); Arena schedule = Arena.ofConfined()) {
            cacheLatents(weights, ldm);
            // The config's schedule, as generation samples with it by default.
            TensorView alphasCumprod = Sampling.alphasCumprod(ldm, schedule);
            try (TextEncoder te = TextEncoder.create(weights.textEncoder(), ldm.text());
                    UNet unet = UNet.create(weights.unet(), ldm.unet())) {
                cacheCaptions(tokenizer, te);
                ModelLayout layout = ModelLayout.fromLdmNames(weights.checkpoint().tensors().keySet());
                List<LoraModule> modules = LoraTargets.select(weights.checkpoint().tensors(), layout,
                        unet.config().transformerDepth(), c.trainTextEncoder() ? te.config().layers() : 0, c.rank(),
                        c.alpha(), c.convRank(), c.convAlpha());
                try (LoraTrainer trainer = LoraTrainer.create(unet, c.trainTextEncoder() ? te : null, modules,
                        alphasCumprod, c.step());
                        TrainingPreview preview = c.sampleEvery() > 0 && c.sample().isPresent()
                                ? new TrainingPreview(c.sample().get(), weights, ldm, tokenizer, te, unet,
                                        alphasCumprod, c.output(), hash, modelName())
                                : null) {
                    return train(trainer, preview, hash, started);
                }
            }
        }
    }

    // ---- data

    private void cacheLatents(StableDiffusionWeights weights, LdmConfig ldm) {
        // The VAE only encodes, once: F32 whatever the training precision.
        try (Vae vae = Vae.create(weights.vae(), ldm.vae().withComputeDtype(DType.F32)); Arena arena = Arena.ofConfined()) {
            int f = vae.config().downscale();
            for (int i = 0; i < images.size(); i++) {
                TrainingImages.Image img = images.get(i);
                int caption = captions.indexOf(img.caption());
                if (caption < 0) {
                    caption = captions.size();
                    captions.add(img.caption());
                }
                SplittableRandom rng = new SplittableRandom(SplitMix64.stream(c.step().seed(), 0x1a7e47L + i));
                float[] latent = encode(vae, img.pixels(), img, arena, rng, (float) ldm.scaleFactor());
                float[] flipped = c.flip() ? encode(vae, img.flipped(), img, arena, rng, (float) ldm.scaleFactor()) : null;
                cache.add(new Cached(latent, flipped, img.height() / f, img.width() / f, caption));
            }
        }
    }

    private static float[] encode(Vae vae, float[] pixels, TrainingImages.Image img, Arena arena, SplittableRandom rng,
            float scale) {
        TensorView x = TensorView.ofFloats(arena, pixels, 1, 3, img.height(), img.width());
        Vae.Posterior p = vae.encode(x, arena);
        float[] mean = p.mean().toFloatArray(), logvar = p.logvar().toFloatArray();
        float[] z = new float[mean.length];
        for (int k = 0; k < z.length; k++) {
            // LDM DiagonalGaussianDistribution.sample: mean + exp(logvar / 2) * N(0, 1)
            z[k] = (float) ((mean[k] + Math.exp(0.5 * logvar[k]) * rng.nextGaussian()) * scale);
        }
        return z;
    }

    private void cacheCaptions(ClipTokenizer tokenizer, TextEncoder te) {
        contextWidth = te.config().width();
        try (Arena arena = Arena.ofConfined()) {
            for (String caption : captions) {
                // 75 tokens as kohya's default max_token_length; longer captions are truncated.
                long[] ids = tokenizer.encode(caption, LongPromptMode.TRUNCATE).ids()[0];
                captionIds.add(ids);
                if (!c.trainTextEncoder()) {
                    TensorView idView = TensorView.of(arena.allocateFrom(ValueLayout.JAVA_LONG, ids), DType.I64, 1,
                            ids.length);
                    contexts.add(te.forward(idView, c.step().clipSkip(), arena).toFloatArray());
                }
            }
        }
    }

    // ---- batches

    /** The batches of one epoch: each photo repeats times, shuffled, grouped by bucket, batches shuffled. */
    private List<int[]> batches(long epoch) {
        if (epoch == cachedEpoch) {
            return epochBatches;
        }
        Random rng = new Random(SplitMix64.stream(c.step().seed(), 0xe90c4L + epoch));
        List<Integer> items = new ArrayList<>();
        for (int r = 0; r < c.repeats(); r++) {
            for (int i = 0; i < images.size(); i++) {
                items.add(i);
            }
        }
        Collections.shuffle(items, rng);
        Map<String, List<Integer>> byBucket = new TreeMap<>();
        for (int i : items) {
            Cached k = cache.get(i);
            byBucket.computeIfAbsent(k.latentH() + "x" + k.latentW(), x -> new ArrayList<>()).add(i);
        }
        List<int[]> out = new ArrayList<>();
        for (List<Integer> group : byBucket.values()) {
            for (int s = 0; s < group.size(); s += c.batchSize()) {
                out.add(group.subList(s, Math.min(group.size(), s + c.batchSize())).stream().mapToInt(x -> x).toArray());
            }
        }
        Collections.shuffle(out, rng);
        cachedEpoch = epoch;
        epochBatches = out;
        return out;
    }

    // ---- the loop

    private String modelName() {
        return c.model().getFileName().toString().replaceFirst("\\.[^.]*$", "");
    }

    private Result train(LoraTrainer trainer, TrainingPreview preview, ModelHash hash, Instant started) {
        batchesPerEpoch = batches(0).size();
        long total = c.maxSteps() > 0 ? c.maxSteps()
                : (long) c.epochs() * ((batchesPerEpoch + c.gradAccum() - 1) / c.gradAccum());
        String fingerprint = fingerprint(trainer);
        long first = 1;
        if (c.resume().isPresent()) {
            first = resume(trainer, c.resume().get(), fingerprint) + 1;
        }
        List<Float> losses = new ArrayList<>();
        Path lastCheckpoint = c.resume().orElse(null);
        long t0 = System.nanoTime();
        for (long step = first; step <= total; step++) {
            float lossSum = 0;
            double factor = c.schedule().factor(step - 1, total, c.warmupSteps());
            float unetLr = (float) (c.unetLr() * factor), textLr = (float) (c.textLr() * factor);
            try {
                for (int a = 0; a < c.gradAccum(); a++) {
                    long pass = (step - 1) * c.gradAccum() + a;
                    lossSum += pass(trainer, pass);
                }
                trainer.update(step, unetLr, c.trainTextEncoder() ? textLr : 0f);
            } catch (AtelierException e) {
                throw new BackendException(e.code(), "LoRA training stopped at step " + step + ": " + e.getMessage()
                        + "; nothing was written for this step"
                        + (lastCheckpoint != null ? "; the last checkpoint is " + lastCheckpoint : "; no checkpoint was written yet"));
            }
            float loss = lossSum / c.gradAccum();
            losses.add(loss);
            long done = step - first + 1;
            Duration elapsed = Duration.ofNanos(System.nanoTime() - t0);
            Duration eta = elapsed.multipliedBy(total - step).dividedBy(done);
            listener.onStep(new TrainingListener.Step(step, total, loss, unetLr, textLr, elapsed, eta));
            LOG.debug("step {}/{} loss {} lr {}", step, total, loss, unetLr);
            if (c.sampleEvery() > 0 && step % c.sampleEvery() == 0) {
                listener.onSample(step, trainer);
                if (preview != null) {
                    listener.onSampleImage(step, preview.render(step));
                }
            }
            if (c.saveEvery() > 0 && step % c.saveEvery() == 0 && step < total) {
                lastCheckpoint = checkpoint(trainer, step, total, hash, started, fingerprint);
            }
        }
        Map<String, String> meta = metadata(trainer, total, total, hash, started);
        KohyaLoraWriter.write(trainer, meta, c.output());
        return new Result(c.output(), total, losses, meta);
    }

    /** One forward/backward pass over the batch of global pass index pass; returns its loss. */
    private float pass(LoraTrainer trainer, long pass) {
        long epoch = pass / batchesPerEpoch;
        int[] batch = batches(epoch).get((int) (pass % batchesPerEpoch));
        Cached first = cache.get(batch[0]);
        int latentSize = first.latent().length;
        float[] latents = new float[batch.length * latentSize];
        SplittableRandom flips = new SplittableRandom(SplitMix64.stream(c.step().seed(), 0xf11bL + pass));
        for (int k = 0; k < batch.length; k++) {
            Cached item = cache.get(batch[k]);
            boolean flip = item.flipped() != null && flips.nextBoolean();
            System.arraycopy(flip ? item.flipped() : item.latent(), 0, latents, k * latentSize, latentSize);
        }
        try (Arena arena = Arena.ofConfined()) {
            TensorView x = TensorView.ofFloats(arena, latents, batch.length, latentSize / (first.latentH() * first.latentW()),
                    first.latentH(), first.latentW());
            TensorView context = null, ids = null;
            if (c.trainTextEncoder()) {
                long[] all = new long[batch.length * ClipTokenizer.CONTEXT_LENGTH];
                for (int k = 0; k < batch.length; k++) {
                    long[] one = captionIds.get(cache.get(batch[k]).caption());
                    System.arraycopy(one, 0, all, k * one.length, one.length);
                }
                ids = TensorView.of(arena.allocateFrom(ValueLayout.JAVA_LONG, all), DType.I64, batch.length,
                        ClipTokenizer.CONTEXT_LENGTH);
            } else {
                int per = ClipTokenizer.CONTEXT_LENGTH * contextWidth;
                float[] all = new float[batch.length * per];
                for (int k = 0; k < batch.length; k++) {
                    System.arraycopy(contexts.get(cache.get(batch[k]).caption()), 0, all, k * per, per);
                }
                context = TensorView.ofFloats(arena, all, batch.length, ClipTokenizer.CONTEXT_LENGTH, contextWidth);
            }
            return trainer.accumulate(x, context, ids, pass, 1f / c.gradAccum());
        }
    }

    // ---- checkpoints

    /** Checkpoint paths beside the output: NAME-step000010.safetensors and NAME-step000010.state.safetensors. */
    static Path[] checkpointPaths(Path output, long step) {
        String name = output.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        String base = String.format("%s-step%06d", stem, step);
        return new Path[] {output.resolveSibling(base + ".safetensors"), output.resolveSibling(base + ".state.safetensors")};
    }

    private Path checkpoint(LoraTrainer trainer, long step, long total, ModelHash hash, Instant started, String fingerprint) {
        Path[] paths = checkpointPaths(c.output(), step);
        // The LoRA first, the state last: a state file always has its LoRA beside it.
        KohyaLoraWriter.write(trainer, metadata(trainer, step, total, hash, started), paths[0]);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (boolean text : new boolean[] {false, true}) {
                if (trainer.stateSize(text) == 0) {
                    continue;
                }
                for (LoraTrainer.StateKind kind : LoraTrainer.StateKind.values()) {
                    w.add(stateName(text, kind), trainer.state(text, kind, arena));
                }
            }
            w.metadata(STATE_STEP, Long.toString(step));
            w.metadata(STATE_FINGERPRINT, fingerprint);
            w.write(paths[1]);
        }
        listener.onCheckpoint(step, paths[0], paths[1]);
        return paths[1];
    }

    static String stateName(boolean text, LoraTrainer.StateKind kind) {
        return (text ? "text_encoder." : "unet.") + kind.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Loads a state file into trainer; returns its step. */
    private static long resume(LoraTrainer trainer, Path state, String fingerprint) {
        try (SafeTensorsFile f = SafeTensorsFile.open(state)) {
            String step = f.metadata().get(STATE_STEP);
            if (step == null) {
                throw new FormatException(state + ": not an Atelier training state (no " + STATE_STEP + ")");
            }
            if (!fingerprint.equals(f.metadata().get(STATE_FINGERPRINT))) {
                throw new FormatException(state + ": made by a run with other modules, photos, captions, seed or "
                        + "batching; resume needs the same settings");
            }
            for (boolean text : new boolean[] {false, true}) {
                if (trainer.stateSize(text) == 0) {
                    continue;
                }
                for (LoraTrainer.StateKind kind : LoraTrainer.StateKind.values()) {
                    String name = stateName(text, kind);
                    if (!f.contains(name)) {
                        throw new FormatException(state + ": no tensor " + name);
                    }
                    trainer.setState(text, kind, f.view(name));
                }
            }
            return Long.parseLong(step);
        }
    }

    /** What must not change between a run and its resume. */
    private String fingerprint(LoraTrainer trainer) {
        StringBuilder s = new StringBuilder();
        for (LoraModule m : trainer.modules()) {
            s.append(m.kohyaName()).append(':').append(m.rank()).append(':').append(m.alpha()).append(';');
        }
        s.append("seed=").append(c.step().seed()).append(";batch=").append(c.batchSize()).append(";accum=")
                .append(c.gradAccum()).append(";repeats=").append(c.repeats()).append(";flip=").append(c.flip())
                .append(";res=").append(c.resolution()).append(";buckets=").append(c.buckets());
        for (TrainingImages.Image img : images) {
            s.append(';').append(img.file().getFileName()).append('=').append(img.caption());
        }
        return Sha256.hex(s.toString());
    }

    // ---- metadata

    private Map<String, String> metadata(LoraTrainer trainer, long step, long total, ModelHash hash, Instant started) {
        Map<String, String> m = new LinkedHashMap<>();
        // kohya sd-scripts train_network.py metadata keys.
        m.put("ss_network_module", "networks.lora");
        m.put("ss_network_dim", Integer.toString(c.rank()));
        m.put("ss_network_alpha", trim(c.alpha()));
        if (c.convRank() > 0) {
            m.put("ss_network_args", "{\"conv_dim\": \"" + c.convRank() + "\", \"conv_alpha\": \"" + trim(c.convAlpha()) + "\"}");
        }
        m.put("ss_network_train_unet_only", c.trainTextEncoder() ? "False" : "True");
        m.put("ss_base_model_version", "sd_v1");
        m.put("ss_v2", "False");
        m.put("ss_sd_model_name", c.model().getFileName().toString());
        m.put("ss_sd_model_hash", hash.legacy());
        m.put("ss_new_sd_model_hash", hash.sha256());
        m.put("ss_resolution", "(" + c.resolution() + ", " + c.resolution() + ")");
        m.put("ss_enable_bucket", c.buckets() ? "True" : "False");
        m.put("ss_flip_aug", c.flip() ? "True" : "False");
        m.put("ss_num_train_images", Integer.toString(images.size() * c.repeats()));
        m.put("ss_batch_size_per_device", Integer.toString(c.batchSize()));
        m.put("ss_gradient_accumulation_steps", Integer.toString(c.gradAccum()));
        m.put("ss_max_train_steps", Long.toString(total));
        m.put("ss_steps", Long.toString(step));
        m.put("ss_epoch", Long.toString(step * c.gradAccum() / Math.max(1, batchesPerEpoch)));
        m.put("ss_learning_rate", trim(c.unetLr()));
        m.put("ss_unet_lr", trim(c.unetLr()));
        m.put("ss_text_encoder_lr", trim(c.trainTextEncoder() ? c.textLr() : 0f));
        m.put("ss_lr_scheduler", c.schedule().displayName());
        m.put("ss_lr_warmup_steps", Integer.toString(c.warmupSteps()));
        LoraTrainer.StepOptions o = c.step();
        m.put("ss_optimizer", "torch.optim.AdamW(weight_decay=" + trim(o.weightDecay()) + ",betas=(" + trim(o.beta1()) + ", "
                + trim(o.beta2()) + "),eps=" + o.eps() + ")");
        m.put("ss_min_snr_gamma", o.minSnrGamma() > 0 ? trim(o.minSnrGamma()) : "None");
        m.put("ss_noise_offset", o.noiseOffset() > 0 ? trim(o.noiseOffset()) : "None");
        m.put("ss_seed", Long.toString(o.seed()));
        m.put("ss_clip_skip", Integer.toString(o.clipSkip()));
        m.put("ss_mixed_precision", c.bf16() ? "bf16" : "no");
        m.put("ss_gradient_checkpointing", o.gradientCheckpointing() ? "True" : "False");
        m.put("ss_cache_latents", "True");
        m.put("ss_caption_summary", captionSummary());
        m.put("ss_tag_frequency", tagFrequency());
        m.put("ss_training_started_at", Long.toString(started.getEpochSecond()));
        m.put("ss_training_finished_at", Long.toString(Instant.now().getEpochSecond()));
        m.put("ss_output_name", c.output().getFileName().toString().replaceFirst("\\.safetensors$", ""));
        m.put("ss_num_modules", Integer.toString(trainer.modules().size()));
        return m;
    }

    private static String trim(float v) {
        return v == Math.rint(v) && Math.abs(v) < 1e7 ? Integer.toString((int) v) : Float.toString(v);
    }

    /** kohya's ss_tag_frequency: {folder: {tag: count}}, tags split at commas. */
    private String tagFrequency() {
        Map<String, Integer> counts = new TreeMap<>();
        for (TrainingImages.Image img : images) {
            for (String tag : img.caption().split(",")) {
                String t = tag.strip();
                if (!t.isEmpty()) {
                    counts.merge(t, 1, Integer::sum);
                }
            }
        }
        StringBuilder s = new StringBuilder("{").append(json(folderName())).append(": {");
        String sep = "";
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            s.append(sep).append(json(e.getKey())).append(": ").append(e.getValue());
            sep = ", ";
        }
        return s.append("}}").toString();
    }

    private String folderName() {
        Path n = c.images().toAbsolutePath().getFileName();
        return (n == null ? "images" : n.toString());
    }

    /** The distinct captions with how many photos use each, most used first. */
    private String captionSummary() {
        Map<String, Integer> counts = new HashMap<>();
        images.forEach(i -> counts.merge(i.caption(), 1, Integer::sum));
        StringBuilder s = new StringBuilder();
        counts.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> s.append(s.isEmpty() ? "" : " | ").append(e.getValue()).append("x ").append(e.getKey()));
        return s.toString();
    }

    private static String json(String v) {
        StringBuilder s = new StringBuilder("\"");
        for (char ch : v.toCharArray()) {
            switch (ch) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                default -> {
                    if (ch < 0x20) {
                        s.append(String.format("\\u%04x", (int) ch));
                    } else {
                        s.append(ch);
                    }
                }
            }
        }
        return s.append('"').toString();
    }

}
