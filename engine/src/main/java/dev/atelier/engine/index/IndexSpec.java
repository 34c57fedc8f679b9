package dev.atelier.engine.index;

import dev.atelier.engine.core.AtelierException.InvalidInputException;

/**
 * How to build a vector index: a FAISS factory string and the settings that go with it.
 *
 * @param factory           FAISS {@code index_factory} string: {@code "Flat"} (exact search, what
 *                          the paper used), {@code "HNSW32"}, {@code "IVF1024,Flat"},
 *                          {@code "IVF1024,PQ32"}, ...
 * @param efConstruction    HNSW build breadth (FAISS's own default 40 caps recall@5 near 0.97 at
 *                          800,000 vectors; 200 reaches 0.987 at efSearch 32)
 * @param efSearch          HNSW search breadth; 0 keeps FAISS's
 * @param nprobe            IVF lists probed per query; 0 keeps FAISS's
 * @param gpu               search on CUDA device 0: a Flat or IVF-Flat index whose rows are copied
 *                          to the GPU and searched there by libtorch ({@link SearchKernel#TORCH});
 *                          other kinds, or no GPU, are refused ({@code UnavailableException}).
 *                          FAISS (CPU only here) still builds and stores the index
 */
public record IndexSpec(String factory, int efConstruction, int efSearch, int nprobe, boolean gpu) {
    public IndexSpec {
        if (factory == null || factory.isBlank()) {
            throw new InvalidInputException("index factory string is empty");
        }
        if (efConstruction <= 0 || efSearch < 0 || nprobe < 0) {
            throw new InvalidInputException("index settings must be positive: efConstruction " + efConstruction
                    + ", efSearch " + efSearch + ", nprobe " + nprobe);
        }
    }

    /** Exact inner-product search. */
    public static IndexSpec flat() {
        return of("Flat");
    }

    /** HNSW with M = 32 and Atelier's defaults (efConstruction 200, efSearch 64). */
    public static IndexSpec hnsw() {
        return of("HNSW32");
    }

    /** The factory string with Atelier's defaults: efConstruction 200, efSearch 64, nprobe 8. */
    public static IndexSpec of(String factory) {
        return new IndexSpec(factory, 200, 64, 8, false);
    }

    public IndexSpec withEfSearch(int value) {
        return new IndexSpec(factory, efConstruction, value, nprobe, gpu);
    }

    public IndexSpec withNprobe(int value) {
        return new IndexSpec(factory, efConstruction, efSearch, value, gpu);
    }

    public IndexSpec withGpu(boolean value) {
        return new IndexSpec(factory, efConstruction, efSearch, nprobe, value);
    }
}
