package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.BoundingBox;
import java.util.List;
import java.util.Optional;

/**
 * One image read from a catalog: what the index stores, plus its box, split and attribute labels
 * (pattern, colour, fabric: DeepFashion's list_attr files) when the catalog gives them.
 */
public record CatalogImage(CatalogItem item, Optional<BoundingBox> bbox, Split split, List<String> attributes) {
    public CatalogImage {
        attributes = List.copyOf(attributes);
    }

    public CatalogImage(CatalogItem item, Optional<BoundingBox> bbox, Split split) {
        this(item, bbox, split, List.of());
    }
}
