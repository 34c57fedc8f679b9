package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException.InvalidInputException;

/**
 * One layer that gets a trained LoRA adapter.
 *
 * @param kohyaName the module's name in kohya files ({@code lora_unet_down_blocks_0_attentions_0_proj_in})
 * @param layer     the layer's checkpoint name inside its network, without prefix or ".weight"
 *                  ({@code input_blocks.1.1.proj_in}, {@code encoder.layers.0.mlp.fc1})
 * @param textEncoder true for a CLIP text-encoder layer, false for a UNet layer
 * @param rank      adapter rank, at least 1
 * @param alpha     the adapter's output is scaled by alpha / rank (kohya)
 */
public record LoraModule(String kohyaName, String layer, boolean textEncoder, int rank, float alpha) {
    public LoraModule {
        if (rank < 1) {
            throw new InvalidInputException("LoRA module " + kohyaName + ": rank must be at least 1, got " + rank);
        }
        if (!Float.isFinite(alpha)) {
            throw new InvalidInputException("LoRA module " + kohyaName + ": alpha must be a finite number");
        }
    }
}
