package dev.atelier.engine.catalog;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Any folder of images, searched recursively in name order: the category of an image is the
 * name of the folder holding it ("" for images at the top), its item id its path without the
 * extension.
 */
public final class ImageFolder {
    static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "webp", "bmp", "gif");

    private ImageFolder() {}

    public static Catalog read(Path root) {
        if (!Files.isDirectory(root)) {
            throw new FormatException(AtelierException.IO, root + ": not a folder");
        }
        List<CatalogImage> images = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.filter(Files::isRegularFile).sorted().toList()) {
                String name = p.getFileName().toString();
                int dot = name.lastIndexOf('.');
                if (dot < 0 || !EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT))) {
                    continue;
                }
                String relative = root.relativize(p).toString().replace('\\', '/');
                Path parent = root.relativize(p).getParent();
                String category = parent == null ? "" : parent.getFileName().toString();
                String itemId = relative.substring(0, relative.length() - (name.length() - dot));
                images.add(new CatalogImage(new CatalogItem(relative, itemId, category), Optional.empty(), Split.NONE));
            }
        } catch (IOException e) {
            throw new FormatException(AtelierException.IO, root + ": cannot list: " + e.getMessage());
        }
        return new Catalog(root, images, List.of());
    }
}
