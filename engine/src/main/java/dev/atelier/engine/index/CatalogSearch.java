package dev.atelier.engine.index;

import dev.atelier.engine.catalog.CatalogItem;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A searchable shop catalog, whichever backend holds it: the in-process FAISS
 * {@link CatalogIndex} or an Elasticsearch cluster ({@code dev.atelier.engine.index.es}).
 * {@link CatalogSearches#open} picks the backend from a location string.
 *
 * <p>Vectors given to {@link #add} and {@link #search} are raw features of
 * {@link #inputDimension()} values: every backend applies the catalog's PCA and L2 normalisation
 * inside Atelier, so scores are cosine similarities whichever backend answers.
 *
 * <p>Threads: every implementation takes {@link #search}, {@link #searchBatch} and
 * {@link #count} from any number of threads at once, without a lock between searches (a service
 * shares one instance). {@link #add} may be called from several threads too; adds run one at a
 * time (new items are numbered from the current count) and searches may run beside them:
 * {@link CatalogIndex} makes an add wait for running searches and holds new ones back while it
 * runs; Elasticsearch shows the added items once the add's refresh is done. {@link #close} only
 * after the last call.
 */
public interface CatalogSearch extends AutoCloseable {
    /**
     * A catalog item found by a search, with its cosine similarity to the query.
     *
     * @param id the item's position in the catalog build order (FAISS vector id; stored as
     *           {@code ord} in Elasticsearch), so results of both backends compare directly
     */
    record Hit(CatalogItem item, long id, float score) {
        /** The hit as one row of a JSON answer ({@code atelier search --json}, the server's search): rank is 1-based. */
        public Map<String, Object> row(int rank) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("rank", rank);
            row.put("path", item.path());
            row.put("item_id", item.itemId());
            row.put("category", item.category());
            row.put("score", score);
            return row;
        }
    }

    /** The k items closest to query (raw features), best first, optionally only of one category. */
    List<Hit> search(float[] query, int k, Optional<String> category);

    /** {@link #search} for several queries at once (one native call, or one multi-search request). */
    List<List<Hit>> searchBatch(float[][] queries, int k, Optional<String> category);

    /**
     * Raw features as the catalog compares them: through its PCA and L2-normalised, so the dot
     * product of two projected rows is the cosine similarity a search reports.
     */
    float[][] project(float[][] features);

    /** Adds items with their raw feature vectors. */
    void add(float[][] vectors, List<CatalogItem> items);

    /** Number of items the catalog holds. */
    long count();

    /** Length of the raw vectors this catalog takes. */
    int inputDimension();

    @Override
    void close();
}
