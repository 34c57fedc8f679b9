package dev.atelier.engine.index.es;

import dev.atelier.engine.util.Sha256;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.atelier.engine.catalog.CatalogItem;

/**
 * One catalog item as an Elasticsearch document (the JSON _source).
 *
 * @param ord    the item's position in the catalog build order: the {@code id} of a search hit
 * @param vector the projected, unit-length vector; null in search results (not fetched)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
record CatalogDocument(
        @JsonProperty("path") String path,
        @JsonProperty("item_id") String itemId,
        @JsonProperty("category") String category,
        @JsonProperty("ord") long ord,
        @JsonProperty("vector") float[] vector) {
    static final String PATH = "path", ITEM_ID = "item_id", CATEGORY = "category", ORD = "ord", VECTOR = "vector";

    static CatalogDocument of(CatalogItem item, long ord, float[] vector) {
        return new CatalogDocument(item.path(), item.itemId(), item.category(), ord, vector);
    }

    CatalogItem item() {
        return new CatalogItem(path, itemId, category);
    }

    /**
     * The document id: SHA-256 of the image path, hex. The same image always gets the same id,
     * so indexing it again overwrites instead of duplicating (re-runs, resumed builds).
     */
    static String idOf(CatalogItem item) {
        return Sha256.hex(item.path());
    }
}
