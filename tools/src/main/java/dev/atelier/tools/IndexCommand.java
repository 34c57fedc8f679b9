package dev.atelier.tools;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.embed.ImageInput;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.index.Pca;
import dev.atelier.engine.index.es.BulkIndexer;
import dev.atelier.engine.index.es.ElasticsearchCatalog;
import dev.atelier.engine.index.es.ElasticsearchLocation;
import dev.atelier.engine.index.es.ElasticsearchOptions;
import dev.atelier.engine.util.FolderLock;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier index build|add|info}: the catalog index on FAISS or Elasticsearch. */
@Command(name = "index", mixinStandardHelpOptions = true,
        description = "Build, extend or describe a catalog index (MobileNetV3 features, PCA to 128-d; FAISS or Elasticsearch).",
        subcommands = {IndexCommand.Build.class, IndexCommand.Add.class, IndexCommand.Info.class},
        footer = {"", "Examples:",
                "  atelier index build --model mnv3.pth --catalog DeepFashion/ --index cat.idx",
                "  atelier index build --model mnv3.pth --catalog shop/ --factory HNSW32 \\",
                "      --index cat.idx",
                "  atelier index add --model mnv3.pth --catalog new-arrivals/ --index cat.idx",
                "  atelier index build --model mnv3.pth --catalog DeepFashion/ \\",
                "      --index es://127.0.0.1:9200,127.0.0.1:9201/shop --replicas 1",
                "  atelier index info --index cat.idx --json"})
