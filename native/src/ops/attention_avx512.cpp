// The AVX-512 attention of attention.hpp. Function-level target attributes keep the library
// loadable on CPUs without AVX-512; callers check atl_cpu_features() first.
//
// Blocking, transposed: a task takes 48 queries (3 vectors of 16) of one (batch, head), held as
// columns, and walks the keys in blocks of 128. Both products broadcast one operand and multiply
// vectors of queries:
//   S^T [keys, queries] = K Q^T: tiles of 8 keys x 48 queries (24 accumulators), K's elements
//     broadcast from K packed [keys][dim], Q^T packed [dim][48] (pre-scaled by log2(e)/sqrt(d));
//   O^T [dim, queries] += V^T P^T: tiles of 8 channels x 48 queries, V^T's elements broadcast from
//     V^T packed per key block [dim][128], P^T [keys][48].
// So the online softmax (running max m and sum l per query; earlier output rescaled by
// 2^(m_old - m_new)) runs down the columns: its maxima, sums and factors are whole vectors, with no
// horizontal reductions, and a head dimension of 40 fills its tiles (5 x 8 channels) where rows of
// 16 columns would leave a sixth of every multiply-add empty. O^T is transposed and divided by l
// once at the end. Nothing of size L x L exists.
//
// BF16 (attention_bf16, on CPUs with avx512_bf16): the same blocking with both products on
// vdpbf16ps, two products per lane and F32 sums: Q^T and K pair the head dimension, P^T and V^T
// pair the keys (P^T [key pairs][48], each lane two consecutive keys' probabilities). The softmax,
// its running max and sum, and O stay F32. Every kernel here carries the BF16 target; the F32
// instantiations contain no BF16 instruction and run on any AVX-512 CPU.
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "core/parallel.hpp"
#include "ops/attention.hpp"
#include "ops/simd.hpp"

namespace atl::ops::avx512 {

namespace {

constexpr int64_t kQBlock = 48;     // queries per task: 3 vectors
constexpr int kMaxQv = 3;           // vectors of queries
constexpr int64_t kKeyBlock = 128;  // keys per softmax update
constexpr int kTile = 8;            // keys per S^T tile, channels per O^T tile

// The packed element: a BF16 pair in 32 bits, or an F32.
template <bool Bf16>
using Unit = std::conditional_t<Bf16, uint32_t, float>;

// n elements of T, zero-initialised, from libtorch's CPU allocator (64-byte aligned; inside the
// networks the caching allocator, so the packed K and V of every call reuse pages instead of
// faulting fresh ones in).
template <typename T>
struct Buffer {
    at::DataPtr data;
    T* get() const { return static_cast<T*>(data.get()); }
};

template <typename T>
Buffer<T> zeros(int64_t n) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T);
    Buffer<T> b{c10::GetCPUAllocator()->allocate(bytes)};
    std::memset(b.get(), 0, bytes);
    return b;
}

// acc + a b lane by lane: F32 multiply-add, or for BF16 pairs the sum of both products.
template <bool Bf16>
ATL_AVX512_BF16 inline __attribute__((always_inline)) __m512 madd(__m512 acc, __m512 a, __m512 b) {
    if constexpr (Bf16) {
        return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
    } else {
        return _mm512_fmadd_ps(a, b, acc);
    }
}

template <bool Bf16>
ATL_AVX512_BF16 inline __attribute__((always_inline)) __m512 broadcast(Unit<Bf16> u) {
    if constexpr (Bf16) {
        return _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(u)));
    } else {
        return _mm512_set1_ps(u);
    }
}

template <typename T>
ATL_AVX512 inline __attribute__((always_inline)) __m512 load(const T* p) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(p));
}

