// The packed GEMM's microkernels (lora/packed_gemm.hpp): a tile of MR rows x one 32-column panel
// of C from MR packed rows of A and one panel of the packed right operand, F32 or BF16 pairs.
// Shared with the attention kernel, whose Q K^T score tiles have the same layout.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "lora/packed_gemm.hpp"
#include "ops/simd.hpp"

namespace atl::lora::avx512 {

// C tile [MR, 32] (columns masked by m0/m1) = (accumulate ? C : 0) + (bias or 0) + ap * bp over kb steps.
// bp: [kb][32] one panel of P. Element k of row i of A is ap[k * MR + i] (RowStride 0) or
// ap[i * RowStride + k] (rows stored whole at a fixed stride: no transposing when packing).
template <int MR, int64_t RowStride = 0>
ATL_AVX512 inline void tile(const float* __restrict ap, const float* __restrict bp, int64_t kb, float* c, int64_t ldc,
                            __mmask16 m0, __mmask16 m1, const float* bias, bool accumulate) {
    __m512 c0[MR], c1[MR];
    if (accumulate) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            c0[i] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
            c1[i] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
        }
        if (bias) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, bias), b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) c0[i] = _mm512_add_ps(c0[i], b0), c1[i] = _mm512_add_ps(c1[i], b1);
        }
    } else {
        const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
        const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) c0[i] = b0, c1[i] = b1;
    }
    for (int64_t k = 0; k < kb; ++k) {
        const __m512 w0 = _mm512_load_ps(bp + kPanelCols * k), w1 = _mm512_load_ps(bp + kPanelCols * k + 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const __m512 a = _mm512_set1_ps(RowStride == 0 ? ap[MR * k + i] : ap[i * RowStride + k]);
            c0[i] = _mm512_fmadd_ps(a, w0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, w1, c1[i]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
    }
}

// C tile [MR, 32] as tile() does, from pairs of BF16 of A and bp [kb2 / 2][32][2]: per pair step
// two loads of P and MR broadcasts feed 2 * MR vdpbf16ps, each two products per lane. Pair k of row
// i is ap[k * MR + i] (RowStride 0), or ap[i * RowStride + k]: rows stored whole at a fixed stride,
// so a broadcast's address is the pair pointer plus a constant and A needs no transposing.
template <int MR, int64_t RowStride = 0>
ATL_AVX512_BF16 inline void tile_bf16(const uint32_t* __restrict ap, const uint16_t* __restrict bp, int64_t kb2,
                                      float* c, int64_t ldc, __mmask16 m0, __mmask16 m1, const float* bias,
                                      bool accumulate) {
    __m512 c0[MR], c1[MR];
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        c0[i] = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c + i * ldc), b0) : b0;
        c1[i] = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + i * ldc + 16), b1) : b1;
    }
    for (int64_t k = 0; k < kb2 / 2; ++k) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512(bp + 2 * kPanelCols * k);
        const __m512bh w1 = (__m512bh)_mm512_load_si512(bp + 2 * kPanelCols * k + kPanelCols);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const uint32_t pair = RowStride == 0 ? ap[MR * k + i] : ap[i * RowStride + k];
            const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
            c0[i] = _mm512_dpbf16_ps(c0[i], a, w0);
            c1[i] = _mm512_dpbf16_ps(c1[i], a, w1);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
    }
}

}  // namespace atl::lora::avx512
