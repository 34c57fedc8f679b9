// GEGLU (LDM attention.py GEGLU, "GLU Variants Improve Transformer", Shazeer 2020):
// y = value * gelu(gate) for h = [value | gate] along the last dimension, gelu the exact
// (erf) form. One pass over h instead of a chunk, a gelu and a product with two temporaries.
#pragma once

#include <torch/torch.h>

#include "ops/kernel.hpp"

namespace atl::ops {

// h [..., 2 * inner] F32 (any dtype with the Torch kernel) -> [..., inner] in h's dtype.
torch::Tensor geglu(Kernel kernel, const torch::Tensor& h);

}  // namespace atl::ops
