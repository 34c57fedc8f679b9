package dev.atelier.tools.serve;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.eval.ReportFiles;
import dev.atelier.engine.eval.StyleEvaluation;
import dev.atelier.engine.index.CatalogSearch;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the server does with a catalog and the embedder that made its features, as
 * {@code atelier search} and {@code atelier evaluate} do it. Images travel as base64 strings (a
 * {@code data:image/...;base64,} prefix and line breaks allowed).
 * <ul>
 *   <li>{@code POST /atelier/v1/search} {@code {"image", "k": 5, "category"}} answers
 *       {@code {"hits": [{"rank", "path", "item_id", "category", "score"}]}}: the k catalog items of
 *       highest cosine similarity, optionally of one category;</li>
 *   <li>{@code POST /atelier/v1/evaluate} {@code {"generated": [...], "wardrobe": [...], "k": 5,
 *       "category"}} compares generated images with a person's wardrobe photos
 *       ({@link StyleEvaluation}) and answers what {@code atelier evaluate} writes to
 *       evaluation.json ({@link ReportFiles#tree}), the images named {@code generated[i]} and
 *       {@code wardrobe[j]}.</li>
 * </ul>
 */
final class CatalogRoutes {
    /** The most items one search may ask for. */
    static final int MAX_K = 100;
    /** The most images in each list of one evaluation. */
    static final int MAX_IMAGES = 64;

    /** What a server searches with: the embedder that makes the query's features and the catalog. */
    record Catalog(ImageEmbedder embedder, CatalogSearch search) {}

    private final Catalog catalog;
    private final ServerLimits limits;
    private final JsonAnswers answers;

    CatalogRoutes(Catalog catalog, ServerLimits limits, JsonAnswers answers) {
        this.catalog = catalog;
        this.limits = limits;
        this.answers = answers;
    }

    void register(RoutesConfig routes) {
        routes.post("/atelier/v1/search", this::search);
        routes.post("/atelier/v1/evaluate", this::evaluate);
    }

    private void search(Context ctx) {
        JsonFields f = RequestBodies.readFields(ctx, limits.maxBodyBytes(), answers.mapper());
        String image = f.string("image", null);
        if (image == null) {
            throw ApiException.badRequest("image: a base64-encoded image is required");
        }
        int k = f.integer("k", 5, 1, MAX_K);
        Optional<String> category = Optional.ofNullable(f.string("category", null));
        float[] query = features(List.of(Base64Images.decode(image, "image")), List.of("image"))[0];
        List<Map<String, Object>> rows = new ArrayList<>();
        for (CatalogSearch.Hit h : catalog.search().search(query, k, category)) {
            rows.add(h.row(rows.size() + 1));
        }
        answers.write(ctx, 200, Map.of("hits", rows));
    }

    private void evaluate(Context ctx) {
        JsonFields f = RequestBodies.readFields(ctx, limits.maxBodyBytes(), answers.mapper());
        List<String> generated = f.strings("generated", 1, MAX_IMAGES);
        List<String> wardrobe = f.strings("wardrobe", 1, MAX_IMAGES);
        int k = f.integer("k", 5, 1, MAX_K);
        Optional<String> category = Optional.ofNullable(f.string("category", null));
        List<byte[]> images = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (int i = 0; i < generated.size(); i++) {
            names.add("generated[" + i + "]");
            images.add(Base64Images.decode(generated.get(i), names.getLast()));
        }
        for (int i = 0; i < wardrobe.size(); i++) {
            names.add("wardrobe[" + i + "]");
            images.add(Base64Images.decode(wardrobe.get(i), names.getLast()));
        }
        float[][] features = features(images, names);
        List<Path> g = names.subList(0, generated.size()).stream().map(Path::of).toList();
        List<Path> w = names.subList(generated.size(), names.size()).stream().map(Path::of).toList();
        StyleEvaluation.Report report = StyleEvaluation.compare(catalog.search(), g,
                java.util.Arrays.copyOfRange(features, 0, g.size()), w,
                java.util.Arrays.copyOfRange(features, g.size(), features.length), k, category);
        answers.write(ctx, 200, ReportFiles.tree(report));
    }

    /** The images' features: the embedder reads images from files, so the bytes go through a folder of them. */
    private float[][] features(List<byte[]> images, List<String> names) {
        Path dir;
        try {
            dir = Files.createTempDirectory("atelier-images");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stage the images: " + e.getMessage(), e);
        }
        List<Path> files = new ArrayList<>();
        try {
            for (int i = 0; i < images.size(); i++) {
                files.add(Files.write(dir.resolve(i + ".img"), images.get(i)));
            }
            return catalog.embedder().embedPaths(files, Progress.NONE);
        } catch (InvalidInputException e) {
            String message = e.getMessage();
            for (int i = 0; i < files.size(); i++) {
                message = message.replace(files.get(i).toString(), names.get(i));
            }
            throw ApiException.badRequest(message);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stage the images: " + e.getMessage(), e);
        } finally {
            for (Path p : files) {
                p.toFile().delete();
            }
            dir.toFile().delete();
        }
    }
}
