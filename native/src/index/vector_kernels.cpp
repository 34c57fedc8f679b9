#include "index/vector_kernels.hpp"

#include <immintrin.h>

#include <initializer_list>

#include "atelier.h"

namespace atl::index {
namespace {

float dot_reference(const float* a, const float* b, int64_t d) {
    float s = 0.0f;
    for (int64_t i = 0; i < d; ++i) s += a[i] * b[i];
    return s;
}

void dot_many_reference(const float* q, const float* const* rows, int64_t n, int64_t d, float* out) {
    for (int64_t j = 0; j < n; ++j) out[j] = dot_reference(q, rows[j], d);
}

void dot_rows_reference(const float* q, const float* x, int64_t n, int64_t d, float* out) {
    for (int64_t j = 0; j < n; ++j) out[j] = dot_reference(q, x + j * d, d);
}

int64_t select_at_least_reference(const float* s, int64_t n, float threshold, int32_t* pos) {
    int64_t count = 0;
    for (int64_t j = 0; j < n; ++j) {
        if (s[j] >= threshold) pos[count++] = static_cast<int32_t>(j);
    }
    return count;
}

// AVX-512: four rows at a time share each query load; the d tail is a masked load.
__attribute__((target("avx512f"))) inline __mmask16 tail16(int64_t left) {
    return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}

__attribute__((target("avx512f"))) void dot4_avx512(const float* q, const float* r0, const float* r1,
                                                      const float* r2, const float* r3, int64_t d, float* out) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i += 16) {
        const __mmask16 m = tail16(d - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, q + i);
        a0 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, r0 + i), a0);
        a1 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, r1 + i), a1);
        a2 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, r2 + i), a2);
        a3 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, r3 + i), a3);
    }
    out[0] = _mm512_reduce_add_ps(a0);
    out[1] = _mm512_reduce_add_ps(a1);
    out[2] = _mm512_reduce_add_ps(a2);
    out[3] = _mm512_reduce_add_ps(a3);
}

__attribute__((target("avx512f"))) float dot1_avx512(const float* q, const float* r, int64_t d) {
    __m512 a = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i += 16) {
        const __mmask16 m = tail16(d - i);
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, r + i), a);
    }
    return _mm512_reduce_add_ps(a);
}

__attribute__((target("avx512f"))) void dot_many_avx512(const float* q, const float* const* rows, int64_t n,
                                                          int64_t d, float* out) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) dot4_avx512(q, rows[j], rows[j + 1], rows[j + 2], rows[j + 3], d, out + j);
    for (; j < n; ++j) out[j] = dot1_avx512(q, rows[j], d);
}

__attribute__((target("avx512f"))) void dot_rows_avx512(const float* q, const float* x, int64_t n, int64_t d,
                                                          float* out) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float* r = x + j * d;
        dot4_avx512(q, r, r + d, r + 2 * d, r + 3 * d, d, out + j);
    }
    for (; j < n; ++j) out[j] = dot1_avx512(q, x + j * d, d);
}

__attribute__((target("avx512f"))) int64_t select_at_least_avx512(const float* s, int64_t n, float threshold,
                                                                   int32_t* pos) {
    const __m512 t = _mm512_set1_ps(threshold);
    int64_t count = 0;
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = tail16(n - j);
        uint32_t hit = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, s + j), t, _CMP_GE_OQ);
        while (hit != 0) {
            pos[count++] = static_cast<int32_t>(j + __builtin_ctz(hit));
            hit &= hit - 1;
        }
    }
    return count;
}

// AVX2 + FMA: the same shape with 8 lanes; the tail (d % 8) is scalar.
__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float dot1_avx2(const float* q, const float* r, int64_t d) {
    __m256 a = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(r + i), a);
    float s = hsum8(a);
    for (; i < d; ++i) s += q[i] * r[i];
    return s;
}

__attribute__((target("avx2,fma"))) void dot4_avx2(const float* q, const float* r0, const float* r1, const float* r2,
                                                     const float* r3, int64_t d, float* out) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
        const __m256 v = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r0 + i), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r1 + i), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r2 + i), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r3 + i), a3);
    }
    float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);
    for (; i < d; ++i) {
        s0 += q[i] * r0[i];
        s1 += q[i] * r1[i];
        s2 += q[i] * r2[i];
        s3 += q[i] * r3[i];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

__attribute__((target("avx2,fma"))) void dot_many_avx2(const float* q, const float* const* rows, int64_t n, int64_t d,
                                                         float* out) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) dot4_avx2(q, rows[j], rows[j + 1], rows[j + 2], rows[j + 3], d, out + j);
    for (; j < n; ++j) out[j] = dot1_avx2(q, rows[j], d);
}

__attribute__((target("avx2,fma"))) void dot_rows_avx2(const float* q, const float* x, int64_t n, int64_t d,
                                                         float* out) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float* r = x + j * d;
        dot4_avx2(q, r, r + d, r + 2 * d, r + 3 * d, d, out + j);
    }
    for (; j < n; ++j) out[j] = dot1_avx2(q, x + j * d, d);
}

__attribute__((target("avx2,fma"))) int64_t select_at_least_avx2(const float* s, int64_t n, float threshold,
                                                                   int32_t* pos) {
    const __m256 t = _mm256_set1_ps(threshold);
    int64_t count = 0, j = 0;
    for (; j + 8 <= n; j += 8) {
        uint32_t hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j), t, _CMP_GE_OQ));
        while (hit != 0) {
            pos[count++] = static_cast<int32_t>(j + __builtin_ctz(hit));
            hit &= hit - 1;
        }
    }
    for (; j < n; ++j) {
        if (s[j] >= threshold) pos[count++] = static_cast<int32_t>(j);
    }
    return count;
}

const VectorKernels reference_kernels{"reference", dot_many_reference, dot_rows_reference, select_at_least_reference};
const VectorKernels avx2_kernels{"avx2", dot_many_avx2, dot_rows_avx2, select_at_least_avx2};
const VectorKernels avx512_kernels{"avx512", dot_many_avx512, dot_rows_avx512, select_at_least_avx512};

}  // namespace

const VectorKernels* vector_kernels(Isa isa) {
    static const uint32_t f = atl_cpu_features();
    switch (isa) {
        case Isa::Reference: return &reference_kernels;
        case Isa::Avx2: return (f & ATL_CPU_AVX2) && (f & ATL_CPU_FMA) ? &avx2_kernels : nullptr;
        case Isa::Avx512: return (f & ATL_CPU_AVX512F) ? &avx512_kernels : nullptr;
    }
    return nullptr;
}

const VectorKernels& best_vector_kernels() {
    for (Isa isa : {Isa::Avx512, Isa::Avx2}) {
        if (auto k = vector_kernels(isa)) return *k;
    }
    return reference_kernels;
}

void squared_norms(const VectorKernels& kern, const float* x, int64_t n, int64_t d, float* out) {
    for (int64_t j = 0; j < n; ++j) kern.dot_rows(x + j * d, x + j * d, 1, d, out + j);
}

}  // namespace atl::index
