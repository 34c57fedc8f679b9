package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.BoundingBox;
import java.util.Optional;

/** One image read from a catalog: what the index stores, plus its box and split when the catalog gives them. */
public record CatalogImage(CatalogItem item, Optional<BoundingBox> bbox, Split split) {}
