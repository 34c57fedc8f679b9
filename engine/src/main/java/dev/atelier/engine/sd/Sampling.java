package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_eps_fn;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The denoising loop in native code ({@code atl_generate}): one call per batch, the UNet run
 * with classifier-free guidance at every step, progress reported through an upcall after each
 * step and cancellable between steps (then a CancelledException, and nothing is returned).
 */
public final class Sampling {
    private Sampling() {}

    /**
     * The noise schedule of config's betas, F64 [timesteps]: LDM's "linear" beta schedule computed
     * in double precision by the library ({@code atl_noise_schedule}). The one place the schedule
     * is computed; training and generation both use it.
     */
    public static TensorView alphasCumprod(LdmConfig config, Arena arena) {
        NativeLibrary.load();
        TensorView out = TensorView.allocate(arena, DType.F64, config.timesteps());
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_noise_schedule(config.linearStart(), config.linearEnd(), config.timesteps(),
                    out.toNative(call)));
        }
        return out;
    }

    /**
     * Final latents of one batch.
     *
     * @param unet          the UNet
     * @param alphasCumprod the noise schedule, F64 or F32 [T] ({@link #alphasCumprod(LdmConfig, Arena)},
     *                      or a checkpoint's tensor); the library samples with it in F32
     * @param params        sampler, steps, cfg, seed, size, batch
     * @param cond          F32 [1 or batch, L, contextDim]: the prompt's text hidden states
     * @param uncond        the negative prompt's, same shape; null only when cfg == 1
     * @param noise         unit Gaussian F32 [batch, 4, H/8, W/8], or null to draw it from the seed
     * @param progress      called after every step with (step, steps); false cancels
     * @param arena         where the result is allocated
     * @return F32 [batch, 4, H/8, W/8]
     */
    public static TensorView generate(UNet unet, TensorView alphasCumprod, SampleParams params, TensorView cond,
            TensorView uncond, TensorView noise, Progress progress, Arena arena) {
        NativeLibrary.load();
        Objects.requireNonNull(alphasCumprod, "alphasCumprod");
        TensorView out = TensorView.allocate(arena, DType.F32, params.batch(), unet.config().inChannels(),
                params.height() / 8, params.width() / 8);
        try (Arena call = Arena.ofConfined()) {
            Progress.Upcall upcall = new Progress.Upcall(progress, call);
            MemorySegment status = atl_generate(unet.pointer(), alphasCumprod.toNative(call), params.toNative(call),
                    cond.toNative(call), nativeOrNull(uncond, call), nativeOrNull(noise, call), upcall.struct(),
                    out.toNative(call));
            upcall.check(status);
        }
        return out;
    }

    /** An eps-prediction model run in Java, as {@code atl_eps_fn}: a sampler's only view of the network. */
    @FunctionalInterface
    public interface EpsModel {
        /**
         * Writes eps F32 [b, c, h, w] into out for the scaled input x F32 [b, c, h, w] at
         * continuous timesteps t F32 [b]. The views are native memory, valid during the call.
         */
        void eps(TensorView x, TensorView t, TensorView out);
    }

    /**
     * Final latents of params' sampler run on model ({@code atl_sample}), on this thread: what
     * {@link #generate} computes when model is the UNet with guidance, for a caller that runs the
     * network itself (batching several samplers' calls into one UNet batch). params.cfg is not
     * used: guidance is model's business. An exception thrown by model stops the run and is
     * rethrown here.
     *
     * @param noise unit Gaussian F32 [batch, c, H/8, W/8], or null to draw it from the seed (c = 4)
     * @return F32 [batch, c, H/8, W/8]
     */
    public static TensorView sample(EpsModel model, TensorView alphasCumprod, SampleParams params, TensorView noise,
            Progress progress, Arena arena) {
        NativeLibrary.load();
        Objects.requireNonNull(alphasCumprod, "alphasCumprod");
        long channels = noise == null ? 4 : noise.shape()[1];
        TensorView out = TensorView.allocate(arena, DType.F32, params.batch(), channels, params.height() / 8,
                params.width() / 8);
        try (Arena call = Arena.ofConfined()) {
            Progress.Upcall upcall = new Progress.Upcall(progress, call);
            atl_eps_fn.Function fn = (userData, x, t, eps) -> {
                try {
                    model.eps(TensorView.fromNative(x), TensorView.fromNative(t), TensorView.fromNative(eps));
                    return 0;
                } catch (Throwable e) { // must not unwind into native code
                    upcall.failed(e);
                    return 1;
                }
            };
            MemorySegment status = atl_sample(atl_eps_fn.allocate(fn, call), MemorySegment.NULL,
                    alphasCumprod.toNative(call), params.toNative(call), nativeOrNull(noise, call), upcall.struct(),
                    out.toNative(call));
            upcall.check(status);
        }
        return out;
    }

    /** The sigmas a k-sampler runs through on the schedule alphasCumprod, F32 [steps + 1] ending in 0 ({@code atl_sample_sigmas}). */
    public static float[] sigmas(TensorView alphasCumprod, boolean karras, int steps) {
        NativeLibrary.load();
        Objects.requireNonNull(alphasCumprod, "alphasCumprod");
        try (Arena call = Arena.ofConfined()) {
            TensorView out = TensorView.allocate(call, DType.F32, steps + 1);
            Status.check(atl_sample_sigmas(alphasCumprod.toNative(call),
                    karras ? ATL_SCHEDULE_KARRAS() : ATL_SCHEDULE_DEFAULT(), steps, out.toNative(call)));
            return out.toFloatArray();
        }
    }

    private static MemorySegment nativeOrNull(TensorView v, Arena arena) {
        return v == null ? MemorySegment.NULL : v.toNative(arena);
    }
}
