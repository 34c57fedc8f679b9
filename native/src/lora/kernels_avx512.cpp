// AVX-512F versions of the low-rank pieces, and BF16 ones on avx512_bf16 (vdpbf16ps dot
// products with F32 accumulation). Function-level target attributes keep the library loadable
// on CPUs without them; kernels.cpp dispatches on atl_cpu_features().
#include <immintrin.h>

#include "lora/kernels.hpp"

namespace atl::lora::avx512 {

namespace {

__attribute__((target("avx512f"))) inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}

}  // namespace

// 4 rows x 4 ranks per register block; the k tail is a masked load (no scalar loop).
__attribute__((target("avx512f"))) void project(const float* x, int64_t ldx, int64_t n, int64_t k, const float* p,
                                                  int64_t r, float* t) {
    int64_t i = 0;
    for (; i < n; i += 4) {
        const int64_t ni = std::min<int64_t>(4, n - i);
        const float* xs[4];
        for (int64_t q = 0; q < 4; ++q) xs[q] = x + (i + std::min<int64_t>(q, ni - 1)) * ldx;
        for (int64_t j = 0; j < r; j += 4) {
            const int64_t nj = std::min<int64_t>(4, r - j);
            const float* ps[4];
            for (int64_t q = 0; q < 4; ++q) ps[q] = p + (j + std::min<int64_t>(q, nj - 1)) * k;
            __m512 acc[4][4];
            for (auto& row : acc)
                for (auto& a : row) a = _mm512_setzero_ps();
            for (int64_t c = 0; c < k; c += 16) {
                const __mmask16 m = tail_mask(k - c);
                __m512 a0 = _mm512_maskz_loadu_ps(m, xs[0] + c), a1 = _mm512_maskz_loadu_ps(m, xs[1] + c);
                __m512 a2 = _mm512_maskz_loadu_ps(m, xs[2] + c), a3 = _mm512_maskz_loadu_ps(m, xs[3] + c);
                for (int64_t q = 0; q < 4; ++q) {
                    __m512 b = _mm512_maskz_loadu_ps(m, ps[q] + c);
                    acc[0][q] = _mm512_fmadd_ps(a0, b, acc[0][q]);
                    acc[1][q] = _mm512_fmadd_ps(a1, b, acc[1][q]);
                    acc[2][q] = _mm512_fmadd_ps(a2, b, acc[2][q]);
                    acc[3][q] = _mm512_fmadd_ps(a3, b, acc[3][q]);
                }
            }
            for (int64_t rr = 0; rr < ni; ++rr) {
                for (int64_t q = 0; q < nj; ++q) t[(i + rr) * r + j + q] = _mm512_reduce_add_ps(acc[rr][q]);
            }
        }
    }
}

// 4 rows at a time over 16-column strips; the column tail is masked.
__attribute__((target("avx512f"))) void expand_add(const float* t, int64_t n, int64_t r, const float* q, int64_t m,
                                                     float* y, int64_t ldy) {
    for (int64_t i = 0; i < n; i += 4) {
        const int64_t ni = std::min<int64_t>(4, n - i);
        float* ys[4];
        const float* ts[4];
        for (int64_t rr = 0; rr < 4; ++rr) {
            const int64_t row = i + std::min<int64_t>(rr, ni - 1);
            ys[rr] = y + row * ldy;
            ts[rr] = t + row * r;
        }
        for (int64_t c = 0; c < m; c += 16) {
            const __mmask16 mk = tail_mask(m - c);
            __m512 a0 = _mm512_maskz_loadu_ps(mk, ys[0] + c), a1 = _mm512_maskz_loadu_ps(mk, ys[1] + c);
            __m512 a2 = _mm512_maskz_loadu_ps(mk, ys[2] + c), a3 = _mm512_maskz_loadu_ps(mk, ys[3] + c);
            for (int64_t j = 0; j < r; ++j) {
                __m512 b = _mm512_maskz_loadu_ps(mk, q + j * m + c);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(ts[0][j]), b, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(ts[1][j]), b, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(ts[2][j]), b, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(ts[3][j]), b, a3);
            }
            // Rows past n alias the last row: store in reverse so the real row's value wins.
            if (ni > 3) _mm512_mask_storeu_ps(ys[3] + c, mk, a3);
            if (ni > 2) _mm512_mask_storeu_ps(ys[2] + c, mk, a2);
            if (ni > 1) _mm512_mask_storeu_ps(ys[1] + c, mk, a1);
            _mm512_mask_storeu_ps(ys[0] + c, mk, a0);
        }
    }
}

