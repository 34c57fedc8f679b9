package dev.atelier.engine.catalog;

import dev.atelier.engine.embed.ImageInput;
import java.nio.file.Path;
import java.util.List;

/**
 * The images of a catalog in list order, and the problems met while reading it that did not
 * stop the reading (missing images, which are skipped).
 *
 * @param root     the catalog folder; item paths are relative to it
 * @param images   the images found
 * @param problems one line per skipped image or other non-fatal problem
 */
public record Catalog(Path root, List<CatalogImage> images, List<String> problems) {
    public Catalog {
        images = List.copyOf(images);
        problems = List.copyOf(problems);
    }

    /** The image file of an item. */
    public Path resolve(CatalogItem item) {
        return root.resolve(item.path());
    }

    /** An image as embedder input: its file (absolute), cropped to its box when the catalog gives one. */
    public ImageInput input(CatalogImage image) {
        Path file = resolve(image.item()).toAbsolutePath();
        return image.bbox().map(b -> ImageInput.of(file, b)).orElse(ImageInput.of(file));
    }

    public List<CatalogItem> items() {
        return images.stream().map(CatalogImage::item).toList();
    }
}
