package dev.atelier.tools;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.DeepFashionCategory;
import dev.atelier.engine.catalog.DeepFashionInShop;
import dev.atelier.engine.catalog.ImageFolder;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/** {@code --catalog DIR} and {@code --layout}: a folder of catalog images to index, in one of the layouts Atelier reads. */
final class CatalogFolderOptions {
    private static final Logger LOG = LoggerFactory.getLogger(CatalogFolderOptions.class);

    @Option(names = "--catalog", required = true, paramLabel = "DIR", description = "Catalog images: DeepFashion In-shop or Category layout, or any folder of images.")
    Path catalog;

    @Option(names = "--layout", defaultValue = "auto", paramLabel = "auto|inshop|category|folder", description = "Catalog layout. Default: ${DEFAULT-VALUE}.")
    String layout;

    /** Reads the catalog in the layout given or, with auto, the one its folder has; reports skipped images. */
    Catalog read() {
        return readCatalog(catalog, layout);
    }

    /** The catalog at dir in layout (auto, inshop, category, folder), with skipped images reported. */
    static Catalog readCatalog(Path dir, String layout) {
        Path catalog = dir;
        String chosen = layout.equals("auto") ? detect(catalog) : layout;
        Catalog c = switch (chosen) {
            case "inshop" -> DeepFashionInShop.read(catalog);
            case "category" -> DeepFashionCategory.read(catalog);
            case "folder" -> ImageFolder.read(catalog);
            default -> throw new InvalidInputException("unknown --layout \"" + layout + "\" (known: auto, inshop, category, folder)");
        };
        c.problems().forEach(p -> LOG.warn("{}", p));
        if (!c.problems().isEmpty()) {
            LOG.warn("skipped {} catalog image(s); see the warnings above", c.problems().size());
        }
        if (c.images().isEmpty()) {
            throw new InvalidInputException(catalog + ": the catalog has no readable images");
        }
        return c;
    }

    static String detect(Path dir) {
        if (Files.isRegularFile(dir.resolve("Anno/list_item_inshop.txt")) || Files.isRegularFile(dir.resolve("Anno/list_bbox_inshop.txt"))) {
            return "inshop";
        }
        if (Files.isRegularFile(dir.resolve("Anno/list_category_img.txt"))) {
            return "category";
        }
        return "folder";
    }
}
