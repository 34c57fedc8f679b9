package dev.atelier.engine.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.TensorView;

/** The parity measure of the reference tests: max |out - ref| / max |ref|. */
public final class MaxError {
    private MaxError() {}

    public static double relative(float[] out, float[] ref) {
        assertEquals(ref.length, out.length, "element count");
        double err = 0, scale = 0;
        for (int i = 0; i < ref.length; i++) {
            err = Math.max(err, Math.abs(out[i] - ref[i]));
            scale = Math.max(scale, Math.abs(ref[i]));
        }
        return err / scale;
    }

    /** The relative error of two tensors of the same shape. */
    public static double relative(TensorView out, TensorView ref) {
        assertArrayEquals(ref.shape(), out.shape(), "shape");
        return relative(out.toFloatArray(), ref.toFloatArray());
    }

    /** Prints the relative error of {@code what} and asserts that it is at most {@code tolerance}. */
    public static void assertClose(String what, TensorView out, TensorView ref, double tolerance) {
        double e = relative(out, ref);
        System.out.printf("%s: max abs error / max|ref| = %.3g (tolerance %.1g)%n", what, e, tolerance);
        assertTrue(e <= tolerance, what + ": relative max error " + e + " over " + tolerance);
    }
}
