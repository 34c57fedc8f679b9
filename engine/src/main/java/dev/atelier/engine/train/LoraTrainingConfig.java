package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.FileAccess;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.GenerationRequest;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Everything a LoRA training run needs. Build with {@link #builder(Path, Path, Path)}; defaults
 * follow kohya's sd-scripts where it has one (rank 4 / alpha 1 are kohya's network_dim and
 * network_alpha defaults; learning rate 1e-4).
 *
 * @param model          SD1.x checkpoint (.safetensors, .ckpt or diffusers folder)
 * @param ldm            architecture and noise schedule (head counts, scale factor)
 * @param tokenizer      folder with the CLIP vocab.json and merges.txt
 * @param images         folder of training photos
 * @param output         the kohya-format .safetensors to write
 * @param caption        caption of photos without a .txt file (a trigger word phrase)
 * @param repeats        each photo counts this many times per epoch
 * @param resolution     square training resolution (a multiple of 64)
 * @param buckets        aspect-ratio buckets of about resolution² pixels instead of square crops
 * @param flip           random horizontal flips
 * @param rank           LoRA rank (kohya network_dim)
 * @param alpha          LoRA alpha (kohya network_alpha)
 * @param convRank       rank of the res blocks' 3x3 convs; 0 = no conv LoRA
 * @param convAlpha      their alpha
 * @param trainTextEncoder also train the CLIP attention and MLP Linears
 * @param unetLr         UNet learning rate
 * @param textLr         text-encoder learning rate
 * @param schedule       learning-rate schedule
 * @param warmupSteps    linear warm-up updates
 * @param epochs         passes over the photos (ignored when maxSteps &gt; 0)
 * @param maxSteps       optimizer updates; 0 = derived from epochs
 * @param batchSize      photos per forward pass (one bucket per batch)
 * @param gradAccum      forward passes per optimizer update
 * @param step           AdamW, min-SNR, noise offset, seed, clip skip, checkpointing
 * @param bf16           compute the networks in BF16 (weights cast once, norms in F32)
 * @param saveEvery      write a checkpoint every this many updates; 0 = none
 * @param sampleEvery    call the listener's sample hook every this many updates; 0 = never
 * @param sample         what to render then (a PNG beside the output, {@code NAME-sample-step000100.png}),
 *                       with the networks as trained so far; empty: the hook only
 * @param resume         a training state file written by a checkpoint to continue from
 * @param access         the model's files mapped, or read into memory ({@link FileAccess})
 */
