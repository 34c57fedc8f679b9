package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_sample_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Settings of one native sampling call ({@code atl_sample_params}): one batch.
 *
 * @param sampler the sampler (its *_KARRAS kinds run on the Karras schedule)
 * @param karras  run a k-sampler on the Karras schedule (Euler Karras, ...); not for DDIM
 * @param steps   >= 1
 * @param cfg     classifier-free guidance scale
 * @param eta     negative = the sampler's default (DDIM 0, Euler a and DPM++ SDE 1)
 * @param seed    element j of the batch uses seed + j
 * @param width   pixels, multiple of 8
 * @param height  pixels, multiple of 8
 * @param batch   images in this call
 */
public record SampleParams(Sampler sampler, boolean karras, int steps, double cfg, double eta, long seed, int width,
        int height, int batch) {

    /** The params of batch {@code index} of request. */
    public static SampleParams of(GenerationRequest request, int index) {
        return new SampleParams(request.sampler(), false, request.steps(), request.cfg(), request.eta(),
                request.seed() + (long) index * request.batchSize(), request.width(), request.height(),
                request.batchSize());
    }

    MemorySegment toNative(Arena arena) {
        MemorySegment p = atl_sample_params.allocate(arena);
        atl_sample_params_init(p);
        atl_sample_params.sampler(p, sampler.code());
        atl_sample_params.schedule(p, karras ? ATL_SCHEDULE_KARRAS() : ATL_SCHEDULE_DEFAULT());
        atl_sample_params.steps(p, steps);
        atl_sample_params.cfg(p, (float) cfg);
        atl_sample_params.eta(p, (float) eta);
        atl_sample_params.seed(p, seed);
        atl_sample_params.width(p, width);
        atl_sample_params.height(p, height);
        atl_sample_params.batch(p, batch);
        return p;
    }
}
