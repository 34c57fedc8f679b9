package dev.atelier.tools;

import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.index.es.ElasticsearchOptions;
import picocli.CommandLine.Option;

/**
 * {@code --index} as every command that searches takes it: a FAISS index folder or an
 * Elasticsearch catalog {@code es://host:port[,host:port]/name}, with the kNN settings that
 * only the latter uses.
 */
final class CatalogLocationOptions {
    @Option(names = "--index", required = true, paramLabel = "DIR|es://HOST:PORT/NAME",
            description = "The catalog: a FAISS index folder, or an Elasticsearch catalog (es://host:port[,host:port]/name).")
    String index;

    @Option(names = "--num-candidates", defaultValue = "100", paramLabel = "N",
            description = "Elasticsearch: kNN candidates per shard (at least k). Default: ${DEFAULT-VALUE}.")
    int numCandidates;

    @Option(names = "--rescore-oversample", defaultValue = "0", paramLabel = "X",
            description = "Elasticsearch: rescore k*X candidates with the full vectors (for int8_hnsw; 0: off). Default: ${DEFAULT-VALUE}.")
    float rescoreOversample;

    ElasticsearchOptions elasticsearch() {
        return ElasticsearchOptions.defaults().withNumCandidates(numCandidates).withRescoreOversample(rescoreOversample);
    }

    /** Opens the catalog; the caller closes it. */
    CatalogSearch open() {
        return CatalogSearches.open(index, elasticsearch());
    }
}
