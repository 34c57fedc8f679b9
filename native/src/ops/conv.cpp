#include "ops/conv.hpp"

#include <vector>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "ops/winograd.hpp"

namespace atl::ops {

namespace {

using lora::avx512::ConvRows;
using lora::avx512::DepthPart;
using lora::avx512::PackedRight;

// Plain loops in double over the same operands.
void conv_reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                    const torch::Tensor& sample_bias, ConvSpec spec, torch::Tensor& y) {
    const int64_t n = x.size(0), h = x.size(1), wd = x.size(2), in = x.size(3);
    const int64_t out = w.size(0), k = w.size(2), oh = y.size(1), ow = y.size(2);
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    for (int64_t b = 0; b < n; ++b) {
        for (int64_t oy = 0; oy < oh; ++oy) {
            for (int64_t ox = 0; ox < ow; ++ox) {
                for (int64_t o = 0; o < out; ++o) {
                    double acc = bias.defined() ? bias.data_ptr<float>()[o] : 0.0;
                    if (sample_bias.defined()) acc += sample_bias.data_ptr<float>()[b * out + o];
                    for (int64_t ky = 0; ky < k; ++ky) {
                        const int64_t iy = oy * spec.stride - spec.padding + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int64_t kx = 0; kx < k; ++kx) {
                            const int64_t ix = ox * spec.stride - spec.padding + kx;
                            if (ix < 0 || ix >= wd) continue;
                            const float* src = xp + ((b * h + iy) * wd + ix) * in;
                            for (int64_t c = 0; c < in; ++c) {
                                acc += static_cast<double>(src[c]) * wp[((o * in + c) * k + ky) * k + kx];
                            }
                        }
                    }
                    float& dst = yp[((b * oh + oy) * ow + ox) * out + o];
                    dst = static_cast<float>(dst + acc);  // y holds the residual (or zeros)
                }
            }
        }
    }
}

void conv_avx512(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                 const torch::Tensor& sample_bias, ConvSpec spec, const PackedRight& p, bool accumulate,
                 torch::Tensor& y) {
    const int64_t n = x.size(0), h = x.size(1), wd = x.size(2), in = x.size(3);
    const int64_t out = weight.size(0), k = weight.size(2), oh = y.size(1), ow = y.size(2);
    const bool dense = k == 1 && spec.stride == 1 && spec.padding == 0;  // a 1x1 convolution is a plain GEMM
    // A BF16 GEMM rounds its rows of A to BF16; a k x k convolution reads each input element k * k
    // times, so the input is rounded once here (the same nearest-even rounding) and gathered as pairs.
    torch::Tensor x_bf16;
    if (p.format() == lora::avx512::Format::Bf16Pairs && !dense && in % 2 == 0) x_bf16 = x.to(torch::kBFloat16);
    const auto* xb16 = x_bf16.defined() ? reinterpret_cast<const uint16_t*>(x_bf16.data_ptr()) : nullptr;
    const ConvRows rows{x.data_ptr<float>(), h, wd, in, k, spec.stride, spec.padding, oh, ow, xb16};
    const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
    if (!sample_bias.defined()) {
        const DepthPart part{x.data_ptr<float>(), in, &p, dense ? nullptr : &rows};
        lora::avx512::gemm(&part, 1, n * oh * ow, bp, y.data_ptr<float>(), out, accumulate);
        return;
    }
    // A bias per sample: one GEMM per sample with that sample's bias.
    std::vector<float> combined(static_cast<size_t>(out));
    for (int64_t b = 0; b < n; ++b) {
        const float* sb = sample_bias.data_ptr<float>() + b * out;
        for (int64_t o = 0; o < out; ++o) combined[o] = (bp ? bp[o] : 0.f) + sb[o];
        const float* xb = x.data_ptr<float>() + b * h * wd * in;
        const ConvRows one{xb, h, wd, in, k, spec.stride, spec.padding, oh, ow, xb16 ? xb16 + b * h * wd * in : nullptr};
        const DepthPart part{xb, in, &p, dense ? nullptr : &one};
        lora::avx512::gemm(&part, 1, oh * ow, combined.data(), y.data_ptr<float>() + b * oh * ow * out, out,
                           accumulate);
    }
}

}  // namespace

