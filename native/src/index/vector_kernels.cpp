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

void panel_dot_reference(const float* q, int64_t ldq, const float* panel, int64_t d, float* out) {
    for (int64_t i = 0; i < kPanelQueries; ++i) {
        for (int64_t j = 0; j < kPanelRows; ++j) {
            float s = 0.0f;
            for (int64_t c = 0; c < d; ++c) s += q[i * ldq + c] * panel[c * kPanelRows + j];
            out[i * kPanelRows + j] = s;
        }
    }
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

__attribute__((target("avx512f"))) void panel_dot_avx512(const float* q, int64_t ldq, const float* panel, int64_t d,
                                                           float* out) {
    static_assert(kPanelRows == 32 && kPanelQueries == 6, "register blocking below is 6 x (2 x 16)");
    const float *q0 = q, *q1 = q + ldq, *q2 = q + 2 * ldq, *q3 = q + 3 * ldq, *q4 = q + 4 * ldq, *q5 = q + 5 * ldq;
    __m512 a00 = _mm512_setzero_ps(), a01 = _mm512_setzero_ps(), a10 = _mm512_setzero_ps(), a11 = _mm512_setzero_ps();
    __m512 a20 = _mm512_setzero_ps(), a21 = _mm512_setzero_ps(), a30 = _mm512_setzero_ps(), a31 = _mm512_setzero_ps();
    __m512 a40 = _mm512_setzero_ps(), a41 = _mm512_setzero_ps(), a50 = _mm512_setzero_ps(), a51 = _mm512_setzero_ps();
    for (int64_t c = 0; c < d; ++c) {
        const __m512 p0 = _mm512_load_ps(panel + c * 32), p1 = _mm512_load_ps(panel + c * 32 + 16);
        __m512 b = _mm512_set1_ps(q0[c]);
        a00 = _mm512_fmadd_ps(b, p0, a00), a01 = _mm512_fmadd_ps(b, p1, a01);
        b = _mm512_set1_ps(q1[c]);
        a10 = _mm512_fmadd_ps(b, p0, a10), a11 = _mm512_fmadd_ps(b, p1, a11);
        b = _mm512_set1_ps(q2[c]);
        a20 = _mm512_fmadd_ps(b, p0, a20), a21 = _mm512_fmadd_ps(b, p1, a21);
        b = _mm512_set1_ps(q3[c]);
        a30 = _mm512_fmadd_ps(b, p0, a30), a31 = _mm512_fmadd_ps(b, p1, a31);
        b = _mm512_set1_ps(q4[c]);
        a40 = _mm512_fmadd_ps(b, p0, a40), a41 = _mm512_fmadd_ps(b, p1, a41);
        b = _mm512_set1_ps(q5[c]);
        a50 = _mm512_fmadd_ps(b, p0, a50), a51 = _mm512_fmadd_ps(b, p1, a51);
    }
    _mm512_storeu_ps(out + 0, a00), _mm512_storeu_ps(out + 16, a01);
    _mm512_storeu_ps(out + 32, a10), _mm512_storeu_ps(out + 48, a11);
    _mm512_storeu_ps(out + 64, a20), _mm512_storeu_ps(out + 80, a21);
    _mm512_storeu_ps(out + 96, a30), _mm512_storeu_ps(out + 112, a31);
    _mm512_storeu_ps(out + 128, a40), _mm512_storeu_ps(out + 144, a41);
    _mm512_storeu_ps(out + 160, a50), _mm512_storeu_ps(out + 176, a51);
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

// 3 queries x 32 rows per pass (12 ymm accumulators), two passes for the 6 queries.
__attribute__((target("avx2,fma"))) void panel_dot_avx2(const float* q, int64_t ldq, const float* panel, int64_t d,
                                                          float* out) {
    for (int64_t half = 0; half < 2; ++half) {
        const float* qs[3] = {q + (3 * half) * ldq, q + (3 * half + 1) * ldq, q + (3 * half + 2) * ldq};
        __m256 acc[3][4];
        for (auto& row : acc)
            for (auto& a : row) a = _mm256_setzero_ps();
        for (int64_t c = 0; c < d; ++c) {
            const float* pc = panel + c * 32;
            const __m256 p0 = _mm256_load_ps(pc), p1 = _mm256_load_ps(pc + 8), p2 = _mm256_load_ps(pc + 16),
                         p3 = _mm256_load_ps(pc + 24);
            for (int i = 0; i < 3; ++i) {
                const __m256 b = _mm256_broadcast_ss(qs[i] + c);
                acc[i][0] = _mm256_fmadd_ps(b, p0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(b, p1, acc[i][1]);
                acc[i][2] = _mm256_fmadd_ps(b, p2, acc[i][2]);
                acc[i][3] = _mm256_fmadd_ps(b, p3, acc[i][3]);
            }
        }
        for (int i = 0; i < 3; ++i) {
            for (int v = 0; v < 4; ++v) _mm256_storeu_ps(out + (3 * half + i) * 32 + 8 * v, acc[i][v]);
        }
    }
}

const VectorKernels reference_kernels{"reference", dot_many_reference, dot_rows_reference, select_at_least_reference,
                                     panel_dot_reference};
const VectorKernels avx2_kernels{"avx2", dot_many_avx2, dot_rows_avx2, select_at_least_avx2, panel_dot_avx2};
const VectorKernels avx512_kernels{"avx512", dot_many_avx512, dot_rows_avx512, select_at_least_avx512,
                                   panel_dot_avx512};

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
