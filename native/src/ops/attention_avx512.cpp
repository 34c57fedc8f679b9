// The AVX-512 attention of attention.hpp. Function-level target attributes keep the library
// loadable on CPUs without AVX-512; callers check atl_cpu_features() first.
//
// Blocking: K and V of every (batch, head) are packed once per call: K into 32-key panels
// ([dim][32]), so the score tile S = Q K^T is a GEMM microkernel (12 queries x 32 keys in 24 zmm
// accumulators, Q pre-scaled by log2(e)/sqrt(d) and packed [dim][12]), and V into contiguous rows. A
// task takes 48 queries of one (batch, head) and walks the keys in blocks of 128: scores (48 x
// 128 F32, 24 KiB, in L1), the online softmax update per row (running max m and sum l; earlier
// output rescaled by 2^(m_old - m_new)), then O += P V. O is divided by l at the end. Nothing of
// size L x L exists.
//
// BF16 (attention_bf16, on CPUs with avx512_bf16): the same blocking with both products on
// vdpbf16ps, two products per lane and F32 sums. Q and K are rounded to BF16 pairs along the head
// dimension (K panels [dim / 2][32][2]), P after the softmax and V ([lk / 2][dim][2]) along the
// keys. The softmax, its running max and sum, and O stay F32.
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/parallel.hpp"
#include "lora/gemm_tile.hpp"
#include "ops/attention.hpp"
#include "ops/simd.hpp"

namespace atl::ops::avx512 {

namespace {

using simd::mask_of;

constexpr int64_t kQBlock = 48;     // queries per task
constexpr int64_t kRowStep = 24;    // a task's rows are padded to a multiple of this (every tile height divides it)
constexpr int64_t kKeyBlock = 128;  // keys per softmax update
constexpr int64_t kPanel = 32;      // keys per packed panel of K
constexpr int kQkRows = 12;         // queries per score tile
static_assert(kPanel == lora::avx512::kPanelCols, "K panels are the GEMM's panels: its tiles score them");

// n elements of T, zero-initialised, from libtorch's CPU allocator (64-byte aligned; inside the
// networks the caching allocator, so the packed K and V of every call reuse pages instead of
// faulting fresh ones in).
template <typename T>
struct Buffer {
    at::DataPtr data;
    T* get() const { return static_cast<T*>(data.get()); }
};
using Floats = Buffer<float>;

template <typename T = float>
Buffer<T> zeros(int64_t n) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T);
    Buffer<T> b{c10::GetCPUAllocator()->allocate(bytes)};
    std::memset(b.get(), 0, bytes);
    return b;
}

// The largest of a row's nk scores (Full: nk == kKeyBlock, no masks).
template <bool Full>
ATL_AVX512 float row_max(const float* s, int64_t nk) {
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    __m512 top = lowest;
    for (int64_t j = 0; j < (Full ? kKeyBlock : nk); j += 16) {
        top = _mm512_max_ps(top, Full ? _mm512_loadu_ps(s + j) : _mm512_mask_loadu_ps(lowest, mask_of(nk - j), s + j));
    }
    return _mm512_reduce_max_ps(top);
}

// 2^x; Bf16: to exp2_ps_bf16's accuracy (the values are rounded to BF16 for the P V product).
template <bool Bf16>
ATL_AVX512 inline __attribute__((always_inline)) __m512 exp2(__m512 x) {
    return Bf16 ? simd::exp2_ps_bf16(x) : simd::exp2_ps(x);
}

