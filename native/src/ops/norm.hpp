// GroupNorm (with an optional SiLU after it) on channels-last activations and LayerNorm over the
// last dimension, computed in F32 whatever the input dtype (LDM's GroupNorm32: x.float(), then
// back). Atelier's kernels make one pass for the statistics and one that normalises, applies the
// affine and the activation and writes the output.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "ops/kernel.hpp"

namespace atl::ops {

// x [n, ..., c] channels last: groups of c / groups consecutive channels, statistics over every
// position of one sample (torch.nn.GroupNorm on the NCHW view). weight, bias [c] F32. F32 or BF16;
// the result in x's dtype. overwrite_x: the caller gives x up, and the result may be written into
// its memory when nothing else references that memory (F32 on the AVX512 kernel).
torch::Tensor group_norm_nhwc(Kernel kernel, const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps, bool silu, bool overwrite_x = false);

// x [..., c]: torch.nn.LayerNorm over c. weight, bias [c] F32. F32 or BF16; the result in x's dtype.
torch::Tensor layer_norm(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                         double eps);

namespace avx512 {
// y [n, positions, c] = GroupNorm of x [n, positions, c] (+ SiLU). T: float or c10::BFloat16.
template <typename T>
void group_norm(const T* x, int64_t n, int64_t positions, int64_t c, int64_t groups, const float* weight,
                const float* bias, double eps, bool silu, T* y);
template <typename T>
void layer_norm(const T* x, int64_t rows, int64_t c, const float* weight, const float* bias, double eps, T* y);
}  // namespace avx512

}  // namespace atl::ops
