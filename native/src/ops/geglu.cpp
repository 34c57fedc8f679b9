#include "ops/geglu.hpp"

#include "core/parallel.hpp"
#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "ops/simd.hpp"

namespace atl::ops {

namespace {

constexpr int64_t kRowsPerTask = 16;

// erf(x) by Abramowitz and Stegun 7.1.26 (|error| <= 1.5e-7), odd in x.
ATL_AVX512 inline __m512 erf_ps(__m512 x) {
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    const __m512 e = simd::exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), ax));
    const __m512 r = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.f));
    // x's sign onto r
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), sign));
}

ATL_AVX512 void geglu_rows(const float* h, int64_t rows, int64_t inner, float* y) {
    const __m512 half = _mm512_set1_ps(0.5f), root_half = _mm512_set1_ps(0.70710678118654752f);
    for (int64_t r = 0; r < rows; ++r) {
        const float* value = h + r * 2 * inner;
        const float* gate = value + inner;
        for (int64_t j = 0; j < inner; j += 16) {
            const __mmask16 m = simd::mask_of(inner - j);
            const __m512 g = _mm512_maskz_loadu_ps(m, gate + j);
            // gelu(g) = g / 2 * (1 + erf(g / sqrt 2))
            const __m512 gelu = _mm512_mul_ps(_mm512_mul_ps(half, g),
                                              _mm512_add_ps(_mm512_set1_ps(1.f), erf_ps(_mm512_mul_ps(g, root_half))));
            _mm512_mask_storeu_ps(y + r * inner + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, value + j), gelu));
        }
    }
}

}  // namespace

torch::Tensor geglu(Kernel kernel, const torch::Tensor& h) {
    require(h.dim() >= 1 && h.size(-1) % 2 == 0, ATL_ERR_SHAPE,
            "geglu: the last dimension must be even, got " + shape_string(h.sizes()));
    kernel = resolve(kernel);
    if (kernel == Kernel::Torch || kernel == Kernel::Reference || h.scalar_type() != torch::kFloat) {
        std::vector<torch::Tensor> parts = h.chunk(2, -1);
        return parts[0] * torch::gelu(parts[1]);
    }
    require(kernel_available(kernel), ATL_ERR_UNSUPPORTED, "geglu: this CPU cannot run the AVX-512 kernel");
    torch::Tensor hc = h.contiguous();
    const int64_t inner = h.size(-1) / 2, rows = h.numel() / std::max<int64_t>(1, 2 * inner);
    std::vector<int64_t> shape(h.sizes().begin(), h.sizes().end());
    shape.back() = inner;
    torch::Tensor y = torch::empty(shape, torch::kFloat);
    const float* hp = hc.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    for_each_task((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t t) {
        const int64_t r0 = t * kRowsPerTask;
        geglu_rows(hp + r0 * 2 * inner, std::min(kRowsPerTask, rows - r0), inner, yp + r0 * inner);
    });
    return y;
}

}  // namespace atl::ops
