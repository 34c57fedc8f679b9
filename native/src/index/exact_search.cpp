#include "index/exact_search.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <limits>
#include <memory>
#include <vector>

#include "index/omp_threads.hpp"
#include "index/top_k.hpp"

namespace atl::index {
namespace {

// From this many queries on, the panel kernel scores them; below, each block of stored rows is
// read once from memory and scored against every query with one dot product per pair.
constexpr int64_t kPanelMinQueries = 4;
constexpr int64_t kSmallBlockRows = 256;

float empty_score(bool inner_product) {
    return inner_product ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max();
}

constexpr int64_t kPushChunk = 512;

// Pushes the scores of rows [row0, row0 + n) that reach the heap's threshold, re-reading the
// threshold every chunk so that a scan that starts with an empty heap soon skips most rows.
// pos holds at least kPushChunk positions.
void push_scores(const VectorKernels& kern, const float* s, int64_t n, int64_t row0, const faiss::IDSelector* sel,
                 TopK& top, std::vector<int32_t>& pos) {
    for (int64_t c = 0; c < n; c += kPushChunk) {
        int64_t len = std::min(kPushChunk, n - c);
        int64_t hits = kern.select_at_least(s + c, len, top.threshold(), pos.data());
        for (int64_t h = 0; h < hits; ++h) {
            int64_t id = row0 + c + pos[h];
            if (sel == nullptr || sel->is_member(id)) top.push(s[c + pos[h]], id);
        }
    }
}

// Internal scores are "higher is better": the inner product, or 2<q, y> - |y|^2 for L2
// (= |q|^2 - |q - y|^2, whose order is the order of the distance for a fixed query).
void to_l2_scores(float* s, int64_t n, const float* norms) {
    for (int64_t j = 0; j < n; ++j) s[j] = 2.0f * s[j] - norms[j];
}

void write_results(const VectorKernels& kern, const FlatVectors& base, const float* queries, const std::vector<TopK>& tops,
                   int64_t k, float* scores, int64_t* ids) {
    for (size_t i = 0; i < tops.size(); ++i) {
        int64_t q = static_cast<int64_t>(i);
        float* out = scores + q * k;
        tops[i].write(base.inner_product ? 1.0f : -1.0f, empty_score(base.inner_product), out, ids + q * k);
        if (!base.inner_product) {
            float qq;
            kern.dot_rows(queries + q * base.d, queries + q * base.d, 1, base.d, &qq);
            for (int64_t j = 0; j < k; ++j) {
                if (ids[q * k + j] >= 0) out[j] = std::max(0.0f, out[j] + qq);
            }
        }
    }
}

// Few queries: threads split the stored rows; each keeps its own heaps, merged at the end.
void search_small(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t nq, int64_t k, const faiss::IDSelector* sel,
                  float* scores, int64_t* ids) {
    const int64_t nblocks = (base.n + kSmallBlockRows - 1) / kSmallBlockRows;
    int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), nblocks)));
    std::vector<std::vector<TopK>> tops(nthreads, std::vector<TopK>(nq, TopK(k)));
    ParallelErrors errors;
#pragma omp parallel num_threads(nthreads)
    {
        auto& mine = tops[omp_get_thread_num()];
        std::vector<float> s, norms;
        std::vector<int32_t> pos;
        errors.run([&] { s.resize(kSmallBlockRows), norms.resize(kSmallBlockRows), pos.resize(kPushChunk); });
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nblocks; ++b) errors.run([&] {
            int64_t row0 = b * kSmallBlockRows, rows = std::min(kSmallBlockRows, base.n - row0);
            const float* x = base.data + row0 * base.d;
            if (!base.inner_product) squared_norms(kern, x, rows, base.d, norms.data());
            for (int64_t q = 0; q < nq; ++q) {
                kern.dot_rows(queries + q * base.d, x, rows, base.d, s.data());
                if (!base.inner_product) to_l2_scores(s.data(), rows, norms.data());
                push_scores(kern, s.data(), rows, row0, sel, mine[q], pos);
            }
        });
    }
    errors.rethrow();
    for (int t = 1; t < nthreads; ++t) {
        for (int64_t q = 0; q < nq; ++q) tops[0][q].merge(tops[t][q]);
    }
    write_results(kern, base, queries, tops[0], k, scores, ids);
}

