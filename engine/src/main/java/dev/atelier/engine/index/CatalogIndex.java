package dev.atelier.engine.index;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The shop catalog's search index: feature vectors in a FAISS index, optionally reduced by PCA
 * (960 -> 128 in the paper), L2-normalised so that the inner product is cosine similarity, and
 * the {@link CatalogItem} of every vector beside it (vector id = position in {@link #items()}).
 *
 * <p>Vectors given to {@link #build}, {@link #add} and {@link #search} are raw features of
 * {@link #inputDimension()} values; the index applies its PCA and the normalisation itself.
 *
 * <p>Threads: searches from any number of threads run concurrently; {@link #add} waits for
 * running searches and blocks new ones while it runs. Closing while other threads still use the
 * index is a caller bug.
 */
public final class CatalogIndex implements CatalogSearch {

    /**
     * @param spec           the FAISS index to build
     * @param pcaDimensions  reduce the vectors to this many dimensions by PCA trained on the
     *                       build vectors; 0 keeps them as they are
     * @param pcaEigenPower  0: no whitening (the paper's choice); -0.5: full whitening
     */
    public record Options(IndexSpec spec, int pcaDimensions, float pcaEigenPower) {
        public static Options of(IndexSpec spec) {
            return new Options(spec, 0, 0f);
        }

        public Options withPca(int dimensions) {
            return new Options(spec, dimensions, pcaEigenPower);
        }
    }

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final VectorIndex index;
    private final Pca pca; // null: no reduction
    private final int inputDimension;
    private final String factory;
    private final List<CatalogItem> items; // guarded by lock
    private final ConcurrentHashMap<String, IdFilter> categoryFilters = new ConcurrentHashMap<>();

    CatalogIndex(VectorIndex index, Pca pca, int inputDimension, String factory, List<CatalogItem> items) {
        this.index = index;
        this.pca = pca;
        this.inputDimension = inputDimension;
        this.factory = factory;
        this.items = new ArrayList<>(items);
    }

    /** Builds an index over vectors (one row per item, all of the same length) and their items. */
    public static CatalogIndex build(float[][] vectors, List<CatalogItem> items, Options options) {
        checkRows(vectors, items, -1);
        if (vectors.length == 0) {
            throw new InvalidInputException("cannot build a catalog index from no vectors");
        }
        int dIn = vectors[0].length;
        Pca pca = null;
        VectorIndex index = null;
        try (Arena arena = Arena.ofConfined()) {
            TensorView raw = TensorView.ofRows(arena, vectors, dIn);
            if (options.pcaDimensions() > 0) {
                pca = Pca.create(dIn, options.pcaDimensions(), options.pcaEigenPower());
                pca.train(raw);
            }
            TensorView prepared = prepare(arena, pca, raw);
            index = VectorIndex.create(options.spec(), Math.toIntExact(prepared.shape()[1]));
            index.train(prepared);
            index.add(prepared);
            return new CatalogIndex(index, pca, dIn, options.spec().factory(), items);
        } catch (RuntimeException e) {
            if (index != null) index.close();
            if (pca != null) pca.close();
            throw e;
        }
    }

    /** Adds more items with their raw feature vectors; they get the next ids. */
    @Override
    public void add(float[][] vectors, List<CatalogItem> newItems) {
        checkRows(vectors, newItems, inputDimension);
        lock.writeLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            index.add(prepare(arena, pca, TensorView.ofRows(arena, vectors, inputDimension)));
            items.addAll(newItems);
            // The filters were built for the old items; rebuild them on demand.
            categoryFilters.values().forEach(IdFilter::close);
            categoryFilters.clear();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Raw features as the index sees them: through its PCA (when it has one) and L2-normalised,
     * so that the dot product of two projected rows is their cosine similarity.
     */
    @Override
    public float[][] project(float[][] features) {
        for (float[] f : features) {
            if (f.length != inputDimension) {
                throw new InvalidInputException("feature has " + f.length + " values; this index takes " + inputDimension);
            }
        }
        if (features.length == 0) {
            return new float[0][];
        }
        lock.readLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            TensorView projected = prepare(arena, pca, TensorView.ofRows(arena, features, inputDimension));
            int d = Math.toIntExact(projected.shape()[1]);
            float[] flat = projected.toFloatArray();
            float[][] out = new float[features.length][];
            for (int i = 0; i < out.length; i++) {
                out[i] = java.util.Arrays.copyOfRange(flat, i * d, (i + 1) * d);
            }
            return out;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The k items closest to query (raw features), best first, optionally only of one category. */
    @Override
    public List<Hit> search(float[] query, int k, Optional<String> category) {
        return searchBatch(new float[][] {query}, k, category).getFirst();
    }

    /** {@link #search} for several queries in one native call (faster than one call each); k above the item count finds them all. */
    @Override
    public List<List<Hit>> searchBatch(float[][] queries, int k, Optional<String> category) {
        if (k <= 0) {
            throw new InvalidInputException("k must be positive, got " + k);
        }
        for (float[] q : queries) {
            if (q.length != inputDimension) {
                throw new InvalidInputException("query has " + q.length + " values; this index takes " + inputDimension);
            }
        }
        if (queries.length == 0) {
            return List.of();
        }
        lock.readLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            // No search finds more items than the catalog holds: a k of two billion would
            // otherwise allocate its result arrays before the search starts.
            int n = (int) Math.min(k, items.size());
            if (n == 0) {
                return Collections.nCopies(queries.length, List.of());
            }
            IdFilter filter = null;
            if (category.isPresent()) {
                filter = filterFor(category.get());
                if (filter == null) {
                    return Collections.nCopies(queries.length, List.of());
                }
            }
            Neighbors found = index.search(prepare(arena, pca, TensorView.ofRows(arena, queries, inputDimension)), n, filter);
            List<List<Hit>> result = new ArrayList<>(queries.length);
            for (int q = 0; q < queries.length; q++) {
                List<Hit> hits = new ArrayList<>(n);
                for (int j = 0; j < n; j++) {
                    long id = found.id(q, j);
                    if (id >= 0) {
                        hits.add(new Hit(items.get(Math.toIntExact(id)), id, found.score(q, j)));
                    }
                }
                result.add(List.copyOf(hits));
            }
            return List.copyOf(result);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The filter of one category, built on first use; null when no item has that category. */
    private IdFilter filterFor(String category) {
        IdFilter cached = categoryFilters.get(category);
        if (cached != null) {
            return cached;
        }
        long[] ids = new long[items.size()];
        int n = 0;
        for (int i = 0; i < items.size(); i++) {
            if (items.get(i).category().equals(category)) {
                ids[n++] = i;
            }
        }
        if (n == 0) {
            return null;
        }
        IdFilter made = new IdFilter(java.util.Arrays.copyOf(ids, n));
        IdFilter raced = categoryFilters.putIfAbsent(category, made);
        if (raced != null) {
            made.close();
            return raced;
        }
        return made;
    }

    /** Writes the index into dir atomically; see {@link CatalogIndexStore}. */
    public void save(Path dir) {
        CatalogIndexStore.save(this, dir, CatalogIndexStore.SaveHook.NONE);
    }

    /** Reads an index saved by {@link #save}, checking its format version and checksums. */
    public static CatalogIndex load(Path dir) {
        return CatalogIndexStore.load(dir);
    }

    /** Number of items (and vectors). */
    public int size() {
        lock.readLock().lock();
        try {
            return items.size();
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public long count() {
        return size();
    }

    /** A snapshot of the items in id order. */
    public List<CatalogItem> items() {
        lock.readLock().lock();
        try {
            return List.copyOf(items);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Length of the raw vectors this index takes. */
    @Override
    public int inputDimension() {
        return inputDimension;
    }

    /** Length of the vectors inside the FAISS index (after PCA). */
    public int dimension() {
        return index.dimension();
    }

    public String factory() {
        return factory;
    }

    public String description() {
        return index.description() + (pca == null ? "" : " after PCA " + pca.inputDimension() + " -> " + pca.outputDimension());
    }

    /** The FAISS index itself, e.g. to change efSearch or nprobe (not while searches run). */
    public VectorIndex vectorIndex() {
        return index;
    }

    /** The PCA applied before the FAISS index (null: none); borrowed, valid until close. */
    public Pca pca() {
        return pca;
    }

    ReentrantReadWriteLock lock() {
        return lock;
    }

    List<CatalogItem> itemsUnderLock() {
        return items;
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            categoryFilters.values().forEach(IdFilter::close);
            categoryFilters.clear();
            index.close();
            if (pca != null) {
                pca.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    private static void checkRows(float[][] vectors, List<CatalogItem> items, int dimension) {
        if (vectors.length != items.size()) {
            throw new InvalidInputException(vectors.length + " vectors for " + items.size() + " items");
        }
        int d = dimension >= 0 ? dimension : vectors.length > 0 ? vectors[0].length : 0;
        for (int i = 0; i < vectors.length; i++) {
            if (vectors[i].length != d) {
                throw new InvalidInputException("vector " + i + " has " + vectors[i].length + " values, expected " + d);
            }
        }
    }

    /** Copies rows into native memory as F32 [n, d]. */
    /** PCA (when present) then row L2 normalisation, so that inner product is cosine similarity. */
    private static TensorView prepare(Arena arena, Pca pca, TensorView raw) {
        if (pca == null) {
            Pca.normalizeRows(raw);
            return raw;
        }
        TensorView out = TensorView.allocate(arena, DType.F32, raw.shape()[0], pca.outputDimension());
        pca.apply(raw, out, true);
        return out;
    }
}