// 2^(s - shift) for scores [j, j + 32), zero past nk.
template <bool Bf16, bool Full>
ATL_AVX512 inline __attribute__((always_inline)) void exps_of(const float* s, int64_t nk, int64_t j, __m512 shift,
                                                             __m512& e0, __m512& e1) {
    if constexpr (Full) {
        e0 = exp2<Bf16>(_mm512_sub_ps(_mm512_loadu_ps(s + j), shift));
        e1 = exp2<Bf16>(_mm512_sub_ps(_mm512_loadu_ps(s + j + 16), shift));
    } else {
        const __mmask16 m0 = mask_of(nk - j), m1 = mask_of(nk - j - 16);
        e0 = _mm512_maskz_mov_ps(m0, exp2<Bf16>(_mm512_sub_ps(_mm512_maskz_loadu_ps(m0, s + j), shift)));
        e1 = _mm512_maskz_mov_ps(m1, exp2<Bf16>(_mm512_sub_ps(_mm512_maskz_loadu_ps(m1, s + j + 16), shift)));
    }
}

// One row's online softmax step in base 2 (Q carries log2(e) / sqrt(d)), given the row's new
// running max m: replaces the scores by 2^(s - m) in place and returns their sum.
template <bool Full>
ATL_AVX512 float softmax_step(float* s, int64_t nk, float m) {
    const __m512 shift = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < (Full ? kKeyBlock : nk); j += 32) {
        __m512 e0, e1;
        exps_of<false, Full>(s, nk, j, shift, e0, e1);
        sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
        _mm512_mask_storeu_ps(s + j, Full ? 0xffff : mask_of(nk - j), e0);
        _mm512_mask_storeu_ps(s + j + 16, Full ? 0xffff : mask_of(nk - j - 16), e1);
    }
    return _mm512_reduce_add_ps(sum);
}

// The step for BF16 products: the exponentials go to `pairs` rounded to BF16 (nearest even, 32
// per vcvtne2ps2bf16; the row's keys in order are its pairs, zero-padded to an even count); their
// sum is taken in F32.
template <bool Full>
ATL_AVX512_BF16 float softmax_step_bf16(const float* s, int64_t nk, float m, uint32_t* pairs) {
    const __m512 shift = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    const int64_t npairs = (nk + 1) / 2;
    for (int64_t j = 0; j < (Full ? kKeyBlock : nk); j += 32) {
        __m512 e0, e1;
        exps_of<true, Full>(s, nk, j, shift, e0, e1);
        sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
        _mm512_mask_storeu_epi32(pairs + j / 2, Full ? 0xffff : mask_of(npairs - j / 2),
                                 (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    }
    return _mm512_reduce_add_ps(sum);
}

// After a block's steps, for rows [0, n): corr = 2^(m_old - m) (0 for a row's first block, where
// m_old is -inf), the factor for the earlier output, and the running sum l = l corr + sum.
ATL_AVX512 void rescale_sums(int64_t n, const float* m_old, const float* m, const float* sum, float* l, float* corr) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 in = mask_of(n - i);
        const __m512 old = _mm512_maskz_loadu_ps(in, m_old + i);
        const __mmask16 seen = _mm512_mask_cmp_ps_mask(in, old, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
        const __m512 c = _mm512_maskz_mov_ps(seen, simd::exp2_ps(_mm512_sub_ps(old, _mm512_maskz_loadu_ps(seen, m + i))));
        _mm512_mask_storeu_ps(corr + i, in, c);
        _mm512_mask_storeu_ps(l + i, in,
                              _mm512_fmadd_ps(_mm512_maskz_loadu_ps(in, l + i), c, _mm512_maskz_loadu_ps(in, sum + i)));
    }
}

// The accumulators of an R-row tile of O: NF vectors of 16 columns and, when Half, a last 256-bit
// vector of at most 8 (a head dimension of 40 is 2.5 vectors; on Zen 4 the half vector made the
// 4096-token BF16 attention 1-3 % faster, less than the sixth of P V's multiply-adds it drops).
template <int R, int NF, bool Half>
struct OTile {
    __m512 acc[R][NF];
    __m256 tail[R];  // unused unless Half

    // acc = corr[r] * O (row stride ldo; the last vector masked by last).
    ATL_AVX512 inline __attribute__((always_inline)) void load_rescaled(const float* o, int64_t ldo,
                                                                        const float* corr, __mmask16 last) {
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
            const __m512 f = _mm512_set1_ps(corr[r]);
#pragma GCC unroll 4
            for (int u = 0; u < NF; ++u) {
                const __mmask16 m = !Half && u == NF - 1 ? last : 0xffff;
                acc[r][u] = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, o + r * ldo + 16 * u));
            }
            if constexpr (Half) {
                const __m256 t = _mm256_maskz_loadu_ps(static_cast<__mmask8>(last), o + r * ldo + 16 * NF);
                tail[r] = _mm256_mul_ps(_mm512_castps512_ps256(f), t);
            }
        }
    }

    ATL_AVX512 inline __attribute__((always_inline)) void store(float* o, int64_t ldo, __mmask16 last) const {
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
            for (int u = 0; u < NF; ++u) {
                _mm512_mask_storeu_ps(o + r * ldo + 16 * u, !Half && u == NF - 1 ? last : 0xffff, acc[r][u]);
            }
            if constexpr (Half) _mm256_mask_storeu_ps(o + r * ldo + 16 * NF, static_cast<__mmask8>(last), tail[r]);
        }
    }
};

