package dev.atelier.engine.catalog;

import java.util.Objects;

/**
 * One image of a shop catalog as the index stores it.
 *
 * @param path     the image file, as given by the catalog (relative to its root for DeepFashion)
 * @param itemId   the product it shows (several images, poses, of one item share it); may be ""
 * @param category the clothing category used by search filters; may be ""
 */
public record CatalogItem(String path, String itemId, String category) {
    public CatalogItem {
        Objects.requireNonNull(path, "path");
        itemId = itemId == null ? "" : itemId;
        category = category == null ? "" : category;
    }
}
