#include "ops/geglu.hpp"

#include "core/parallel.hpp"
#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/packed_gemm.hpp"
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

// rows of h [rows][2 * inner] (row stride ldh) gated into y [rows][inner].
ATL_AVX512 void geglu_rows(const float* h, int64_t ldh, int64_t rows, int64_t inner, float* y) {
    const __m512 half = _mm512_set1_ps(0.5f), root_half = _mm512_set1_ps(0.70710678118654752f);
    for (int64_t r = 0; r < rows; ++r) {
        const float* value = h + r * ldh;
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
        geglu_rows(hp + r0 * 2 * inner, 2 * inner, std::min(kRowsPerTask, rows - r0), inner, yp + r0 * inner);
    });
    return y;
}

bool linear_geglu_fits(const torch::Tensor& x, const torch::Tensor& weight) {
    const int64_t rows = x.numel() / std::max<int64_t>(1, weight.size(1));
    const int64_t chunks = (rows + lora::avx512::kRowChunk - 1) / lora::avx512::kRowChunk;
    return x.scalar_type() == torch::kFloat && chunks >= 2 * at::get_num_threads();
}

torch::Tensor linear_geglu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           c10::ScalarType compute, const WeightPack& forms) {
    require(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1) && weight.size(0) % 2 == 0 &&
                (!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0))),
            ATL_ERR_SHAPE,
            "linear_geglu: x [..., in], weight [2 * inner, in], bias [2 * inner], got x " + shape_string(x.sizes()) +
                ", weight " + shape_string(weight.sizes()));
    require(kernel_available(Kernel::Avx512), ATL_ERR_UNSUPPORTED, "linear_geglu: this CPU cannot run the AVX-512 kernel");
    require(linear_geglu_fits(x, weight), ATL_ERR_INTERNAL, "linear_geglu: too few rows, or not F32");
    const int64_t in = weight.size(1), inner = weight.size(0) / 2, rows = x.numel() / std::max<int64_t>(1, in);
    const torch::Tensor xc = x.contiguous();
    const torch::Tensor b = bias.defined() ? bias.to(torch::kFloat).contiguous() : bias;
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = inner;
    torch::Tensor y = torch::empty(shape, torch::kFloat);
    float* yp = y.data_ptr<float>();
    const lora::avx512::DepthPart part{xc.data_ptr<float>(), in, &forms.packed(weight, compute)};
    lora::avx512::gemm_rows(&part, 1, rows, b.defined() ? b.data_ptr<float>() : nullptr,
                            [&](int64_t i0, int64_t i1, const float* h, int64_t ldh) {
                                geglu_rows(h, ldh, i1 - i0, inner, yp + i0 * inner);
                            });
    return y;
}

}  // namespace atl::ops
