package dev.atelier.engine.eval;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogSearch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The paper's evaluation of generated garments: (1) the cosine similarity of every generated
 * image to every wardrobe photo, on MobileNetV3-Large features projected by the catalog's PCA
 * (128-d) and L2-normalised, with the best wardrobe match of each generated image; (2) the k
 * nearest catalog items of each generated image; optionally (3) whether the images are the garment
 * asked for ({@link GarmentCheck}) and (4) how precise catalog search is on the catalog's own
 * query images ({@link RetrievalPrecision}).
 */
public final class StyleEvaluation {
    private StyleEvaluation() {}

    /** A catalog item found for a generated image. */
    public record CatalogMatch(CatalogItem item, float score) {}

    /** Everything about one generated image. */
    public record GeneratedResult(Path image, float[] similarities, int bestWardrobe, float bestSimilarity,
            List<CatalogMatch> catalog) {}

    /**
     * @param wardrobe        the person's photos, in the order of each result's similarities
     * @param results         one per generated image, in order
     * @param meanBest        mean over generated images of their best wardrobe similarity
     * @param meanSimilarity  mean over all (generated, wardrobe) pairs
     */
    public record Report(List<Path> wardrobe, List<GeneratedResult> results, double meanBest, double meanSimilarity,
            Optional<GarmentCheck> garment, Optional<RetrievalPrecision.Result> retrieval) {
        public Report(List<Path> wardrobe, List<GeneratedResult> results, double meanBest, double meanSimilarity) {
            this(wardrobe, results, meanBest, meanSimilarity, Optional.empty(), Optional.empty());
        }

        /** This report with prompt fidelity of its generated images. */
        public Report withGarment(GarmentCheck check) {
            return new Report(wardrobe, results, meanBest, meanSimilarity, Optional.of(check), retrieval);
        }

        /** This report with the precision of catalog search on the catalog's own query images. */
        public Report withRetrieval(RetrievalPrecision.Result r) {
            return new Report(wardrobe, results, meanBest, meanSimilarity, garment, Optional.of(r));
        }
    }

    /** Embeds both image sets, compares them and searches the catalog; progress covers the embedding. */
    public static Report evaluate(ImageEmbedder embedder, CatalogSearch index, List<Path> generated, List<Path> wardrobe,
            int k, Optional<String> category, Progress progress) {
        if (generated.isEmpty()) {
            throw new InvalidInputException("no generated images to evaluate");
        }
        if (wardrobe.isEmpty()) {
            throw new InvalidInputException("no wardrobe photos to compare with");
        }
        List<Path> all = new ArrayList<>(generated);
        all.addAll(wardrobe);
        float[][] features = embedder.embedPaths(all, progress);
        float[][] gen = java.util.Arrays.copyOfRange(features, 0, generated.size());
        float[][] ward = java.util.Arrays.copyOfRange(features, generated.size(), features.length);
        return compare(index, generated, gen, wardrobe, ward, k, category);
    }

    /** The same from features already computed (raw, as the embedder returns them). */
    public static Report compare(CatalogSearch index, List<Path> generated, float[][] generatedFeatures,
            List<Path> wardrobe, float[][] wardrobeFeatures, int k, Optional<String> category) {
        float[][] g = index.project(generatedFeatures);
        float[][] w = index.project(wardrobeFeatures);
        List<List<CatalogSearch.Hit>> hits = index.searchBatch(generatedFeatures, k, category);
        List<GeneratedResult> results = new ArrayList<>();
        double sumBest = 0, sumAll = 0;
        for (int i = 0; i < g.length; i++) {
            float[] sims = new float[w.length];
            int best = 0;
            for (int j = 0; j < w.length; j++) {
                sims[j] = dot(g[i], w[j]);
                sumAll += sims[j];
                if (sims[j] > sims[best]) {
                    best = j;
                }
            }
            sumBest += sims[best];
            List<CatalogMatch> matches = hits.get(i).stream().map(h -> new CatalogMatch(h.item(), h.score())).toList();
            results.add(new GeneratedResult(generated.get(i), sims, best, sims[best], matches));
        }
        return new Report(List.copyOf(wardrobe), List.copyOf(results), sumBest / g.length, sumAll / ((double) g.length * w.length));
    }

    private static float dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return (float) s;
    }
}
