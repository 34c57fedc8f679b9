package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch._types.HealthStatus;
import co.elastic.clients.elasticsearch._types.Refresh;
import co.elastic.clients.elasticsearch._types.mapping.DenseVectorIndexOptionsType;
import co.elastic.clients.elasticsearch._types.mapping.DenseVectorProperty;
import co.elastic.clients.elasticsearch._types.mapping.DenseVectorSimilarity;
import co.elastic.clients.elasticsearch._types.mapping.DynamicMapping;
import co.elastic.clients.elasticsearch._types.mapping.Property;
import co.elastic.clients.elasticsearch._types.mapping.TypeMapping;
import co.elastic.clients.json.JsonData;
import co.elastic.clients.util.ObjectBuilder;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.Pca;
import dev.atelier.engine.index.VectorProjection;
import dev.atelier.engine.util.Sha256;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The life of a catalog's indices: creating a concrete index with its mapping and stored PCA,
 * opening one and checking that it is an Atelier catalog, the bulk-load settings of a build,
 * and publishing (moving the alias). The layout is described on {@link ElasticsearchCatalog}.
 */
final class CatalogAdmin {
    static final int FORMAT = 1;
    private static final String META_FORMAT = "atelier_format", META_INPUT = "input_dimension", META_PCA = "pca_sha256";
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS");

    private final ElasticsearchTransport transport;
    private final ElasticsearchOptions options;
    private final String concreteIndex;

    CatalogAdmin(ElasticsearchTransport transport, ElasticsearchOptions options, String concreteIndex) {
        this.transport = transport;
        this.options = options;
        this.concreteIndex = concreteIndex;
    }

