#include "ops/linear.hpp"

#include <vector>

#include "core/status.hpp"
#include "core/tensor_view.hpp"

namespace atl::ops {

torch::Tensor linear(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     c10::ScalarType compute, const torch::Tensor& residual, const WeightPack* forms) {
    WeightPack local;
    if (!forms) forms = &local;
    require(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1) &&
                (!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0))),
            ATL_ERR_SHAPE,
            "linear: x [..., in], weight [out, in], bias [out], got x " + shape_string(x.sizes()) + ", weight " +
                shape_string(weight.sizes()));
    const int64_t in = weight.size(1), out = weight.size(0), rows = x.numel() / std::max<int64_t>(1, in);
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = out;
    require(!residual.defined() || residual.sizes() == c10::IntArrayRef(shape), ATL_ERR_SHAPE,
            "linear: residual must be " + shape_string(shape) + ", got " + shape_string(residual.sizes()));
    kernel = resolve(kernel);
    if (kernel == Kernel::Torch) {
        torch::Tensor w = forms->dense(weight, compute);
        torch::Tensor y = torch::linear(x.to(compute), w, bias.defined() ? bias.to(compute) : bias).to(x.scalar_type());
        return residual.defined() ? y + residual.to(y.scalar_type()) : y;
    }
    require(kernel_available(kernel), ATL_ERR_UNSUPPORTED, "linear: this CPU cannot run the AVX-512 kernel");
    torch::Tensor xc = x.to(torch::kFloat).contiguous();
    torch::Tensor y = residual.defined() ? residual.to(torch::kFloat).clone(at::MemoryFormat::Contiguous)
                                         : torch::empty(shape, torch::kFloat);
    torch::Tensor b = bias.defined() ? bias.to(torch::kFloat).contiguous() : bias;
    if (kernel == Kernel::Reference) {
        torch::Tensor w = weight.to(torch::kFloat).contiguous();
        const float* xp = xc.data_ptr<float>();
        const float* wp = w.data_ptr<float>();
        float* yp = y.data_ptr<float>();
        for (int64_t i = 0; i < rows; ++i) {
            for (int64_t o = 0; o < out; ++o) {
                double acc = (b.defined() ? b.data_ptr<float>()[o] : 0.0) + (residual.defined() ? yp[i * out + o] : 0.0);
                for (int64_t c = 0; c < in; ++c) acc += static_cast<double>(xp[i * in + c]) * wp[o * in + c];
                yp[i * out + o] = static_cast<float>(acc);
            }
        }
        return y.to(x.scalar_type());
    }
    const lora::avx512::DepthPart part{xc.data_ptr<float>(), in, &forms->packed(weight, compute)};
    lora::avx512::gemm(&part, 1, rows, b.defined() ? b.data_ptr<float>() : nullptr, y.data_ptr<float>(), out,
                       residual.defined());
    return y.to(x.scalar_type());
}

}  // namespace atl::ops
