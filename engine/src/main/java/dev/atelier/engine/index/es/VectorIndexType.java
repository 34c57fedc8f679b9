package dev.atelier.engine.index.es;

import dev.atelier.engine.util.EnumNames;
import java.util.List;

/**
 * How Elasticsearch indexes the {@code dense_vector} field ({@code index_options.type}).
 * Elasticsearch 8.x picks int8_hnsw for 128 dimensions by default, which lost recall on
 * Atelier's vectors (recall@5 0.898 at num_candidates 100 against float hnsw's 0.9994,
 * benchmarks/search/results-es-2026-11-28.md); Atelier's default is float hnsw.
 */
public enum VectorIndexType {
    /** HNSW over float32 vectors: best recall. */
    HNSW("hnsw"),
    /** HNSW over int8-quantised vectors: 4x less memory, lower recall. */
    INT8_HNSW("int8_hnsw"),
    /** Brute force over float32 vectors: exact, slow on large catalogs. */
    FLAT("flat");

    private final String esName;

    VectorIndexType(String esName) {
        this.esName = esName;
    }

    /** The name in an Elasticsearch mapping (and on the command line). */
    public String esName() {
        return esName;
    }

    /** The type whose {@link #esName()} is name ({@link EnumNames#parse}). */
    public static VectorIndexType fromName(String name) {
        return EnumNames.parse(values(), t -> List.of(t.esName), name, "vector index type");
    }
}