// The shape of both products: T [kTile][kQBlock] = (corr ? corr * T : 0) + B V, with B [kTile][depth]
// (row stride bstride; its elements broadcast) and V [depth][kQBlock] (QV vectors of queries):
//   S^T [8 keys] = K [8 keys][head dim] Q^T          (corr null)
//   O^T [8 channels] = corr O^T + V^T [8 channels][keys] P^T
template <bool Bf16, int QV>
ATL_AVX512_BF16 void broadcast_tile(const Unit<Bf16>* __restrict v, int64_t depth, const Unit<Bf16>* __restrict b,
                                    int64_t bstride, float* __restrict t, const __m512* corr) {
    __m512 acc[kTile][QV];
#pragma GCC unroll 8
    for (int r = 0; r < kTile; ++r) {
#pragma GCC unroll 3
        for (int q = 0; q < QV; ++q) {
            acc[r][q] = corr ? _mm512_mul_ps(corr[q], _mm512_loadu_ps(t + r * kQBlock + 16 * q)) : _mm512_setzero_ps();
        }
    }
    for (int64_t c = 0; c < depth; ++c) {
        __m512 w[QV];
#pragma GCC unroll 3
        for (int q = 0; q < QV; ++q) w[q] = load(v + c * kQBlock + 16 * q);
#pragma GCC unroll 8
        for (int r = 0; r < kTile; ++r) {
            const __m512 a = broadcast<Bf16>(b[r * bstride + c]);
#pragma GCC unroll 3
            for (int q = 0; q < QV; ++q) acc[r][q] = madd<Bf16>(acc[r][q], a, w[q]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < kTile; ++r) {
#pragma GCC unroll 3
        for (int q = 0; q < QV; ++q) _mm512_storeu_ps(t + r * kQBlock + 16 * q, acc[r][q]);
    }
}

// Lanes 2i and 2i + 1 of the result: BF16 lanes i and 16 + i of the argument (two rows of 16
// probabilities rounded by one vcvtne2ps2bf16, turned into 16 pairs of consecutive keys).
ATL_AVX512 inline __m512i pair_order() {
    alignas(64) static const uint16_t order[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                   8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    return _mm512_load_si512(order);
}

// One key block's online softmax step, down the columns of S^T [nk][kQBlock] (scores in base 2:
// Q carries log2(e) / sqrt(d)): updates the running max m and sum l of each query, sets corr =
// 2^(m_old - m_new) (0 before the first block) for the earlier output, and writes P^T =
// 2^(s - m_new): F32 [nk][kQBlock], or BF16 pairs of keys [(nk + 1) / 2][kQBlock] (an odd last key
// paired with zero), from exp2_ps_bf16, accurate to well within BF16's rounding.
template <bool Bf16, int QV>
ATL_AVX512_BF16 void softmax_block(const float* __restrict s, int64_t nk, __m512 (&m)[kMaxQv], __m512 (&l)[kMaxQv],
                                   __m512 (&corr)[kMaxQv], Unit<Bf16>* __restrict pt) {
    __m512 top[QV], sum[QV];
#pragma GCC unroll 3
    for (int v = 0; v < QV; ++v) top[v] = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < nk; ++j) {
#pragma GCC unroll 3
        for (int v = 0; v < QV; ++v) top[v] = _mm512_max_ps(top[v], _mm512_loadu_ps(s + j * kQBlock + 16 * v));
    }
#pragma GCC unroll 3
    for (int v = 0; v < QV; ++v) {
        const __m512 m_new = _mm512_max_ps(m[v], top[v]);
        const __mmask16 seen = _mm512_cmp_ps_mask(m[v], _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
        corr[v] = _mm512_maskz_mov_ps(seen, simd::exp2_ps(_mm512_sub_ps(m[v], m_new)));
        m[v] = m_new;
        sum[v] = _mm512_setzero_ps();
    }
    if constexpr (Bf16) {
        const __m512i order = pair_order();
        for (int64_t j = 0; j < nk; j += 2) {
            const bool second = j + 1 < nk;
#pragma GCC unroll 3
            for (int v = 0; v < QV; ++v) {
                const __m512 e0 = simd::exp2_ps_bf16(_mm512_sub_ps(_mm512_loadu_ps(s + j * kQBlock + 16 * v), m[v]));
                const __m512 e1 = second ? simd::exp2_ps_bf16(_mm512_sub_ps(_mm512_loadu_ps(s + (j + 1) * kQBlock + 16 * v), m[v]))
                                         : _mm512_setzero_ps();
                sum[v] = _mm512_add_ps(sum[v], _mm512_add_ps(e0, e1));
                const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(e1, e0);
                _mm512_storeu_si512(pt + j / 2 * kQBlock + 16 * v, _mm512_permutexvar_epi16(order, both));
            }
        }
    } else {
        for (int64_t j = 0; j < nk; ++j) {
#pragma GCC unroll 3
            for (int v = 0; v < QV; ++v) {
                const __m512 e = simd::exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j * kQBlock + 16 * v), m[v]));
                sum[v] = _mm512_add_ps(sum[v], e);
                _mm512_storeu_ps(pt + j * kQBlock + 16 * v, e);
            }
        }
    }
#pragma GCC unroll 3
    for (int v = 0; v < QV; ++v) l[v] = _mm512_fmadd_ps(l[v], corr[v], sum[v]);
}

// A row of n F32 values as n units: F32, or (n + 1) / 2 BF16 pairs of consecutive elements (an
// odd last element paired with zero) as the GEMM rounds its rows (simd::pairs_of).
template <bool Bf16>
ATL_AVX512_BF16 void row_units(const float* src, int64_t n, Unit<Bf16>* dst) {
    if constexpr (Bf16) {
        simd::pairs_of(src, n, dst);
    } else {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    }
}

