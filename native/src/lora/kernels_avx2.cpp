// AVX2 + FMA versions of the low-rank pieces. Compiled with function-level target attributes so
// the library still loads on CPUs without AVX2; kernels.cpp calls them only when
// atl_cpu_features() reports AVX2 and FMA.
#include <immintrin.h>

#include "lora/kernels.hpp"

namespace atl::lora::avx2 {

namespace {

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

}  // namespace

// 4 rows x 4 ranks per register block: 8 loads feed 16 FMAs.
__attribute__((target("avx2,fma"))) void project(const float* x, int64_t ldx, int64_t n, int64_t k, const float* p,
                                                   int64_t r, float* t) {
    const int64_t kv = k & ~int64_t{7};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float* x0 = x + i * ldx;
        const float* x1 = x0 + ldx;
        const float* x2 = x1 + ldx;
        const float* x3 = x2 + ldx;
        for (int64_t j = 0; j < r; j += 4) {
            const int64_t nj = std::min<int64_t>(4, r - j);
            __m256 acc[4][4];
            for (auto& row : acc)
                for (auto& a : row) a = _mm256_setzero_ps();
            const float* pj[4];
            for (int64_t q = 0; q < 4; ++q) pj[q] = p + (j + std::min<int64_t>(q, nj - 1)) * k;
            for (int64_t c = 0; c < kv; c += 8) {
                __m256 a0 = _mm256_loadu_ps(x0 + c), a1 = _mm256_loadu_ps(x1 + c);
                __m256 a2 = _mm256_loadu_ps(x2 + c), a3 = _mm256_loadu_ps(x3 + c);
                for (int64_t q = 0; q < 4; ++q) {
                    __m256 b = _mm256_loadu_ps(pj[q] + c);
                    acc[0][q] = _mm256_fmadd_ps(a0, b, acc[0][q]);
                    acc[1][q] = _mm256_fmadd_ps(a1, b, acc[1][q]);
                    acc[2][q] = _mm256_fmadd_ps(a2, b, acc[2][q]);
                    acc[3][q] = _mm256_fmadd_ps(a3, b, acc[3][q]);
                }
            }
            const float* xs[4] = {x0, x1, x2, x3};
            for (int64_t rr = 0; rr < 4; ++rr) {
                for (int64_t q = 0; q < nj; ++q) {
                    float s = hsum(acc[rr][q]);
                    for (int64_t c = kv; c < k; ++c) s += xs[rr][c] * pj[q][c];
                    t[(i + rr) * r + j + q] = s;
                }
            }
        }
    }
    for (; i < n; ++i) {
        const float* xi = x + i * ldx;
        for (int64_t j = 0; j < r; ++j) {
            const float* pj = p + j * k;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t c = 0; c < kv; c += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(xi + c), _mm256_loadu_ps(pj + c), acc);
            float s = hsum(acc);
            for (int64_t c = kv; c < k; ++c) s += xi[c] * pj[c];
            t[i * r + j] = s;
        }
    }
}

// 4 rows at a time: each loaded row of Q serves 4 rows of Y.
__attribute__((target("avx2,fma"))) void expand_add(const float* t, int64_t n, int64_t r, const float* q, int64_t m,
                                                      float* y, int64_t ldy) {
    const int64_t mv = m & ~int64_t{7};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float* y0 = y + i * ldy;
        const float* t0 = t + i * r;
        for (int64_t c = 0; c < mv; c += 8) {
            __m256 a0 = _mm256_loadu_ps(y0 + c), a1 = _mm256_loadu_ps(y0 + ldy + c);
            __m256 a2 = _mm256_loadu_ps(y0 + 2 * ldy + c), a3 = _mm256_loadu_ps(y0 + 3 * ldy + c);
            for (int64_t j = 0; j < r; ++j) {
                __m256 b = _mm256_loadu_ps(q + j * m + c);
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(t0[j]), b, a0);
                a1 = _mm256_fmadd_ps(_mm256_set1_ps(t0[r + j]), b, a1);
                a2 = _mm256_fmadd_ps(_mm256_set1_ps(t0[2 * r + j]), b, a2);
                a3 = _mm256_fmadd_ps(_mm256_set1_ps(t0[3 * r + j]), b, a3);
            }
            _mm256_storeu_ps(y0 + c, a0);
            _mm256_storeu_ps(y0 + ldy + c, a1);
            _mm256_storeu_ps(y0 + 2 * ldy + c, a2);
            _mm256_storeu_ps(y0 + 3 * ldy + c, a3);
        }
        for (int64_t rr = 0; rr < 4; ++rr) {
            for (int64_t c = mv; c < m; ++c) {
                float s = 0;
                for (int64_t j = 0; j < r; ++j) s += t0[rr * r + j] * q[j * m + c];
                y0[rr * ldy + c] += s;
            }
        }
    }
    for (; i < n; ++i) {
        float* yi = y + i * ldy;
        const float* ti = t + i * r;
        for (int64_t c = 0; c < mv; c += 8) {
            __m256 a = _mm256_loadu_ps(yi + c);
            for (int64_t j = 0; j < r; ++j) a = _mm256_fmadd_ps(_mm256_set1_ps(ti[j]), _mm256_loadu_ps(q + j * m + c), a);
            _mm256_storeu_ps(yi + c, a);
        }
        for (int64_t c = mv; c < m; ++c) {
            float s = 0;
            for (int64_t j = 0; j < r; ++j) s += ti[j] * q[j * m + c];
            yi[c] += s;
        }
    }
}

}  // namespace atl::lora::avx2
