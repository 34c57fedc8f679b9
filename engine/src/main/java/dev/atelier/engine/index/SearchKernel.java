package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeLibrary;
import java.util.Locale;

/**
 * Which code answers {@link VectorIndex#search} ({@code atl_search_kernel}). Atelier's kernels
 * serve flat and HNSW-over-flat indexes (SIMD inner products with a vectorised top-k filter,
 * exact search from BLAS tiles, its own HNSW walk with prefetching); other index kinds always
 * use FAISS. {@link #FAISS} keeps FAISS 1.7.3's own search as the baseline.
 */
public enum SearchKernel {
    /** Atelier's, with the best instruction set of this CPU (the default). */
    AUTO,
    /** FAISS's own search. */
    FAISS,
    /** Atelier's, plain loops (the parity reference). */
    REFERENCE,
    /** Atelier's, AVX2 + FMA. */
    AVX2,
    /** Atelier's, AVX-512F. */
    AVX512;

    /** The atl_search_kernel value (declaration order matches the header's). */
    public int code() {
        return ordinal();
    }

    /** The library's name for it: "auto", "faiss", "reference", "avx2", "avx512". */
    public String nativeName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Whether this CPU runs it. */
    public boolean available() {
        NativeLibrary.load();
        return atl_search_kernel_available(code()) != 0;
    }

    /** The kernel with the given {@link #nativeName()}. */
    public static SearchKernel fromName(String name) {
        for (SearchKernel k : values()) {
            if (k.nativeName().equals(name)) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown search kernel \"" + name + "\"; expected one of auto, faiss, reference, avx2, avx512");
    }
}
