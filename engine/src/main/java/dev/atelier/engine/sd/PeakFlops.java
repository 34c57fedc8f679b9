package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Status;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The floating-point operations per second that Atelier's GEMM reaches on this machine now
 * ({@code atl_measure_peak_flops}): the peak a {@link Profile} table reports a share of.
 *
 * @param dtype  F32 or BF16
 * @param gflops billions of floating-point operations per second
 */
public record PeakFlops(DType dtype, double gflops) {

    /**
     * Measures the peak for dtype over about seconds (in (0, 60]) at the library-wide intra-op
     * thread count, the one {@link Pipeline#generate} runs at.
     */
    public static PeakFlops measure(DType dtype, double seconds) {
        if (dtype != DType.F32 && dtype != DType.BF16) {
            throw new InvalidInputException("peak flops: dtype must be F32 or BF16, got " + dtype);
        }
        NativeLibrary.useLibraryThreads();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_DOUBLE);
            Status.check(atl_measure_peak_flops(dtype.code(), seconds, out));
            return new PeakFlops(dtype, out.get(ValueLayout.JAVA_DOUBLE, 0) / 1e9);
        }
    }
}
