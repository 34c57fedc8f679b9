package dev.atelier.engine.core;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class HandleTest {

    @Test
    void closingTwiceIsHarmlessAndUseAfterCloseThrows() {
        Weights weights = new Weights();
        assertEquals(0, weights.count());
        weights.close();
        weights.close();
        assertTrue(weights.isClosed());
        var e = assertThrows(IllegalStateException.class, weights::count);
        assertTrue(e.getMessage().contains("atl_weights handle is closed"), e.getMessage());
    }

    @Test
    void aLeakedHandleIsFreedAndReported() throws InterruptedException {
        long before = NativeHandle.leakedCount();
        for (int i = 0; i < 10; i++) {
            new Weights(); // never closed
        }
        for (int round = 0; round < 200 && NativeHandle.leakedCount() < before + 10; round++) {
            System.gc();
            Thread.sleep(10);
        }
        assertTrue(NativeHandle.leakedCount() >= before + 10, "leaks reported: " + (NativeHandle.leakedCount() - before));
    }

    @Test
    void weightsBorrowMemoryWithoutCopying() {
        try (Arena arena = Arena.ofConfined(); Weights weights = new Weights()) {
            TensorView a = TensorView.allocate(arena, DType.BF16, 3, 5);
            weights.add("a", a, null);
            assertEquals(1, weights.count());
            assertEquals(a.data().address(), weights.address("a"));
            var e = assertThrows(AtelierException.InvalidInputException.class, () -> weights.add("a", a, null));
            assertTrue(e.getMessage().contains("duplicate tensor name: a"), e.getMessage());
            assertThrows(AtelierException.InvalidInputException.class, () -> weights.address("missing"));
        }
    }
}
