package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.lora.Lora;
import dev.atelier.engine.lora.LoraKeys;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** The LoRA calls UNet and TextEncoder share; only the native function differs between them. */
final class LoraCalls {
    private LoraCalls() {}

    interface Apply {
        MemorySegment call(MemorySegment net, MemorySegment lora, float multiplier, int mode, MemorySegment slotOut);
    }

    interface Select {
        MemorySegment call(MemorySegment net, MemorySegment slots);
    }

    /** The adapters must be for the network they are applied to. */
    static void requireNetwork(Lora lora, LoraKeys.Network network, String name) {
        if (lora.network() != network) {
            throw new InvalidInputException(name + ": these adapters are for the " + lora.network());
        }
    }

    static int apply(Apply fn, MemorySegment net, MemorySegment lora, float multiplier, int mode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ValueLayout.JAVA_INT);
            Status.check(fn.call(net, lora, multiplier, mode, slot));
            return slot.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** slots null or empty: every unmerged LoRA for every sample. */
    static void select(Select fn, MemorySegment net, int... slots) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment view = MemorySegment.NULL;
            if (slots != null && slots.length > 0) {
                MemorySegment data = arena.allocateFrom(ValueLayout.JAVA_INT, slots);
                view = TensorView.of(data, DType.I32, slots.length).toNative(arena);
            }
            Status.check(fn.call(net, view));
        }
    }
}