torch::Tensor conv2d_nhwc(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                          ConvSpec spec, c10::ScalarType compute, const torch::Tensor& sample_bias,
                          const torch::Tensor& residual, const WeightPack* forms, bool overwrite_residual) {
    WeightPack local;
    if (!forms) forms = &local;
    require(x.dim() == 4 && weight.dim() == 4 && x.size(3) == weight.size(1) && weight.size(2) == weight.size(3) &&
                spec.stride >= 1 && spec.padding >= 0,
            ATL_ERR_SHAPE,
            "conv2d: x [n, h, w, in] and weight [out, in, k, k], got x " + shape_string(x.sizes()) + ", weight " +
                shape_string(weight.sizes()));
    const int64_t n = x.size(0), out = weight.size(0), k = weight.size(2);
    const int64_t oh = (x.size(1) + 2 * spec.padding - k) / spec.stride + 1;
    const int64_t ow = (x.size(2) + 2 * spec.padding - k) / spec.stride + 1;
    require(oh > 0 && ow > 0, ATL_ERR_SHAPE, "conv2d: the kernel is larger than the padded input " + shape_string(x.sizes()));
    require(!sample_bias.defined() || (sample_bias.dim() == 2 && sample_bias.size(0) == n && sample_bias.size(1) == out),
            ATL_ERR_SHAPE, "conv2d: sample_bias must be [n, out], got " + shape_string(sample_bias.sizes()));
    require(!residual.defined() || residual.sizes() == c10::IntArrayRef({n, oh, ow, out}), ATL_ERR_SHAPE,
            "conv2d: residual must be [n, oh, ow, out], got " + shape_string(residual.sizes()));
    kernel = resolve(kernel);
    if (kernel == Kernel::Torch) {
        const auto type = x.scalar_type();
        torch::Tensor y = torch::conv2d(x.to(compute).permute({0, 3, 1, 2}), forms->dense(weight, compute),
                                        bias.defined() ? bias.to(compute) : bias, {spec.stride, spec.stride},
                                        {spec.padding, spec.padding})
                              .permute({0, 2, 3, 1})
                              .to(type);
        if (sample_bias.defined()) y = y + sample_bias.to(type).view({n, 1, 1, out});
        if (residual.defined()) y = y + residual.to(type);
        return y.contiguous();
    }
    require(kernel_available(kernel), ATL_ERR_UNSUPPORTED, "conv2d: this CPU cannot run the AVX-512 kernel");
    torch::Tensor xf = x.to(torch::kFloat).contiguous();
    torch::Tensor bf = bias.defined() ? bias.to(torch::kFloat).contiguous() : bias;
    torch::Tensor sf = sample_bias.defined() ? sample_bias.to(torch::kFloat).contiguous() : sample_bias;
    const bool reuse = overwrite_residual && sole_owner(residual) && residual.scalar_type() == torch::kFloat &&
                       residual.is_contiguous();
    torch::Tensor y = reuse                         ? residual
                      : residual.defined()          ? residual.to(torch::kFloat).clone(at::MemoryFormat::Contiguous)
                      : kernel == Kernel::Reference ? torch::zeros({n, oh, ow, out}, torch::kFloat)
                                                    : torch::empty({n, oh, ow, out}, torch::kFloat);
    if (kernel == Kernel::Avx512) {
        const int tile =
            winograd_tile(weight.size(2), spec.stride, spec.padding, x.size(1), x.size(2), compute, spec.bf16_winograd);
        if (tile > 0) {
            conv_winograd(xf.data_ptr<float>(), n, x.size(1), x.size(2), x.size(3),
                          forms->winograd(weight, compute, tile), bf.defined() ? bf.data_ptr<float>() : nullptr,
                          sf.defined() ? sf.data_ptr<float>() : nullptr, residual.defined(), y.data_ptr<float>());
        } else {
            conv_avx512(xf, weight, bf, sf, spec, forms->packed(weight, compute), residual.defined(), y);
        }
    } else {
        conv_reference(xf, weight.to(torch::kFloat).contiguous(), bf, sf, spec, y);
    }
    return y.to(x.scalar_type());
}

}  // namespace atl::ops
