// 3x3, stride 1, padding 1 convolutions by Winograd's minimal filtering (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016), F(m x m, 3x3) for output tiles of m = 2 or
// 4 pixels a side: each m x m block of output pixels comes from an (m + 2)^2 input patch with
// (m + 2)^2 multiplies per (input, output) channel pair instead of 9 m^2, so the multiply-adds drop
// 2.25x (m = 2: 16 instead of 36) or 4x (m = 4: 36 instead of 144). Y = A^T [(G g G^T) (.) (B^T d
// B)] A per channel pair: the input patches are transformed into (m + 2)^2 matrices U_p [tiles,
// in], the weights once into as many packed matrices W_p [in, out] (ops/weight_pack.hpp), then one
// GEMM M_p = U_p W_p each on Atelier's packed GEMM, then the output transform adds bias,
// per-sample bias and residual. With enough tiles each thread takes a chunk of them through all
// three stages, so U and M stay in cache. F(4x4) multiplies by up to 8 in its transforms (points
// 0, +-1, +-2): its F32 result differs from a direct sum by a few times more rounding, which F32
// absorbs and BF16 would not, so BF16 uses F(2x2) only.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "lora/packed_gemm.hpp"

namespace atl::ops {

// The (m + 2)^2 transformed weight matrices of a 3x3 convolution for output tiles of m x m,
// packed (F32, or BF16 pairs).
struct WinogradWeights {
    int tile = 2;                                                    // m
    std::vector<std::unique_ptr<lora::avx512::PackedRight>> packed;  // p = (m + 2) * row + column
};

// The output tile m of the Winograd path for a convolution, or 0 where it takes the direct GEMM:
// 3x3, stride 1, padding 1, and enough output pixels per sample for the transforms to pay. F32: m
// = 4 from 1024 pixels, 2 from 64. BF16: m = 2 from 64 pixels where bf16_winograd allows it (see
// the definition); the transformed input is rounded to BF16 (the GEMM's left operand), not the
// input itself.
int winograd_tile(int64_t kernel, int64_t stride, int64_t padding, int64_t height, int64_t width,
                  c10::ScalarType compute, bool bf16_winograd);

// G g G^T for weight [out, in, 3, 3] (any float dtype) and tile m (2 or 4), each of the (m + 2)^2
// packed as [in, out].
std::unique_ptr<WinogradWeights> winograd_weights(const torch::Tensor& weight, lora::avx512::Format format, int tile);

// y [n, h, w, out] (+)= conv3x3(x [n, h, w, in] F32 contiguous) + bias [out] (or null) +
// sample_bias [n, out] (or null); accumulate: y holds a residual to add to. AVX-512.
void conv_winograd(const float* x, int64_t n, int64_t h, int64_t w, int64_t in, const WinogradWeights& weights,
                   const float* bias, const float* sample_bias, bool accumulate, float* y);

}  // namespace atl::ops
