package dev.atelier.engine.lora;

/** How a LoRA is applied to a network ({@code atl_lora_mode}). */
public enum LoraMode {
    /** W' = W + m * alpha/rank * up @ down in a working copy of the weights; fastest per step, one LoRA set per network. */
    MERGED,
    /** Computed at run time by the fused kernel: one loaded network serves requests (and batch samples) with different LoRAs. */
    UNMERGED;

    /** The atl_lora_mode value. */
    public int code() {
        return ordinal(); // ATL_LORA_MERGED = 0, ATL_LORA_UNMERGED = 1
    }
}
