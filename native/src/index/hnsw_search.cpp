#include "index/hnsw_search.hpp"

#include <faiss/IndexFlat.h>
#include <xmmintrin.h>

#include <algorithm>
#include <limits>
#include <queue>
#include <vector>

#include "index/omp_threads.hpp"
#include "index/top_k.hpp"

namespace atl::index {
namespace {

using storage_idx_t = faiss::HNSW::storage_idx_t;

// Marks visited nodes with a per-query stamp, so a new query costs no clearing (until the
// 16-bit stamp wraps, every 65,535 queries on a thread).
class VisitedSet {
public:
    void start(size_t n) {
        if (stamps_.size() < n) stamps_.assign(n, 0), now_ = 0;
        if (++now_ == 0) {
            std::fill(stamps_.begin(), stamps_.end(), 0);
            now_ = 1;
        }
    }
    // Marks id; returns whether it was already marked.
    bool test_and_set(storage_idx_t id) {
        if (stamps_[id] == now_) return true;
        stamps_[id] = now_;
        return false;
    }

private:
    std::vector<uint16_t> stamps_;
    uint16_t now_ = 0;
};

// The walk sees distances, lower is closer: -<q, x> for inner product, |q - x|^2 for L2.
struct Scorer {
    const float* base;
    int64_t d;
    bool inner_product;
    const VectorKernels& kern;
    const float* q;
    float qq;  // |q|^2, for L2

    const float* row(storage_idx_t id) const { return base + static_cast<int64_t>(id) * d; }

    void prefetch(storage_idx_t id) const {
        const char* p = reinterpret_cast<const char*>(row(id));
        for (int64_t off = 0; off < d * static_cast<int64_t>(sizeof(float)); off += 64) {
            _mm_prefetch(p + off, _MM_HINT_T0);
        }
    }

