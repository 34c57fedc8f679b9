package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_text_encoder_params;
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
import java.lang.foreign.ValueLayout;

/**
 * The CLIP text encoder of SD1.x ({@code atl_text_encoder}): token ids to hidden states.
 *
 * <p>Built from {@link Weights} holding the text model's tensors without their checkpoint prefix
 * (see {@link StableDiffusionWeights}); it retains them, so their memory stays mapped while this
 * encoder lives. One thread at a time.
 */
public final class TextEncoder extends NativeHandle {
    private final TextEncoderParams config;

    private TextEncoder(MemorySegment pointer, Weights weights) {
        super("atl_text_encoder", pointer, p -> atl_text_encoder_destroy(p));
        dependOn(weights); // the networks read the weights' mapped memory on every call
        this.config = query(atl_text_encoder_params.layout(), (p, out) -> atl_text_encoder_config(p, out), TextEncoderParams::fromNative);
    }

    /** Creates the encoder; a bad weight set throws one FormatException listing every problem. */
    public static TextEncoder create(Weights weights, TextEncoderParams params) {
        return new TextEncoder(create((arena, out) -> atl_text_encoder_create(weights.pointer(), params.toNative(arena), out)), weights);
    }

    /** The full configuration, with what was inferred from the weights filled in. */
    public TextEncoderParams config() {
        return config;
    }

    /**
     * Hidden states of the final layer norm.
     *
     * @param inputIds I64 [n, 77·c]: c chunks of 77 tokens, each encoded on its own and the
     *                 results concatenated along the sequence (A1111 long prompts)
     * @param clipSkip 1 = last layer, 2 = the one before it, ...; then the final layer norm
     * @param arena    where the result is allocated
     * @return F32 [n, 77·c, width]
     */
    public TensorView forward(TensorView inputIds, int clipSkip, Arena arena) {
        if (inputIds.rank() != 2 || inputIds.dtype() != DType.I64) {
            throw new InvalidInputException("text encoder: input ids must be I64 [n, L], got " + inputIds);
        }
        TensorView out = TensorView.allocate(arena, DType.F32, inputIds.shape()[0], inputIds.shape()[1],
                config.width());
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_text_encoder_forward(pointer(), inputIds.toNative(call), clipSkip, out.toNative(call)));
        }
        return out;
    }

    /** {@link #forward(TensorView, int, Arena)} with the result in an automatic arena. */
    public TensorView forward(TensorView inputIds, int clipSkip) {
        return forward(inputIds, clipSkip, Arena.ofAuto());
    }


    /** The hidden states of one token sequence, [1, ids.length, width] ({@link #forward(TensorView, int, Arena)}). */
    public TensorView forward(long[] ids, int clipSkip, Arena arena) {
        MemorySegment data = arena.allocate(ValueLayout.JAVA_LONG, ids.length);
        MemorySegment.copy(ids, 0, data, ValueLayout.JAVA_LONG, 0, ids.length);
        return forward(TensorView.of(data, DType.I64, 1, ids.length), clipSkip, arena);
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
        LoraCalls.requireNetwork(lora, LoraKeys.Network.TEXT_ENCODER, "text_encoder");
        return LoraCalls.apply((n, l, m, c, s) -> atl_text_encoder_apply_lora(n, l, m, c, s), pointer(), lora.pointer(),
                multiplier, mode.code());
    }

    /**
     * Applies the adapters unmerged into slot, one that an unmerged {@link #applyLora(Lora, float, LoraMode)}
     * returned since the last clear: samples selecting it get them as well as the LoRAs already
     * there, so one slot carries a set of LoRAs, each at its own multiplier.
     */
    public void applyLora(Lora lora, float multiplier, int slot) {
        LoraCalls.requireNetwork(lora, LoraKeys.Network.TEXT_ENCODER, "text_encoder");
        Status.check(atl_text_encoder_apply_lora_to_slot(pointer(), lora.pointer(), multiplier, slot));
    }

    /** Removes the unmerged LoRAs of slot: samples selecting it get none; other slots keep theirs. */
    public void removeLora(int slot) {
        Status.check(atl_text_encoder_remove_lora(pointer(), slot));
    }

    /** Removes every LoRA: the network computes exactly what it did when created (merged weights are swapped back). */
    public void clearLora() {
        Status.check(atl_text_encoder_clear_lora(pointer()));
    }

    /**
     * Per-sample selection of the unmerged LoRAs for the following forward calls: sample i uses the
     * LoRA of slot {@code slots[i]} only (-1: none). No argument (or null): every unmerged LoRA for
     * every sample.
     */
    public void selectLora(int... slots) {
        LoraCalls.select((n, v) -> atl_text_encoder_select_lora(n, v), pointer(), slots);
    }
}