public record LoraTrainingConfig(Path model, LdmConfig ldm, Path tokenizer, Path images, Path output,
        Optional<String> caption, int repeats, int resolution, boolean buckets, boolean flip, int rank, float alpha,
        int convRank, float convAlpha, boolean trainTextEncoder, float unetLr, float textLr, LrSchedule schedule,
        int warmupSteps, int epochs, int maxSteps, int batchSize, int gradAccum, LoraTrainer.StepOptions step,
        boolean bf16, int saveEvery, int sampleEvery, Optional<GenerationRequest> sample, Optional<Path> resume,
        FileAccess access) {

    public LoraTrainingConfig {
        check(repeats >= 1, "repeats must be at least 1, got " + repeats);
        check(resolution >= 64 && resolution % 64 == 0, "resolution must be a positive multiple of 64, got " + resolution);
        check(rank >= 1, "rank must be at least 1, got " + rank);
        check(convRank >= 0, "conv rank must be 0 (off) or more, got " + convRank);
        check(Float.isFinite(alpha) && Float.isFinite(convAlpha), "alpha must be a finite number");
        check(Float.isFinite(unetLr) && unetLr >= 0 && Float.isFinite(textLr) && textLr >= 0,
                "learning rates must be finite and >= 0");
        check(warmupSteps >= 0, "warm-up steps must be >= 0");
        check(maxSteps > 0 || epochs > 0, "give epochs or max steps (at least 1)");
        check(maxSteps >= 0 && epochs >= 0, "epochs and max steps must be >= 0");
        check(batchSize >= 1, "batch size must be at least 1, got " + batchSize);
        check(gradAccum >= 1, "gradient accumulation steps must be at least 1, got " + gradAccum);
        check(saveEvery >= 0 && sampleEvery >= 0, "save/sample intervals must be >= 0");
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new InvalidInputException("LoRA training: " + message);
        }
    }

    public static Builder builder(Path model, Path images, Path output) {
        return new Builder(model, images, output);
    }

    public Builder toBuilder() {
        Builder b = new Builder(model, images, output);
        b.ldm = ldm;
        b.tokenizer = tokenizer;
        b.caption = caption;
        b.repeats = repeats;
        b.resolution = resolution;
        b.buckets = buckets;
        b.flip = flip;
        b.rank = rank;
        b.alpha = alpha;
        b.convRank = convRank;
        b.convAlpha = convAlpha;
        b.trainTextEncoder = trainTextEncoder;
        b.unetLr = unetLr;
        b.textLr = textLr;
        b.schedule = schedule;
        b.warmupSteps = warmupSteps;
        b.epochs = epochs;
        b.maxSteps = maxSteps;
        b.batchSize = batchSize;
        b.gradAccum = gradAccum;
        b.step = step;
        b.bf16 = bf16;
        b.saveEvery = saveEvery;
        b.sampleEvery = sampleEvery;
        b.sample = sample;
        b.resume = resume;
        b.access = access;
        return b;
    }

    /** Options with defaults; every setter returns this. */
    public static final class Builder {
        private final Path model;
        private final Path images;
        private Path output;
        private LdmConfig ldm = LdmConfig.sd15();
        private Path tokenizer;
        private Optional<String> caption = Optional.empty();
        private int repeats = 1;
        private int resolution = 512;
        private boolean buckets;
        private boolean flip;
        private int rank = 4;
        private float alpha = 1f;
        private int convRank;
        private float convAlpha = 1f;
        private boolean trainTextEncoder;
        private float unetLr = 1e-4f;
        private float textLr = 5e-5f;
        private LrSchedule schedule = LrSchedule.CONSTANT;
        private int warmupSteps;
        private int epochs = 1;
        private int maxSteps;
        private int batchSize = 1;
        private int gradAccum = 1;
        private LoraTrainer.StepOptions step = LoraTrainer.StepOptions.defaults(0);
        private boolean bf16;
        private int saveEvery;
        private int sampleEvery;
        private Optional<GenerationRequest> sample = Optional.empty();
        private Optional<Path> resume = Optional.empty();
        private FileAccess access = FileAccess.MAP;

        private Builder(Path model, Path images, Path output) {
            this.model = model;
            this.images = images;
            this.output = output;
            Path dir = model.toAbsolutePath().getParent();
            this.tokenizer = dir == null ? Path.of("tokenizer") : dir.resolve("tokenizer");
        }

        public Builder output(Path v) { output = v; return this; }
        public Builder ldm(LdmConfig v) { ldm = v; return this; }
        public Builder tokenizer(Path v) { tokenizer = v; return this; }
        public Builder caption(String v) { caption = Optional.ofNullable(v); return this; }
        public Builder repeats(int v) { repeats = v; return this; }
        public Builder resolution(int v) { resolution = v; return this; }
        public Builder buckets(boolean v) { buckets = v; return this; }
        public Builder flip(boolean v) { flip = v; return this; }
        public Builder rank(int v) { rank = v; return this; }
        public Builder alpha(float v) { alpha = v; return this; }
        public Builder convRank(int v) { convRank = v; return this; }
        public Builder convAlpha(float v) { convAlpha = v; return this; }
        public Builder trainTextEncoder(boolean v) { trainTextEncoder = v; return this; }
        public Builder unetLr(float v) { unetLr = v; return this; }
        public Builder textLr(float v) { textLr = v; return this; }
        public Builder schedule(LrSchedule v) { schedule = v; return this; }
        public Builder warmupSteps(int v) { warmupSteps = v; return this; }
        public Builder epochs(int v) { epochs = v; return this; }
        public Builder maxSteps(int v) { maxSteps = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder gradAccum(int v) { gradAccum = v; return this; }
        public Builder step(LoraTrainer.StepOptions v) { step = v; return this; }
        public Builder bf16(boolean v) { bf16 = v; return this; }
        public Builder saveEvery(int v) { saveEvery = v; return this; }
        public Builder sampleEvery(int v) { sampleEvery = v; return this; }
        public Builder sample(GenerationRequest v) { sample = Optional.ofNullable(v); return this; }
        public Builder resume(Path v) { resume = Optional.ofNullable(v); return this; }
        public Builder access(FileAccess v) { access = java.util.Objects.requireNonNull(v, "access"); return this; }

        public LoraTrainingConfig build() {
            return new LoraTrainingConfig(model, ldm, tokenizer, images, output, caption, repeats, resolution, buckets,
                    flip, rank, alpha, convRank, convAlpha, trainTextEncoder, unetLr, textLr, schedule, warmupSteps,
                    epochs, maxSteps, batchSize, gradAccum, step, bf16, saveEvery, sampleEvery, sample,
                    resume, access);
        }
    }
}