    // dist[j] for the rows at ids[j], j < n (n <= 128).
    void distances(const storage_idx_t* ids, int64_t n, float* dist) const {
        const float* rows[128];
        for (int64_t j = 0; j < n; ++j) rows[j] = row(ids[j]);
        kern.dot_many(q, rows, n, d, dist);
        if (inner_product) {
            for (int64_t j = 0; j < n; ++j) dist[j] = -dist[j];
        } else {
            for (int64_t j = 0; j < n; ++j) {
                float xx;
                kern.dot_rows(rows[j], rows[j], 1, d, &xx);
                dist[j] = std::max(0.0f, qq + xx - 2.0f * dist[j]);
            }
        }
    }
};

struct Layers {
    const faiss::HNSW& hnsw;
    // neighbours of node at layer: [begin, end) in hnsw.neighbors, -1 padding at the end.
    void range(storage_idx_t node, int layer, size_t* begin, size_t* end) const {
        size_t o = hnsw.offsets[node];
        *begin = o + hnsw.cum_nneighbor_per_level[layer];
        *end = o + hnsw.cum_nneighbor_per_level[layer + 1];
    }
};

using Node = std::pair<float, storage_idx_t>;  // (distance, id)

void search_one(const faiss::IndexHNSW& index, const Scorer& scorer, int64_t k, int ef, const faiss::IDSelector* sel,
                VisitedSet& visited, float* out_scores, int64_t* out_ids) {
    const faiss::HNSW& hnsw = index.hnsw;
    Layers layers{hnsw};
    TopK top(k);  // internal "higher is better": -distance
    auto offer = [&](float dist, storage_idx_t id) {
        if (sel == nullptr || sel->is_member(id)) top.push(-dist, id);
    };
    if (hnsw.entry_point >= 0) {
        storage_idx_t nearest = hnsw.entry_point;
        float d_nearest;
        scorer.distances(&nearest, 1, &d_nearest);
        storage_idx_t batch[128];
        float dist[128];
        // Greedy descent through the upper layers.
        for (int layer = hnsw.max_level; layer >= 1; --layer) {
            for (bool moved = true; moved;) {
                moved = false;
                size_t b, e;
                layers.range(nearest, layer, &b, &e);
                int64_t n = 0;
                for (size_t i = b; i < e && hnsw.neighbors[i] >= 0 && n < 128; ++i) batch[n++] = hnsw.neighbors[i];
                for (int64_t j = 0; j < n; ++j) scorer.prefetch(batch[j]);
                scorer.distances(batch, n, dist);
                for (int64_t j = 0; j < n; ++j) {
                    if (dist[j] < d_nearest) nearest = batch[j], d_nearest = dist[j], moved = true;
                }
            }
        }
        // Best-first search of layer 0.
        visited.start(static_cast<size_t>(index.ntotal));
        std::priority_queue<Node, std::vector<Node>, std::greater<Node>> candidates;  // nearest on top
        std::priority_queue<Node> found;                                             // farthest on top
        visited.test_and_set(nearest);
        candidates.emplace(d_nearest, nearest);
        found.emplace(d_nearest, nearest);
        offer(d_nearest, nearest);
        while (!candidates.empty()) {
            auto [d_c, c] = candidates.top();
            if (d_c > found.top().first && static_cast<int>(found.size()) >= ef) break;
            candidates.pop();
            size_t b, e;
            layers.range(c, 0, &b, &e);
            int64_t n = 0;
            for (size_t i = b; i < e && n < 128; ++i) {
                storage_idx_t v = hnsw.neighbors[i];
                if (v < 0) break;
                if (!visited.test_and_set(v)) batch[n++] = v;
            }
            for (int64_t j = 0; j < n; ++j) scorer.prefetch(batch[j]);
            scorer.distances(batch, n, dist);
            for (int64_t j = 0; j < n; ++j) {
                offer(dist[j], batch[j]);
                if (static_cast<int>(found.size()) < ef || dist[j] < found.top().first) {
                    candidates.emplace(dist[j], batch[j]);
                    found.emplace(dist[j], batch[j]);
                    if (static_cast<int>(found.size()) > ef) found.pop();
                }
            }
        }
    }
    bool ip = scorer.inner_product;
    float empty = ip ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max();
    // top holds -distance: for inner product that is <q, x>; for L2, -|q - x|^2.
    top.write(ip ? 1.0f : -1.0f, empty, out_scores, out_ids);
}

}  // namespace

bool hnsw_search_supports(const faiss::IndexHNSW& index) {
    auto flat = dynamic_cast<const faiss::IndexFlat*>(index.storage);
    return flat != nullptr && index.reconstruct_from_neighbors == nullptr &&
           (index.metric_type == faiss::METRIC_INNER_PRODUCT || index.metric_type == faiss::METRIC_L2) &&
           flat->metric_type == index.metric_type && index.hnsw.cum_nneighbor_per_level.size() >= 2 &&
           index.hnsw.nb_neighbors(0) <= 128;
}

void hnsw_search(const VectorKernels& kern, const faiss::IndexHNSW& index, const float* queries, int64_t nq, int64_t k,
                 int ef_search, const faiss::IDSelector* sel, float* scores, int64_t* ids) {
    const auto* flat = static_cast<const faiss::IndexFlat*>(index.storage);
    const int ef = std::max<int>(ef_search, static_cast<int>(std::min<int64_t>(k, std::numeric_limits<int>::max())));
    const int64_t d = index.d;
    const bool ip = index.metric_type == faiss::METRIC_INNER_PRODUCT;
    ParallelErrors errors;
#pragma omp parallel
    {
        // One per thread, kept between calls (2 bytes per stored vector: 1.6 MB at 800,000).
        thread_local VisitedSet visited;
#pragma omp for schedule(dynamic, 4)
        for (int64_t q = 0; q < nq; ++q) errors.run([&] {
            const float* x = queries + q * d;
            float qq = 0.0f;
            if (!ip) kern.dot_rows(x, x, 1, d, &qq);
            Scorer scorer{flat->get_xb(), d, ip, kern, x, qq};
            search_one(index, scorer, k, ef, sel, visited, scores + q * k, ids + q * k);
        });
    }
    errors.rethrow();
}

}  // namespace atl::index
