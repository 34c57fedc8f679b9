package dev.atelier.tools;

import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogSearch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier search}: the k catalog items closest to an image. */
@Command(name = "search", mixinStandardHelpOptions = true,
        description = "Find the catalog items most similar to an image (cosine on 128-d PCA features).",
        footer = {"", "Examples:", "  atelier search --index catalog.idx --model mnv3.pth --image jacket.png -k 5",
                "  atelier search --index catalog.idx --model mnv3.pth --image jacket.png \\",
                "      --category WOMEN/Jackets_Coats --json",
                "  atelier search --index es://127.0.0.1:9200/shop --model mnv3.pth --image jacket.png"})
final class SearchCommand extends CliCommand {
    @Mixin
    EmbedderOptionsMixin embedder;

    @Mixin
    CatalogLocationOptions catalog;

    @Option(names = "--image", required = true, paramLabel = "PATH", description = "The query image.")
    Path image;

    @Mixin
    NearestItemsOptions nearest;

    @Override
    public Integer call() {
        float[] query;
        try (ImageEmbedder e = embedder.open()) {
            query = e.embedPaths(List.of(image), Progress.NONE)[0];
        }
        try (CatalogSearch i = catalog.open()) {
            List<CatalogSearch.Hit> hits = i.search(query, nearest.k, nearest.category());
            if (json()) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (CatalogSearch.Hit h : hits) {
                    rows.add(h.row(rows.size() + 1));
                }
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("image", image.toString());
                result.put("index", catalog.index);
                result.put("hits", rows);
                printJson(result);
            } else {
                int rank = 1;
                for (CatalogSearch.Hit h : hits) {
                    out().printf(Locale.ROOT, "%d. %.4f  %-24s %-14s %s%n", rank++, h.score(), h.item().category(),
                            h.item().itemId(), h.item().path());
                }
            }
        }
        return 0;
    }
}
