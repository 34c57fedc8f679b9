// Whether a tensor's floating-point values are all finite: one pass over the stored bits, in
// parallel, without the temporary bool tensor of torch::isfinite(t).all(). Weights are checked
// with it when a network or a LoRA is made from them.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace atl {

// True when no element of t is NaN or infinite; integer and bool tensors are always finite.
// F32, F64, BF16 and F16 are read as stored (a non-contiguous tensor is copied first).
bool all_finite(const torch::Tensor& t);

// The number of elements of t that are NaN or infinite (0 for integer and bool tensors).
int64_t count_non_finite(const torch::Tensor& t);

}  // namespace atl
