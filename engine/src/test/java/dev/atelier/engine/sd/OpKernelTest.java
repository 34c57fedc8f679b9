package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** OpKernel against the C library's atl_op_kernel names and codes, not against itself. */
class OpKernelTest {
    @BeforeAll
    static void load() {
        NativeLibrary.load();
    }

    @Test
    void everyValueHasTheLibrarysNameAndCode() {
        for (OpKernel k : OpKernel.values()) {
            assertEquals(k.nativeName(), atl_op_kernel_name(k.code()).reinterpret(Long.MAX_VALUE).getString(0), k.name());
            try (Arena arena = Arena.ofConfined()) {
                assertEquals(k.code(), atl_op_kernel_from_name(arena.allocateFrom(k.nativeName())), k.name());
            }
            assertEquals(k, OpKernel.fromName(k.nativeName()));
            assertEquals(k, OpKernel.fromCode(k.code()));
        }
        // The library knows no more kernels than the enum: the next code has no name.
        int next = OpKernel.values().length;
        assertEquals(MemorySegment.NULL, atl_op_kernel_name(next));
    }

    @Test
    void autoReferenceAndTorchRunEverywhere() {
        assertTrue(OpKernel.AUTO.available());
        assertTrue(OpKernel.REFERENCE.available());
        assertTrue(OpKernel.TORCH.available());
    }

    @Test
    void anUnknownNameListsTheKnownOnes() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> OpKernel.fromName("fast"));
        assertTrue(e.getMessage().contains("\"fast\"") && e.getMessage().contains("auto, reference, avx512, torch"),
                e.getMessage());
        assertThrows(InvalidInputException.class, () -> OpKernel.fromName(null));
        assertEquals(OpKernel.TORCH, OpKernel.fromName(" Torch "));
    }
}
