package dev.atelier.engine.serve;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.SampleParams;

/**
 * One image for a {@link StepBatcher}: its sampler settings, its text contexts and the UNet LoRA
 * slot that applies to it.
 *
 * @param params   sampler, schedule, steps, cfg, eta, seed and size; batch must be 1 (a request
 *                 for b images is b samples with seeds seed, seed + 1, ..., as the native loop
 *                 seeds the elements of a batch)
 * @param cond     F32 [1, L, contextDim]: the prompt's text hidden states
 * @param uncond   the negative prompt's, same shape; null exactly when cfg == 1 (no guidance)
 * @param loraSlot the UNet's unmerged LoRA slot for this sample ({@code UNet.applyLora}), -1 for none
 */
public record SampleRequest(SampleParams params, TensorView cond, TensorView uncond, int loraSlot) {
    public SampleRequest {
        if (params.batch() != 1) {
            throw new InvalidInputException("sample request: batch must be 1, got " + params.batch());
        }
        if (cond.rank() != 3 || cond.shape()[0] != 1) {
            throw new InvalidInputException("sample request: cond must be [1, L, contextDim], got " + cond);
        }
        if ((uncond == null) != (params.cfg() == 1.0)) {
            throw new InvalidInputException("sample request: uncond is needed exactly when cfg != 1 (cfg "
                    + params.cfg() + ")");
        }
        if (uncond != null && !java.util.Arrays.equals(uncond.shape(), cond.shape())) {
            throw new InvalidInputException("sample request: uncond " + uncond + " must match cond " + cond);
        }
        if (loraSlot < -1) {
            throw new InvalidInputException("sample request: loraSlot must be -1 or a slot, got " + loraSlot);
        }
    }

    /** Samples that may share a UNet batch: same latent size and context shape. */
    record Group(int width, int height, long contextLength, long contextDim) {}

    /** Image pixels over its UNet rows: width x height, twice when guided. */
    long pixels() {
        return (long) params.width() * params.height() * (uncond == null ? 1 : 2);
    }

    Group group() {
        return new Group(params.width(), params.height(), cond.shape()[1], cond.shape()[2]);
    }
}
