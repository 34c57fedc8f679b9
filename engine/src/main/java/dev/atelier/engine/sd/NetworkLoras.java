package dev.atelier.engine.sd;

import dev.atelier.engine.lora.Lora;
import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.lora.LoraRequest;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The LoRAs a pipeline's UNet and text encoder carry, applied {@link LoraMode#UNMERGED unmerged}
 * so that switching costs no weight copies and the networks' own weights are never written. Not
 * thread-safe: the pipeline calls it under its lock.
 */
final class NetworkLoras {
    private final StableDiffusionWeights weights;
    private final UNet unet;
    private final TextEncoder textEncoder;
    private List<LoraRequest> applied = List.of();
    private LoraKeys keys; // made on the first LoRA

    NetworkLoras(StableDiffusionWeights weights, UNet unet, TextEncoder textEncoder) {
        this.weights = weights;
        this.unet = unet;
        this.textEncoder = textEncoder;
    }

    /**
     * Checks each file against the checkpoint's layers without the native library: a LoRA that
     * does not fit (NaN values, another architecture, not a LoRA) is a FormatException naming
     * the file.
     */
    static void check(CheckpointTensors checkpoint, List<Path> files) {
        if (files.isEmpty()) {
            return;
        }
        LoraKeys keys = LoraKeys.forCheckpoint(checkpoint.tensors().keySet());
        for (Path file : files) {
            LoraFile.check(file, keys);
        }
    }

    /**
     * Makes the networks carry exactly wanted, in list order (nothing to do when they carry that
     * list already); on failure they carry none.
     */
    void use(List<LoraRequest> wanted) {
        if (wanted.equals(applied)) {
            return;
        }
        clear();
        if (wanted.isEmpty()) {
            return;
        }
        if (keys == null) {
            keys = LoraKeys.forCheckpoint(weights.checkpoint().tensors().keySet());
        }
        try {
            for (LoraRequest r : wanted) {
                // Applying copies the adapters into the networks, so the file is closed at once.
                try (LoraFile file = LoraFile.open(r.path(), keys)) {
                    Optional<Lora> u = file.lora(LoraKeys.Network.UNET);
                    Optional<Lora> t = file.lora(LoraKeys.Network.TEXT_ENCODER);
                    if (u.isPresent()) {
                        unet.applyLora(u.get(), r.unetMultiplier(), LoraMode.UNMERGED);
                    }
                    if (t.isPresent()) {
                        textEncoder.applyLora(t.get(), r.textMultiplier(), LoraMode.UNMERGED);
                    }
                }
            }
        } catch (RuntimeException e) {
            clear();
            throw e;
        }
        applied = wanted;
    }

    private void clear() {
        unet.clearLora();
        textEncoder.clearLora();
        applied = List.of();
    }
}