final class IndexCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(IndexCommand.class);
    /** Items per bulk request when adding to an Elasticsearch catalog. */
    private static final int ADD_CHUNK = 500;

    @Override
    public Integer call() {
        throw new InvalidInputException("choose one of: index build, index add, index info (see atelier index --help)");
    }

    /** Embeds the catalog's images (bounding boxes applied) and returns items with absolute paths. */
    static float[][] embed(ImageEmbedder embedder, Catalog catalog, List<CatalogItem> itemsOut) {
        List<ImageInput> inputs = new ArrayList<>();
        inputs(catalog, inputs, itemsOut);
        return embedder.embed(inputs, new ProgressBar("embed", "img"));
    }

    /** The catalog's images as embedder inputs (bounding boxes applied) and as items with absolute paths. */
    static void inputs(Catalog catalog, List<ImageInput> inputsOut, List<CatalogItem> itemsOut) {
        for (CatalogImage image : catalog.images()) {
            Path file = catalog.resolve(image.item()).toAbsolutePath();
            inputsOut.add(catalog.input(image));
            itemsOut.add(new CatalogItem(file.toString(), image.item().itemId(), image.item().category()));
        }
    }

    @Command(name = "build", mixinStandardHelpOptions = true, description = "Build a new index from a catalog.",
            footer = {"", "Examples:", "  atelier index build --model mnv3.pth --catalog DeepFashion/ --index cat.idx",
                    "  atelier index build --model mnv3.pth --catalog shop/ --layout folder \\",
                    "      --factory HNSW32 --pca 64 --index shop.idx --json",
                    "  atelier index build --model mnv3.pth --catalog DeepFashion/ \\",
                    "      --index es://127.0.0.1:9200/shop --es-type int8_hnsw --shards 2 --replicas 1",
                    "  (an interrupted Elasticsearch build resumes when run again: see --checkpoint)"})
    static final class Build extends CliCommand {
        @Mixin
        EmbedderOptionsMixin embedder;

        @Mixin
        CatalogFolderOptions catalog;

        @Option(names = "--index", required = true, paramLabel = "DIR|es://HOST:PORT/NAME",
                description = "Where to put the index: a folder (FAISS, saved atomically) or an Elasticsearch catalog "
                        + "(es://host:port[,host:port]/name: a new concrete index, published under the alias NAME when complete).")
        String index;

        @Option(names = "--factory", defaultValue = "Flat", description = "FAISS factory string: Flat (exact, the paper's), HNSW32, IVF1024,PQ32 ... Default: ${DEFAULT-VALUE}.")
        String factory;

        @Option(names = "--pca", defaultValue = "128", paramLabel = "N", description = "PCA output dimensions (0: none). Default: ${DEFAULT-VALUE}.")
        int pca;

        @Mixin
        ElasticsearchBuildOptions es;

        @Override
        public Integer call() {
            if (ElasticsearchLocation.isLocation(index)) {
                ElasticsearchOptions options = es.options(); // bad settings fail before any work
                return buildElasticsearch(catalog.read(), options);
            }
            Catalog c = catalog.read();
            Path index = Path.of(this.index);
            // Held from before the embedding: a second writer of this folder fails at once, not after its work.
            try (FolderLock writer = FolderLock.acquire(index, "atelier index build", Duration.ZERO)) {
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
            }
            return 0;
        }

        /**
         * Streams the catalog into Elasticsearch: producers embed chunks of it while senders
         * write them as bulk requests (BulkIndexer); the PCA is trained first, on a sample spread
         * over the catalog, unless the checkpoint resumes a build (which keeps its stored PCA).
         */
        private int buildElasticsearch(Catalog c, ElasticsearchOptions options) {
            ElasticsearchLocation location = ElasticsearchLocation.parse(index);
            List<ImageInput> inputs = new ArrayList<>();
            List<CatalogItem> items = new ArrayList<>();
            inputs(c, inputs, items);
            Path checkpoint = es.checkpoint(location);
            List<Pca> made = new ArrayList<>();
            try (ImageEmbedder e = embedder.open()) {
                int dims = pca > 0 && pca < e.dim() ? pca : 0;
                Supplier<Pca> pcaForNewIndex = () -> {
                    if (dims == 0) {
                        return null;
                    }
                    List<ImageInput> sample = spread(inputs, Math.max(dims, es.pcaSample));
                    if (sample.size() < dims) {
                        throw new InvalidInputException("PCA to " + dims + " dimensions needs at least " + dims
                                + " catalog images; the catalog has " + sample.size() + " (use --pca 0)");
                    }
                    Pca p = Pca.fit(e.embed(sample, new ProgressBar("pca", "img")), dims);
                    made.add(p);
                    return p;
                };
                BulkIndexer.Source source = new BulkIndexer.Source() {
                    @Override
                    public long size() {
                        return inputs.size();
                    }

                    @Override
                    public BulkIndexer.Chunk read(long start, int count) {
                        int s = Math.toIntExact(start);
                        return new BulkIndexer.Chunk(e.embed(inputs.subList(s, s + count), Progress.NONE), items.subList(s, s + count));
                    }
                };
                ProgressBar bar = new ProgressBar("index", "img");
                BulkIndexer.Listener listener = new BulkIndexer.Listener() {
                    @Override
                    public void onProgress(BulkIndexer.Progress p) {
                        bar.onStep(p.done(), p.total());
                    }

                    @Override
                    public void onRetry(String reason, int attempt, java.time.Duration delay) {
                        LOG.warn("retry {} in {} ms: {}", attempt, delay.toMillis(), reason);
                    }
                };
                BulkIndexer.Result r = BulkIndexer.buildWithLazyPca(location, options, pcaForNewIndex, e.dim(), source,
                        es.bulkOptions(checkpoint), listener, () -> false);
                if (json()) {
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("index", index);
                    result.put("concrete_index", r.index());
                    result.put("items", r.documents());
                    result.put("written_this_run", r.writtenThisRun());
                    result.put("chunks_resumed", r.chunksSkipped());
                    result.put("retried_items", r.retriedItems());
                    result.put("seconds", r.elapsed().toMillis() / 1000.0);
                    printJson(result);
                } else {
                    out().println("indexed " + r.documents() + " images into " + r.index() + ", published as " + location
                            + (r.chunksSkipped() > 0 ? " (resumed: " + r.chunksSkipped() + " chunks were already there)" : ""));
                }
            } finally {
                made.forEach(Pca::close);
            }
            return 0;
        }
    }

    /** n inputs spread evenly over all of them (all when n >= their number). */
    static List<ImageInput> spread(List<ImageInput> all, int n) {
        if (n >= all.size()) {
            return all;
        }
        List<ImageInput> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(all.get((int) ((long) i * all.size() / n)));
        }
        return out;
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Add a catalog's images to an existing index.",
            footer = {"", "Examples:", "  atelier index add --model mnv3.pth --catalog new-arrivals/ --index cat.idx",
                    "  atelier index add --model mnv3.pth --catalog new-arrivals/ --index cat.idx \\",
                    "      --batch-size 64 --json"})
    static final class Add extends CliCommand {
        @Mixin
        EmbedderOptionsMixin embedder;

        @Mixin
        CatalogFolderOptions catalog;

        @Option(names = "--index", required = true, paramLabel = "DIR|es://HOST:PORT/NAME",
                description = "The index to extend: a FAISS folder (saved atomically) or an Elasticsearch catalog.")
        String index;

        @Override
        public Integer call() {
            Catalog c = catalog.read();
            // A FAISS folder is read, extended and saved under its lock: a second writer fails at once
            // instead of saving over the first one's items. Elasticsearch writers need no lock: each
            // document is written on its own and ords are reserved in the cluster (ElasticsearchCatalog.add).
            try (FolderLock writer = ElasticsearchLocation.isLocation(index) ? null
                    : FolderLock.acquire(Path.of(index), "atelier index add", Duration.ZERO);
                    CatalogSearch existing = CatalogSearches.open(index)) {
                List<CatalogItem> items = new ArrayList<>();
                float[][] features;
                try (ImageEmbedder e = embedder.open()) {
                    features = embed(e, c, items);
                }
                // Elasticsearch takes the additions in bulk requests of ADD_CHUNK; FAISS in one go.
                int step = existing instanceof CatalogIndex ? Math.max(1, features.length) : ADD_CHUNK;
                for (int s = 0; s < features.length; s += step) {
                    int e = Math.min(features.length, s + step);
                    existing.add(java.util.Arrays.copyOfRange(features, s, e), items.subList(s, e));
                }
                if (existing instanceof CatalogIndex faiss) {
                    faiss.save(Path.of(index));
                }
                if (json()) {
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("index", index.toString());
                    result.put("added", items.size());
                    result.put("items", existing.count());
                    printJson(result);
                } else {
                    out().println("added " + items.size() + " images; " + index + " now holds " + existing.count());
                }
            }
            return 0;
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Describe an index: size, dimensions, FAISS index, categories.",
            footer = {"", "Examples:", "  atelier index info --index cat.idx", "  atelier index info --index cat.idx --json"})
    static final class Info extends CliCommand {
        @Option(names = "--index", required = true, paramLabel = "DIR|es://HOST:PORT/NAME", description = "The index folder or Elasticsearch catalog.")
        String index;

        @Override
        public Integer call() {
            try (CatalogSearch opened = CatalogSearches.open(index)) {
                Map<String, Object> info = new LinkedHashMap<>();
                info.put("index", index);
                info.put("items", opened.count());
                info.put("input_dimension", opened.inputDimension());
                if (opened instanceof CatalogIndex i) {
                    Map<String, Integer> categories = new TreeMap<>();
                    i.items().forEach(item -> categories.merge(item.category(), 1, Integer::sum));
                    info.put("dimension", i.dimension());
                    info.put("faiss", i.description());
                    info.put("categories", categories);
                } else if (opened instanceof ElasticsearchCatalog es) {
                    info.put("dimension", es.projection().outputDimension());
                    info.put("concrete_index", es.concreteIndex());
                    info.put("categories", new TreeMap<>(es.categoryCounts()));
                }
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
