// The AVX-512 attention of attention.hpp. Function-level target attributes keep the library
// loadable on CPUs without AVX-512; callers check atl_cpu_features() first.
//
// Blocking: K of every (batch, head) is packed once per call into 32-key panels ([dim][32]), so
// the score tile S = Q K^T is a GEMM microkernel (12 queries x 32 keys in 24 zmm accumulators,
// Q pre-scaled by 1/sqrt(d) and packed [dim][12]). A task takes 48 queries of one (batch, head)
// and walks the keys in blocks of 128: scores (48 x 128 F32, 24 KiB, in L1), the online softmax
// update per row (running max m and sum l; earlier output rescaled by exp(m_old - m_new)), then
// O += P V with V read in place (rows of the [batch, lk, heads * dim] input). O is divided by l
// at the end. Nothing of size L x L exists.
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "core/parallel.hpp"
#include "ops/attention.hpp"
#include "ops/simd.hpp"

namespace atl::ops::avx512 {

namespace {

using simd::exp_ps;
using simd::mask_of;

constexpr int64_t kQBlock = 48;     // queries per task
constexpr int64_t kRowStep = 24;    // a task's rows are padded to a multiple of this (every tile height divides it)
constexpr int64_t kKeyBlock = 128;  // keys per softmax update
constexpr int64_t kPanel = 32;      // keys per packed panel of K
constexpr int kQkRows = 12;         // queries per score tile

struct FreeFloats {
    void operator()(float* p) const { std::free(p); }
};
using Floats = std::unique_ptr<float, FreeFloats>;

// n floats, 64-byte aligned, zero-initialised.
Floats zeros(int64_t n) {
    const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    std::fill_n(static_cast<float*>(p), bytes / sizeof(float), 0.f);
    return Floats(static_cast<float*>(p));
}

// S [12 x 32] (row stride kKeyBlock) = qp [dim][12] times kp [dim][32].
ATL_AVX512 void score_tile(const float* __restrict qp, const float* __restrict kp,
                                                   int64_t dim, float* __restrict s) {
    __m512 c0[kQkRows], c1[kQkRows];
#pragma GCC unroll 12
    for (int i = 0; i < kQkRows; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int64_t c = 0; c < dim; ++c) {
        const __m512 w0 = _mm512_load_ps(kp + kPanel * c), w1 = _mm512_load_ps(kp + kPanel * c + 16);
#pragma GCC unroll 12
        for (int i = 0; i < kQkRows; ++i) {
            const __m512 a = _mm512_set1_ps(qp[kQkRows * c + i]);
            c0[i] = _mm512_fmadd_ps(a, w0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, w1, c1[i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < kQkRows; ++i) {
        _mm512_storeu_ps(s + i * kKeyBlock, c0[i]);
        _mm512_storeu_ps(s + i * kKeyBlock + 16, c1[i]);
    }
}

// One row's online softmax step over nk scores: replaces them by exp(s - m_new), updates the
// running max m and sum l, and returns the factor exp(m_old - m_new) for the earlier output.
ATL_AVX512 float softmax_step(float* s, int64_t nk, float& m, float& l) {
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    __m512 top = lowest;
    for (int64_t j = 0; j < nk; j += 16) {
        top = _mm512_max_ps(top, _mm512_mask_loadu_ps(lowest, mask_of(nk - j), s + j));
    }
    const float m_new = std::max(m, _mm512_reduce_max_ps(top));
    const float corr = m == -INFINITY ? 0.f : std::exp(m - m_new);
    const __m512 shift = _mm512_set1_ps(m_new);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nk; j += 16) {
        const __mmask16 mk = mask_of(nk - j);
        const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), shift));
        _mm512_mask_storeu_ps(s + j, mk, e);
        sum = _mm512_mask_add_ps(sum, mk, sum, e);
    }
    l = l * corr + _mm512_reduce_add_ps(sum);
    m = m_new;
    return corr;
}

// O [R rows, NV vectors] (row stride ldo) = corr * O + P [R, nk] (row stride kKeyBlock) V [nk, NV
// vectors] (row stride ldv; the last vector masked by last).
template <int R, int NV>
ATL_AVX512 void pv_tile(const float* __restrict p, int64_t nk, const float* __restrict v,
                                                int64_t ldv, float* __restrict o, int64_t ldo,
                                                const float* __restrict corr, __mmask16 last) {
    __m512 acc[R][NV];
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
        const __m512 f = _mm512_set1_ps(corr[r]);
#pragma GCC unroll 4
        for (int u = 0; u < NV; ++u) {
            acc[r][u] = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(u == NV - 1 ? last : 0xffff, o + r * ldo + 16 * u));
        }
    }
    for (int64_t j = 0; j < nk; ++j) {
        __m512 w[NV];
#pragma GCC unroll 4
        for (int u = 0; u < NV; ++u) w[u] = _mm512_maskz_loadu_ps(u == NV - 1 ? last : 0xffff, v + j * ldv + 16 * u);
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
            const __m512 a = _mm512_set1_ps(p[r * kKeyBlock + j]);
#pragma GCC unroll 4
            for (int u = 0; u < NV; ++u) acc[r][u] = _mm512_fmadd_ps(a, w[u], acc[r][u]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
        for (int u = 0; u < NV; ++u) {
            _mm512_mask_storeu_ps(o + r * ldo + 16 * u, u == NV - 1 ? last : 0xffff, acc[r][u]);
        }
    }
}

using PvFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, const float*, __mmask16);

// A run of NV vectors of the head's columns and the tile that covers them (rows x NV <= 24 accumulators).
struct Chunk {
    int64_t first;  // first column
    int rows;
    PvFn fn;
    __mmask16 last;
};

std::vector<Chunk> chunks_of(int64_t dim) {
    std::vector<Chunk> out;
    const int64_t vectors = (dim + 15) / 16;
    for (int64_t u = 0; u < vectors;) {
        const int64_t left = vectors - u;
        const int nv = static_cast<int>(left == 5 ? 3 : std::min<int64_t>(4, left));
        Chunk c{u * 16, 0, nullptr, mask_of(dim - (u + nv - 1) * 16)};
        switch (nv) {
            case 1: c.rows = 12, c.fn = pv_tile<12, 1>; break;
            case 2: c.rows = 12, c.fn = pv_tile<12, 2>; break;
            case 3: c.rows = 8, c.fn = pv_tile<8, 3>; break;
            default: c.rows = 6, c.fn = pv_tile<6, 4>; break;
        }
        out.push_back(c);
        u += nv;
    }
    return out;
}

}  // namespace

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out) {
    const int64_t dim = s.dim, bh = s.batch * s.heads;
    if (bh <= 0 || s.lq <= 0 || dim <= 0) return;
    const int64_t panels = (s.lk + kPanel - 1) / kPanel;
    const int64_t panel_size = dim * kPanel;
    Floats kp = zeros(bh * panels * panel_size);
    at::parallel_for(0, bh * panels, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t b = t / (s.heads * panels), h = (t / panels) % s.heads, p = t % panels;
            float* dst = kp.get() + t * panel_size;
            for (int64_t j = 0; j < kPanel && p * kPanel + j < s.lk; ++j) {
                const float* src = k + (b * s.lk + p * kPanel + j) * s.ldk + h * dim;
                for (int64_t c = 0; c < dim; ++c) dst[c * kPanel + j] = src[c];
            }
        }
    });
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim)));
    const std::vector<Chunk> chunks = chunks_of(dim);
    const int64_t ldo = (dim + 15) / 16 * 16;
    const int64_t qblocks = (s.lq + kQBlock - 1) / kQBlock;
    struct Scratch {
        Floats qp, scores, o;
        float m[kQBlock], l[kQBlock], corr[kQBlock];
    };
    auto make = [&] {
        return std::make_unique<Scratch>(Scratch{zeros(kQBlock * dim), zeros(kQBlock * kKeyBlock), zeros(kQBlock * ldo), {}, {}, {}});
    };
    for_each_task(bh * qblocks, make, [&](int64_t t, std::unique_ptr<Scratch>& scratch) {
        Floats& qp = scratch->qp;
        Floats& scores = scratch->scores;
        Floats& o = scratch->o;
        float* m = scratch->m;
        float* l = scratch->l;
        float* corr = scratch->corr;
        const int64_t b = t / (s.heads * qblocks), h = (t / qblocks) % s.heads, i0 = (t % qblocks) * kQBlock;
        const int64_t rows = std::min(kQBlock, s.lq - i0);
        const int64_t padded = (rows + kRowStep - 1) / kRowStep * kRowStep;
        for (int64_t i = 0; i < padded; ++i) {
            float* dst = qp.get() + (i / kQkRows) * kQkRows * dim + i % kQkRows;
            const float* src = q + (b * s.lq + i0 + i) * s.ldq + h * dim;
            for (int64_t c = 0; c < dim; ++c) dst[c * kQkRows] = i < rows ? src[c] * scale : 0.f;
            m[i] = -INFINITY;
            l[i] = 0.f;
        }
        std::fill_n(o.get(), padded * ldo, 0.f);
        const float* kbh = kp.get() + (b * s.heads + h) * panels * panel_size;
        for (int64_t k0 = 0; k0 < s.lk; k0 += kKeyBlock) {
            const int64_t nk = std::min(kKeyBlock, s.lk - k0);
            for (int64_t i = 0; i < padded; i += kQkRows) {
                for (int64_t j = 0; j < nk; j += kPanel) {
                    score_tile(qp.get() + i * dim, kbh + (k0 + j) / kPanel * panel_size, dim,
                               scores.get() + i * kKeyBlock + j);
                }
            }
            for (int64_t i = 0; i < padded; ++i) corr[i] = softmax_step(scores.get() + i * kKeyBlock, nk, m[i], l[i]);
            const float* vb = v + (b * s.lk + k0) * s.ldv + h * dim;
            for (const Chunk& c : chunks) {
                for (int64_t i = 0; i < padded; i += c.rows) {
                    c.fn(scores.get() + i * kKeyBlock, nk, vb + c.first, s.ldv, o.get() + i * ldo + c.first, ldo,
                         corr + i, c.last);
                }
            }
        }
        for (int64_t i = 0; i < rows; ++i) {
            const float inv = 1.f / l[i];
            float* dst = out + (b * s.lq + i0 + i) * s.ldo + h * dim;
            const float* src = o.get() + i * ldo;
            for (int64_t c = 0; c < dim; ++c) dst[c] = src[c] * inv;
        }
    });
}

}  // namespace atl::ops::avx512
