package dev.atelier.engine.index;

import static org.junit.jupiter.api.Assertions.*;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.AtelierException.UnavailableException;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Choosing the search code from Java: Atelier's kernels answer flat and HNSW indexes with
 * FAISS's exact results and at least its HNSW recall (native/tests/test_search_kernels.c checks
 * each instruction set in depth); the choice is per index and not saved.
 */
class SearchKernelTest {
    static final int N = 4000, DIM = 32, NQ = 100, K = 5;

    static float[][] unitRows(int n, long seed) {
        Random r = new Random(seed);
        float[][] rows = new float[n][DIM];
        for (float[] row : rows) {
            double norm = 0;
            for (int j = 0; j < DIM; j++) {
                row[j] = (float) r.nextGaussian();
                norm += row[j] * row[j];
            }
            for (int j = 0; j < DIM; j++) {
                row[j] /= (float) Math.sqrt(norm);
            }
        }
        return rows;
    }

    static double recall(long[] found, long[] exact) {
        int hits = 0;
        for (int q = 0; q < NQ; q++) {
            long[] want = Arrays.copyOfRange(exact, q * K, (q + 1) * K);
            for (int j = 0; j < K; j++) {
                long id = found[q * K + j];
                if (Arrays.stream(want).anyMatch(w -> w == id)) {
                    hits++;
                }
            }
        }
        return hits / (double) (NQ * K);
    }

    @Test
    void atelierKernelsMatchFaiss() {
        try (Arena arena = Arena.ofConfined();
                VectorIndex flat = VectorIndex.create(IndexSpec.flat(), DIM);
                VectorIndex hnsw = VectorIndex.create(IndexSpec.hnsw(), DIM)) {
            TensorView base = TensorView.ofRows(arena, unitRows(N, 1), DIM);
            TensorView queries = TensorView.ofRows(arena, unitRows(NQ, 2), DIM);
            flat.add(base);
            hnsw.add(base);
            assertEquals(SearchKernel.AUTO, flat.searchKernel());

            Neighbors ours = flat.search(queries, K, null);
            flat.setSearchKernel(SearchKernel.FAISS);
            assertEquals(SearchKernel.FAISS, flat.searchKernel());
            Neighbors theirs = flat.search(queries, K, null);
            assertArrayEquals(theirs.ids(), ours.ids());
            assertArrayEquals(theirs.scores(), ours.scores(), 1e-5f);

            hnsw.setEfSearch(16);
            double atelier = recall(hnsw.search(queries, K, null).ids(), theirs.ids());
            hnsw.setSearchKernel(SearchKernel.FAISS);
            double faiss = recall(hnsw.search(queries, K, null).ids(), theirs.ids());
            assertTrue(atelier >= faiss - 0.01, "HNSW recall@5: Atelier " + atelier + ", FAISS " + faiss);

            // Not saved: an index read back searches with the default again.
            try (VectorIndex back = VectorIndex.fromBytes(arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, flat.toBytes()))) {
                assertEquals(SearchKernel.AUTO, back.searchKernel());
                assertArrayEquals(ours.ids(), back.search(queries, K, null).ids());
            }
        }
    }

    @Test
    void namesAndAvailability() {
        for (SearchKernel k : SearchKernel.values()) {
            assertEquals(k, SearchKernel.fromName(k.nativeName()));
        }
        assertTrue(SearchKernel.REFERENCE.available());
        assertTrue(SearchKernel.FAISS.available());
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> SearchKernel.fromName("sse"));
        assertTrue(e.getMessage().contains("\"sse\"") && e.getMessage().contains("auto, faiss, reference, avx2, avx512, torch"),
                e.getMessage());
    }

    /** The GPU index's search code (libtorch's GEMM and top-k), run here on the CPU: FAISS's exact results. */
    @Test
    void torchKernelMatchesFaissOnTheCpu() {
        try (Arena arena = Arena.ofConfined(); VectorIndex flat = VectorIndex.create(IndexSpec.flat(), DIM)) {
            TensorView base = TensorView.ofRows(arena, unitRows(N, 3), DIM);
            TensorView queries = TensorView.ofRows(arena, unitRows(NQ, 4), DIM);
            flat.add(base);
            flat.setSearchKernel(SearchKernel.TORCH);
            assertEquals(SearchKernel.TORCH, flat.searchKernel());
            Neighbors torch = flat.search(queries, K, null);
            flat.setSearchKernel(SearchKernel.FAISS);
            Neighbors faiss = flat.search(queries, K, null);
            assertArrayEquals(faiss.ids(), torch.ids());
            assertArrayEquals(faiss.scores(), torch.scores(), 1e-5f);
        }
    }

    /** A GPU index is a Flat or IVF-Flat index on a GPU the library sees; this build's machine has none. */
    @Test
    void aGpuIndexNeedsAFlatIndexAndAGpu() {
        assumeTrue(dev.atelier.engine.core.NativeInfo.read().cudaDevices() == 0, "a GPU is present");
        UnavailableException flat = assertThrows(UnavailableException.class,
                () -> VectorIndex.create(IndexSpec.flat().withGpu(true), DIM));
        assertTrue(flat.getMessage().contains("GPU index: device cuda:0 is not available"), flat.getMessage());
        UnavailableException hnsw = assertThrows(UnavailableException.class,
                () -> VectorIndex.create(IndexSpec.hnsw().withGpu(true), DIM));
        assertTrue(hnsw.getMessage().contains("is neither a Flat nor an IVF-Flat index"), hnsw.getMessage());
    }
}
