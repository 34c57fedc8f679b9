#include "index/exact_search.hpp"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "index/top_k.hpp"

// The Fortran BLAS entry point FAISS itself calls (libfaiss.a leaves it undefined; OpenBLAS
// answers, see benchmarks/search/results-2026-11-27.md).
extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                      const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                      const float* beta, float* c, const int* ldc);

namespace atl::index {
namespace {

// From this many queries on, scores come from BLAS tiles; below, each block of stored rows is
// read once from memory and scored against every query while it sits in cache.
constexpr int64_t kBlasMinQueries = 32;
constexpr int64_t kTileQueries = 256;   // tiles of 256 x 4096 scores (4 MiB): OpenBLAS's fastest
constexpr int64_t kTileRows = 4096;     // shape here (169 GFLOP/s on 2 cores, 128 wide)
constexpr int64_t kSmallBlockRows = 256;

float empty_score(bool inner_product) {
    return inner_product ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max();
}

// Pushes the scores of rows [row0, row0 + n) that reach the heap's threshold, re-reading the
// threshold every chunk so that a scan that starts with an empty heap soon skips most rows.
void push_scores(const VectorKernels& kern, const float* s, int64_t n, int64_t row0, const faiss::IDSelector* sel,
                 TopK& top, std::vector<int32_t>& pos) {
    constexpr int64_t kChunk = 512;
    pos.resize(kChunk);
    for (int64_t c = 0; c < n; c += kChunk) {
        int64_t len = std::min(kChunk, n - c);
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

void write_results(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t q0, std::vector<TopK>& tops, int64_t k,
                   float* scores, int64_t* ids) {
    for (size_t i = 0; i < tops.size(); ++i) {
        int64_t q = q0 + static_cast<int64_t>(i);
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
#pragma omp parallel num_threads(nthreads)
    {
        auto& mine = tops[omp_get_thread_num()];
        std::vector<float> s(kSmallBlockRows), norms(kSmallBlockRows);
        std::vector<int32_t> pos;
#pragma omp for schedule(static)
        for (int64_t b = 0; b < nblocks; ++b) {
            int64_t row0 = b * kSmallBlockRows, rows = std::min(kSmallBlockRows, base.n - row0);
            const float* x = base.data + row0 * base.d;
            if (!base.inner_product) squared_norms(kern, x, rows, base.d, norms.data());
            for (int64_t q = 0; q < nq; ++q) {
                kern.dot_rows(queries + q * base.d, x, rows, base.d, s.data());
                if (!base.inner_product) to_l2_scores(s.data(), rows, norms.data());
                push_scores(kern, s.data(), rows, row0, sel, mine[q], pos);
            }
        }
    }
    for (int t = 1; t < nthreads; ++t) {
        for (int64_t q = 0; q < nq; ++q) tops[0][q].merge(tops[t][q]);
    }
    write_results(kern, base, queries, 0, tops[0], k, scores, ids);
}

// Many queries: tiles of scores from one sgemm each (OpenBLAS threads), then the top-k filter
// over the tile's rows in parallel (OpenMP).
void search_tiled(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t nq, int64_t k, const faiss::IDSelector* sel,
                  float* scores, int64_t* ids) {
    std::vector<float> tile(static_cast<size_t>(kTileQueries * kTileRows));
    std::vector<float> norms(base.inner_product ? 0 : static_cast<size_t>(base.n));
    if (!base.inner_product) squared_norms(kern, base.data, base.n, base.d, norms.data());
    const int d = static_cast<int>(base.d);
    const float one = 1.0f, zero = 0.0f;
    for (int64_t q0 = 0; q0 < nq; q0 += kTileQueries) {
        const int64_t nqt = std::min(kTileQueries, nq - q0);
        std::vector<TopK> tops(static_cast<size_t>(nqt), TopK(k));
        for (int64_t r0 = 0; r0 < base.n; r0 += kTileRows) {
            const int64_t nr = std::min(kTileRows, base.n - r0);
            const int m = static_cast<int>(nr), n = static_cast<int>(nqt);
            // Column-major view: tile^T [nr, nqt] = rows [nr, d] * queries^T; row-major tile [nqt, nr].
            sgemm_("T", "N", &m, &n, &d, &one, base.data + r0 * base.d, &d, queries + q0 * base.d, &d, &zero,
                   tile.data(), &m);
#pragma omp parallel
            {
                std::vector<int32_t> pos;
#pragma omp for schedule(static)
                for (int64_t i = 0; i < nqt; ++i) {
                    float* s = tile.data() + i * nr;
                    if (!base.inner_product) to_l2_scores(s, nr, norms.data() + r0);
                    push_scores(kern, s, nr, r0, sel, tops[i], pos);
                }
            }
        }
        write_results(kern, base, queries, q0, tops, k, scores, ids);
    }
}

}  // namespace

void exact_search(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t nq, int64_t k,
                  const faiss::IDSelector* sel, float* scores, int64_t* ids) {
    if (nq >= kBlasMinQueries && base.n >= kSmallBlockRows) {
        search_tiled(kern, base, queries, nq, k, sel, scores, ids);
    } else {
        search_small(kern, base, queries, nq, k, sel, scores, ids);
    }
}

}  // namespace atl::index
