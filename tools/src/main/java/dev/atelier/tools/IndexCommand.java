package dev.atelier.tools;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.catalog.DeepFashionCategory;
import dev.atelier.engine.catalog.DeepFashionInShop;
import dev.atelier.engine.catalog.ImageFolder;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.embed.ImageInput;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.IndexSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier index build|add|info}: the catalog index on FAISS. */
@Command(name = "index", mixinStandardHelpOptions = true,
        description = "Build, extend or describe a catalog index (MobileNetV3 features, PCA to 128-d, FAISS).",
        subcommands = {IndexCommand.Build.class, IndexCommand.Add.class, IndexCommand.Info.class},
        footer = {"", "Examples:",
                "  atelier index build --model mnv3.pth --catalog DeepFashion/ --index cat.idx",
                "  atelier index build --model mnv3.pth --catalog shop/ --factory HNSW32 \\",
                "      --index cat.idx",
                "  atelier index add --model mnv3.pth --catalog new-arrivals/ --index cat.idx",
                "  atelier index info --index cat.idx --json"})
final class IndexCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(IndexCommand.class);

    @Override
    public Integer call() {
        throw new InvalidInputException("choose one of: index build, index add, index info (see atelier index --help)");
    }

    /** Reads a catalog in whichever layout its folder has; reports skipped images. */
    static Catalog readCatalog(Path dir, String layout) {
        String chosen = layout.equals("auto") ? detect(dir) : layout;
        Catalog c = switch (chosen) {
            case "inshop" -> DeepFashionInShop.read(dir);
            case "category" -> DeepFashionCategory.read(dir);
            case "folder" -> ImageFolder.read(dir);
            default -> throw new InvalidInputException("unknown --layout \"" + layout + "\" (known: auto, inshop, category, folder)");
        };
        c.problems().forEach(p -> LOG.warn("{}", p));
        if (!c.problems().isEmpty()) {
            LOG.warn("skipped {} catalog image(s); see the warnings above", c.problems().size());
        }
        if (c.images().isEmpty()) {
            throw new InvalidInputException(dir + ": the catalog has no readable images");
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

    /** Embeds the catalog's images (bounding boxes applied) and returns items with absolute paths. */
    static float[][] embed(ImageEmbedder embedder, Catalog catalog, List<CatalogItem> itemsOut) {
        List<ImageInput> inputs = new ArrayList<>();
        for (CatalogImage image : catalog.images()) {
            Path file = catalog.resolve(image.item()).toAbsolutePath();
            inputs.add(image.bbox().map(b -> ImageInput.of(file, new dev.atelier.engine.embed.BoundingBox(b.x1(), b.y1(), b.x2(), b.y2())))
                    .orElse(ImageInput.of(file)));
            itemsOut.add(new CatalogItem(file.toString(), image.item().itemId(), image.item().category()));
        }
        return embedder.embed(inputs, new ProgressBar("embed", "img"));
    }

    @Command(name = "build", mixinStandardHelpOptions = true, description = "Build a new index from a catalog.",
            footer = {"", "Examples:", "  atelier index build --model mnv3.pth --catalog DeepFashion/ --index cat.idx",
                    "  atelier index build --model mnv3.pth --catalog shop/ --layout folder \\",
                    "      --factory HNSW32 --pca 64 --index shop.idx --json"})
    static final class Build extends CliCommand {
        @Mixin
        EmbedderOptionsMixin embedder;

        @Option(names = "--catalog", required = true, paramLabel = "DIR", description = "DeepFashion In-shop or Category layout, or any folder of images.")
        Path catalog;

        @Option(names = "--layout", defaultValue = "auto", paramLabel = "auto|inshop|category|folder", description = "Catalog layout. Default: ${DEFAULT-VALUE}.")
        String layout;

        @Option(names = "--index", required = true, paramLabel = "DIR", description = "Where to save the index (atomically).")
        Path index;

        @Option(names = "--factory", defaultValue = "Flat", description = "FAISS factory string: Flat (exact, the paper's), HNSW32, IVF1024,PQ32 ... Default: ${DEFAULT-VALUE}.")
        String factory;

        @Option(names = "--pca", defaultValue = "128", paramLabel = "N", description = "PCA output dimensions (0: none). Default: ${DEFAULT-VALUE}.")
        int pca;

        @Override
        public Integer call() {
            Catalog c = readCatalog(catalog, layout);
            List<CatalogItem> items = new ArrayList<>();
            float[][] features;
            try (ImageEmbedder e = embedder.open()) {
                features = embed(e, c, items);
            }
            int dims = pca > 0 && pca < features[0].length ? pca : 0;
            if (dims > 0 && features.length < dims) {
                throw new InvalidInputException("PCA to " + dims + " dimensions needs at least " + dims
                        + " catalog images; the catalog has " + features.length + " (use --pca 0)");
            }
            CatalogIndex.Options options = CatalogIndex.Options.of(IndexSpec.of(factory)).withPca(dims);
            try (CatalogIndex built = CatalogIndex.build(features, items, options)) {
                built.save(index);
                if (json()) {
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("index", index.toString());
                    result.put("items", built.size());
                    result.put("input_dimension", built.inputDimension());
                    result.put("dimension", built.dimension());
                    result.put("faiss", built.description());
                    printJson(result);
                } else {
                    out().println("indexed " + built.size() + " images (" + built.description() + ") into " + index);
                }
            }
            return 0;
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Add a catalog's images to an existing index.",
            footer = {"", "Examples:", "  atelier index add --model mnv3.pth --catalog new-arrivals/ --index cat.idx",
                    "  atelier index add --model mnv3.pth --catalog new-arrivals/ --index cat.idx \\",
                    "      --batch-size 64 --json"})
    static final class Add extends CliCommand {
        @Mixin
        EmbedderOptionsMixin embedder;

        @Option(names = "--catalog", required = true, paramLabel = "DIR", description = "Images to add (any supported layout).")
        Path catalog;

        @Option(names = "--layout", defaultValue = "auto", paramLabel = "auto|inshop|category|folder", description = "Catalog layout. Default: ${DEFAULT-VALUE}.")
        String layout;

        @Option(names = "--index", required = true, paramLabel = "DIR", description = "The index to extend (saved atomically).")
        Path index;

        @Override
        public Integer call() {
            Catalog c = readCatalog(catalog, layout);
            try (CatalogIndex existing = CatalogIndex.load(index)) {
                List<CatalogItem> items = new ArrayList<>();
                float[][] features;
                try (ImageEmbedder e = embedder.open()) {
                    features = embed(e, c, items);
                }
                existing.add(features, items);
                existing.save(index);
                if (json()) {
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("index", index.toString());
                    result.put("added", items.size());
                    result.put("items", existing.size());
                    printJson(result);
                } else {
                    out().println("added " + items.size() + " images; " + index + " now holds " + existing.size());
                }
            }
            return 0;
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Describe an index: size, dimensions, FAISS index, categories.",
            footer = {"", "Examples:", "  atelier index info --index cat.idx", "  atelier index info --index cat.idx --json"})
    static final class Info extends CliCommand {
        @Option(names = "--index", required = true, paramLabel = "DIR", description = "The index folder.")
        Path index;

        @Override
        public Integer call() {
            try (CatalogIndex i = CatalogIndex.load(index)) {
                Map<String, Integer> categories = new TreeMap<>();
                i.items().forEach(item -> categories.merge(item.category(), 1, Integer::sum));
                Map<String, Object> info = new LinkedHashMap<>();
                info.put("index", index.toString());
                info.put("items", i.size());
                info.put("input_dimension", i.inputDimension());
                info.put("dimension", i.dimension());
                info.put("faiss", i.description());
                info.put("categories", categories);
                if (json()) {
                    printJson(info);
                } else {
                    info.forEach((k, v) -> out().printf("%-16s %s%n", k, v));
                }
            }
            return 0;
        }
    }
}
