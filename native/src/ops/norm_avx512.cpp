// The AVX-512 normalisation kernels of norm.hpp. GroupNorm: per sample, a parallel pass over
// blocks of positions sums each channel and its square in double (vectorised across channels),
// the per-group mean and variance follow from those sums, then a second parallel pass writes
// y = x * a[c] + b[c] (a = weight * rstd, b = bias - mean * a), with SiLU when asked.
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "core/parallel.hpp"
#include "ops/norm.hpp"
#include "ops/simd.hpp"

namespace atl::ops::avx512 {

namespace {

constexpr int64_t kPositionBlock = 64;

// sums[c] += x, squares[c] += x^2 over rows [p0, p1) of x [positions, c], in double.
template <typename T>
ATL_AVX512 void channel_sums(const T* x, int64_t p0, int64_t p1, int64_t c, double* sums, double* squares) {
    for (int64_t j = 0; j < c; j += 16) {
        const __mmask16 m = simd::mask_of(c - j);
        __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
        for (int64_t p = p0; p < p1; ++p) {
            const __m512 v = simd::load(x + p * c + j, m);
            const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
            const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
            s0 = _mm512_add_pd(s0, lo), s1 = _mm512_add_pd(s1, hi);
            q0 = _mm512_fmadd_pd(lo, lo, q0), q1 = _mm512_fmadd_pd(hi, hi, q1);
        }
        alignas(64) double t[32];
        _mm512_store_pd(t, s0), _mm512_store_pd(t + 8, s1);
        for (int64_t i = 0; i < 16 && j + i < c; ++i) sums[j + i] += t[i];
        _mm512_store_pd(t, q0), _mm512_store_pd(t + 8, q1);
        for (int64_t i = 0; i < 16 && j + i < c; ++i) squares[j + i] += t[i];
    }
}

// y = x * a + b per channel over rows [p0, p1), SiLU after when silu.
template <typename T>
ATL_AVX512 void scale_shift(const T* x, int64_t p0, int64_t p1, int64_t c, const float* a, const float* b, bool silu,
                            T* y) {
    for (int64_t p = p0; p < p1; ++p) {
        for (int64_t j = 0; j < c; j += 16) {
            const __mmask16 m = simd::mask_of(c - j);
            __m512 v = _mm512_fmadd_ps(simd::load(x + p * c + j, m), _mm512_maskz_loadu_ps(m, a + j),
                                       _mm512_maskz_loadu_ps(m, b + j));
            if (silu) v = simd::silu_ps(v);
            simd::store(y + p * c + j, m, v);
        }
    }
}

}  // namespace

template <typename T>
void group_norm(const T* x, int64_t n, int64_t positions, int64_t c, int64_t groups, const float* weight,
                const float* bias, double eps, bool silu, T* y) {
    const int64_t blocks = (positions + kPositionBlock - 1) / kPositionBlock, per_group = c / groups;
    std::vector<double> sums(static_cast<size_t>(blocks * c)), squares(sums.size());
    std::vector<float> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
    for (int64_t s = 0; s < n; ++s) {
        const T* xs = x + s * positions * c;
        std::fill(sums.begin(), sums.end(), 0.0);
        std::fill(squares.begin(), squares.end(), 0.0);
        for_each_task(blocks, [&](int64_t blk) {
            channel_sums(xs, blk * kPositionBlock, std::min(positions, (blk + 1) * kPositionBlock), c,
                         sums.data() + blk * c, squares.data() + blk * c);
        });
        const double count = static_cast<double>(positions * per_group);
        for (int64_t g = 0; g < groups; ++g) {
            double sum = 0, square = 0;
            for (int64_t blk = 0; blk < blocks; ++blk) {
                for (int64_t j = g * per_group; j < (g + 1) * per_group; ++j) {
                    sum += sums[blk * c + j];
                    square += squares[blk * c + j];
                }
            }
            const double mean = sum / count, var = std::max(0.0, square / count - mean * mean);
            const double rstd = 1.0 / std::sqrt(var + eps);
            for (int64_t j = g * per_group; j < (g + 1) * per_group; ++j) {
                a[j] = static_cast<float>(weight[j] * rstd);
                b[j] = static_cast<float>(bias[j] - mean * weight[j] * rstd);
            }
        }
        for_each_task(blocks, [&](int64_t blk) {
            scale_shift(xs, blk * kPositionBlock, std::min(positions, (blk + 1) * kPositionBlock), c, a.data(), b.data(),
                        silu, y + s * positions * c);
        });
    }
}

namespace {

template <typename T>
ATL_AVX512 void layer_norm_row(const T* x, int64_t c, const float* weight, const float* bias, float eps, T* y) {
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < c; j += 16) sum = _mm512_add_ps(sum, simd::load(x + j, simd::mask_of(c - j)));
    const float mean = _mm512_reduce_add_ps(sum) / static_cast<float>(c);
    const __m512 vm = _mm512_set1_ps(mean);
    __m512 sq = _mm512_setzero_ps();
    for (int64_t j = 0; j < c; j += 16) {
        const __mmask16 m = simd::mask_of(c - j);
        const __m512 d = _mm512_maskz_sub_ps(m, simd::load(x + j, m), vm);
        sq = _mm512_fmadd_ps(d, d, sq);
    }
    const __m512 rstd = _mm512_set1_ps(1.f / std::sqrt(_mm512_reduce_add_ps(sq) / static_cast<float>(c) + eps));
    for (int64_t j = 0; j < c; j += 16) {
        const __mmask16 m = simd::mask_of(c - j);
        const __m512 d = _mm512_mul_ps(_mm512_sub_ps(simd::load(x + j, m), vm), rstd);
        simd::store(y + j, m, _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, weight + j), _mm512_maskz_loadu_ps(m, bias + j)));
    }
}

}  // namespace

template <typename T>
void layer_norm(const T* x, int64_t rows, int64_t c, const float* weight, const float* bias, double eps, T* y) {
    at::parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) layer_norm_row(x + r * c, c, weight, bias, static_cast<float>(eps), y + r * c);
    });
}

template void group_norm<float>(const float*, int64_t, int64_t, int64_t, int64_t, const float*, const float*, double,
                                bool, float*);
template void group_norm<c10::BFloat16>(const c10::BFloat16*, int64_t, int64_t, int64_t, int64_t, const float*,
                                        const float*, double, bool, c10::BFloat16*);
template void layer_norm<float>(const float*, int64_t, int64_t, const float*, const float*, double, float*);
template void layer_norm<c10::BFloat16>(const c10::BFloat16*, int64_t, int64_t, const float*, const float*, double,
                                        c10::BFloat16*);

}  // namespace atl::ops::avx512
