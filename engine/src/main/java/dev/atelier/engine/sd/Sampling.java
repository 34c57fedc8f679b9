package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

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
