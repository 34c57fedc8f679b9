package dev.atelier.engine.lora;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeEnum;

/** How a LoRA is applied to a network ({@code atl_lora_mode}, codes from the bindings). */
public enum LoraMode implements NativeEnum {
    /** W' = W + m * alpha/rank * up @ down in a working copy of the weights; fastest per step, one LoRA set per network. */
    MERGED(ATL_LORA_MERGED()),
    /** Computed at run time by the fused kernel: one loaded network serves requests (and batch samples) with different LoRAs. */
    UNMERGED(ATL_LORA_UNMERGED());

    private final int code;

    LoraMode(int code) {
        this.code = code;
    }

    /** The atl_lora_mode value. */
    @Override
    public int code() {
        return code;
    }

    /** The mode with the given {@link #code()}. */
    public static LoraMode fromCode(int code) {
        return NativeEnum.fromCode(values(), code, "atl_lora_mode");
    }
}
