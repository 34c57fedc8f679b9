// Fused low-rank (LoRA) linear kernels: y = x W^T + bias + s * (x A^T) B^T and its backward.
// AVX-512 F32: Atelier's own packed GEMM carries the low-rank term inside the product
// (packed_forward.cpp). AVX2 and BF16: the dense GEMM goes to BLAS / oneDNN (libtorch) and the
// hand-written low-rank part runs block by block right after the GEMM of that block, while its
// rows of y are still in cache: no separate passes over x and y for A x, B t and the add.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "atelier.h"

namespace atl::ops {
class WeightPack;
}

namespace atl::lora {

namespace avx512 {
class PackedRight;  // packed_gemm.hpp
}

// Which implementation runs (atl_lora_kernel in atelier.h).
enum class Kernel : int32_t {
    Auto = ATL_LORA_KERNEL_AUTO,
    Reference = ATL_LORA_KERNEL_REFERENCE,
    Avx2 = ATL_LORA_KERNEL_AVX2,
    Avx512 = ATL_LORA_KERNEL_AVX512,
    Avx512Bf16 = ATL_LORA_KERNEL_AVX512_BF16,
    Unfused = ATL_LORA_KERNEL_UNFUSED,
    Merged = ATL_LORA_KERNEL_MERGED,
    TorchF64 = ATL_LORA_KERNEL_TORCH_F64,
    Cuda = ATL_LORA_KERNEL_CUDA,
};

bool kernel_available(Kernel k);
// Auto resolved for a dtype: the widest CPU variant the machine has.
Kernel resolve(Kernel k, c10::ScalarType dtype);

// One low-rank term: s * (x A^T) B^T. A [r, in], B [out, r].
struct LowRank {
    torch::Tensor a;
    torch::Tensor b;
    double scale = 1.0;
    // Where B's packing is kept (an adapter's up_pack) and the tensor it packs (the adapter's up,
    // B before any reshape); null: B is packed on each call.
    const ops::WeightPack* b_pack = nullptr;
    torch::Tensor b_source;
};

// Rows [begin, end) of x get the terms listed (may be none).
struct RowSegment {
    int64_t begin = 0, end = 0;
    std::vector<LowRank> terms;
    // The rows a kernel that picks between routes by the number of rows (packed_forward.cpp) picks
    // for: one sample's, so that what a sample gets does not depend on the samples batched with
    // it; 0: the segment's.
    int64_t route_rows = 0;
};

// Throws ATL_ERR_SHAPE unless A [r, in] and B [out, r] fit W [out, in].
void check_term(const LowRank& term, const torch::Tensor& weight);

// The segments in row order with the gaps between them as spans without adapters (terms null).
struct Span {
    int64_t begin, end;
    const std::vector<LowRank>* terms;
    int64_t route_rows = 0;  // RowSegment::route_rows
};
std::vector<Span> cover(int64_t n, const std::vector<RowSegment>& segments);

// x [n, in], weight [out, in], bias [out] or undefined; F32, or BF16 with the bf16 kernel.
// Returns y [n, out] in x's dtype.
// packed_weight: W^T packed F32 (packed_gemm.hpp) for the AVX-512 F32 kernel, which otherwise
// packs W on every call; null: pack it here.
torch::Tensor forward(Kernel k, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                      const std::vector<RowSegment>& segments, const avx512::PackedRight* packed_weight = nullptr);

// The fused forward and its backward as a differentiable op (training): gradients for x, down [r, in]
// and up [out, r]; weight and bias frozen. Applies to F32 CPU tensors on AVX-512 CPUs.
bool fused_autograd_applies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                            const torch::Tensor& down, const torch::Tensor& up);
torch::Tensor fused_linear_autograd(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    const torch::Tensor& down, const torch::Tensor& up, double scale);

struct Grads {
    torch::Tensor dx, da, db;  // [n, in], [r, in], [out, r]
};
// Gradients of y = x W^T + bias + s (x A^T) B^T for the frozen W, given dy [n, out]. F32 (the CUDA
// kernel: dx in x's dtype where that is F16 or BF16; da and db F32).
Grads backward(Kernel k, const torch::Tensor& x, const torch::Tensor& weight, const LowRank& term,
               const torch::Tensor& dy);

// ---- the hand-written pieces (row-major, contiguous rows)
// T[i, j] = sum_k X[i, k] P[j, k]      X [n, k] (row stride ldx), P [r, k], T [n, r]
// Y[i, c] += sum_j T[i, j] Q[j, c]     T [n, r], Q [r, m], Y [n, m] (row stride ldy)
namespace ref {
void project(const float* x, int64_t ldx, int64_t n, int64_t k, const float* p, int64_t r, float* t);
void expand_add(const float* t, int64_t n, int64_t r, const float* q, int64_t m, float* y, int64_t ldy);
}  // namespace ref
namespace avx2 {
void project(const float* x, int64_t ldx, int64_t n, int64_t k, const float* p, int64_t r, float* t);
void expand_add(const float* t, int64_t n, int64_t r, const float* q, int64_t m, float* y, int64_t ldy);
}  // namespace avx2
namespace avx512 {
void project(const float* x, int64_t ldx, int64_t n, int64_t k, const float* p, int64_t r, float* t);
void expand_add(const float* t, int64_t n, int64_t r, const float* q, int64_t m, float* y, int64_t ldy);
// The fused forward on the packed GEMM (F32; rows of x outside every segment get no adapter).
torch::Tensor forward_packed(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             const std::vector<RowSegment>& segments, const PackedRight* packed_weight = nullptr);
// dL/dx = dy W + s (dy B) A on the packed GEMM (F32): dy [n, out] -> [n, in].
torch::Tensor input_grad_packed(const torch::Tensor& dy, const torch::Tensor& weight, const LowRank& term);
// BF16 inputs (X, P) with F32 accumulation (avx512_bf16 dot products); Y BF16, Q F32.
void project_bf16(const c10::BFloat16* x, int64_t ldx, int64_t n, int64_t k, const c10::BFloat16* p, int64_t r,
                  float* t);
void expand_add_bf16(const float* t, int64_t n, int64_t r, const float* q, int64_t m, c10::BFloat16* y,
                     int64_t ldy);
}  // namespace avx512

}  // namespace atl::lora
