package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.Pca;
import dev.atelier.engine.index.VectorProjection;
import dev.atelier.engine.index.es.ElasticsearchTransport.ItemFailure;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A shop catalog in an Elasticsearch cluster, searched by kNN over a {@code dense_vector} field.
 * Its index lifecycle is {@link CatalogAdmin}'s, its reads {@link CatalogSearcher}'s, and every
 * request goes through one {@link ElasticsearchTransport}.
 *
 * <p>Documents: {@code vector} (dense_vector, the projected unit-length vector, similarity
 * dot_product, index_options by {@link ElasticsearchOptions#type()}), keyword fields
 * {@code path}, {@code item_id}, {@code category}, and {@code ord} (long, the
 * {@link CatalogSearch.Hit#id()}: the catalog position for a build's items, a number reserved
 * from {@link OrdCounter} for items added later); document id = SHA-256 of the image path (hex).
 *
 * <p>Alias: searches go to the alias {@code name}; a (re)build writes a new concrete index
 * {@code name-<UTC timestamp>} and {@link #publish()} moves the alias onto it in one atomic
 * {@code _aliases} request, so searches never see a half-built catalog.
 *
 * <p>PCA: Atelier projects every vector (PCA, then L2 normalisation) before it leaves the JVM.
 * The PCA a catalog was built with is stored in the cluster, beside the catalog, so that any
 * process can open it by its location alone: the mapping's {@code _meta} holds
 * {@code atelier_format}, {@code input_dimension} and the SHA-256 of the serialised PCA, and the
 * PCA bytes (FAISS PCAMatrix serialisation, megabytes: too large for cluster-state _meta) are one
 * document, id = concrete index name, in the index {@code name-atelier-state}. Opening checks the
 * digest.
 *
 * <p>Scores: Elasticsearch's dot_product score is (1 + cos) / 2; hits carry cos, as the FAISS
 * backend's do. Thread-safe: the client is.
 */
public final class ElasticsearchCatalog implements CatalogSearch {
    private final ElasticsearchOptions options;
    private final ElasticsearchTransport transport;
    private final CatalogAdmin admin;
    private final CatalogSearcher searcher;
    private final String concreteIndex;
    private final Pca pca; // owned; null: none
    private final VectorProjection projection;
    private final OrdCounter ords;
    private volatile String searchTarget; // the alias once published, else the concrete index

    /** Takes ownership of transport and pca. */
    ElasticsearchCatalog(ElasticsearchTransport transport, ElasticsearchOptions options, String concreteIndex, Pca pca,
            int inputDimension, boolean published) {
        this.options = options;
        this.transport = transport;
        this.admin = new CatalogAdmin(transport, options, concreteIndex);
        this.searcher = new CatalogSearcher(transport, options);
        this.concreteIndex = concreteIndex;
        this.pca = pca;
        this.projection = new VectorProjection(pca, inputDimension);
        this.ords = new OrdCounter(transport, concreteIndex, options.replicas());
        this.searchTarget = published ? transport.location().name() : concreteIndex;
    }

    /**
     * Opens the published catalog behind the alias {@code location.name()} (or a plain index of
     * that name), checking that it is an Atelier catalog whose mapping fits its PCA.
     *
     * @throws ClusterUnreachableException no node answers
     * @throws FormatException             not an Atelier catalog, wrong dims, PCA digest mismatch
     */
    public static ElasticsearchCatalog open(ElasticsearchLocation location, ElasticsearchOptions options) {
        return CatalogAdmin.open(location, options);
    }

    /**
     * Creates a new, empty, unpublished concrete index for location (searches and writes of the
     * returned catalog go to it; {@link #publish()} swaps the alias onto it).
     *
     * @param pca            the catalog's PCA (copied; the caller keeps its own), or null when
     *                       vectors are used as they are (then normalised)
     * @param inputDimension length of the raw vectors
     */
    public static ElasticsearchCatalog create(ElasticsearchLocation location, ElasticsearchOptions options, Pca pca, int inputDimension) {
        return CatalogAdmin.create(location, options, pca, inputDimension);
    }

    /**
     * Points the alias at this catalog's concrete index in one atomic request, then deletes the
     * replaced indices when {@link ElasticsearchOptions#deleteReplaced()}; searches go through
     * the alias from then on.
     */
    public void publish() {
        admin.publish();
        searchTarget = transport.location().name();
    }

    /** Makes everything written so far visible to searches and counts. */
    public void refresh() {
        admin.refresh();
    }

    @Override
    public List<CatalogSearch.Hit> search(float[] query, int k, Optional<String> category) {
        CatalogSearcher.checkK(k);
        return searcher.search(searchTarget, projection.apply(new float[][] {query})[0], k, category);
    }

    @Override
    public List<List<CatalogSearch.Hit>> searchBatch(float[][] queries, int k, Optional<String> category) {
        CatalogSearcher.checkK(k);
        return searcher.searchBatch(searchTarget, queries.length == 0 ? queries : projection.apply(queries), k, category);
    }

    /**
     * Adds items in one bulk request and refreshes; any failed item throws. Their ords are
     * reserved from the catalog's {@link OrdCounter}, so writers adding to one catalog at once,
     * in this process or others, never number two items alike. For large catalogs use
     * {@link BulkIndexer}.
     */
    @Override
    public void add(float[][] vectors, List<CatalogItem> items) {
        if (vectors.length != items.size()) {
            throw new InvalidInputException(vectors.length + " vectors for " + items.size() + " items");
        }
        if (vectors.length == 0) {
            return;
        }
        float[][] projected = projection.apply(vectors);
        long base = ords.reserve(items.size());
        List<CatalogDocument> docs = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            docs.add(CatalogDocument.of(items.get(i), base + i, projected[i]));
        }
        List<ItemFailure> failed = transport.call("bulk add to " + concreteIndex, () -> transport.bulk(concreteIndex, docs));
        if (!failed.isEmpty()) {
            ItemFailure f = failed.getFirst();
            throw new BackendException(AtelierException.BACKEND, failed.size() + " of " + docs.size() + " items were not added to "
                    + concreteIndex + "; first: " + items.get(f.position()).path() + ": " + f.status() + " " + f.type() + ": " + f.reason());
        }
        refresh();
    }

    /** Documents searchable now (after the last refresh). */
    @Override
    public long count() {
        return searcher.count(searchTarget);
    }

    @Override
    public int inputDimension() {
        return projection.inputDimension();
    }

    /** Documents per category (a terms aggregation over the keyword field). */
    public Map<String, Long> categoryCounts() {
        return searcher.categoryCounts(searchTarget);
    }

    @Override
    public float[][] project(float[][] features) {
        return projection.apply(features);
    }

    /** The PCA and normalisation applied to every vector before it is sent. */
    public VectorProjection projection() {
        return projection;
    }

    public ElasticsearchLocation location() {
        return transport.location();
    }

    public ElasticsearchOptions options() {
        return options;
    }

    /** The concrete index holding this catalog's documents ({@code name-<timestamp>}). */
    public String concreteIndex() {
        return concreteIndex;
    }

    /** Whether searches go through the alias (published) or to the concrete index (being built). */
    public boolean published() {
        return searchTarget.equals(transport.location().name());
    }

    /** The client, for callers that need more of Elasticsearch than this class offers (tests, tools). */
    public ElasticsearchClient client() {
        return transport.client();
    }

    ElasticsearchTransport transport() {
        return transport;
    }

    /** The lifecycle requests of this catalog's concrete index (bulk-load settings of a build). */
    CatalogAdmin admin() {
        return admin;
    }

    @Override
    public void close() {
        transport.close();
        if (pca != null) {
            pca.close();
        }
    }
}