// O [R rows, NF (+ half) vectors] (row stride ldo) = corr * O + P [R, nk] (row stride kKeyBlock)
// V [nk, columns] (row stride ldv, zero past the head's columns; the last vector of O masked by last).
template <int R, int NF, bool Half>
ATL_AVX512 void pv_tile(const float* __restrict p, int64_t nk, const float* __restrict v, int64_t ldv,
                        float* __restrict o, int64_t ldo, const float* __restrict corr, __mmask16 last) {
    OTile<R, NF, Half> t;
    t.load_rescaled(o, ldo, corr, last);
    for (int64_t j = 0; j < nk; ++j) {
        __m512 w[NF];
#pragma GCC unroll 4
        for (int u = 0; u < NF; ++u) w[u] = _mm512_loadu_ps(v + j * ldv + 16 * u);
        const __m256 wt = Half ? _mm256_loadu_ps(v + j * ldv + 16 * NF) : __m256{};
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
            const __m512 a = _mm512_set1_ps(p[r * kKeyBlock + j]);
#pragma GCC unroll 4
            for (int u = 0; u < NF; ++u) t.acc[r][u] = _mm512_fmadd_ps(a, w[u], t.acc[r][u]);
            if constexpr (Half) t.tail[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(a), wt, t.tail[r]);
        }
    }
    t.store(o, ldo, last);
}

// The BF16 form of pv_tile: p [R][kKeyBlock / 2] and v [nk / 2][ldv][2] (ldv: columns, a multiple
// of 16, zero beyond the head's) pairs along the keys.
template <int R, int NF, bool Half>
ATL_AVX512_BF16 void pv_tile_bf16(const uint32_t* __restrict p, int64_t nk, const uint16_t* __restrict v, int64_t ldv,
                                  float* __restrict o, int64_t ldo, const float* __restrict corr, __mmask16 last) {
    OTile<R, NF, Half> t;
    t.load_rescaled(o, ldo, corr, last);
    for (int64_t j = 0; j < (nk + 1) / 2; ++j) {
        __m512bh w[NF];
#pragma GCC unroll 4
        for (int u = 0; u < NF; ++u) w[u] = (__m512bh)_mm512_loadu_si512(v + 2 * (j * ldv + 16 * u));
        const __m256bh wt = Half ? (__m256bh)_mm256_loadu_si256((const __m256i*)(v + 2 * (j * ldv + 16 * NF)))
                                 : __m256bh{};
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
            const __m512i a = _mm512_set1_epi32(static_cast<int>(p[r * (kKeyBlock / 2) + j]));
#pragma GCC unroll 4
            for (int u = 0; u < NF; ++u) t.acc[r][u] = _mm512_dpbf16_ps(t.acc[r][u], (__m512bh)a, w[u]);
            if constexpr (Half) {
                t.tail[r] = _mm256_dpbf16_ps(t.tail[r], (__m256bh)_mm512_castsi512_si256(a), wt);
            }
        }
    }
    t.store(o, ldo, last);
}

using PvFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, const float*, __mmask16);
using PvBf16Fn = void (*)(const uint32_t*, int64_t, const uint16_t*, int64_t, float*, int64_t, const float*, __mmask16);

// A run of the head's columns and the tile that covers them (at most 24 accumulators).
struct Chunk {
    int64_t first;  // first column
    int rows;
    PvFn fn;
    PvBf16Fn bf16;
    __mmask16 last;
};

template <int R, int NF, bool Half>
Chunk chunk(int64_t first, __mmask16 last) {
    return Chunk{first, R, pv_tile<R, NF, Half>, pv_tile_bf16<R, NF, Half>, last};
}

std::vector<Chunk> chunks_of(int64_t dim) {
    std::vector<Chunk> out;
    const int64_t vectors = (dim + 15) / 16;
    for (int64_t u = 0; u < vectors;) {
        const int64_t left = vectors - u;
        const int nv = static_cast<int>(left == 5 ? 3 : std::min<int64_t>(4, left));
        const int64_t first = u * 16;
        const __mmask16 last = mask_of(dim - (u + nv - 1) * 16);
        // The head's last vector as a 256-bit half when it has at most 8 columns.
        const bool half = u + nv == vectors && nv > 1 && dim % 16 != 0 && dim % 16 <= 8;
        switch (nv) {
            case 1: out.push_back(chunk<12, 1, false>(first, last)); break;
            case 2: out.push_back(half ? chunk<12, 1, true>(first, last) : chunk<12, 2, false>(first, last)); break;
            case 3: out.push_back(half ? chunk<8, 2, true>(first, last) : chunk<8, 3, false>(first, last)); break;
            default: out.push_back(half ? chunk<6, 3, true>(first, last) : chunk<6, 4, false>(first, last)); break;
        }
        u += nv;
    }
    return out;
}

uint16_t bf16_bits(float f) { return c10::BFloat16(f).x; }  // rounded to nearest even

// K of every (batch, head) in 32-key panels, zero past lk: F32 [dim][32], or BF16 [dim / 2][32][2].
template <typename T>
Buffer<T> pack_keys(const AttentionShape& s, const float* k, int64_t panels, int64_t panel_size) {
    const int64_t dim = s.dim;
    Buffer<T> kp = zeros<T>(s.batch * s.heads * panels * panel_size);
    at::parallel_for(0, s.batch * s.heads * panels, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t b = t / (s.heads * panels), h = (t / panels) % s.heads, p = t % panels;
            T* dst = kp.get() + t * panel_size;
            for (int64_t j = 0; j < kPanel && p * kPanel + j < s.lk; ++j) {
                const float* src = k + (b * s.lk + p * kPanel + j) * s.ldk + h * dim;
                for (int64_t c = 0; c < dim; ++c) {
                    if constexpr (std::is_same_v<T, float>) {
                        dst[c * kPanel + j] = src[c];
                    } else {
                        dst[(c / 2 * kPanel + j) * 2 + c % 2] = bf16_bits(src[c]);
                    }
                }
            }
        }
    });
    return kp;
}

