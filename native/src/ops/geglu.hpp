// GEGLU (LDM attention.py GEGLU, "GLU Variants Improve Transformer", Shazeer 2020):
// y = value * gelu(gate) for h = [value | gate] along the last dimension, gelu the exact
// (erf) form. One pass over h instead of a chunk, a gelu and a product with two temporaries.
#pragma once

#include <torch/torch.h>

#include "ops/kernel.hpp"
#include "ops/weight_pack.hpp"

namespace atl::ops {

// h [..., 2 * inner] F32 (any dtype with the Torch kernel) -> [..., inner] in h's dtype.
torch::Tensor geglu(Kernel kernel, const torch::Tensor& h);

// Whether linear_geglu takes x: F32 with enough rows (of weight.size(1) features) to give every
// thread chunks of its own; otherwise the caller runs linear, then geglu.
bool linear_geglu_fits(const torch::Tensor& x, const torch::Tensor& weight);

// geglu(linear(x, weight, bias)) for x [..., in] and weight [2 * inner, in] on the AVX-512 GEMM
// (weight packed by forms for compute), each chunk of rows of the projection gated while in the
// cache of the thread that computed it (lora::avx512::gemm_rows): the [..., 2 * inner] projection
// never exists in memory. x as linear_geglu_fits takes; AVX-512 CPUs only.
torch::Tensor linear_geglu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           c10::ScalarType compute, const WeightPack& forms);

}  // namespace atl::ops
