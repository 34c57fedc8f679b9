package dev.atelier.engine.train;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.Vae;
import dev.atelier.engine.text.ClipTokenizer;
import dev.atelier.engine.text.LongPromptMode;
import dev.atelier.engine.util.SplitMix64;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * A training run's data as the trainer reads it: the photos VAE-encoded once, the captions
 * encoded once, and the batches of each pass.
 *
 * <p>Latents are cached as a SAMPLE of the VAE posterior times the scale factor, drawn once per
 * image with the run's seed (kohya's {@code cache_latents} stores {@code latent_dist.sample()}).
 * With flips, the mirrored photo is encoded and cached too. Captions are encoded once unless the
 * text encoder is trained (then its token ids go to every pass).
 *
 * <p>Determinism: the batch order of epoch e is a function of (seed, e), a pass's flips of
 * (seed, pass index).
 */
final class TrainingData {
    private record Cached(float[] latent, float[] flipped, int latentH, int latentW, int caption) {}

    /**
     * One pass's inputs: the latents, and the captions either as encoded contexts or, when the
     * text encoder trains, as token ids (the other is null).
     */
    record Batch(TensorView latents, TensorView context, TensorView ids) {}

    private final LoraTrainingConfig c;
    private final List<TrainingImages.Image> images;
    private final List<Cached> cache = new ArrayList<>();
    private final List<String> captions = new ArrayList<>();
    private final List<float[]> contexts = new ArrayList<>(); // per caption, [77 * width]
    private final List<long[]> captionIds = new ArrayList<>(); // per caption, [77]
    private int contextWidth;
    private int batchesPerEpoch = -1;
    private long cachedEpoch = -1;
    private List<int[]> epochBatches;

    /** Loads and resizes the photos of config (nothing is encoded yet). */
    TrainingData(LoraTrainingConfig config) {
        this.c = config;
        this.images = TrainingImages.load(c.images(), c.resolution(), c.buckets(), c.caption());
    }

    List<TrainingImages.Image> images() {
        return images;
    }

    /** Encodes every photo (and its mirror image with flips) with the checkpoint's VAE. */
    void cacheLatents(StableDiffusionWeights weights, LdmConfig ldm) {
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

    /** Tokenizes every caption and, unless the text encoder trains, encodes it once. */
    void cacheCaptions(ClipTokenizer tokenizer, TextEncoder te) {
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

    /** Batches in every epoch (the buckets' sizes do not change between epochs, only their order). */
    int batchesPerEpoch() {
        if (batchesPerEpoch < 0) {
            batchesPerEpoch = batches(0).size();
        }
        return batchesPerEpoch;
    }

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

    /** The inputs of global pass index pass, in arena. */
    Batch batch(long pass, Arena arena) {
        int perEpoch = batchesPerEpoch();
        int[] batch = batches(pass / perEpoch).get((int) (pass % perEpoch));
        Cached first = cache.get(batch[0]);
        int latentSize = first.latent().length;
        float[] latents = new float[batch.length * latentSize];
        SplittableRandom flips = new SplittableRandom(SplitMix64.stream(c.step().seed(), 0xf11bL + pass));
        for (int k = 0; k < batch.length; k++) {
            Cached item = cache.get(batch[k]);
            boolean flip = item.flipped() != null && flips.nextBoolean();
            System.arraycopy(flip ? item.flipped() : item.latent(), 0, latents, k * latentSize, latentSize);
        }
        TensorView x = TensorView.ofFloats(arena, latents, batch.length, latentSize / (first.latentH() * first.latentW()),
                first.latentH(), first.latentW());
        if (c.trainTextEncoder()) {
            long[] all = new long[batch.length * ClipTokenizer.CONTEXT_LENGTH];
            for (int k = 0; k < batch.length; k++) {
                long[] one = captionIds.get(cache.get(batch[k]).caption());
                System.arraycopy(one, 0, all, k * one.length, one.length);
            }
            return new Batch(x, null, TensorView.of(arena.allocateFrom(ValueLayout.JAVA_LONG, all), DType.I64, batch.length,
                    ClipTokenizer.CONTEXT_LENGTH));
        }
        int per = ClipTokenizer.CONTEXT_LENGTH * contextWidth;
        float[] all = new float[batch.length * per];
        for (int k = 0; k < batch.length; k++) {
            System.arraycopy(contexts.get(cache.get(batch[k]).caption()), 0, all, k * per, per);
        }
        return new Batch(x, TensorView.ofFloats(arena, all, batch.length, ClipTokenizer.CONTEXT_LENGTH, contextWidth), null);
    }
}
