package dev.atelier.engine.lora;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Weights;
import java.lang.foreign.MemorySegment;

/**
 * One network's part of a LoRA file as native adapters ({@code atl_lora}), named by the network's
 * layers. Applied with {@code UNet.applyLora} / {@code TextEncoder.applyLora}, which copy what they
 * need: this handle may be closed afterwards. It reads the mapped tensors of the weights it was
 * made from and retains them.
 */
public final class Lora extends NativeHandle {
    private final LoraKeys.Network network;

    private Lora(MemorySegment pointer, LoraKeys.Network network, Weights weights) {
        super("atl_lora", pointer, p -> atl_lora_destroy(p));
        this.network = network;
        dependOn(weights);
    }

    /**
     * Creates the adapters from weights named {@code <layer>.lora_down.weight}, {@code <layer>.lora_up.weight}
     * and optionally {@code <layer>.alpha}. The caller still closes weights.
     */
    public static Lora create(LoraKeys.Network network, Weights weights) {
        return new Lora(create((arena, out) -> atl_lora_create(weights.pointer(), out)), network, weights);
    }

    /** The network these adapters are for. */
    public LoraKeys.Network network() {
        return network;
    }

    /** Number of adapted layers. */
    public long count() {
        return atl_lora_count(pointer());
    }
}
