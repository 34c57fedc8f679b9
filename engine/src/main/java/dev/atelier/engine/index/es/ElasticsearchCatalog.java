package dev.atelier.engine.index.es;

import dev.atelier.engine.util.Sha256;
import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch._types.HealthStatus;
import co.elastic.clients.elasticsearch._types.KnnSearch;
import co.elastic.clients.elasticsearch._types.mapping.DenseVectorIndexOptionsType;
import co.elastic.clients.elasticsearch._types.mapping.DenseVectorProperty;
import co.elastic.clients.elasticsearch._types.mapping.DenseVectorSimilarity;
import co.elastic.clients.elasticsearch._types.mapping.DynamicMapping;
import co.elastic.clients.elasticsearch._types.mapping.Property;
import co.elastic.clients.elasticsearch._types.mapping.TypeMapping;
import co.elastic.clients.elasticsearch.core.BulkResponse;
import co.elastic.clients.elasticsearch.core.MsearchResponse;
import co.elastic.clients.elasticsearch.core.SearchResponse;
import co.elastic.clients.elasticsearch.core.bulk.BulkResponseItem;
import co.elastic.clients.elasticsearch.core.msearch.MultiSearchResponseItem;
import co.elastic.clients.json.JsonData;
import co.elastic.clients.json.jackson.JacksonJsonpMapper;
import co.elastic.clients.transport.rest_client.RestClientTransport;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.Pca;
import dev.atelier.engine.index.VectorProjection;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.http.HttpHost;
import org.elasticsearch.client.RestClient;