    /** See {@link ElasticsearchCatalog#open}. */
    static ElasticsearchCatalog open(ElasticsearchLocation location, ElasticsearchOptions options) {
        ElasticsearchTransport transport = ElasticsearchTransport.connect(location, options);
        try {
            ElasticsearchClient c = transport.client();
            List<String> concrete = transport.call("resolve alias", () -> {
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
            return attach(transport, options, concrete.getFirst(), true);
        } catch (RuntimeException e) {
            transport.close();
            throw e;
        }
    }

    /** See {@link ElasticsearchCatalog#create}. */
    static ElasticsearchCatalog create(ElasticsearchLocation location, ElasticsearchOptions options, Pca pca, int inputDimension) {
        Pca own = pca == null ? null : copy(pca);
        int dims = own == null ? inputDimension : own.outputDimension();
        ElasticsearchTransport transport = null;
        try {
            new VectorProjection(own, inputDimension); // validates the dimensions
            transport = ElasticsearchTransport.connect(location, options);
            ElasticsearchClient c = transport.client();
            String concrete = location.name() + "-" + LocalDateTime.now(ZoneOffset.UTC).format(STAMP);
            byte[] pcaBytes = own == null ? null : own.toBytes();
            Map<String, JsonData> meta = new LinkedHashMap<>();
            meta.put(META_FORMAT, JsonData.of(FORMAT));
            meta.put(META_INPUT, JsonData.of(inputDimension));
            meta.put(META_PCA, JsonData.of(pcaBytes == null ? "" : Sha256.hex(pcaBytes)));
            ElasticsearchTransport connected = transport;
            transport.call("create index " + concrete, () -> {
                if (pcaBytes != null) {
                    String state = ensureStateIndex(connected, options.replicas());
                    c.index(i -> i.index(state).id(concrete).document(Map.of("pca", Base64.getEncoder().encodeToString(pcaBytes)))
                            .refresh(Refresh.True));
                }
                c.indices().create(i -> i.index(concrete)
                        .settings(s -> s.numberOfShards(String.valueOf(options.shards()))
                                .numberOfReplicas(String.valueOf(options.replicas())))
                        .mappings(mapping(dims, options, meta)));
                return null;
            });
            return new ElasticsearchCatalog(transport, options, concrete, own, inputDimension, false);
        } catch (RuntimeException e) {
            if (transport != null) transport.close();
            if (own != null) own.close();
            throw e;
        }
    }

    /** Opens an unpublished concrete index made by {@link #create} (to resume a build into it). */
    static ElasticsearchCatalog openConcrete(ElasticsearchLocation location, ElasticsearchOptions options, String concrete) {
        ElasticsearchTransport transport = ElasticsearchTransport.connect(location, options);
        try {
            return attach(transport, options, concrete, false);
        } catch (RuntimeException e) {
            transport.close();
            throw e;
        }
    }

    /** Whether the concrete index exists. */
    static boolean exists(ElasticsearchLocation location, ElasticsearchOptions options, String concrete) {
        try (ElasticsearchTransport transport = ElasticsearchTransport.connect(location, options)) {
            return transport.call("check index " + concrete, () -> transport.client().indices().exists(e -> e.index(concrete)).value());
        }
    }

    private static ElasticsearchCatalog attach(ElasticsearchTransport transport, ElasticsearchOptions options, String concrete,
            boolean published) {
        ElasticsearchClient c = transport.client();
        ElasticsearchLocation location = transport.location();
        TypeMapping mapping = transport.call("read mapping of " + concrete,
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
                pca = readPca(transport, concrete, pcaDigest);
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
            return new ElasticsearchCatalog(transport, options, concrete, pca, inputDimension, published);
        } catch (RuntimeException e) {
            if (pca != null) pca.close();
            throw e;
        }
    }

    /** The PCA stored for concrete in the state index, checked against digest (from the mapping). */
    private static Pca readPca(ElasticsearchTransport transport, String concrete, String digest) {
        String state = stateIndex(transport.location());
        @SuppressWarnings("unchecked")
        Map<String, Object> doc = transport.call("read PCA of " + concrete,
                () -> transport.client().get(g -> g.index(state).id(concrete), Map.class).source());
        if (doc == null || !(doc.get("pca") instanceof String encoded)) {
            throw new FormatException("the PCA of catalog index " + concrete + " is missing from " + state);
        }
        byte[] bytes = Base64.getDecoder().decode(encoded);
        if (!Sha256.hex(bytes).equals(digest)) {
            throw new FormatException("the PCA of catalog index " + concrete + " in " + state + " does not match the digest in its mapping");
        }
        return pcaOf(bytes);
    }

    private static Function<TypeMapping.Builder, ObjectBuilder<TypeMapping>> mapping(
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
     * Points the alias at the concrete index in one atomic request (removing it from the index
     * it pointed at), then deletes the replaced indices and their PCA state when
     * {@link ElasticsearchOptions#deleteReplaced()}.
     */
    void publish() {
        ElasticsearchClient client = transport.client();
        String alias = transport.location().name();
        List<String> old = transport.call("swap alias " + alias, () -> client.indices().existsAlias(e -> e.name(alias)).value()
                ? List.copyOf(client.indices().getAlias(g -> g.name(alias)).result().keySet())
                : List.<String>of());
        transport.call("swap alias " + alias, () -> client.indices().updateAliases(u -> {
            for (String index : old) {
                if (!index.equals(concreteIndex)) {
                    u.actions(a -> a.remove(r -> r.index(index).alias(alias)));
                }
            }
            return u.actions(a -> a.add(ad -> ad.index(concreteIndex).alias(alias)));
        }));
        if (options.deleteReplaced()) {
            for (String index : old) {
                if (!index.equals(concreteIndex)) {
                    transport.call("delete replaced index " + index, () -> {
                        client.indices().delete(d -> d.index(index));
                        String state = stateIndex(transport.location());
                        if (client.indices().exists(e -> e.index(state)).value()) {
                            client.delete(d -> d.index(state).id(index));
                            client.delete(d -> d.index(state).id(OrdCounter.documentId(index)));
                        }
                        return null;
                    });
                }
            }
        }
    }

    /** Bulk-load settings: no replicas and no refreshes while a build writes (replicas are copied once at the end). */
    void beginBulkLoad() {
        transport.call("prepare " + concreteIndex + " for bulk loading", () -> transport.client().indices().putSettings(p -> p
                .index(concreteIndex).settings(s -> s.numberOfReplicas("0").refreshInterval(t -> t.time("-1")))));
    }

    /**
     * Restores refreshes and replicas, then waits until every copy is allocated (green). The
     * primary is flushed first, so that replicas start as a copy of its segment files (HNSW
     * graphs included) instead of replaying the translog and building their graphs again.
     */
    void endBulkLoad() {
        ElasticsearchClient client = transport.client();
        transport.call("finish bulk loading into " + concreteIndex, () -> {
            client.indices().putSettings(p -> p.index(concreteIndex).settings(s -> s.refreshInterval(t -> t.time("1s"))));
            client.indices().refresh(r -> r.index(concreteIndex));
            client.indices().flush(f -> f.index(concreteIndex).waitIfOngoing(true));
            client.indices().putSettings(p -> p.index(concreteIndex)
                    .settings(s -> s.numberOfReplicas(String.valueOf(options.replicas()))));
            return null;
        });
        waitForGreen(TimeUnit.MINUTES.toNanos(30));
    }

    /**
     * Waits, in steps shorter than the socket timeout, until the index is green. A health
     * request that times out answers HTTP 408, which the client raises as an exception.
     */
    private void waitForGreen(long limitNanos) {
        long waitSeconds = Math.max(1, Math.min(30, options.timeout().toSeconds() / 2));
        long deadline = System.nanoTime() + limitNanos;
        String status = "unknown";
        while (System.nanoTime() < deadline) {
            try {
                var health = transport.client().cluster().health(h -> h.index(concreteIndex).waitForStatus(HealthStatus.Green)
                        .timeout(t -> t.time(waitSeconds + "s")));
                status = health.status().jsonValue();
                if (!health.timedOut()) {
                    return;
                }
            } catch (IOException | ElasticsearchException e) {
                if (!ElasticsearchTransport.hasStatus(e, 408)) {
                    // Not a timeout: report it as every other call does.
                    throw ElasticsearchTransport.failure(transport.location(), "wait for green health of " + concreteIndex, e);
                }
                status = "not green (408)";
            }
        }
        throw new BackendException(AtelierException.BACKEND, "index " + concreteIndex + " did not reach green health in "
                + TimeUnit.NANOSECONDS.toMinutes(limitNanos) + " min (" + status + "): its replicas are not allocated");
    }

    /** Makes everything written so far visible to searches and counts. */
    void refresh() {
        transport.call("refresh " + concreteIndex, () -> transport.client().indices().refresh(r -> r.index(concreteIndex)));
    }

    static String stateIndex(ElasticsearchLocation location) {
        return location.name() + "-atelier-state";
    }

    /**
     * The catalog's state index (PCA documents, ord counters), created when missing: one shard,
     * replicas as given, nothing indexed but the mapped PCA field (documents are read by id).
     * Two processes creating it at once both succeed.
     */
    static String ensureStateIndex(ElasticsearchTransport transport, int replicas) {
        ElasticsearchClient c = transport.client();
        String state = stateIndex(transport.location());
        transport.call("create state index " + state, () -> {
            if (!c.indices().exists(e -> e.index(state)).value()) {
                try {
                    c.indices().create(i -> i.index(state)
                            .settings(s -> s.numberOfShards("1").numberOfReplicas(String.valueOf(replicas)))
                            .mappings(m -> m.dynamic(DynamicMapping.False).properties("pca", p -> p.binary(b -> b))));
                } catch (ElasticsearchException e) {
                    if (e.error() == null || !"resource_already_exists_exception".equals(e.error().type())) {
                        throw e;
                    }
                }
            }
            return null;
        });
        return state;
    }

    private static Pca copy(Pca pca) {
        return pcaOf(pca.toBytes());
    }

    private static Pca pcaOf(byte[] bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(bytes.length);
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            return Pca.fromBytes(data);
        }
    }
}
