// y = x W^T + bias (+ residual) on Atelier's packed GEMM (F32, or BF16 weights on avx512_bf16),
// the plain reference, or libtorch's linear.
#pragma once

#include <torch/torch.h>

#include "ops/kernel.hpp"
#include "ops/weight_pack.hpp"

namespace atl::ops {

// x [..., in] F32 or BF16, weight [out, in], bias [out] or undefined, residual [..., out] or
// undefined (added by the GEMM). Returns [..., out] in x's dtype. pack: the weight's pack for the
// Avx512 kernel (may be null: packed for this call only).
torch::Tensor linear(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     const torch::Tensor& residual = {}, const WeightPack* pack = nullptr);

}  // namespace atl::ops
