package dev.atelier.engine.train;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_lora_module_spec;
import dev.atelier.bindings.atl_lora_train_params;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.UNet;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The native LoRA training step ({@code atl_lora_trainer}): adapters attached to the layers of
 * a UNet (and optionally a text encoder), one forward/backward pass per {@link #accumulate}
 * call and a fused AdamW update per {@link #update} call.
 *
 * <p>While it is open the networks compute with its adapters (also in their own forward calls:
 * the trained model); {@link #close()} removes them. It retains the networks (and the native
 * trainer shares their ownership), so the networks and the trainer may be closed in any order.
 * One thread at a time.
 */
public final class LoraTrainer extends NativeHandle {
    /** The flat state kinds of {@link #state} ({@code atl_lora_state}, codes from the bindings). */
    public enum StateKind {
        PARAMETERS(ATL_LORA_STATE_PARAMETERS()), EXP_AVG(ATL_LORA_STATE_EXP_AVG()), EXP_AVG_SQ(ATL_LORA_STATE_EXP_AVG_SQ());

        private final int code;

        StateKind(int code) {
            this.code = code;
        }

        /** The {@code atl_lora_state} value. */
        public int code() {
            return code;
        }
    }

    /**
     * Options of the step itself.
     *
     * @param seed          adapter initialisation, noise and timesteps
     * @param beta1         AdamW
     * @param beta2         AdamW
     * @param eps           AdamW
     * @param weightDecay   AdamW decoupled weight decay
     * @param minSnrGamma   min-SNR-gamma loss weighting (Hang et al. 2023); 0 off
     * @param noiseOffset   offset noise strength; 0 off
     * @param clipSkip      text encoder layer from the end when it is trained (1 = last)
     * @param gradientCheckpointing recompute the UNet's transformer blocks in backward instead of
     *                              keeping their activations (less memory, slower; same result)
     * @param fusedKernels  run the adapted Linears on Atelier's fused forward and backward where
     *                      they apply (F32 on AVX-512 CPUs); false: plain libtorch ops
     */
    public record StepOptions(long seed, float beta1, float beta2, float eps, float weightDecay, float minSnrGamma,
            float noiseOffset, int clipSkip, boolean gradientCheckpointing, boolean fusedKernels) {
        /** torch.optim.AdamW's defaults (betas 0.9, 0.999; eps 1e-8; weight decay 0.01), no min-SNR, no offset. */
        public static StepOptions defaults(long seed) {
            return new StepOptions(seed, 0.9f, 0.999f, 1e-8f, 0.01f, 0f, 0f, 1, false, true);
        }

        /** These options with the adapted Linears on fused kernels or on plain libtorch ops. */
        public StepOptions withFusedKernels(boolean fused) {
            return new StepOptions(seed, beta1, beta2, eps, weightDecay, minSnrGamma, noiseOffset, clipSkip,
                    gradientCheckpointing, fused);
        }
    }

    private final List<LoraModule> modules;
    private final long[][] downShapes;
    private final long[][] upShapes;

    private LoraTrainer(MemorySegment pointer, UNet unet, TextEncoder textEncoder, List<LoraModule> modules) {
        super("atl_lora_trainer", pointer, p -> atl_lora_trainer_destroy(p));
        // The trainer runs the networks and removes its adapters from them when destroyed.
        dependOn(unet);
        if (textEncoder != null) {
            dependOn(textEncoder);
        }
        this.modules = List.copyOf(modules);
        int n = modules.size();
        downShapes = new long[n][];
        upShapes = new long[n][];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ndim = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment down = arena.allocate(ValueLayout.JAVA_LONG, 4);
            MemorySegment up = arena.allocate(ValueLayout.JAVA_LONG, 4);
            for (int i = 0; i < n; i++) {
                Status.check(atl_lora_trainer_module_shape(pointer, i, ndim, down, up));
                int d = ndim.get(ValueLayout.JAVA_INT, 0);
                downShapes[i] = java.util.Arrays.copyOf(down.toArray(ValueLayout.JAVA_LONG), d);
                upShapes[i] = java.util.Arrays.copyOf(up.toArray(ValueLayout.JAVA_LONG), d);
            }
        }
    }

    /**
     * Attaches fresh adapters (down Kaiming-uniform, up zero, as kohya) to the listed layers.
     *
     * @param unet          the UNet; retained until this trainer is destroyed
     * @param textEncoder   the text encoder, or null when no module names it; retained too
     * @param modules       the layers to train
     * @param alphasCumprod the noise schedule, F64 or F32 [T] ({@link dev.atelier.engine.sd.Sampling#alphasCumprod});
     *                      copied
     * @param options       step options
     */
    public static LoraTrainer create(UNet unet, TextEncoder textEncoder, List<LoraModule> modules,
            TensorView alphasCumprod, StepOptions options) {
        MemorySegment pointer = create((arena, out) -> {
            MemorySegment specs = atl_lora_module_spec.allocateArray(modules.size(), arena);
            for (int i = 0; i < modules.size(); i++) {
                LoraModule m = modules.get(i);
                MemorySegment s = atl_lora_module_spec.asSlice(specs, i);
                atl_lora_module_spec.name(s, arena.allocateFrom(m.layer()));
                atl_lora_module_spec.network(s, m.textEncoder() ? ATL_LORA_TEXT_ENCODER() : ATL_LORA_UNET());
                atl_lora_module_spec.rank(s, m.rank());
                atl_lora_module_spec.alpha(s, m.alpha());
            }
            MemorySegment p = atl_lora_train_params.allocate(arena);
            atl_lora_train_params_init(p);
            atl_lora_train_params.seed(p, options.seed());
            atl_lora_train_params.beta1(p, options.beta1());
            atl_lora_train_params.beta2(p, options.beta2());
            atl_lora_train_params.eps(p, options.eps());
            atl_lora_train_params.weight_decay(p, options.weightDecay());
            atl_lora_train_params.min_snr_gamma(p, options.minSnrGamma());
            atl_lora_train_params.noise_offset(p, options.noiseOffset());
            atl_lora_train_params.clip_skip(p, options.clipSkip());
            atl_lora_train_params.gradient_checkpointing(p, options.gradientCheckpointing() ? 1 : 0);
            atl_lora_train_params.kernel(p, options.fusedKernels() ? ATL_LORA_KERNEL_AUTO() : ATL_LORA_KERNEL_UNFUSED());
            return atl_lora_trainer_create(unet.pointer(), textEncoder == null ? MemorySegment.NULL : textEncoder.pointer(),
                    specs, modules.size(), alphasCumprod.toNative(arena), p, out);
        });
        return new LoraTrainer(pointer, unet, textEncoder, modules);
    }

    public List<LoraModule> modules() {
        return modules;
    }

    /**
     * One forward/backward pass adding {@code lossScale * gradient} to the accumulated gradients.
     *
     * @param latents     F32 [b, c, h, w], scaled diffusion latents
     * @param context     F32 [b, L, dim] text hidden states, or null when inputIds is given
     * @param inputIds    I64 [b, 77] token ids (the text encoder is trained), or null
     * @param sampleIndex seeds this pass's noise and timesteps
     * @param lossScale   1 / gradient-accumulation steps
     * @return the loss (mean over the batch, before lossScale)
     */
    public float accumulate(TensorView latents, TensorView context, TensorView inputIds, long sampleIndex,
            float lossScale) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment loss = call.allocate(ValueLayout.JAVA_FLOAT);
            Status.check(atl_lora_trainer_accumulate(pointer(), latents.toNative(call),
                    context == null ? MemorySegment.NULL : context.toNative(call),
                    inputIds == null ? MemorySegment.NULL : inputIds.toNative(call), sampleIndex, lossScale, loss));
            return loss.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    /** AdamW with the accumulated gradients, then zeroes them; step is 1-based. */
    public void update(long step, float unetLr, float textLr) {
        Status.check(atl_lora_trainer_update(pointer(), step, unetLr, textLr));
    }

    /** Module i's trained down weight, F32 [r, in] or [r, in, k, k] (a copy in arena). */
    public TensorView down(int i, Arena arena) {
        return tensors(i, arena)[0];
    }

    /** Module i's trained up weight, F32 [out, r] or [out, r, 1, 1] (a copy in arena). */
    public TensorView up(int i, Arena arena) {
        return tensors(i, arena)[1];
    }

    private TensorView[] tensors(int i, Arena arena) {
        TensorView down = TensorView.allocate(arena, DType.F32, downShapes[i]);
        TensorView up = TensorView.allocate(arena, DType.F32, upShapes[i]);
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_lora_trainer_module_get(pointer(), i, down.toNative(call), up.toNative(call)));
        }
        return new TensorView[] {down, up};
    }

    /** Length of the flat state of a network (0 when it has no modules). */
    public long stateSize(boolean textEncoder) {
        return atl_lora_trainer_state_size(pointer(), textEncoder ? ATL_LORA_TEXT_ENCODER() : ATL_LORA_UNET());
    }

    /** A copy of one flat state buffer, F32 [stateSize], allocated in arena. */
    public TensorView state(boolean textEncoder, StateKind kind, Arena arena) {
        TensorView out = TensorView.allocate(arena, DType.F32, stateSize(textEncoder));
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_lora_trainer_state_get(pointer(), textEncoder ? ATL_LORA_TEXT_ENCODER() : ATL_LORA_UNET(),
                    kind.code(), out.toNative(call)));
        }
        return out;
    }

    /** Replaces one flat state buffer (resume from a checkpoint). */
    public void setState(boolean textEncoder, StateKind kind, TensorView value) {
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_lora_trainer_state_set(pointer(), textEncoder ? ATL_LORA_TEXT_ENCODER() : ATL_LORA_UNET(),
                    kind.code(), value.toNative(call)));
        }
    }
}