// V of every (batch, head), contiguous (read in place, a head's rows lie channels apart: at 1280
// channels the 128 rows of a key block fall on a few L1 sets), zero past lk and dim: F32
// [lk][ldv], or BF16 pairs of keys [lk / 2][ldv][2].
template <typename T>
Buffer<T> pack_values(const AttentionShape& s, const float* v, int64_t ldv) {
    constexpr int64_t kPer = std::is_same_v<T, float> ? 1 : 2;  // keys per packed row
    const int64_t rows = (s.lk + kPer - 1) / kPer, bh = s.batch * s.heads;
    Buffer<T> vp = zeros<T>(bh * rows * ldv * kPer);
    at::parallel_for(0, bh * rows, 64, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t b = t / (s.heads * rows), h = (t / rows) % s.heads, j = t % rows;
            T* dst = vp.get() + t * ldv * kPer;
            for (int64_t e = 0; e < kPer && kPer * j + e < s.lk; ++e) {
                const float* src = v + (b * s.lk + kPer * j + e) * s.ldv + h * s.dim;
                for (int64_t c = 0; c < s.dim; ++c) {
                    if constexpr (kPer == 1) {
                        dst[c] = src[c];
                    } else {
                        dst[2 * c + e] = bf16_bits(src[c]);
                    }
                }
            }
        }
    });
    return vp;
}

