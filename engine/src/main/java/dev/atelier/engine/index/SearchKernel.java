package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeEnum;
import dev.atelier.engine.core.NativeLibrary;

/**
 * Which code answers {@link VectorIndex#search} ({@code atl_search_kernel}, codes from the
 * bindings). Atelier's kernels
 * serve flat and HNSW-over-flat indexes (SIMD inner products with a vectorised top-k filter,
 * exact search by a register-blocked kernel over packed rows, its own HNSW walk with prefetching); other index kinds always
 * use FAISS. {@link #FAISS} keeps FAISS 1.7.3's own search as the baseline.
 */
public enum SearchKernel implements NativeEnum {
    /** Atelier's, with the best instruction set of this CPU (the default). */
    AUTO(ATL_SEARCH_KERNEL_AUTO()),
    /** FAISS's own search. */
    FAISS(ATL_SEARCH_KERNEL_FAISS()),
    /** Atelier's, plain loops (the parity reference). */
    REFERENCE(ATL_SEARCH_KERNEL_REFERENCE()),
    /** Atelier's, AVX2 + FMA. */
    AVX2(ATL_SEARCH_KERNEL_AVX2()),
    /** Atelier's, AVX-512F. */
    AVX512(ATL_SEARCH_KERNEL_AVX512()),
    /**
     * libtorch's GEMM and top-k over a copy of a Flat or IVF-Flat index's rows on the index's device: the
     * default of a GPU index; on a CPU index the same code on the CPU.
     */
    TORCH(ATL_SEARCH_KERNEL_TORCH());

    private final int code;

    SearchKernel(int code) {
        this.code = code;
    }

    /** The atl_search_kernel value. */
    @Override
    public int code() {
        return code;
    }

    /** Whether this CPU runs it. */
    public boolean available() {
        NativeLibrary.load();
        return atl_search_kernel_available(code()) != 0;
    }

    /** The kernel with the given {@link #nativeName()}; anything else is bad input that lists the names. */
    public static SearchKernel fromName(String name) {
        return NativeEnum.fromName(values(), name, "search kernel");
    }

    /** The kernel with the given {@link #code()}. */
    public static SearchKernel fromCode(int code) {
        return NativeEnum.fromCode(values(), code, "atl_search_kernel");
    }
}
