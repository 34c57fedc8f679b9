package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_vae_params;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The SD1.x autoencoder ({@code atl_vae}, LDM AutoencoderKL): latents to images and back.
 *
 * <p>Diffusion latents are the first-stage latents times the model's scale factor
 * ({@link #SD1_SCALE_FACTOR}, {@code scale_factor} in the LDM YAML): {@link #decode} divides by
 * the factor it is given, and {@link #encode} returns the unscaled posterior.
 * Built from {@link Weights} holding the VAE's tensors without their checkpoint prefix; it
 * retains them, so their memory stays mapped while this VAE lives. One thread at a time.
 */
public final class Vae extends NativeHandle {
    /** LDM v1-inference.yaml {@code scale_factor}. */
    public static final float SD1_SCALE_FACTOR = 0.18215f;

    /**
     * The encoder's diagonal Gaussian posterior (LDM distributions.py), unscaled.
     *
     * @param mean   F32 [b, embedDim, H/f, W/f]
     * @param logvar F32 [b, embedDim, H/f, W/f], clamped to [-30, 20]
     */
    public record Posterior(TensorView mean, TensorView logvar) {}

    private final VaeParams config;

    private Vae(MemorySegment pointer, Weights weights) {
        super("atl_vae", pointer, p -> atl_vae_destroy(p));
        dependOn(weights); // the networks read the weights' mapped memory on every call
        this.config = query(atl_vae_params.layout(), (p, out) -> atl_vae_config(p, out), VaeParams::fromNative);
    }

    /** Creates the VAE; a bad weight set throws one FormatException listing every problem. */
    public static Vae create(Weights weights, VaeParams params) {
        return new Vae(create((arena, out) -> atl_vae_create(weights.pointer(), params.toNative(arena), out)), weights);
    }

    /** The full configuration, with what was inferred from the weights filled in. */
    public VaeParams config() {
        return config;
    }

    /**
     * image = decoder(post_quant_conv(latents / scaleFactor)).
     *
     * @param latents     F32 [b, embedDim, h, w]
     * @param scaleFactor {@link #SD1_SCALE_FACTOR} for diffusion latents, 1 for raw first-stage latents
     * @param arena       where the result is allocated
     * @return F32 [b, out, h·f, w·f], roughly in [-1, 1]
     */
    public TensorView decode(TensorView latents, float scaleFactor, Arena arena) {
        if (latents.rank() != 4) {
            throw new InvalidInputException("vae: latents must be [b, c, h, w], got " + latents);
        }
        long[] s = latents.shape();
        int f = config.downscale();
        TensorView out = TensorView.allocate(arena, DType.F32, s[0], config.outChannels(), s[2] * f, s[3] * f);
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_vae_decode(pointer(), latents.toNative(call), scaleFactor, out.toNative(call)));
        }
        return out;
    }

    public TensorView decode(TensorView latents, float scaleFactor) {
        return decode(latents, scaleFactor, Arena.ofAuto());
    }

    /**
     * The posterior of image, unscaled (diffusion latents are {@code mean * scaleFactor}).
     *
     * @param image F32 [b, in, H, W] in [-1, 1]; H, W multiples of the downscale factor
     */
    public Posterior encode(TensorView image, Arena arena) {
        if (image.rank() != 4) {
            throw new InvalidInputException("vae: image must be [b, c, H, W], got " + image);
        }
        long[] s = image.shape();
        int f = config.downscale();
        if (s[2] % f != 0 || s[3] % f != 0) {
            throw new InvalidInputException("vae: image height and width must be multiples of " + f + ", got " + image);
        }
        TensorView mean = TensorView.allocate(arena, DType.F32, s[0], config.embedDim(), s[2] / f, s[3] / f);
        TensorView logvar = TensorView.allocate(arena, DType.F32, s[0], config.embedDim(), s[2] / f, s[3] / f);
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_vae_encode(pointer(), image.toNative(call), mean.toNative(call), logvar.toNative(call)));
        }
        return new Posterior(mean, logvar);
    }

    public Posterior encode(TensorView image) {
        return encode(image, Arena.ofAuto());
    }
}
