// Small AVX-512 helpers shared by the kernels of ops/ and lora/: masks, exp, BF16 <-> F32
// conversion, BF16 pairs.
// Everything carries the target attribute, so including this file keeps a library loadable on
// CPUs without AVX-512 (callers check atl_cpu_features() before running any of it).
#pragma once

#include <c10/util/BFloat16.h>
#include <immintrin.h>

#include <cstdint>

// The instruction sets of every AVX-512 CPU but the Xeon Phi line: the kernels of ops/ use F, BW
// (16-bit lanes: BF16), VL and DQ, and FMA for 256-bit multiply-adds (every AVX-512 CPU has it).
#define ATL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
// The same with AVX512_BF16 (vcvtne2ps2bf16, vdpbf16ps): callers check ATL_CPU_AVX512_BF16.
#define ATL_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))

namespace atl::ops::simd {

// The first `left` lanes of 16 (all when left >= 16, none when left <= 0).
ATL_AVX512 inline __mmask16 mask_of(int64_t left) {
    return left >= 16 ? static_cast<__mmask16>(0xffff)
                      : left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1);
}

// exp(x) as 2^n e^r, n = round(x / ln 2), |r| <= ln 2 / 2 (Cephes expf: ln 2 split in two
// constants, degree-5 polynomial for (e^r - 1 - r) / r^2); about 1 ulp. Inputs are clamped to
// [-104, 88.7]: below, the result underflows to 0 either way (and -inf would give NaN in r).
ATL_AVX512 inline __m512 exp_ps(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.f)), _mm512_set1_ps(88.7f));
    const __m512 n =
        _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    return _mm512_scalef_ps(p, n);
}

// 2^x as 2^n 2^r, n = round(x), |r| <= 1/2, 2^r by Cephes exp2f's degree-6 polynomial (relative
// error about 2e-7). Fewer operations than exp_ps where the caller can work in base 2 (a softmax
// with log2(e) folded into its scale). x <= 128; far below -126 the result is 0.
ATL_AVX512 inline __m512 exp2_ps(__m512 x) {
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT);
    const __m512 r = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931472028550421e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(p, n);
}

// 2^x for values that are rounded to BF16 afterwards (relative step 2^-8): 2^r by a degree-3
// polynomial fitted to relative error (at most 7.5e-5 on [0, 1)), r = x - floor(x) in one
// vreduceps, and vscalefps multiplies by 2^floor(x). Five instructions against exp2_ps's nine.
// Far below -126 the result is 0.
ATL_AVX512 inline __m512 exp2_ps_bf16(__m512 x) {
    const __m512 r = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 p = _mm512_set1_ps(7.802450118628604e-2f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.2606718597067726e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.958335300025872e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.999252190564569e-1f));
    return _mm512_scalef_ps(p, x);
}

// x * sigmoid(x) = x / (1 + exp(-x)).
ATL_AVX512 inline __m512 silu_ps(__m512 x) {
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// Masked loads and stores of F32 or BF16 elements as F32 lanes (BF16 rounded to nearest even).
ATL_AVX512 inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
ATL_AVX512 inline __m512 load(const c10::BFloat16* p, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
ATL_AVX512 inline void store(float* p, __mmask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }
ATL_AVX512 inline void store(c10::BFloat16* p, __mmask16 m, __m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded, 16)));
}

// src [n] F32 as BF16 pairs (rounded to nearest even by vcvtne2ps2bf16): pairs[p] holds
// src[2p] in its low and src[2p + 1] in its high half; an odd n pairs the last with a zero.
ATL_AVX512_BF16 inline void pairs_of(const float* src, int64_t n, uint32_t* pairs) {
    for (int64_t k = 0; k < n; k += 32) {
        const __m512 lo = _mm512_maskz_loadu_ps(mask_of(n - k), src + k);
        const __m512 hi = _mm512_maskz_loadu_ps(mask_of(n - k - 16), src + k + 16);
        const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
        _mm512_mask_storeu_epi32(pairs + k / 2, mask_of((n - k + 1) / 2), both);
    }
}

}  // namespace atl::ops::simd