// Channel c of keys lo and hi (hi null: none) as one unit at dst[c * stride], c < n: lo's value in
// F32, or the BF16 pair (lo, hi) (hi's half zero when null), rounded as simd::pairs_of rounds.
template <bool Bf16>
ATL_AVX512_BF16 void key_units(const float* lo, const float* hi, int64_t n, Unit<Bf16>* dst, int64_t stride) {
    alignas(64) Unit<Bf16> units[16];
    for (int64_t c = 0; c < n; c += 16) {
        const __mmask16 m = simd::mask_of(n - c);
        const __m512 a = _mm512_maskz_loadu_ps(m, lo + c);
        if constexpr (Bf16) {
            const __m512 z = hi ? _mm512_maskz_loadu_ps(m, hi + c) : _mm512_setzero_ps();
            _mm512_store_si512(units, _mm512_permutexvar_epi16(pair_order(), (__m512i)_mm512_cvtne2ps_pbh(z, a)));
        } else {
            _mm512_store_ps(units, a);
        }
        for (int64_t t = 0; t < std::min<int64_t>(16, n - c); ++t) dst[(c + t) * stride] = units[t];
    }
}

// Everything of one call: shapes, packed K and V, and the scale.
template <bool Bf16>
struct Packed {
    const AttentionShape& s;
    int64_t depth;        // units along the head dimension: dim, or pairs of it
    int64_t keys;         // lk rounded up to whole tiles
    int64_t channels;     // dim rounded up to whole tiles
    int64_t block_units;  // units of V^T per key block and channel: kKeyBlock or its pairs
    int64_t blocks;       // key blocks
    Buffer<Unit<Bf16>> k;  // per (batch, head): [keys][depth], zero past lk and dim
    Buffer<Unit<Bf16>> vt; // per (batch, head) and key block: [channels][block_units], zero past lk and dim

    Packed(const AttentionShape& shape, const float* kp, const float* vp)
        : s(shape),
          depth(Bf16 ? (shape.dim + 1) / 2 : shape.dim),
          keys((shape.lk + kTile - 1) / kTile * kTile),
          channels((shape.dim + kTile - 1) / kTile * kTile),
          block_units(Bf16 ? kKeyBlock / 2 : kKeyBlock),
          blocks((shape.lk + kKeyBlock - 1) / kKeyBlock) {
        const int64_t bh = s.batch * s.heads;
        k = zeros<Unit<Bf16>>(bh * keys * depth);
        at::parallel_for(0, bh * s.lk, 64, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t b = t / (s.heads * s.lk), h = (t / s.lk) % s.heads, j = t % s.lk;
                row_units<Bf16>(kp + (b * s.lk + j) * s.ldk + h * s.dim, s.dim,
                                k.get() + ((b * s.heads + h) * keys + j) * depth);
            }
        });
        vt = zeros<Unit<Bf16>>(bh * blocks * channels * block_units);
        at::parallel_for(0, bh * blocks, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t b = t / (s.heads * blocks), h = (t / blocks) % s.heads, k0 = (t % blocks) * kKeyBlock;
                const int64_t nk = std::min(kKeyBlock, s.lk - k0);
                Unit<Bf16>* dst = vt.get() + t * channels * block_units;
                for (int64_t u = 0; u < (Bf16 ? (nk + 1) / 2 : nk); ++u) {
                    const int64_t j = k0 + (Bf16 ? 2 * u : u);
                    const float* lo = vp + (b * s.lk + j) * s.ldv + h * s.dim;
                    const float* hi = Bf16 && j + 1 < s.lk ? lo + s.ldv : nullptr;
                    key_units<Bf16>(lo, hi, s.dim, dst + u, block_units);
                }
            }
        });
    }
};

