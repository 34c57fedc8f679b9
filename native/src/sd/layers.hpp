// The building blocks shared by the SD networks, in functional style over loaded weights.
// Every Linear and every convolution goes through Linear::apply / Conv2d::apply: the one place
// where LoRA adapters are added (lora/adapter.hpp; the layer keeps its checkpoint name for that).
// Images are channels-last (NHWC) throughout the networks: convolutions gather their rows from
// that layout (ops/conv.hpp), 1x1 convolutions and the transformer's Linears need no permutes.
// Each layer runs on Atelier's kernels (ops/) where they apply, else on libtorch ops.
#pragma once

#include <torch/torch.h>

#include <string>

#include "lora/adapter.hpp"
#include "ops/weight_pack.hpp"
#include "sd/weight_loader.hpp"

namespace atl::sd {

struct Linear {
    std::string name;      // checkpoint name without ".weight", e.g. "time_embed.0"
    torch::Tensor weight;  // [out, in] as stored (the file's dtype; usually the mapped bytes)
    torch::Tensor bias;    // [out] in the compute dtype, or undefined
    c10::ScalarType compute = torch::kFloat;  // F32 or BF16
    lora::LoraState lora;  // unmerged adapters; the loaded weight while a merged copy is in `weight`
    ops::WeightPack forms; // weight packed for Atelier's GEMM, or in the compute dtype for libtorch
    // x [..., in] -> [..., out]; plus residual [..., out] when defined (added by the GEMM).
    // With adapters, the samples that a per-sample LoRA selection gives none of them are computed
    // as without adapters, bit for bit.
    torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& residual = {}) const;
    // geglu(apply(x)) for a projection to [value | gate]: without adapters and on Atelier's
    // kernels, gated a chunk of rows at a time as the GEMM computes them (ops::linear_geglu).
    torch::Tensor apply_geglu(const torch::Tensor& x) const;
    lora::LayerRef ref() { return {name, &weight, &lora, compute, false, 1, 0}; }

private:
    // apply() through the adapters (every sample of x uses some of them, or no selection is set).
    torch::Tensor adapted(const torch::Tensor& x, const torch::Tensor& residual) const;
};

struct Conv2d {
    std::string name;
    torch::Tensor weight;  // [out, in, k, k] as stored
    torch::Tensor bias;    // [out] in the compute dtype
    c10::ScalarType compute = torch::kFloat;
    int64_t stride = 1;
    int64_t padding = 0;
    bool bf16_winograd = true;  // ops::ConvSpec::bf16_winograd
    lora::LoraState lora;
    ops::WeightPack forms;
    // x [n, h, w, in] -> [n, oh, ow, out]; plus sample_bias [n, out] and residual [n, oh, ow, out]
    // when defined (the GEMM adds both). Samples that select none of the adapters: as Linear.
    torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& sample_bias = {},
                        const torch::Tensor& residual = {}) const;
    // The same, giving the residual up: y may take its memory (ops::conv2d_nhwc overwrite_residual).
    torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& sample_bias, torch::Tensor&& residual) const;
    lora::LayerRef ref() { return {name, &weight, &lora, compute, true, stride, padding}; }

private:
    torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& sample_bias, const torch::Tensor& residual,
                        bool overwrite_residual) const;
    // apply() through the adapters, for output size oh x ow.
    torch::Tensor adapted(const torch::Tensor& x, const torch::Tensor& sample_bias, const torch::Tensor& residual,
                          int64_t oh, int64_t ow) const;
};

// Computed in F32 whatever the compute dtype, as LDM's GroupNorm32 does (x.float(), then back).
struct GroupNorm {
    torch::Tensor weight, bias;  // [C], F32
    int64_t groups = 32;
    double eps = 1e-5;
    // x [n, ..., c] channels last; SiLU after the affine when silu.
    torch::Tensor apply(const torch::Tensor& x, bool silu = false) const;
    // The same, giving x up: the result may take x's memory (ops::group_norm_nhwc overwrite_x).
    torch::Tensor apply(torch::Tensor&& x, bool silu = false) const;
};

struct LayerNorm {
    torch::Tensor weight, bias;  // [C], F32
    double eps = 1e-5;
    torch::Tensor apply(const torch::Tensor& x) const;
};

// [n, c, h, w] <-> [n, h, w, c], contiguous (counted as layout copies in profiles).
torch::Tensor to_channels_last(const torch::Tensor& x);
torch::Tensor to_channels_first(const torch::Tensor& x);
// GEGLU of h = [value | gate] (last dimension): value * gelu(gate) (LDM attention.py).
torch::Tensor geglu(const torch::Tensor& h);
// Nearest-neighbour upsampling by 2 (torch upsample_nearest2d) of x [n, h, w, c].
torch::Tensor upsample_nearest2x(const torch::Tensor& x);
// Nearest-neighbour interpolation of x [n, h, w, c] to [n, out_h, out_w, c] (torch interpolate,
// mode "nearest", size=(out_h, out_w)), where out_h is 2h or 2h - 1 and out_w 2w or 2w - 1:
// the size a stride-2 convolution with padding 1 maps back to h and w. Throws ATL_ERR_SHAPE
// for any other size.
torch::Tensor upsample_nearest_to(const torch::Tensor& x, int64_t out_h, int64_t out_w);

Linear load_linear(WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool bias = true);
Conv2d load_conv(WeightLoader& w, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                 int64_t stride = 1, int64_t padding = 0);
GroupNorm load_group_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps);
LayerNorm load_layer_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps);

// softmax(q k^T / sqrt(d) + mask) v over `heads` heads (the formula of "Attention Is All You Need",
// as in LDM attention.py CrossAttention and HF CLIPAttention).
// q: [B, Lq, heads*d], k and v: [B, Lk, heads*d]; mask: additive [Lq, Lk] or undefined.
// compute: the layer's compute dtype (BF16: the fused kernel's products in BF16).
// Atelier's fused kernel where it applies (ops/attention.hpp), else libtorch ops.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        c10::ScalarType compute, const torch::Tensor& mask = {});

}  // namespace atl::sd