// A 64-byte aligned float buffer (the packed panels are read with aligned loads).
struct AlignedFloats {
    explicit AlignedFloats(size_t n) : p(static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64))) {
        if (p == nullptr) throw std::bad_alloc();
    }
    ~AlignedFloats() { std::free(p); }
    AlignedFloats(const AlignedFloats&) = delete;
    AlignedFloats& operator=(const AlignedFloats&) = delete;
    float* p;
};

// Packs rows [row0, row0 + rows) into panels of kPanelRows transposed rows (zeros past the end).
void pack_panels(const FlatVectors& base, int64_t row0, int64_t rows, float* out) {
    const int64_t d = base.d;
    for (int64_t p0 = 0; p0 < rows; p0 += kPanelRows) {
        float* panel = out + p0 * d;
        for (int64_t j = 0; j < kPanelRows; ++j) {
            const float* x = base.data + (row0 + p0 + j) * d;
            bool have = p0 + j < rows;
            for (int64_t c = 0; c < d; ++c) panel[c * kPanelRows + j] = have ? x[c] : 0.0f;
        }
    }
}

// Many queries: threads take blocks of stored rows, pack them into panels and score them
// against every query with the register-blocked panel kernel (6 queries x 32 rows at a
// time, scores never leaving L1), keeping their own heaps, merged at the end. Per-thread
// work needs no BLAS threads, which fought OpenMP's (236 queries/s at 800,000 with OpenBLAS
// tiles on 2 threads, 91 GFLOP/s on one).
void search_packed(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t nq, int64_t k,
                   const faiss::IDSelector* sel, float* scores, int64_t* ids) {
    constexpr int64_t kBlockRows = 8 * kPanelRows;  // 8 panels: 128 KiB at d = 128, in L2
    const int64_t d = base.d;
    const int64_t nq_padded = (nq + kPanelQueries - 1) / kPanelQueries * kPanelQueries;
    std::vector<float> q(static_cast<size_t>(nq_padded * d), 0.0f);
    std::copy(queries, queries + nq * d, q.begin());
    const int64_t nblocks = (base.n + kBlockRows - 1) / kBlockRows;
    int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), nblocks)));
    std::vector<std::vector<TopK>> tops(nthreads, std::vector<TopK>(nq, TopK(k)));
    ParallelErrors errors;
#pragma omp parallel num_threads(nthreads)
    {
        auto& mine = tops[omp_get_thread_num()];
        std::unique_ptr<AlignedFloats> buffer;
        std::vector<float> norms;
        alignas(64) float out[kPanelQueries * kPanelRows];
        std::vector<int32_t> pos;
        errors.run([&] {
            buffer = std::make_unique<AlignedFloats>(static_cast<size_t>(kBlockRows * d));
            norms.resize(kBlockRows), pos.resize(kPushChunk);
        });
#pragma omp for schedule(dynamic)
        for (int64_t b = 0; b < nblocks; ++b) errors.run([&] {
            if (!buffer) return;  // its allocation failed; the error is already kept
            AlignedFloats& packed = *buffer;
            const int64_t row0 = b * kBlockRows, rows = std::min(kBlockRows, base.n - row0);
            pack_panels(base, row0, rows, packed.p);
            if (!base.inner_product) squared_norms(kern, base.data + row0 * d, rows, d, norms.data());
            for (int64_t p0 = 0; p0 < rows; p0 += kPanelRows) {
                const float* panel = packed.p + p0 * d;
                const int64_t valid = std::min(kPanelRows, rows - p0);
                for (int64_t q0 = 0; q0 < nq; q0 += kPanelQueries) {
                    kern.panel_dot(q.data() + q0 * d, d, panel, d, out);
                    for (int64_t i = 0; i < std::min(kPanelQueries, nq - q0); ++i) {
                        float* s = out + i * kPanelRows;
                        if (!base.inner_product) to_l2_scores(s, valid, norms.data() + p0);
                        push_scores(kern, s, valid, row0 + p0, sel, mine[q0 + i], pos);
                    }
                }
            }
        });
    }
    errors.rethrow();
    for (int t = 1; t < nthreads; ++t) {
        for (int64_t i = 0; i < nq; ++i) tops[0][i].merge(tops[t][i]);
    }
    write_results(kern, base, queries, tops[0], k, scores, ids);
}

}  // namespace

void exact_search(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t nq, int64_t k,
                  const faiss::IDSelector* sel, float* scores, int64_t* ids) {
    if (nq >= kPanelMinQueries) {
        search_packed(kern, base, queries, nq, k, sel, scores, ids);
    } else {
        search_small(kern, base, queries, nq, k, sel, scores, ids);
    }
}

}  // namespace atl::index
