package dev.atelier.engine.eval;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.Split;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.CatalogSearch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Catalog search judged by labels: each query image of a catalog searches the index, and its k
 * nearest other items (its own item left out, one hit per item) count as right when they have
 * the query's category (garment type) or its pattern. Precision@k is the share of right hits,
 * averaged over queries, overall and per query label.
 *
 * <p>The queries are the catalog's query split (In-shop), else its test split (Category), else
 * every image. A pattern is one of the attribute labels named by {@code patterns} (the
 * embedder's pattern head); a query without one counts for type only.
 */
public final class RetrievalPrecision {
    private RetrievalPrecision() {}

    /**
     * @param byLabel mean precision of the queries with each label
     */
    public record Figure(double precision, int queries, Map<String, Double> byLabel) {}

    /** Precision@k by type, and by pattern when any query has one. */
    public record Result(int k, Figure type, Optional<Figure> pattern) {}

    /** The images that query the catalog in {@link #measure}. */
    public static List<CatalogImage> queries(Catalog catalog) {
        for (Split split : new Split[] {Split.QUERY, Split.TEST}) {
            List<CatalogImage> chosen = catalog.images().stream().filter(i -> i.split() == split).toList();
            if (!chosen.isEmpty()) {
                return chosen;
            }
        }
        return catalog.images();
    }

    /**
     * Searches the index with each query's features and scores its k nearest other items.
     *
     * @param catalog  the catalog the index was built from: the labels of the items found
     * @param queries  images of catalog, in the order of features
     * @param patterns the pattern labels among the attributes (none: no pattern figure)
     */
    public static Result measure(CatalogSearch index, Catalog catalog, List<CatalogImage> queries, float[][] features,
            List<String> patterns, int k) {
        if (queries.isEmpty() || queries.size() != features.length) {
            throw new InvalidInputException("retrieval precision needs one feature row per query image, got "
                    + features.length + " rows for " + queries.size() + " queries");
        }
        if (k < 1) {
            throw new InvalidInputException("retrieval precision: k must be >= 1, got " + k);
        }
        Map<String, Optional<String>> patternOfItem = new HashMap<>();
        for (CatalogImage image : catalog.images()) {
            patternOfItem.putIfAbsent(image.item().itemId(), patternOf(image, patterns));
        }
        // An item has up to a few views and the query's own item is left out: search deeper than k.
        int depth = (int) Math.min(index.count(), 4L * k + 4);
        List<List<CatalogSearch.Hit>> hits = index.searchBatch(features, depth, Optional.empty());
        Tally type = new Tally(), pattern = new Tally();
        for (int q = 0; q < queries.size(); q++) {
            CatalogImage query = queries.get(q);
            Set<String> seen = new HashSet<>();
            seen.add(query.item().itemId());
            Optional<String> queryPattern = patternOf(query, patterns);
            int found = 0, sameType = 0, samePattern = 0;
            for (CatalogSearch.Hit hit : hits.get(q)) {
                if (found == k) {
                    break;
                }
                if (!seen.add(hit.item().itemId())) {
                    continue;
                }
                found++;
                sameType += hit.item().category().equals(query.item().category()) ? 1 : 0;
                if (queryPattern.isPresent() && queryPattern.equals(patternOfItem.getOrDefault(hit.item().itemId(), Optional.empty()))) {
                    samePattern++;
                }
            }
            if (found == 0) {
                continue;
            }
            type.add(query.item().category(), (double) sameType / found);
            if (queryPattern.isPresent()) {
                pattern.add(queryPattern.get(), (double) samePattern / found);
            }
        }
        if (type.count == 0) {
            throw new InvalidInputException("retrieval precision: no query found another catalog item");
        }
        return new Result(k, type.figure(), pattern.count == 0 ? Optional.empty() : Optional.of(pattern.figure()));
    }

    private static Optional<String> patternOf(CatalogImage image, List<String> patterns) {
        return image.attributes().stream().filter(patterns::contains).findFirst();
    }

    /** Sums of per-query precision, overall and per label. */
    private static final class Tally {
        double sum;
        int count;
        final Map<String, double[]> byLabel = new TreeMap<>();

        void add(String label, double precision) {
            sum += precision;
            count++;
            double[] s = byLabel.computeIfAbsent(label, l -> new double[2]);
            s[0] += precision;
            s[1]++;
        }

        Figure figure() {
            Map<String, Double> means = new TreeMap<>();
            byLabel.forEach((label, s) -> means.put(label, s[0] / s[1]));
            return new Figure(sum / count, count, means);
        }
    }
}
