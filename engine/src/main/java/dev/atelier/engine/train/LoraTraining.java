package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.Sampling;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.text.ClipTokenizer;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A LoRA training run: Java owns the data ({@link TrainingData}: photos and captions encoded
 * once, the order of batches), the learning-rate schedule, checkpoints
 * ({@link TrainingCheckpoints}) and reporting; the native {@link LoraTrainer} runs each
 * forward/backward pass and optimizer update. The LoRA is written as kohya's, with kohya's
 * metadata ({@link KohyaMetadata}).
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

    /**
     * What a run produced.
     *
     * @param output   the LoRA file
     * @param steps    the last update number
     * @param losses   loss of each update of this run (after a resume: from the resumed step on)
     * @param metadata the ss_* metadata written
     */
    public record Result(Path output, long steps, List<Float> losses, Map<String, String> metadata) {}

    private final LoraTrainingConfig c;
    private final TrainingListener listener;
    private final TrainingData data;

    private LoraTraining(LoraTrainingConfig c, TrainingListener listener) {
        this.c = c;
        this.listener = listener;
        this.data = new TrainingData(c);
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
        try (StableDiffusionWeights weights = StableDiffusionWeights.open(c.model(), java.util.Optional.empty(), c.access()); Arena schedule = Arena.ofConfined()) {
            data.cacheLatents(weights, ldm);
            // The config's schedule, as generation samples with it by default.
            TensorView alphasCumprod = Sampling.alphasCumprod(ldm, schedule);
            try (TextEncoder te = TextEncoder.create(weights.textEncoder(), ldm.text());
                    UNet unet = UNet.create(weights.unet(), ldm.unet())) {
                data.cacheCaptions(tokenizer, te);
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

    private String modelName() {
        return c.model().getFileName().toString().replaceFirst("\\.[^.]*$", "");
    }

    private Result train(LoraTrainer trainer, TrainingPreview preview, ModelHash hash, Instant started) {
        int batchesPerEpoch = data.batchesPerEpoch();
        long total = c.maxSteps() > 0 ? c.maxSteps()
                : (long) c.epochs() * ((batchesPerEpoch + c.gradAccum() - 1) / c.gradAccum());
        String fingerprint = TrainingCheckpoints.fingerprint(trainer.modules(), c, data.images());
        long first = 1;
        if (c.resume().isPresent()) {
            first = TrainingCheckpoints.resume(trainer, c.resume().get(), fingerprint) + 1;
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
        try (Arena arena = Arena.ofConfined()) {
            TrainingData.Batch batch = data.batch(pass, arena);
            return trainer.accumulate(batch.latents(), batch.context(), batch.ids(), pass, 1f / c.gradAccum());
        }
    }

    private Path checkpoint(LoraTrainer trainer, long step, long total, ModelHash hash, Instant started, String fingerprint) {
        Path[] paths = TrainingCheckpoints.paths(c.output(), step);
        // The LoRA first, the state last: a state file always has its LoRA beside it.
        KohyaLoraWriter.write(trainer, metadata(trainer, step, total, hash, started), paths[0]);
        TrainingCheckpoints.writeState(trainer, step, fingerprint, paths[1]);
        listener.onCheckpoint(step, paths[0], paths[1]);
        return paths[1];
    }

    private Map<String, String> metadata(LoraTrainer trainer, long step, long total, ModelHash hash, Instant started) {
        return KohyaMetadata.of(c, data.images(), trainer.modules(), data.batchesPerEpoch(), step, total, hash, started);
    }
}
