// 2-D convolution on channels-last (NHWC) activations: Atelier's implicit GEMM (the packed GEMM
// with rows gathered per depth block, lora/packed_gemm.hpp ConvRows), the plain reference, or
// libtorch's conv2d (oneDNN) on the same layout.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "ops/kernel.hpp"
#include "ops/weight_pack.hpp"

namespace atl::ops {

struct ConvSpec {
    int64_t stride = 1, padding = 0;
    // false: in BF16 the layer keeps the direct form and never takes Winograd's (its owner's
    // memory policy; see winograd_tile).
    bool bf16_winograd = true;
};

// y [n, oh, ow, out] = conv2d(x [n, h, w, in], weight [out, in, k, k], stride, padding) + bias [out]
// + sample_bias [n, out] (per sample; undefined: none) + residual [n, oh, ow, out] (undefined:
// none). x F32 or BF16; weight in any float dtype, computing in `compute` (F32 or BF16); y in x's
// dtype. forms: the weight's cached forms (may be null: made for this call only).
// overwrite_residual: the caller gives the residual up, and y may be written into its memory when
// nothing else references that memory (F32 residual on Atelier's kernels).
torch::Tensor conv2d_nhwc(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                          ConvSpec spec, c10::ScalarType compute, const torch::Tensor& sample_bias = {},
                          const torch::Tensor& residual = {}, const WeightPack* forms = nullptr,
                          bool overwrite_residual = false);

}  // namespace atl::ops