/**
 * A shop catalog in an Elasticsearch cluster, searched by kNN over a {@code dense_vector} field.
 *
 * <p>Documents: {@code vector} (dense_vector, the projected unit-length vector, similarity
 * dot_product, index_options by {@link ElasticsearchOptions#type()}), keyword fields
 * {@code path}, {@code item_id}, {@code category}, and {@code ord} (long: the build order, the
 * {@link CatalogSearch.Hit#id()}); document id = SHA-256 of the image path (hex).
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
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ElasticsearchCatalog.class);
    /** Most categories {@link #categoryCounts} lists (DeepFashion has 50 fine categories). */
    private static final int MAX_CATEGORIES = 10_000;
    static final int FORMAT = 1;
    private static final String META_FORMAT = "atelier_format", META_INPUT = "input_dimension", META_PCA = "pca_sha256";
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS");

    private final ElasticsearchLocation location;
    private final ElasticsearchOptions options;
    private final RestClient rest;
    private final ElasticsearchClient client;
    private final String concreteIndex;
    private final Pca pca; // owned; null: none
    private final VectorProjection projection;
    private volatile String searchTarget; // the alias once published, else the concrete index

    private ElasticsearchCatalog(ElasticsearchLocation location, ElasticsearchOptions options, RestClient rest,
            String concreteIndex, Pca pca, int inputDimension, boolean published) {
        this.location = location;
        this.options = options;
        this.rest = rest;
        this.client = new ElasticsearchClient(new RestClientTransport(rest, mapper()));
        this.concreteIndex = concreteIndex;
        this.pca = pca;
        this.projection = new VectorProjection(pca, inputDimension);
        this.searchTarget = published ? location.name() : concreteIndex;
    }

    /**
     * Opens the published catalog behind the alias {@code location.name()} (or a plain index of
     * that name), checking that it is an Atelier catalog whose mapping fits its PCA.
     *
     * @throws ClusterUnreachableException no node answers
     * @throws FormatException             not an Atelier catalog, wrong dims, PCA digest mismatch
     */
    public static ElasticsearchCatalog open(ElasticsearchLocation location, ElasticsearchOptions options) {
        RestClient rest = connect(location, options);
        try {
            ElasticsearchClient c = new ElasticsearchClient(new RestClientTransport(rest, mapper()));
            List<String> concrete = call(location, "resolve alias", () -> {
                if (c.indices().existsAlias(e -> e.name(location.name())).value()) {
                    return List.copyOf(c.indices().getAlias(g -> g.name(location.name())).result().keySet());
                }
                if (c.indices().exists(e -> e.index(location.name())).value()) {
                    return List.of(location.name());
                }
                return List.of();
            });
            if (concrete.isEmpty()) {
                throw new InvalidInputException("no catalog named '" + location.name() + "' at " + location);
            }
            if (concrete.size() > 1) {
                throw new FormatException("alias " + location.name() + " points at several indices " + concrete + "; a catalog alias has one");
            }
            return attach(location, options, rest, concrete.getFirst(), true);
        } catch (RuntimeException e) {
            closeQuietly(rest);
            throw e;
        }
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
        Pca own = pca == null ? null : copy(pca);
        int dims = own == null ? inputDimension : own.outputDimension();
        new VectorProjection(own, inputDimension); // validates the dimensions
        RestClient rest = connect(location, options);
        try {
            ElasticsearchClient c = new ElasticsearchClient(new RestClientTransport(rest, mapper()));
            String concrete = location.name() + "-" + LocalDateTime.now(ZoneOffset.UTC).format(STAMP);
            byte[] pcaBytes = own == null ? null : own.toBytes();
            Map<String, JsonData> meta = new LinkedHashMap<>();
            meta.put(META_FORMAT, JsonData.of(FORMAT));
            meta.put(META_INPUT, JsonData.of(inputDimension));
            meta.put(META_PCA, JsonData.of(pcaBytes == null ? "" : Sha256.hex(pcaBytes)));
            call(location, "create index " + concrete, () -> {
                if (pcaBytes != null) {
                    String state = stateIndex(location);
                    if (!c.indices().exists(e -> e.index(state)).value()) {
                        c.indices().create(i -> i.index(state)
                                .settings(s -> s.numberOfShards("1").numberOfReplicas(String.valueOf(options.replicas())))
                                .mappings(m -> m.dynamic(DynamicMapping.False)
                                        .properties("pca", p -> p.binary(b -> b))));
                    }
                    c.index(i -> i.index(state).id(concrete).document(Map.of("pca", Base64.getEncoder().encodeToString(pcaBytes)))
                            .refresh(co.elastic.clients.elasticsearch._types.Refresh.True));
                }
                c.indices().create(i -> i.index(concrete)
                        .settings(s -> s.numberOfShards(String.valueOf(options.shards()))
                                .numberOfReplicas(String.valueOf(options.replicas())))
                        .mappings(mapping(dims, options, meta)));
                return null;
            });
            return new ElasticsearchCatalog(location, options, rest, concrete, own, inputDimension, false);
        } catch (RuntimeException e) {
            closeQuietly(rest);
            if (own != null) own.close();
            throw e;
        }
    }

    /** Opens an unpublished concrete index made by {@link #create} (to resume a build into it). */
    static ElasticsearchCatalog openConcrete(ElasticsearchLocation location, ElasticsearchOptions options, String concrete) {
        RestClient rest = connect(location, options);
        try {
            return attach(location, options, rest, concrete, false);
        } catch (RuntimeException e) {
            closeQuietly(rest);
            throw e;
        }
    }

    /** Whether the concrete index exists. */
    static boolean exists(ElasticsearchLocation location, ElasticsearchOptions options, String concrete) {
        RestClient rest = connect(location, options);
        try {
            ElasticsearchClient c = new ElasticsearchClient(new RestClientTransport(rest, mapper()));
            return call(location, "check index " + concrete, () -> c.indices().exists(e -> e.index(concrete)).value());
        } finally {
            closeQuietly(rest);
        }
    }

    private static ElasticsearchCatalog attach(ElasticsearchLocation location, ElasticsearchOptions options, RestClient rest,
            String concrete, boolean published) {
        ElasticsearchClient c = new ElasticsearchClient(new RestClientTransport(rest, mapper()));
        TypeMapping mapping = call(location, "read mapping of " + concrete,
                () -> c.indices().getMapping(g -> g.index(concrete)).result().get(concrete).mappings());
        Map<String, JsonData> meta = mapping.meta();
        if (meta == null || !meta.containsKey(META_FORMAT) || !meta.containsKey(META_INPUT)) {
            throw new FormatException("index " + concrete + " at " + location + " is not an Atelier catalog (no atelier _meta in its mapping)");
        }
        int format = meta.get(META_FORMAT).to(Integer.class);
        if (format != FORMAT) {
            throw new FormatException("index " + concrete + " has Atelier catalog format " + format + "; this Atelier reads " + FORMAT);
        }
        int inputDimension = meta.get(META_INPUT).to(Integer.class);
        String pcaDigest = meta.containsKey(META_PCA) ? meta.get(META_PCA).to(String.class) : "";
        Pca pca = null;
        try {
            if (!pcaDigest.isEmpty()) {
                String state = stateIndex(location);
                @SuppressWarnings("unchecked")
                Map<String, Object> doc = call(location, "read PCA of " + concrete,
                        () -> c.get(g -> g.index(state).id(concrete), Map.class).source());
                if (doc == null || !(doc.get("pca") instanceof String encoded)) {
                    throw new FormatException("the PCA of catalog index " + concrete + " is missing from " + state);
                }
                byte[] bytes = Base64.getDecoder().decode(encoded);
                if (!Sha256.hex(bytes).equals(pcaDigest)) {
                    throw new FormatException("the PCA of catalog index " + concrete + " in " + state + " does not match the digest in its mapping");
                }
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocate(bytes.length);
                    MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
                    pca = Pca.fromBytes(data);
                }
            }
            int expected = pca == null ? inputDimension : pca.outputDimension();
            Property vector = mapping.properties().get(CatalogDocument.VECTOR);
            if (vector == null || !vector.isDenseVector()) {
                throw new FormatException("index " + concrete + " has no dense_vector field '" + CatalogDocument.VECTOR + "'");
            }
            DenseVectorProperty dense = vector.denseVector();
            if (dense.dims() == null || dense.dims() != expected) {
                throw new FormatException("index " + concrete + " maps '" + CatalogDocument.VECTOR + "' with " + dense.dims()
                        + " dims, but the catalog's vectors have " + expected + " (" + (pca == null ? "no PCA" : "PCA " + inputDimension + " -> " + expected) + ")");
            }
            if (dense.similarity() != null && dense.similarity() != DenseVectorSimilarity.DotProduct) {
                throw new FormatException("index " + concrete + " compares vectors by " + dense.similarity().jsonValue() + ", Atelier's catalogs by dot_product");
            }
            return new ElasticsearchCatalog(location, options, rest, concrete, pca, inputDimension, published);
        } catch (RuntimeException e) {
            if (pca != null) pca.close();
            throw e;
        }
    }

    private static java.util.function.Function<TypeMapping.Builder, co.elastic.clients.util.ObjectBuilder<TypeMapping>> mapping(
            int dims, ElasticsearchOptions options, Map<String, JsonData> meta) {
        DenseVectorIndexOptionsType type = switch (options.type()) {
            case HNSW -> DenseVectorIndexOptionsType.Hnsw;
            case INT8_HNSW -> DenseVectorIndexOptionsType.Int8Hnsw;
            case FLAT -> DenseVectorIndexOptionsType.Flat;
        };
        return m -> m.dynamic(DynamicMapping.Strict)
                .meta(meta)
                .properties(CatalogDocument.VECTOR, p -> p.denseVector(d -> d.dims(dims).index(true)
                        .similarity(DenseVectorSimilarity.DotProduct)
                        .indexOptions(o -> {
                            o.type(type);
                            if (options.type() != VectorIndexType.FLAT) {
                                o.m(options.m()).efConstruction(options.efConstruction());
                            }
                            return o;
                        })))
                .properties(CatalogDocument.PATH, p -> p.keyword(k -> k))
                .properties(CatalogDocument.ITEM_ID, p -> p.keyword(k -> k))
                .properties(CatalogDocument.CATEGORY, p -> p.keyword(k -> k))
                .properties(CatalogDocument.ORD, p -> p.long_(l -> l));
    }

    /**
     * Points the alias at this catalog's concrete index in one atomic request (removing it from
     * the index it pointed at), then deletes the replaced indices and their PCA state when
     * {@link ElasticsearchOptions#deleteReplaced()}.
     */
    public void publish() {
        String alias = location.name();
        List<String> old = call("swap alias " + alias, () -> client.indices().existsAlias(e -> e.name(alias)).value()
                ? List.copyOf(client.indices().getAlias(g -> g.name(alias)).result().keySet())
                : List.<String>of());
        call("swap alias " + alias, () -> client.indices().updateAliases(u -> {
            for (String index : old) {
                if (!index.equals(concreteIndex)) {
                    u.actions(a -> a.remove(r -> r.index(index).alias(alias)));
                }
            }
            return u.actions(a -> a.add(ad -> ad.index(concreteIndex).alias(alias)));
        }));
        searchTarget = alias;
        if (options.deleteReplaced()) {
            for (String index : old) {
                if (!index.equals(concreteIndex)) {
                    call("delete replaced index " + index, () -> {
                        client.indices().delete(d -> d.index(index));
                        String state = stateIndex(location);
                        if (client.indices().exists(e -> e.index(state)).value()) {
                            client.delete(d -> d.index(state).id(index));
                        }
                        return null;
                    });
                }
            }
        }
    }

    /** Bulk-load settings: no replicas and no refreshes while a build writes (replicas are copied once at the end). */
    void beginBulkLoad() {
        call("prepare " + concreteIndex + " for bulk loading", () -> client.indices().putSettings(p -> p.index(concreteIndex)
                .settings(s -> s.numberOfReplicas("0").refreshInterval(t -> t.time("-1")))));
    }

    /**
     * Restores refreshes and replicas, then waits until every copy is allocated (green). The
     * primary is flushed first, so that replicas start as a copy of its segment files (HNSW
     * graphs included) instead of replaying the translog and building their graphs again.
     */
    void endBulkLoad() {
        call("finish bulk loading into " + concreteIndex, () -> {
            client.indices().putSettings(p -> p.index(concreteIndex).settings(s -> s.refreshInterval(t -> t.time("1s"))));
            client.indices().refresh(r -> r.index(concreteIndex));
            client.indices().flush(f -> f.index(concreteIndex).waitIfOngoing(true));
            client.indices().putSettings(p -> p.index(concreteIndex)
                    .settings(s -> s.numberOfReplicas(String.valueOf(options.replicas()))));
            return null;
        });
        waitForGreen(java.util.concurrent.TimeUnit.MINUTES.toNanos(30));
    }

    /**
     * Waits, in steps shorter than the socket timeout, until this index is green. A health
     * request that times out answers HTTP 408, which the client raises as an exception.
     */
    private void waitForGreen(long limitNanos) {
        long waitSeconds = Math.max(1, Math.min(30, options.timeout().toSeconds() / 2));
        long deadline = System.nanoTime() + limitNanos;
        String status = "unknown";
        while (System.nanoTime() < deadline) {
            try {
                var health = client.cluster().health(h -> h.index(concreteIndex).waitForStatus(HealthStatus.Green)
                        .timeout(t -> t.time(waitSeconds + "s")));
                status = health.status().jsonValue();
                if (!health.timedOut()) {
                    return;
                }
            } catch (IOException | ElasticsearchException e) {
                if (!isHttpStatus(e, 408)) {
                    // Not a timeout: report it as every other call does.
                    call("wait for green health of " + concreteIndex, () -> {
                        if (e instanceof IOException io) throw io;
                        throw (ElasticsearchException) e;
                    });
                }
                status = "not green (408)";
            }
        }
        throw new BackendException(AtelierException.BACKEND, "index " + concreteIndex + " did not reach green health in "
                + java.util.concurrent.TimeUnit.NANOSECONDS.toMinutes(limitNanos) + " min (" + status + "): its replicas are not allocated");
    }

    private static boolean isHttpStatus(Throwable e, int status) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.elasticsearch.client.ResponseException r && r.getResponse().getStatusLine().getStatusCode() == status) {
                return true;
            }
            if (t instanceof ElasticsearchException ee && ee.status() == status) {
                return true;
            }
        }
        return false;
    }

    /** Makes everything written so far visible to searches and counts. */
    public void refresh() {
        call("refresh " + concreteIndex, () -> client.indices().refresh(r -> r.index(concreteIndex)));
    }

    /** One bulk item that failed: its position in the request, HTTP status and reason. */
    record ItemFailure(int position, int status, String type, String reason) {
        boolean retryable() {
            return BulkIndexer.isRetryable(status);
        }
    }

    /**
     * Writes documents (id = {@link CatalogDocument#idOf}) in one bulk request and returns the
     * items that failed; a whole-request failure throws ({@link ElasticsearchException} with its
     * status, or IOException when no node answers).
     */
    List<ItemFailure> writeBulk(List<CatalogDocument> docs) throws IOException {
        BulkResponse response = client.bulk(b -> {
            b.index(concreteIndex);
            for (CatalogDocument doc : docs) {
                String id = CatalogDocument.idOf(doc.item());
                b.operations(op -> op.index(i -> i.id(id).document(doc)));
            }
            return b;
        });
        List<ItemFailure> failed = new ArrayList<>();
        if (response.errors()) {
            List<BulkResponseItem> items = response.items();
            for (int i = 0; i < items.size(); i++) {
                BulkResponseItem item = items.get(i);
                if (item.error() != null) {
                    failed.add(new ItemFailure(i, item.status(), item.error().type(), item.error().reason()));
                }
            }
        }
        return failed;
    }

    @Override
    public List<CatalogSearch.Hit> search(float[] query, int k, Optional<String> category) {
        checkK(k);
        float[] q = projection.apply(new float[][] {query})[0];
        SearchResponse<CatalogDocument> response = read("kNN search of " + searchTarget, () -> {
            SearchResponse<CatalogDocument> r = client.search(s -> s.index(searchTarget).knn(knn(q, k, category)).size(k)
                    .source(src -> src.filter(f -> f.excludes(CatalogDocument.VECTOR))), CatalogDocument.class);
            if (r.shards().failed().intValue() > 0) {
                // Partial results: a shard copy was lost under the search (a node leaving); its replica answers a retry.
                throw new TransientFailure(r.shards().failed() + " of " + r.shards().total() + " shards failed: " + r.shards().failures());
            }
            return r;
        });
        return hits(response.hits().hits());
    }

    @Override
    public List<List<CatalogSearch.Hit>> searchBatch(float[][] queries, int k, Optional<String> category) {
        checkK(k);
        if (queries.length == 0) {
            return List.of();
        }
        float[][] projected = projection.apply(queries);
        MsearchResponse<CatalogDocument> response = read("kNN multi-search of " + searchTarget, () -> {
            MsearchResponse<CatalogDocument> r = client.msearch(m -> {
                for (float[] q : projected) {
                    m.searches(s -> s.header(h -> h.index(searchTarget)).body(b -> b.knn(knn(q, k, category)).size(k)
                            .source(src -> src.filter(f -> f.excludes(CatalogDocument.VECTOR)))));
                }
                return m;
            }, CatalogDocument.class);
            for (MultiSearchResponseItem<CatalogDocument> item : r.responses()) {
                if (item.isFailure() && TRANSIENT_STATUS.contains(item.failure().status())) {
                    throw new TransientFailure(item.failure().status() + " " + item.failure().error().reason());
                }
                // Partial results, as in search(): an item answered by the surviving shards only
                // (a shard copy lost under it) has k hits but misses a shard's; its replica answers a retry.
                if (!item.isFailure() && item.result().shards().failed().intValue() > 0) {
                    throw new TransientFailure("a multi-search item: " + item.result().shards().failed() + " of "
                            + item.result().shards().total() + " shards failed: " + item.result().shards().failures());
                }
            }
            return r;
        });
        List<List<CatalogSearch.Hit>> out = new ArrayList<>(queries.length);
        for (MultiSearchResponseItem<CatalogDocument> item : response.responses()) {
            if (item.isFailure()) {
                throw new BackendException(AtelierException.BACKEND, "kNN multi-search of " + searchTarget + ": " + item.failure().error().reason());
            }
            out.add(hits(item.result().hits().hits()));
        }
        return List.copyOf(out);
    }

    private KnnSearch knn(float[] q, int k, Optional<String> category) {
        List<Float> vector = new ArrayList<>(q.length);
        for (float v : q) {
            vector.add(v);
        }
        return KnnSearch.of(kn -> {
            kn.field(CatalogDocument.VECTOR).queryVector(vector).k(k).numCandidates(Math.max(k, options.numCandidates()));
            if (options.rescoreOversample() > 0) {
                kn.rescoreVector(r -> r.oversample(options.rescoreOversample()));
            }
            category.ifPresent(c -> kn.filter(f -> f.term(t -> t.field(CatalogDocument.CATEGORY).value(c))));
            return kn;
        });
    }

    private static List<CatalogSearch.Hit> hits(List<co.elastic.clients.elasticsearch.core.search.Hit<CatalogDocument>> found) {
        List<CatalogSearch.Hit> out = new ArrayList<>(found.size());
        for (co.elastic.clients.elasticsearch.core.search.Hit<CatalogDocument> h : found) {
            CatalogDocument doc = h.source();
            // Elasticsearch dot_product score = (1 + dot) / 2 (dense_vector similarity docs).
            float cos = h.score() == null ? Float.NaN : (float) (2 * h.score() - 1);
            out.add(new CatalogSearch.Hit(doc.item(), doc.ord(), cos));
        }
        return List.copyOf(out);
    }

    /**
     * Adds items (ords continue after {@link #count()}) in one bulk request and refreshes; any
     * failed item throws. For large catalogs use {@link BulkIndexer}.
     */
    @Override
    public synchronized void add(float[][] vectors, List<CatalogItem> items) {
        // synchronized: new ords start at count(), so two adds at once would number alike.
        if (vectors.length != items.size()) {
            throw new InvalidInputException(vectors.length + " vectors for " + items.size() + " items");
        }
        if (vectors.length == 0) {
            return;
        }
        float[][] projected = projection.apply(vectors);
        long base = count();
        List<CatalogDocument> docs = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            docs.add(CatalogDocument.of(items.get(i), base + i, projected[i]));
        }
        List<ItemFailure> failed = call("bulk add to " + concreteIndex, () -> writeBulk(docs));
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
        return read("count " + searchTarget, () -> client.count(c -> c.index(searchTarget)).count());
    }

    @Override
    public int inputDimension() {
        return projection.inputDimension();
    }

    /** Documents per category (a terms aggregation over the keyword field). */
    public Map<String, Long> categoryCounts() {
        SearchResponse<Void> response = read("category counts of " + searchTarget, () -> client.search(s -> s.index(searchTarget).size(0)
                .aggregations("categories", a -> a.terms(t -> t.field(CatalogDocument.CATEGORY).size(MAX_CATEGORIES))), Void.class));
        Map<String, Long> out = new LinkedHashMap<>();
        for (var bucket : response.aggregations().get("categories").sterms().buckets().array()) {
            out.put(bucket.key().stringValue(), bucket.docCount());
        }
        return out;
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
        return location;
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
        return searchTarget.equals(location.name());
    }

    /** The client, for callers that need more of Elasticsearch than this class offers (tests, tools). */
    public ElasticsearchClient client() {
        return client;
    }

    @Override
    public void close() {
        closeQuietly(rest);
        if (pca != null) {
            pca.close();
        }
    }

    static String stateIndex(ElasticsearchLocation location) {
        return location.name() + "-atelier-state";
    }

    @FunctionalInterface
    interface EsCall<T> {
        T call() throws IOException;
    }

    private <T> T call(String what, EsCall<T> body) {
        return call(location, what, body);
    }

    /** HTTP statuses of failures that pass: overload, or a node gone from under a request. */
    static final java.util.Set<Integer> TRANSIENT_STATUS = java.util.Set.of(429, 502, 503, 504);
    /** Tries of a read before its failure is reported (waits 50, 100, 200 ms between). */
    static final int READ_ATTEMPTS = 4;

    /** A read failed in a way that a retry on the cluster can mend (see {@link #read}). */
    static final class TransientFailure extends IOException {
        TransientFailure(String message) {
            super(message);
        }
    }

    /**
     * An idempotent read (search, count): {@link #call} with retries. When a node leaves, the
     * searches it was serving fail (502 "node_disconnected", lost shard copies, a closed
     * connection) until the coordinating node routes to the replica; such failures, and
     * overload (429), are retried up to READ_ATTEMPTS times with a short back-off, so that a
     * search running across a node's failure still answers. Other failures are reported at once.
     */
    private <T> T read(String what, EsCall<T> body) {
        for (int attempt = 1; ; attempt++) {
            Exception failure;
            boolean retry;
            try {
                return body.call();
            } catch (ElasticsearchException e) {
                failure = e;
                retry = TRANSIENT_STATUS.contains(e.status()) || shardCopyLost(e);
            } catch (IOException e) {
                failure = e;
                retry = transientCause(e);
            }
            if (!retry || attempt >= READ_ATTEMPTS) {
                throw failure(location, what, failure);
            }
            LOG.debug("{} failed (attempt {} of {}), retrying: {}", what, attempt, READ_ATTEMPTS, failure.getMessage());
            try {
                Thread.sleep(50L << (attempt - 1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AtelierException.CancelledException(what + " interrupted while retrying");
            }
        }
    }

    /**
     * Root causes that mean a shard copy was not reachable for a moment (a node leaving or the
     * replica being promoted), whatever status the search reports: 404 "all shards failed" when
     * the copy's shard is gone from the node that was asked, or when the node holding a kNN
     * search's context (made in its first phase) stopped before the second.
     */
    static final java.util.Set<String> SHARD_COPY_LOST = java.util.Set.of("node_disconnected_exception",
            "node_not_connected_exception", "connect_transport_exception", "node_closed_exception",
            "no_shard_available_action_exception", "shard_not_found_exception", "unavailable_shards_exception",
            "search_context_missing_exception");

    private static boolean shardCopyLost(ElasticsearchException e) {
        if (e.error() == null) {
            return false;
        }
        if (SHARD_COPY_LOST.contains(e.error().type())) {
            return true;
        }
        return e.error().rootCause().stream().anyMatch(c -> SHARD_COPY_LOST.contains(c.type()));
    }

    private static boolean transientCause(Throwable cause) {
        if (cause instanceof TransientFailure) {
            return true;
        }
        if (cause instanceof org.elasticsearch.client.ResponseException r) {
            return TRANSIENT_STATUS.contains(r.getResponse().getStatusLine().getStatusCode());
        }
        return cause instanceof IOException; // connection refused, reset or timed out: another node may answer
    }

    /** Runs body, with its failures as {@link #failure} maps them. */
    static <T> T call(ElasticsearchLocation location, String what, EsCall<T> body) {
        try {
            return body.call();
        } catch (ElasticsearchException | IOException e) {
            throw failure(location, what, e);
        }
    }

    /** The client's failures as Atelier's: unreachable nodes and Elasticsearch errors, with what was being done. */
    static AtelierException failure(ElasticsearchLocation location, String what, Exception e) {
        if (e instanceof ElasticsearchException es) {
            return new BackendException(AtelierException.BACKEND, "Elasticsearch at " + location + " refused to " + what + ": "
                    + es.status() + " " + (es.error() == null ? es.getMessage() : es.error().type() + ": " + es.error().reason()
                    + (es.error().rootCause().isEmpty() ? "" : " (" + es.error().rootCause().getFirst().type() + ": "
                    + es.error().rootCause().getFirst().reason() + ")")));
        }
        return new ClusterUnreachableException("cannot reach Elasticsearch at " + location + " to " + what + ": " + e, e);
    }

    static RestClient connect(ElasticsearchLocation location, ElasticsearchOptions options) {
        HttpHost[] hosts = location.hosts().stream().map(h -> new HttpHost(h.host(), h.port(), "http")).toArray(HttpHost[]::new);
        return RestClient.builder(hosts)
                .setRequestConfigCallback(r -> r.setConnectTimeout(5_000)
                        .setSocketTimeout(Math.toIntExact(options.timeout().toMillis())))
                .build();
    }

    static JacksonJsonpMapper mapper() {
        ObjectMapper json = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
        return new JacksonJsonpMapper(json);
    }

    private static Pca copy(Pca pca) {
        byte[] bytes = pca.toBytes();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(bytes.length);
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            return Pca.fromBytes(data);
        }
    }

    private static void checkK(int k) {
        if (k <= 0) {
            throw new InvalidInputException("k must be positive, got " + k);
        }
    }

    private static void closeQuietly(RestClient rest) {
        try {
            rest.close();
        } catch (IOException ignored) {
            // closing a client whose connections are gone
        }
    }
}