// One task: rows (<= kQBlock) queries from i0 of head h of sample b, in QV vectors.
template <bool Bf16, int QV>
ATL_AVX512_BF16 void attend(const Packed<Bf16>& p, const float* q, float scale, int64_t b, int64_t h, int64_t i0, int64_t rows,
            Unit<Bf16>* qt, float* qscaled, Unit<Bf16>* qrow, float* scores, Unit<Bf16>* pt, float* ot,
            float* out) {
    const AttentionShape& s = p.s;
    // Q^T: query i scaled (qscaled), as units (qrow), down column i; zero columns past rows.
    const __m512 f = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < 16 * QV; ++i) {
        if (i < rows) {
            const float* src = q + (b * s.lq + i0 + i) * s.ldq + h * s.dim;
            for (int64_t c = 0; c < s.dim; c += 16) {
                const __mmask16 m = simd::mask_of(s.dim - c);
                _mm512_mask_storeu_ps(qscaled + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + c), f));
            }
            row_units<Bf16>(qscaled, s.dim, qrow);
        }
        for (int64_t c = 0; c < p.depth; ++c) qt[c * kQBlock + i] = i < rows ? qrow[c] : Unit<Bf16>{0};
    }
    std::fill_n(ot, p.channels * kQBlock, 0.f);
    __m512 m[kMaxQv], l[kMaxQv], corr[kMaxQv];
    for (int v = 0; v < kMaxQv; ++v) m[v] = _mm512_set1_ps(-INFINITY), l[v] = _mm512_setzero_ps();
    const Unit<Bf16>* kbh = p.k.get() + (b * s.heads + h) * p.keys * p.depth;
    for (int64_t blk = 0; blk < p.blocks; ++blk) {
        const int64_t k0 = blk * kKeyBlock, nk = std::min(kKeyBlock, s.lk - k0);
        for (int64_t j = 0; j < nk; j += kTile) {
            broadcast_tile<Bf16, QV>(qt, p.depth, kbh + (k0 + j) * p.depth, p.depth, scores + j * kQBlock, nullptr);
        }
        softmax_block<Bf16, QV>(scores, nk, m, l, corr, pt);
        const Unit<Bf16>* vblock = p.vt.get() + ((b * s.heads + h) * p.blocks + blk) * p.channels * p.block_units;
        const int64_t units = Bf16 ? (nk + 1) / 2 : nk;
        for (int64_t c = 0; c < p.channels; c += kTile) {
            broadcast_tile<Bf16, QV>(pt, units, vblock + c * p.block_units, p.block_units, ot + c * kQBlock, corr);
        }
    }
    alignas(64) float inv[kQBlock];
    for (int v = 0; v < QV; ++v) _mm512_store_ps(inv + 16 * v, _mm512_div_ps(_mm512_set1_ps(1.f), l[v]));
    // Row i of O is column i of O^T: 16 channels a gather, a row apart in O^T.
    const __m512i down = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(static_cast<int>(kQBlock)));
    for (int64_t i = 0; i < rows; ++i) {
        float* dst = out + (b * s.lq + i0 + i) * s.ldo + h * s.dim;
        const __m512 scale_i = _mm512_set1_ps(inv[i]);
        for (int64_t c = 0; c < s.dim; c += 16) {
            const __mmask16 m = simd::mask_of(s.dim - c);
            const __m512 o = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, down, ot + c * kQBlock + i, 4);
            _mm512_mask_storeu_ps(dst + c, m, _mm512_mul_ps(o, scale_i));
        }
    }
}

template <bool Bf16>
void run(const AttentionShape& s, const float* q, const float* k, const float* v, float* out) {
    const int64_t bh = s.batch * s.heads;
    if (bh <= 0 || s.lq <= 0 || s.dim <= 0) return;
    const Packed<Bf16> p(s, k, v);
    // Scores in base 2: the softmax takes 2^x, cheaper than e^x.
    const float scale = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(s.dim)));
    const int64_t qblocks = (s.lq + kQBlock - 1) / kQBlock;
    struct Scratch {
        Buffer<Unit<Bf16>> qt, pt;  // Q^T [depth][kQBlock], P^T [kKeyBlock (or its pairs)][kQBlock]
        Buffer<float> qscaled;      // one query times the scale [dim]
        Buffer<Unit<Bf16>> qrow;    // the same as units [depth]
        Buffer<float> scores, ot;   // S^T [kKeyBlock][kQBlock], O^T [channels][kQBlock]
    };
    auto make = [&] {
        auto sc = std::make_unique<Scratch>();
        sc->qt = zeros<Unit<Bf16>>(p.depth * kQBlock);
        sc->qscaled = zeros<float>(s.dim);
        sc->qrow = zeros<Unit<Bf16>>(p.depth);
        sc->pt = zeros<Unit<Bf16>>(kKeyBlock * kQBlock);
        sc->scores = zeros<float>(kKeyBlock * kQBlock);
        sc->ot = zeros<float>(p.channels * kQBlock);
        return sc;
    };
    for_each_task(bh * qblocks, make, [&](int64_t t, std::unique_ptr<Scratch>& sc) {
        const int64_t b = t / (s.heads * qblocks), h = (t / qblocks) % s.heads, i0 = (t % qblocks) * kQBlock;
        const int64_t rows = std::min(kQBlock, s.lq - i0);
        const auto go = [&](auto qv) {
            attend<Bf16, decltype(qv)::value>(p, q, scale, b, h, i0, rows, sc->qt.get(), sc->qscaled.get(), sc->qrow.get(),
                                              sc->scores.get(), sc->pt.get(), sc->ot.get(), out);
        };
        if (rows > 32) {
            go(std::integral_constant<int, 3>{});
        } else if (rows > 16) {
            go(std::integral_constant<int, 2>{});
        } else {
            go(std::integral_constant<int, 1>{});
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
