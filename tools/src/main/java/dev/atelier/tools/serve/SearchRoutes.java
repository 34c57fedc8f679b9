package dev.atelier.tools.serve;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogSearch;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Catalog search by image, as {@code atelier search} does it: {@code POST /atelier/v1/search} with
 * {@code {"image": "<base64>", "k": 5, "category": "WOMEN/Dresses"}} (k and category optional; the
 * image may carry a {@code data:image/...;base64,} prefix) answers {@code {"hits": [{"rank",
 * "path", "item_id", "category", "score"}]}}, the k catalog items of highest cosine similarity.
 */
final class SearchRoutes {
    /** The most items one search may ask for. */
    static final int MAX_K = 100;

    /** What a server searches with: the embedder that makes the query's features and the catalog. */
    record Catalog(ImageEmbedder embedder, CatalogSearch search) {}

    private final Catalog catalog;
    private final ServerLimits limits;
    private final JsonAnswers answers;

    SearchRoutes(Catalog catalog, ServerLimits limits, JsonAnswers answers) {
        this.catalog = catalog;
        this.limits = limits;
        this.answers = answers;
    }

    void register(RoutesConfig routes) {
        routes.post("/atelier/v1/search", this::search);
    }

    private void search(Context ctx) {
        JsonFields f = new JsonFields(JsonFields.readObject(RequestBodies.read(ctx, limits.maxBodyBytes()), answers.mapper()));
        String image = f.string("image", null);
        if (image == null) {
            throw ApiException.badRequest("image: a base64-encoded image is required");
        }
        int k = f.integer("k", 5, 1, MAX_K);
        Optional<String> category = Optional.ofNullable(f.string("category", null));
        byte[] bytes;
        try {
            String base64 = image.startsWith("data:") ? image.substring(image.indexOf(',') + 1) : image;
            bytes = Base64.getDecoder().decode(base64.replaceAll("\\s", "")); // line breaks allowed, nothing else
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("image: not base64 (" + e.getMessage() + ")");
        }
        List<CatalogSearch.Hit> hits = catalog.search().search(features(bytes), k, category);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (CatalogSearch.Hit h : hits) {
            rows.add(h.row(rows.size() + 1));
        }
        answers.write(ctx, 200, Map.of("hits", rows));
    }

    /** The query's features: the embedder reads images from files, so the bytes go through one. */
    private float[] features(byte[] image) {
        Path file;
        try {
            file = Files.createTempFile("atelier-query", ".img");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stage the query image: " + e.getMessage(), e);
        }
        try {
            Files.write(file, image);
            return catalog.embedder().embedPaths(List.of(file), Progress.NONE)[0];
        } catch (InvalidInputException e) {
            throw ApiException.badRequest("image: " + e.getMessage().replace(file.toString(), "the image"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stage the query image: " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // a temporary file left in the temporary folder
            }
        }
    }
}
