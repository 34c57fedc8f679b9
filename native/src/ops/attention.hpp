// softmax(q k^T / sqrt(d)) v over every head, without an L x L score matrix: each block of queries
// walks the keys in blocks, keeps a running maximum and sum per query (the online softmax of
// "FlashAttention", Dao et al. 2022) and accumulates P V in place. Same result as the formula of
// "Attention Is All You Need" (LDM attention.py CrossAttention) up to F32 rounding.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "ops/kernel.hpp"

namespace atl::ops {

// q [batch, lq, heads * dim] (row stride ldq), k and v [batch, lk, heads * dim] (ldk, ldv),
// out [batch, lq, heads * dim] (ldo). F32; head h uses columns [h * dim, (h + 1) * dim).
struct AttentionShape {
    int64_t batch = 1, lq = 0, lk = 0, heads = 1, dim = 0;
    int64_t ldq = 0, ldk = 0, ldv = 0, ldo = 0;
};

namespace ref {
// Plain loops in double: the reference the kernels are tested against.
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out);
}  // namespace ref

namespace avx512 {
// Parallel over (batch, head, block of queries) on ATen's thread pool.
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out);
// The same with both products in BF16 (q, k, v and the softmax's probabilities rounded to BF16,
// sums, softmax and output in F32). Needs avx512_bf16.
void attention_bf16(const AttentionShape& s, const float* q, const float* k, const float* v, float* out);
}  // namespace avx512

// q [b, lq, heads * d], k and v [b, lk, heads * d]: F32 or BF16 CPU tensors. compute kBFloat16
// runs the AVX512 kernel's BF16 products on CPUs with avx512_bf16 (otherwise, and for the other
// kernels, the kernels compute in F32: BF16 inputs are widened, the output rounded back). mask:
// additive [lq, lk] or undefined (only the Torch kernel takes one). Returns [b, lq, heads * d] in
// q's dtype.
torch::Tensor attention(Kernel kernel, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t heads, c10::ScalarType compute, const torch::Tensor& mask = {});

}  // namespace atl::ops
