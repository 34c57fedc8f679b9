package dev.atelier.engine.index.es;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.time.Duration;

/**
 * Settings of an Elasticsearch catalog.
 *
 * @param type           dense_vector index_options type
 * @param m              HNSW graph degree (Elasticsearch's default 16)
 * @param efConstruction HNSW build breadth (Elasticsearch's default 100)
 * @param shards         primary shards of a new index
 * @param replicas       replicas of each shard (1: every search still answers when one node dies)
 * @param numCandidates  kNN candidates per shard (at least k); Atelier's default 100 reaches
 *                       recall@5 >= 0.99 against exact search on 100,000 clustered vectors
 * @param timeout        socket timeout of one request
 * @param deleteReplaced delete the concrete index an alias swap replaced
 * @param rescoreOversample 0: off; otherwise kNN searches ask for k * oversample candidates on
 *                       the quantized vectors and rescore them with the full-precision ones
 *                       (Elasticsearch's {@code rescore_vector}; for int8_hnsw, whose recall
 *                       alone stays below hnsw's)
 */
public record ElasticsearchOptions(
        VectorIndexType type,
        int m,
        int efConstruction,
        int shards,
        int replicas,
        int numCandidates,
        Duration timeout,
        boolean deleteReplaced,
        float rescoreOversample) {
    public ElasticsearchOptions {
        if (!(rescoreOversample == 0 || rescoreOversample >= 1 && rescoreOversample <= 10)) {
            throw new InvalidInputException("rescore oversample " + rescoreOversample + " is out of range: 0 (off) or 1 to 10");
        }
        if (m <= 0 || efConstruction <= 0 || shards <= 0 || replicas < 0 || numCandidates <= 0) {
            throw new InvalidInputException("Elasticsearch settings out of range: m " + m + ", ef_construction "
                    + efConstruction + ", shards " + shards + ", replicas " + replicas + ", num_candidates " + numCandidates);
        }
    }

    /** hnsw, m 16, ef_construction 100, 1 shard, 1 replica, num_candidates 100, 60 s timeout, no rescoring. */
    public static ElasticsearchOptions defaults() {
        return new ElasticsearchOptions(VectorIndexType.HNSW, 16, 100, 1, 1, 100, Duration.ofSeconds(60), true, 0f);
    }

    public ElasticsearchOptions withType(VectorIndexType value) {
        return new ElasticsearchOptions(value, m, efConstruction, shards, replicas, numCandidates, timeout, deleteReplaced, rescoreOversample);
    }

    public ElasticsearchOptions withShards(int value) {
        return new ElasticsearchOptions(type, m, efConstruction, value, replicas, numCandidates, timeout, deleteReplaced, rescoreOversample);
    }

    public ElasticsearchOptions withReplicas(int value) {
        return new ElasticsearchOptions(type, m, efConstruction, shards, value, numCandidates, timeout, deleteReplaced, rescoreOversample);
    }

    public ElasticsearchOptions withNumCandidates(int value) {
        return new ElasticsearchOptions(type, m, efConstruction, shards, replicas, value, timeout, deleteReplaced, rescoreOversample);
    }

    public ElasticsearchOptions withTimeout(Duration value) {
        return new ElasticsearchOptions(type, m, efConstruction, shards, replicas, numCandidates, value, deleteReplaced, rescoreOversample);
    }

    public ElasticsearchOptions withRescoreOversample(float value) {
        return new ElasticsearchOptions(type, m, efConstruction, shards, replicas, numCandidates, timeout, deleteReplaced, value);
    }
}