namespace {

__attribute__((target("avx512f"))) inline __mmask32 tail_mask32(int64_t left) {
    return left >= 32 ? static_cast<__mmask32>(0xffffffffu) : static_cast<__mmask32>((1u << left) - 1);
}

// BF16 -> F32: the bf16 bits are the high half of the f32 bits.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 load_bf16(__mmask16 m, const c10::BFloat16* p) {
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

}  // namespace

// Pairs of k are multiplied and summed by vdpbf16ps: 32 products per instruction.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void project_bf16(const c10::BFloat16* x, int64_t ldx, int64_t n,
                                                                          int64_t k, const c10::BFloat16* p, int64_t r,
                                                                          float* t) {
    for (int64_t i = 0; i < n; i += 2) {
        const int64_t ni = std::min<int64_t>(2, n - i);
        const c10::BFloat16* x0 = x + i * ldx;
        const c10::BFloat16* x1 = x + (i + ni - 1) * ldx;
        for (int64_t j = 0; j < r; j += 4) {
            const int64_t nj = std::min<int64_t>(4, r - j);
            const c10::BFloat16* ps[4];
            for (int64_t q = 0; q < 4; ++q) ps[q] = p + (j + std::min<int64_t>(q, nj - 1)) * k;
            __m512 acc[2][4];
            for (auto& row : acc)
                for (auto& a : row) a = _mm512_setzero_ps();
            for (int64_t c = 0; c < k; c += 32) {
                const __mmask32 m = tail_mask32(k - c);
                __m512bh a0 = (__m512bh)_mm512_maskz_loadu_epi16(m, x0 + c);
                __m512bh a1 = (__m512bh)_mm512_maskz_loadu_epi16(m, x1 + c);
                for (int64_t q = 0; q < 4; ++q) {
                    __m512bh b = (__m512bh)_mm512_maskz_loadu_epi16(m, ps[q] + c);
                    acc[0][q] = _mm512_dpbf16_ps(acc[0][q], a0, b);
                    acc[1][q] = _mm512_dpbf16_ps(acc[1][q], a1, b);
                }
            }
            for (int64_t rr = 0; rr < ni; ++rr) {
                for (int64_t q = 0; q < nj; ++q) t[(i + rr) * r + j + q] = _mm512_reduce_add_ps(acc[rr][q]);
            }
        }
    }
}

// Y (BF16) is widened, updated in F32 and rounded once (round-to-nearest-even, vcvtneps2bf16).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void expand_add_bf16(const float* t, int64_t n, int64_t r,
                                                                             const float* q, int64_t m,
                                                                             c10::BFloat16* y, int64_t ldy) {
    for (int64_t i = 0; i < n; ++i) {
        c10::BFloat16* yi = y + i * ldy;
        const float* ti = t + i * r;
        for (int64_t c = 0; c < m; c += 16) {
            const __mmask16 mk = tail_mask(m - c);
            __m512 a = load_bf16(mk, yi + c);
            for (int64_t j = 0; j < r; ++j) {
                a = _mm512_fmadd_ps(_mm512_set1_ps(ti[j]), _mm512_maskz_loadu_ps(mk, q + j * m + c), a);
            }
            __m256bh h = _mm512_cvtneps_pbh(a);
            _mm256_mask_storeu_epi16(yi + c, mk, (__m256i)h);
        }
    }
}

}  // namespace atl::lora::avx512
