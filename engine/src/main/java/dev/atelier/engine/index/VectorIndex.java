package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_index_params;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A FAISS vector index in libatelier ({@code atl_index}), inner-product metric.
 *
 * <p>Threads: {@link #search} may be called from many threads at once; training, adding and
 * changing efSearch / nprobe must not overlap with anything else (the caller locks, as
 * {@link CatalogIndex} does). A search of one query runs on one OpenMP thread; parallelise
 * single queries across threads instead.
 */
public final class VectorIndex extends NativeHandle {
    private VectorIndex(MemorySegment pointer) {
        super("atl_index", pointer, p -> atl_index_destroy(p));
    }

    /** An empty index of vectors of the given length. */
    public static VectorIndex create(IndexSpec spec, int dimension) {
        return new VectorIndex(create((arena, out) -> {
            MemorySegment params = atl_index_params.allocate(arena);
            atl_index_params_init(params);
            atl_index_params.factory(params, arena.allocateFrom(spec.factory()));
            atl_index_params.dimension(params, dimension);
            atl_index_params.metric(params, ATL_METRIC_INNER_PRODUCT());
            atl_index_params.device(params, spec.gpu() ? ATL_DEVICE_CUDA() : ATL_DEVICE_CPU());
            atl_index_params.hnsw_ef_construction(params, spec.efConstruction());
            atl_index_params.hnsw_ef_search(params, spec.efSearch());
            atl_index_params.ivf_nprobe(params, spec.nprobe());
            return atl_index_create(params, out);
        }));
    }

    /** Reads an index serialised by {@link #toBytes()} from native memory; malformed data throws FormatException. */
    public static VectorIndex fromBytes(MemorySegment data) {
        return new VectorIndex(create((arena, out) -> atl_index_read(data, data.byteSize(), out)));
    }

    /** {@link #fromBytes(MemorySegment)} naming source (the file the bytes came from) in errors. */
    public static VectorIndex fromBytes(MemorySegment data, java.nio.file.Path source) {
        return new VectorIndex(create((arena, out) -> atl_index_read(data, data.byteSize(), out), source));
    }

    /** FAISS's serialisation of this index. */
    public byte[] toBytes() {
        return NativeBytes.toArray(out -> atl_index_write(pointer(), out));
    }

    public int dimension() {
        return atl_index_dimension(pointer());
    }

    public long size() {
        return atl_index_ntotal(pointer());
    }

    public boolean isTrained() {
        return atl_index_is_trained(pointer()) != 0;
    }

    /** What FAISS built, with its settings, e.g. "HNSW(M=32, efConstruction=200, efSearch=64, inner_product)". */
    public String description() {
        return atl_index_description(pointer()).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Trains on rows F32 [n, dimension] when the index needs it (IVF, PQ); otherwise does nothing. */
    public void train(TensorView rows) {
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_index_train(pointer(), rows.toNative(arena)));
        }
    }

    /** Adds rows F32 [n, dimension]; they get ids size(), size() + 1, ... */
    public void add(TensorView rows) {
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_index_add(pointer(), rows.toNative(arena), MemorySegment.NULL));
        }
    }

    /** HNSW search breadth; -1 when this is not an HNSW index. */
    public int efSearch() {
        return atl_index_ef_search(pointer());
    }

    public void setEfSearch(int value) {
        Status.check(atl_index_set_ef_search(pointer(), value));
    }

    /** IVF lists probed; -1 when this is not an IVF index. */
    public int nprobe() {
        return atl_index_nprobe(pointer());
    }

    public void setNprobe(int value) {
        Status.check(atl_index_set_nprobe(pointer(), value));
    }

    /** The code that answers {@link #search} (not saved with the index). */
    public SearchKernel searchKernel() {
        return SearchKernel.fromCode(atl_index_search_kernel(pointer()));
    }

    /**
     * Chooses the code that answers {@link #search}; throws UnsupportedException when this CPU
     * lacks its instructions. Like {@link #setEfSearch}, not while searches run.
     */
    public void setSearchKernel(SearchKernel kernel) {
        Status.check(atl_index_set_search_kernel(pointer(), kernel.code()));
    }

    /** The k best of queries F32 [nq, dimension], restricted to filter's ids when filter is not null. */
    public Neighbors search(TensorView queries, int k, IdFilter filter) {
        int nq = Math.toIntExact(queries.shape()[0]);
        try (Arena arena = Arena.ofConfined()) {
            TensorView scores = TensorView.allocate(arena, DType.F32, nq, k);
            TensorView ids = TensorView.allocate(arena, DType.I64, nq, k);
            Status.check(atl_index_search(pointer(), queries.toNative(arena), k,
                    filter == null ? MemorySegment.NULL : filter.pointer(), scores.toNative(arena), ids.toNative(arena)));
            return new Neighbors(nq, k, ids.data().toArray(ValueLayout.JAVA_LONG), scores.data().toArray(ValueLayout.JAVA_FLOAT));
        }
    }
}
