package dev.atelier.engine.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class TensorViewTest {
    @Test
    void nonFiniteValuesAreCountedInEveryFloatDtype() {
        try (Arena arena = Arena.ofConfined()) {
            float[] f32 = {1f, Float.NaN, -0f, Float.POSITIVE_INFINITY, Float.MAX_VALUE, Float.NEGATIVE_INFINITY, 3e-45f};
            assertEquals(3, TensorView.ofFloats(arena, f32, 7).countNonFinite());

            double[] f64 = {Double.NaN, 1e308, Double.MIN_VALUE};
            MemorySegment d = arena.allocate(ValueLayout.JAVA_DOUBLE, f64.length);
            MemorySegment.copy(f64, 0, d, ValueLayout.JAVA_DOUBLE, 0, f64.length);
            assertEquals(1, TensorView.of(d, DType.F64, 3).countNonFinite());

            // F16: 0x7c00 +inf, 0xfe00 NaN, 0x7bff 65504 (largest finite); BF16: 0x7f80 +inf,
            // 0xffc1 NaN, 0x7f7f (largest finite), 0x3f80 1.0.
            short[] f16 = {0x7c00, (short) 0xfe00, 0x7bff, 0x3c00};
            short[] bf16 = {0x7f80, (short) 0xffc1, 0x7f7f, 0x3f80, 0x0001};
            assertEquals(2, TensorView.of(shorts(arena, f16), DType.F16, 4).countNonFinite());
            assertEquals(2, TensorView.of(shorts(arena, bf16), DType.BF16, 5).countNonFinite());
            // The same bits read as the other 16-bit format: the F16 ones are all finite BF16 values
            // (0x7c00 is 2^121), and three of the BF16 ones have F16's exponent all ones.
            assertEquals(0, TensorView.of(shorts(arena, f16), DType.BF16, 4).countNonFinite());
            assertEquals(3, TensorView.of(shorts(arena, bf16), DType.F16, 5).countNonFinite());

            TensorView strided = new TensorView(shorts(arena, f16), DType.F16, new long[] {2}, new long[] {2});
            assertThrows(AtelierException.InvalidInputException.class, strided::countNonFinite);
        }
    }

    private static MemorySegment shorts(Arena arena, short[] values) {
        MemorySegment s = arena.allocate(ValueLayout.JAVA_SHORT, values.length);
        MemorySegment.copy(values, 0, s, ValueLayout.JAVA_SHORT, 0, values.length);
        return s;
    }
}
