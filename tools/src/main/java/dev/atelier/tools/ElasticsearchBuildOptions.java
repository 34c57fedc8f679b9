package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.es.BulkIndexer;
import dev.atelier.engine.index.es.ElasticsearchLocation;
import dev.atelier.engine.index.es.ElasticsearchOptions;
import dev.atelier.engine.index.es.VectorIndexType;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The settings of {@code atelier index build --index es://...}; ignored for a FAISS index. */
final class ElasticsearchBuildOptions {
    @Option(names = "--es-type", defaultValue = "hnsw", paramLabel = "hnsw|int8_hnsw|flat",
            description = "Elasticsearch: dense_vector index_options type. Default: ${DEFAULT-VALUE}.")
    String type;

    @Option(names = "--shards", defaultValue = "1", paramLabel = "N", description = "Elasticsearch: primary shards. Default: ${DEFAULT-VALUE}.")
    int shards;

    @Option(names = "--replicas", defaultValue = "1", paramLabel = "N",
            description = "Elasticsearch: replicas of each shard (1: searches still answer when a node fails). Default: ${DEFAULT-VALUE}.")
    int replicas;

    @Option(names = "--checkpoint", paramLabel = "FILE",
            description = "Elasticsearch: progress file; a build run again with it resumes where it stopped. "
                    + "Default: .atelier-es-build-NAME.json in the current folder (deleted once the build is published).")
    Path checkpoint;

    @Option(names = "--pca-sample", defaultValue = "20000", paramLabel = "N",
            description = "Elasticsearch: catalog images (spread over it) the PCA is trained on before the bulk load. Default: ${DEFAULT-VALUE}.")
    int pcaSample;

    @Option(names = "--producers", defaultValue = "2", paramLabel = "N",
            description = "Elasticsearch: threads embedding chunks in parallel. Default: ${DEFAULT-VALUE}.")
    int producers;

    ElasticsearchOptions options() {
        return ElasticsearchOptions.defaults().withType(VectorIndexType.fromName(type)).withShards(shards).withReplicas(replicas);
    }

    Path checkpoint(ElasticsearchLocation location) {
        return checkpoint != null ? checkpoint : Path.of(".atelier-es-build-" + location.name() + ".json");
    }

    BulkIndexer.Options bulkOptions(Path checkpointFile) {
        if (pcaSample <= 0) {
            throw new InvalidInputException("--pca-sample must be > 0, got " + pcaSample);
        }
        return BulkIndexer.Options.defaults().withCheckpoint(checkpointFile).withThreads(producers, 2);
    }
}
