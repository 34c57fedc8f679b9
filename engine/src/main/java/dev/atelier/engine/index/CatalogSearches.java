package dev.atelier.engine.index;

import dev.atelier.engine.index.es.ElasticsearchCatalog;
import dev.atelier.engine.index.es.ElasticsearchLocation;
import dev.atelier.engine.index.es.ElasticsearchOptions;
import java.nio.file.Path;

/**
 * Opens a catalog by its location, as {@code --index} gives it: {@code es://host:port[,host:port]/name}
 * opens an Elasticsearch catalog ({@link ElasticsearchCatalog}); anything else is the folder of
 * a FAISS {@link CatalogIndex}.
 */
public final class CatalogSearches {
    private CatalogSearches() {}

    public static CatalogSearch open(String location) {
        return open(location, ElasticsearchOptions.defaults());
    }

    /** @param esOptions used when location is an Elasticsearch one (num_candidates, timeouts) */
    public static CatalogSearch open(String location, ElasticsearchOptions esOptions) {
        if (ElasticsearchLocation.isLocation(location)) {
            return ElasticsearchCatalog.open(ElasticsearchLocation.parse(location), esOptions);
        }
        return CatalogIndex.load(Path.of(location));
    }
}
