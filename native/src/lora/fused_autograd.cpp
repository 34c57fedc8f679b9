// The fused LoRA linear as a libtorch autograd function, so training steps run Atelier's kernels:
// the forward is forward_packed (the low-rank term inside the GEMM), the backward's dx is
// input_grad_packed (dy W + s (dy B) A, again inside one GEMM), and dA, dB are BLAS reductions.
// W and bias are frozen: they get no gradient.
#include <torch/csrc/autograd/custom_function.h>

#include "lora/kernels.hpp"

namespace atl::lora {

namespace {

// Passed by pointer, so autograd does not take the frozen tensors (bias may be undefined) for inputs.
struct Frozen {
    torch::Tensor weight, bias;
};

struct FusedLinearFunction : torch::autograd::Function<FusedLinearFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                 const torch::Tensor& down, const torch::Tensor& up, const Frozen* frozen,
                                 double scale) {
        const torch::Tensor &weight = frozen->weight, &bias = frozen->bias;
        ctx->save_for_backward({x, down, up});
        ctx->saved_data["weight"] = weight;
        ctx->saved_data["scale"] = scale;
        const int64_t in = weight.size(1), out = weight.size(0);
        torch::Tensor x2 = x.reshape({-1, in});
        torch::Tensor y = avx512::forward_packed(x2, weight, bias, {{0, x2.size(0), {{down, up, scale}}}});
        std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
        shape.back() = out;
        return y.view(shape);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor &x = saved[0], &down = saved[1], &up = saved[2];
        const torch::Tensor weight = ctx->saved_data["weight"].toTensor();
        const double scale = ctx->saved_data["scale"].toDouble();
        const int64_t in = weight.size(1), out = weight.size(0);
        torch::Tensor x2 = x.reshape({-1, in}), g = grads[0].reshape({-1, out}).contiguous();
        torch::Tensor dx;
        if (ctx->needs_input_grad(0)) dx = avx512::input_grad_packed(g, weight, {down, up, scale}).view(x.sizes());
        // dA = s (dy B)^T x, dB = s dy^T (x A^T).
        torch::Tensor da = torch::mm(torch::mm(g, up).t(), x2).mul_(scale);
        torch::Tensor db = torch::mm(g.t(), torch::mm(x2, down.t())).mul_(scale);
        return {dx, da, db, torch::Tensor(), torch::Tensor()};
    }
};

}  // namespace

bool fused_autograd_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                            const torch::Tensor& down, const torch::Tensor& up) {
    static const bool avx512 = kernel_available(Kernel::Avx512);
    auto f32_cpu = [](const torch::Tensor& t) { return t.scalar_type() == torch::kFloat && !t.is_cuda(); };
    return avx512 && f32_cpu(x) && f32_cpu(weight) && f32_cpu(down) && f32_cpu(up) && down.dim() == 2 &&
           !weight.requires_grad() && !(bias.defined() && bias.requires_grad());
}

torch::Tensor fused_linear_autograd(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    const torch::Tensor& down, const torch::Tensor& up, double scale) {
    const Frozen frozen{weight, bias};
    return FusedLinearFunction::apply(x, down, up, &frozen, scale);
}

}  // namespace atl::lora
