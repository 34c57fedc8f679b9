package dev.atelier.engine.embed;

import java.nio.file.Path;
import java.util.Optional;

/**
 * One image to embed: a file and an optional bounding box cropped out before the transforms.
 *
 * @param path the PNG or JPEG file
 * @param box  the region to keep (PIL crop box), or empty for the whole image
 */
public record ImageInput(Path path, Optional<BoundingBox> box) {
    public static ImageInput of(Path path) {
        return new ImageInput(path, Optional.empty());
    }

    public static ImageInput of(Path path, BoundingBox box) {
        return new ImageInput(path, Optional.of(box));
    }
}
