// y = x W^T + bias (+ residual) on Atelier's packed GEMM (F32, or BF16 weights on avx512_bf16),
// the plain reference, or libtorch's linear.
#pragma once

#include <torch/torch.h>

#include "ops/kernel.hpp"
#include "ops/weight_pack.hpp"

namespace atl::ops {

// x [..., in] F32 or BF16, weight [out, in] in any float dtype, computing in `compute` (F32 or
// BF16); bias [out] or undefined, residual [..., out] or undefined (added by the GEMM). Returns
// [..., out] in x's dtype. forms: the weight's cached forms (may be null: made for this call only).
torch::Tensor linear(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     c10::ScalarType compute, const torch::Tensor& residual = {}, const WeightPack* forms = nullptr);

}  // namespace atl::ops
