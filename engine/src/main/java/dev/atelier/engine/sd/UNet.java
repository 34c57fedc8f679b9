package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_unet_params;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.lora.Lora;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraMode;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The SD1.x denoising UNet ({@code atl_unet}, LDM openaimodel.py UNetModel): predicts the noise
 * eps of latents x at continuous timesteps t given the text context.
 *
 * <p>Built from {@link Weights} holding the UNet's tensors without their checkpoint prefix; it
 * retains them, so their memory stays mapped while this UNet lives. One thread at a time.
 */
public final class UNet extends NativeHandle {
    private final UNetParams config;

    private UNet(MemorySegment pointer, Weights weights) {
        super("atl_unet", pointer, p -> atl_unet_destroy(p));
        dependOn(weights); // the networks read the weights' mapped memory on every call
        this.config = query(atl_unet_params.layout(), (p, out) -> atl_unet_config(p, out), UNetParams::fromNative);
    }

    /** Creates the UNet; a bad weight set throws one FormatException listing every problem. */
    public static UNet create(Weights weights, UNetParams params) {
        return new UNet(create((arena, out) -> atl_unet_create(weights.pointer(), params.toNative(arena), out)), weights);
    }

    /** The full configuration, with what was inferred from the weights filled in. */
    public UNetParams config() {
        return config;
    }

    /**
     * eps = UNet(x, t, context).
     *
     * @param x       F32 [b, in, h, w] latents, any h and w (diffusers' rule: each level halves them
     *                rounding up, the up path interpolates back to each skip connection's size)
     * @param t       F32 [b] continuous timesteps (0..999 for SD1.x)
     * @param context F32 [b, L, contextDim] text hidden states
     * @param arena   where the result is allocated
     * @return F32 [b, out, h, w]
     */
    public TensorView forward(TensorView x, TensorView t, TensorView context, Arena arena) {
        if (x.rank() != 4) {
            throw new InvalidInputException("unet: x must be [b, c, h, w], got " + x);
        }
        long[] s = x.shape();
        TensorView out = TensorView.allocate(arena, DType.F32, s[0], config.outChannels(), s[2], s[3]);
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_unet_forward(pointer(), x.toNative(call), t.toNative(call), context.toNative(call),
                    out.toNative(call)));
        }
        return out;
    }

    /** {@link #forward(TensorView, TensorView, TensorView, Arena)} with the result in an automatic arena. */
    public TensorView forward(TensorView x, TensorView t, TensorView context) {
        return forward(x, t, context, Arena.ofAuto());
    }


    /**
     * Applies the LoRA adapters to this network at multiplier (kohya: multiplier * alpha / rank * up @ down).
     * Merged: into working copies of the weights; unmerged: at run time, selectable per sample with
     * {@link #selectLora(int...)}. Adapters that do not fit the network (another architecture)
     * throw one exception listing them and change nothing.
     *
     * @return the LoRA's slot for {@link #selectLora(int...)} when unmerged, -1 when merged
     */
    public int applyLora(Lora lora, float multiplier, LoraMode mode) {
        LoraCalls.requireNetwork(lora, LoraKeys.Network.UNET, "unet");
        return LoraCalls.apply((n, l, m, c, s) -> atl_unet_apply_lora(n, l, m, c, s), pointer(), lora.pointer(),
                multiplier, mode.code());
    }

    /**
     * Applies the adapters unmerged into slot, one that an unmerged {@link #applyLora(Lora, float, LoraMode)}
     * returned since the last clear: samples selecting it get them as well as the LoRAs already
     * there, so one slot carries a set of LoRAs, each at its own multiplier.
     */
    public void applyLora(Lora lora, float multiplier, int slot) {
        LoraCalls.requireNetwork(lora, LoraKeys.Network.UNET, "unet");
        Status.check(atl_unet_apply_lora_to_slot(pointer(), lora.pointer(), multiplier, slot));
    }

    /** Removes the unmerged LoRAs of slot: samples selecting it get none; other slots keep theirs. */
    public void removeLora(int slot) {
        Status.check(atl_unet_remove_lora(pointer(), slot));
    }

    /** Removes every LoRA: the network computes exactly what it did when created (merged weights are swapped back). */
    public void clearLora() {
        Status.check(atl_unet_clear_lora(pointer()));
    }

    /**
     * Per-sample selection of the unmerged LoRAs for the following forward calls: sample i uses the
     * LoRA of slot {@code slots[i]} only (-1: none). No argument (or null): every unmerged LoRA for
     * every sample.
     */
    public void selectLora(int... slots) {
        LoraCalls.select((n, v) -> atl_unet_select_lora(n, v), pointer(), slots);
    }
}