template <bool Bf16>
void run(const AttentionShape& s, const float* q, const float* k, const float* v, float* out) {
    using KeyT = std::conditional_t<Bf16, uint16_t, float>;
    const int64_t dim = s.dim, bh = s.batch * s.heads;
    if (bh <= 0 || s.lq <= 0 || dim <= 0) return;
    const int64_t pairs = (dim + 1) / 2;                        // BF16 pairs along the head dimension
    const int64_t panels = (s.lk + kPanel - 1) / kPanel;
    const int64_t panel_size = Bf16 ? 2 * pairs * kPanel : dim * kPanel;  // elements of KeyT
    const Buffer<KeyT> kp = pack_keys<KeyT>(s, k, panels, panel_size);
    const int64_t ldo = (dim + 15) / 16 * 16;
    const Buffer<KeyT> vp = pack_values<KeyT>(s, v, ldo);
    // Scores in base 2: the softmax takes 2^x, cheaper than e^x.
    const float scale = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(dim)));
    const std::vector<Chunk> chunks = chunks_of(dim);
    const int64_t qblocks = (s.lq + kQBlock - 1) / kQBlock;
    struct Scratch {
        Floats qp, scores, o;
        Buffer<uint32_t> qpairs, ppairs;  // BF16: Q and P as pairs
        float m[kQBlock], m_old[kQBlock], sum[kQBlock], l[kQBlock], corr[kQBlock];
    };
    auto make = [&] {
        auto sc = std::make_unique<Scratch>();
        sc->qp = zeros(Bf16 ? 1 : kQBlock * dim);
        sc->scores = zeros(kQBlock * kKeyBlock);
        sc->o = zeros(kQBlock * ldo);
        sc->qpairs = zeros<uint32_t>(Bf16 ? kQBlock * pairs : 1);
        sc->ppairs = zeros<uint32_t>(Bf16 ? kQBlock * kKeyBlock / 2 : 1);
        return sc;
    };
    for_each_task(bh * qblocks, make, [&](int64_t t, std::unique_ptr<Scratch>& scratch) {
        float* scores = scratch->scores.get();
        float* o = scratch->o.get();
        float* m = scratch->m;
        float* l = scratch->l;
        float* corr = scratch->corr;
        float* m_old = scratch->m_old;
        float* sum = scratch->sum;
        const int64_t b = t / (s.heads * qblocks), h = (t / qblocks) % s.heads, i0 = (t % qblocks) * kQBlock;
        const int64_t rows = std::min(kQBlock, s.lq - i0);
        const int64_t padded = (rows + kRowStep - 1) / kRowStep * kRowStep;
        for (int64_t i = 0; i < padded; ++i) {
            const float* src = q + (b * s.lq + i0 + i) * s.ldq + h * dim;
            if constexpr (Bf16) {
                uint32_t* dst = scratch->qpairs.get() + (i / kQkRows) * kQkRows * pairs + i % kQkRows;
                for (int64_t c = 0; c < pairs; ++c) {
                    const float lo = i < rows ? src[2 * c] * scale : 0.f;
                    const float hi = i < rows && 2 * c + 1 < dim ? src[2 * c + 1] * scale : 0.f;
                    dst[c * kQkRows] = bf16_bits(lo) | static_cast<uint32_t>(bf16_bits(hi)) << 16;
                }
            } else {
                float* dst = scratch->qp.get() + (i / kQkRows) * kQkRows * dim + i % kQkRows;
                for (int64_t c = 0; c < dim; ++c) dst[c * kQkRows] = i < rows ? src[c] * scale : 0.f;
            }
            m[i] = -INFINITY;
            l[i] = 0.f;
        }
        std::fill_n(o, padded * ldo, 0.f);
        const KeyT* kbh = kp.get() + (b * s.heads + h) * panels * panel_size;
        const KeyT* vbh = vp.get() + (b * s.heads + h) * (Bf16 ? (s.lk + 1) / 2 * 2 : s.lk) * ldo;
        for (int64_t k0 = 0; k0 < s.lk; k0 += kKeyBlock) {
            const int64_t nk = std::min(kKeyBlock, s.lk - k0);
            for (int64_t i = 0; i < padded; i += kQkRows) {
                for (int64_t j = 0; j < nk; j += kPanel) {
                    const KeyT* panel = kbh + (k0 + j) / kPanel * panel_size;
                    if constexpr (Bf16) {
                        lora::avx512::tile_bf16<kQkRows>(scratch->qpairs.get() + i * pairs, panel, 2 * pairs,
                                                         scores + i * kKeyBlock + j, kKeyBlock, 0xffff, 0xffff,
                                                         nullptr, false);
                    } else {
                        lora::avx512::tile<kQkRows>(scratch->qp.get() + i * dim, panel, dim, scores + i * kKeyBlock + j,
                                                    kKeyBlock, 0xffff, 0xffff, nullptr, false);
                    }
                }
            }
            const bool full = nk == kKeyBlock;
            for (int64_t i = 0; i < padded; ++i) {
                float* row = scores + i * kKeyBlock;
                m_old[i] = m[i];
                m[i] = std::max(m[i], full ? row_max<true>(row, nk) : row_max<false>(row, nk));
                if constexpr (Bf16) {
                    uint32_t* pairs = scratch->ppairs.get() + i * kKeyBlock / 2;
                    sum[i] = full ? softmax_step_bf16<true>(row, nk, m[i], pairs)
                                  : softmax_step_bf16<false>(row, nk, m[i], pairs);
                } else {
                    sum[i] = full ? softmax_step<true>(row, nk, m[i]) : softmax_step<false>(row, nk, m[i]);
                }
            }
            rescale_sums(padded, m_old, m, sum, l, corr);
            for (const Chunk& c : chunks) {
                for (int64_t i = 0; i < padded; i += c.rows) {
                    if constexpr (Bf16) {
                        c.bf16(scratch->ppairs.get() + i * kKeyBlock / 2, nk, vbh + k0 * ldo + 2 * c.first, ldo,
                               o + i * ldo + c.first, ldo, corr + i, c.last);
                    } else {
                        c.fn(scores + i * kKeyBlock, nk, vbh + k0 * ldo + c.first, ldo, o + i * ldo + c.first, ldo,
                             corr + i, c.last);
                    }
                }
            }
        }
        for (int64_t i = 0; i < rows; ++i) {
            const float inv = 1.f / l[i];
            float* dst = out + (b * s.lq + i0 + i) * s.ldo + h * dim;
            const float* src = o + i * ldo;
            for (int64_t c = 0; c < dim; ++c) dst[c] = src[c] * inv;
        }
    });
}

}  // namespace

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out) {
    run<false>(s, q, k, v, out);
}

void attention_bf16(const AttentionShape& s, const float* q, const float* k, const float* v, float* out) {
    run<true>(s, q, k, v, out);
}

}  // namespace atl::ops::avx512
