package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * One text-to-image request: A1111's txt2img settings.
 *
 * @param prompt      the prompt
 * @param negative    the negative prompt (the unconditional input of classifier-free guidance); "" for none
 * @param sampler     the sampler
 * @param steps       sampling steps, >= 1
 * @param cfg         classifier-free guidance scale, finite
 * @param seed        seed of the first image; image k of the request (over batches) uses seed + k,
 *                    as A1111 numbers them
 * @param width       image width in pixels, a multiple of 8
 * @param height      image height in pixels, a multiple of 8
 * @param batchSize   images per native call (one UNet batch of 2 * batchSize)
 * @param batchCount  calls made one after the other
 * @param clipSkip    1 = the text model's last layer, 2 = the one before, ...
 * @param eta         noise multiplier; negative = the sampler's default (DDIM 0, ancestral 1)
 * @param initNoise   a safetensors file holding {@code noise} F32 [batchSize * batchCount, 4, H/8, W/8]
 *                    (unit Gaussian) to start from instead of the seed's noise; null for none
 */
public record GenerationRequest(String prompt, String negative, Sampler sampler, int steps, double cfg, long seed,
        int width, int height, int batchSize, int batchCount, int clipSkip, double eta, Path initNoise) {

    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        negative = negative == null ? "" : negative;
        Objects.requireNonNull(sampler, "sampler");
        if (steps < 1) {
            throw new InvalidInputException("steps must be >= 1, got " + steps);
        }
        if (!Double.isFinite(cfg)) {
            throw new InvalidInputException("cfg scale must be a finite number, got " + cfg);
        }
        if (width < 8 || width % 8 != 0 || height < 8 || height % 8 != 0) {
            throw new InvalidInputException("width and height must be positive multiples of 8, got " + width + "x" + height);
        }
        if (batchSize < 1 || batchCount < 1) {
            throw new InvalidInputException("batch size and count must be >= 1, got " + batchSize + " and " + batchCount);
        }
        long images = (long) batchSize * batchCount;
        if (images > Integer.MAX_VALUE) {
            throw new InvalidInputException("batch size x batch count must be at most " + Integer.MAX_VALUE + " images, got "
                    + batchSize + " x " + batchCount);
        }
        // Image k gets seed + k: the last seed must not wrap around past the largest long.
        if (seed > Long.MAX_VALUE - (images - 1)) {
            throw new InvalidInputException("seed " + seed + " + " + (images - 1) + " (one seed per image) is larger than "
                    + Long.MAX_VALUE);
        }
        if (clipSkip < 1) {
            throw new InvalidInputException("clip skip must be >= 1, got " + clipSkip);
        }
        if (!Double.isFinite(eta)) {
            throw new InvalidInputException("eta must be a finite number, got " + eta);
        }
    }

    /** A1111's defaults: Euler a, 20 steps, CFG 7, 512x512, one image, clip skip 1. */
    public static GenerationRequest of(String prompt, String negative, long seed) {
        return new GenerationRequest(prompt, negative, Sampler.EULER_A, 20, 7.0, seed, 512, 512, 1, 1, 1, -1, null);
    }

    public GenerationRequest withSampler(Sampler s, int n) {
        return new GenerationRequest(prompt, negative, s, n, cfg, seed, width, height, batchSize, batchCount, clipSkip,
                eta, initNoise);
    }

    public GenerationRequest withCfg(double c) {
        return new GenerationRequest(prompt, negative, sampler, steps, c, seed, width, height, batchSize, batchCount,
                clipSkip, eta, initNoise);
    }

    public GenerationRequest withSize(int w, int h) {
        return new GenerationRequest(prompt, negative, sampler, steps, cfg, seed, w, h, batchSize, batchCount, clipSkip,
                eta, initNoise);
    }

    public GenerationRequest withBatch(int size, int count) {
        return new GenerationRequest(prompt, negative, sampler, steps, cfg, seed, width, height, size, count, clipSkip,
                eta, initNoise);
    }

    public GenerationRequest withSeed(long s) {
        return new GenerationRequest(prompt, negative, sampler, steps, cfg, s, width, height, batchSize, batchCount,
                clipSkip, eta, initNoise);
    }

    public GenerationRequest withClipSkip(int n) {
        return new GenerationRequest(prompt, negative, sampler, steps, cfg, seed, width, height, batchSize, batchCount, n,
                eta, initNoise);
    }

    public GenerationRequest withInitNoise(Path file) {
        return new GenerationRequest(prompt, negative, sampler, steps, cfg, seed, width, height, batchSize, batchCount,
                clipSkip, eta, file);
    }

    /** Total images: batchSize * batchCount (checked to fit an int). */
    public int images() {
        return batchSize * batchCount;
    }
}
