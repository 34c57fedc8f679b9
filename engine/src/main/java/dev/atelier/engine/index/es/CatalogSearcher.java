package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch._types.KnnSearch;
import co.elastic.clients.elasticsearch.core.MsearchResponse;
import co.elastic.clients.elasticsearch.core.SearchResponse;
import co.elastic.clients.elasticsearch.core.msearch.MultiSearchResponseItem;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.es.RetryPolicy.TransientFailure;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The catalog's reads: kNN searches of projected query vectors, counts and category counts, each
 * sent through {@link ElasticsearchTransport#read} so that a search running across a node's
 * failure retries onto the replica. Responses with failed shards count as transient: the hits of
 * a lost shard copy would be missing.
 */
final class CatalogSearcher {
    /** Most categories {@link #categoryCounts} lists (DeepFashion has 50 fine categories). */
    private static final int MAX_CATEGORIES = 10_000;
    /** Elasticsearch refuses a kNN num_candidates, and a result window, above 10,000. */
    static final int MAX_K = 10_000;

    private final ElasticsearchTransport transport;
    private final ElasticsearchOptions options;

    CatalogSearcher(ElasticsearchTransport transport, ElasticsearchOptions options) {
        this.transport = transport;
        this.options = options;
    }

    /** The k nearest documents of target to q (already projected). */
    List<CatalogSearch.Hit> search(String target, float[] q, int asked, Optional<String> category) {
        int k = checkK(asked);
        SearchResponse<CatalogDocument> response = transport.read("kNN search of " + target, () -> {
            SearchResponse<CatalogDocument> r = transport.client().search(s -> s.index(target).knn(knn(q, k, category)).size(k)
                    .source(src -> src.filter(f -> f.excludes(CatalogDocument.VECTOR))), CatalogDocument.class);
            if (r.shards().failed().intValue() > 0) {
                // Partial results: a shard copy was lost under the search (a node leaving); its replica answers a retry.
                throw new TransientFailure(r.shards().failed() + " of " + r.shards().total() + " shards failed: " + r.shards().failures());
            }
            return r;
        });
        return hits(response.hits().hits());
    }

    /** {@link #search} of every row of projected, in one multi-search request. */
    List<List<CatalogSearch.Hit>> searchBatch(String target, float[][] projected, int asked, Optional<String> category) {
        int k = checkK(asked);
        if (projected.length == 0) {
            return List.of();
        }
        MsearchResponse<CatalogDocument> response = transport.read("kNN multi-search of " + target, () -> {
            MsearchResponse<CatalogDocument> r = transport.client().msearch(m -> {
                for (float[] q : projected) {
                    m.searches(s -> s.header(h -> h.index(target)).body(b -> b.knn(knn(q, k, category)).size(k)
                            .source(src -> src.filter(f -> f.excludes(CatalogDocument.VECTOR)))));
                }
                return m;
            }, CatalogDocument.class);
            for (MultiSearchResponseItem<CatalogDocument> item : r.responses()) {
                if (item.isFailure() && RetryPolicy.retryableStatus(item.failure().status())) {
                    throw new TransientFailure(item.failure().status() + " " + item.failure().error().reason());
                }
                // Partial results, as in search(): an item answered by the surviving shards only
                // (a shard copy lost under it) has k hits but misses a shard's; its replica answers a retry.
                if (!item.isFailure() && item.result().shards().failed().intValue() > 0) {
                    throw new TransientFailure("a multi-search item: " + item.result().shards().failed() + " of "
                            + item.result().shards().total() + " shards failed: " + item.result().shards().failures());
                }
            }
            return r;
        });
        List<List<CatalogSearch.Hit>> out = new ArrayList<>(projected.length);
        for (MultiSearchResponseItem<CatalogDocument> item : response.responses()) {
            if (item.isFailure()) {
                throw new BackendException(AtelierException.BACKEND, "kNN multi-search of " + target + ": " + item.failure().error().reason());
            }
            out.add(hits(item.result().hits().hits()));
        }
        return List.copyOf(out);
    }

    /** Documents of target searchable now (after the last refresh). */
    long count(String target) {
        return transport.read("count " + target, () -> transport.client().count(c -> c.index(target)).count());
    }

    /** Documents per category (a terms aggregation over the keyword field). */
    Map<String, Long> categoryCounts(String target) {
        SearchResponse<Void> response = transport.read("category counts of " + target, () -> transport.client().search(s -> s
                .index(target).size(0)
                .aggregations("categories", a -> a.terms(t -> t.field(CatalogDocument.CATEGORY).size(MAX_CATEGORIES))), Void.class));
        Map<String, Long> out = new LinkedHashMap<>();
        for (var bucket : response.aggregations().get("categories").sterms().buckets().array()) {
            out.put(bucket.key().stringValue(), bucket.docCount());
        }
        return out;
    }

    private KnnSearch knn(float[] q, int k, Optional<String> category) {
        List<Float> vector = new ArrayList<>(q.length);
        for (float v : q) {
            vector.add(v);
        }
        return KnnSearch.of(kn -> {
            kn.field(CatalogDocument.VECTOR).queryVector(vector).k(k).numCandidates(Math.max(k, options.numCandidates()));
            if (options.rescoreOversample() > 0) {
                kn.rescoreVector(r -> r.oversample(options.rescoreOversample()));
            }
            category.ifPresent(c -> kn.filter(f -> f.term(t -> t.field(CatalogDocument.CATEGORY).value(c))));
            return kn;
        });
    }

    private static List<CatalogSearch.Hit> hits(List<co.elastic.clients.elasticsearch.core.search.Hit<CatalogDocument>> found) {
        List<CatalogSearch.Hit> out = new ArrayList<>(found.size());
        for (co.elastic.clients.elasticsearch.core.search.Hit<CatalogDocument> h : found) {
            CatalogDocument doc = h.source();
            // Elasticsearch dot_product score = (1 + dot) / 2 (dense_vector similarity docs).
            float cos = h.score() == null ? Float.NaN : (float) (2 * h.score() - 1);
            out.add(new CatalogSearch.Hit(doc.item(), doc.ord(), cos));
        }
        return List.copyOf(out);
    }

    /** k, clamped to {@link #MAX_K}; a k of 0 or less is bad input. */
    static int checkK(int k) {
        if (k <= 0) {
            throw new InvalidInputException("k must be positive, got " + k);
        }
        return Math.min(k, MAX_K);
    }
}
