// 3x3, stride 1, padding 1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of output
// pixels comes from a 4x4 input patch with 16 multiplies per (input, output) channel pair instead
// of 36, so the multiply-adds drop 2.25x. Y = A^T [(G g G^T) (.) (B^T d B)] A per channel pair:
// the input patches are transformed into 16 matrices U_p [tiles, in], the weights once into 16
// packed matrices W_p [in, out] (ops/weight_pack.hpp), then 16 GEMMs M_p = U_p W_p on Atelier's
// packed GEMM, then the output transform adds bias, per-sample bias and residual. With enough
// tiles each thread takes 96 at a time through all three stages, so U and M stay in cache.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "lora/packed_gemm.hpp"

namespace atl::ops {

// The 16 transformed weight matrices of a 3x3 convolution, packed (F32, or BF16 pairs).
struct WinogradWeights {
    std::vector<std::unique_ptr<lora::avx512::PackedRight>> packed;  // [16]: p = 4 * row + column
};

// True for the convolutions this path computes: 3x3, stride 1, padding 1, and enough output
// pixels per sample for the transforms to pay: 64 in F32; in BF16 4096, or 1024 where in x out is
// at most 960 x 320 (see the definition). In BF16 the transformed input is rounded to BF16 (the
// GEMM's left operand), not the input itself.
bool winograd_applies(int64_t kernel, int64_t stride, int64_t padding, int64_t height, int64_t width, int64_t in,
                      int64_t out, c10::ScalarType compute);

// G g G^T for weight [out, in, 3, 3] (any float dtype), each of the 16 packed as [in, out].
std::unique_ptr<WinogradWeights> winograd_weights(const torch::Tensor& weight, lora::avx512::Format format);

// y [n, h, w, out] (+)= conv3x3(x [n, h, w, in] F32 contiguous) + bias [out] (or null) +
// sample_bias [n, out] (or null); accumulate: y holds a residual to add to. AVX-512.
void conv_winograd(const float* x, int64_t n, int64_t h, int64_t w, int64_t in, const WinogradWeights& weights,
                   const float* bias, const float* sample_bias, bool accumulate, float* y);

}  // namespace atl::ops
