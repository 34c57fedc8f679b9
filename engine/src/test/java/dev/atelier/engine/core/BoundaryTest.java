package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;
import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Errors, callbacks and tensor hand-off across the FFM boundary. */
class BoundaryTest {

    @BeforeAll
    static void load() {
        NativeLibrary.load();
    }

    private static float[] matmul(Arena arena, TensorView a, TensorView b, long rows, long cols) {
        TensorView out = TensorView.allocate(arena, DType.F32, rows, cols);
        Status.check(atl_tensor_matmul(a.toNative(arena), b.toNative(arena), out.toNative(arena)));
        return out.toFloatArray();
    }

    @Test
    void libtorchResultsComeBackIntoJavaMemory() {
        try (Arena arena = Arena.ofConfined()) {
            TensorView a = TensorView.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            TensorView b = TensorView.ofFloats(arena, new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
            assertArrayEquals(new float[] {4, 5, 10, 11}, matmul(arena, a, b, 2, 2));
        }
    }

    @Test
    void aLibtorchErrorBecomesAnExceptionWithItsMessageAndTheJvmGoesOn() {
        try (Arena arena = Arena.ofConfined()) {
            TensorView a = TensorView.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            TensorView wrong = TensorView.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            var e = assertThrows(AtelierException.BackendException.class, () -> matmul(arena, a, wrong, 2, 3));
            assertTrue(e.getMessage().contains("cannot be multiplied"), e.getMessage());
            assertEquals(AtelierException.BACKEND, e.code());
            // The same library keeps working after the error.
            TensorView b = TensorView.ofFloats(arena, new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
            assertArrayEquals(new float[] {4, 5, 10, 11}, matmul(arena, a, b, 2, 2));
        }
    }

    @Test
    void aWrongOutputShapeIsRejectedBeforeAnythingIsWritten() {
        try (Arena arena = Arena.ofConfined()) {
            TensorView a = TensorView.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            TensorView b = TensorView.ofFloats(arena, new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
            TensorView out = TensorView.allocate(arena, DType.F32, 3, 3);
            var e = assertThrows(AtelierException.InvalidInputException.class,
                    () -> Status.check(atl_tensor_matmul(a.toNative(arena), b.toNative(arena), out.toNative(arena))));
            assertTrue(e.getMessage().contains("expected shape [2, 2]"), e.getMessage());
            assertArrayEquals(new float[9], out.toFloatArray());
        }
    }

    @Test
    void theNativeSideSeesTheJavaAddressNotACopy() {
        try (Arena arena = Arena.ofConfined()) {
            TensorView v = TensorView.allocate(arena, DType.F32, 64, 64);
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            Status.check(atl_tensor_address(v.toNative(arena), out));
            assertEquals(v.data().address(), out.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    @Test
    void stridedViewsAreReadAsStrided() {
        try (Arena arena = Arena.ofConfined()) {
            TensorView m = TensorView.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            // The transpose, as a view with swapped strides: [[1,4],[2,5],[3,6]].
            TensorView t = new TensorView(m.data(), DType.F32, new long[] {3, 2}, new long[] {1, 3});
            TensorView ones = TensorView.ofFloats(arena, new float[] {1, 1}, 2, 1);
            assertArrayEquals(new float[] {5, 7, 9}, matmul(arena, t, ones, 3, 1));
        }
    }

    @Test
    void progressIsReportedEveryStepAndCanCancel() {
        List<Long> seen = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            Progress.Upcall all = new Progress.Upcall((done, total) -> seen.add(done) || true, arena);
            all.check(atl_run_steps(5, all.struct()));
            assertEquals(List.of(1L, 2L, 3L, 4L, 5L), seen);

            Progress.Upcall stopAtTwo = new Progress.Upcall((done, total) -> done < 2, arena);
            var e = assertThrows(AtelierException.CancelledException.class,
                    () -> stopAtTwo.check(atl_run_steps(10, stopAtTwo.struct())));
            assertTrue(e.getMessage().contains("step 2 of 10"), e.getMessage());
        }
    }

    @Test
    void anExceptionInTheListenerCancelsAndIsRethrownAfterTheCall() {
        try (Arena arena = Arena.ofConfined()) {
            Progress.Upcall failing = new Progress.Upcall((done, total) -> {
                throw new IllegalStateException("listener broke at " + done);
            }, arena);
            var e = assertThrows(IllegalStateException.class, () -> failing.check(atl_run_steps(3, failing.struct())));
            assertEquals("listener broke at 1", e.getMessage());
        }
    }

    @Test
    void everyStatusCodeMapsToOneExceptionType() {
        assertInstanceOf(AtelierException.InvalidInputException.class, AtelierException.fromStatus(1, "m"));
        assertInstanceOf(AtelierException.FormatException.class, AtelierException.fromStatus(3, "m"));
        assertInstanceOf(AtelierException.BackendException.class, AtelierException.fromStatus(5, "m"));
        assertInstanceOf(AtelierException.CancelledException.class, AtelierException.fromStatus(6, "m"));
        assertInstanceOf(AtelierException.UnavailableException.class, AtelierException.fromStatus(8, "m"));
        assertEquals(AtelierException.INTERNAL, AtelierException.fromStatus(9, "m").code());
    }
}
