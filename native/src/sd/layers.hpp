// The building blocks shared by the SD networks, in functional style over loaded weights.
// Every Linear and every convolution goes through Linear::apply / Conv2d::apply: the one place
// where a LoRA delta will be added later (the layer keeps its checkpoint name for that).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "sd/weight_loader.hpp"

namespace atl::sd {

// A low-rank delta added to a layer's output: scale * up(down(x)) (kohya networks/lora.py
// LoRAModule.forward). For a Linear, down [r, in] and up [out, r]; for a convolution, down
// [r, in, k, k] with the layer's stride and padding, then up [out, r, 1, 1]. The tensors may
// require grad (training) and may be F32 while the layer computes in BF16: they are cast to
// the input's dtype, so the product stays differentiable with respect to the F32 tensors.
struct LoraAdapter {
    torch::Tensor down;
    torch::Tensor up;
    double scale = 1.0;
};

struct Linear {
    std::string name;      // checkpoint name without ".weight", e.g. "time_embed.0"
    torch::Tensor weight;  // [out, in]
    torch::Tensor bias;    // [out], or undefined
    std::vector<LoraAdapter> lora;  // added to the output in apply()
    torch::Tensor apply(const torch::Tensor& x) const;
};

struct Conv2d {
    std::string name;
    torch::Tensor weight;  // [out, in, k, k]
    torch::Tensor bias;    // [out]
    int64_t stride = 1;
    int64_t padding = 0;
    std::vector<LoraAdapter> lora;  // added to the output in apply()
    torch::Tensor apply(const torch::Tensor& x) const;
};

// Computed in F32 whatever the compute dtype, as LDM's GroupNorm32 does (x.float(), then back).
struct GroupNorm {
    torch::Tensor weight, bias;  // [C], F32
    int64_t groups = 32;
    double eps = 1e-5;
    torch::Tensor apply(const torch::Tensor& x) const;
};

struct LayerNorm {
    torch::Tensor weight, bias;  // [C], F32
    double eps = 1e-5;
    torch::Tensor apply(const torch::Tensor& x) const;
};

Linear load_linear(WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool bias = true);
Conv2d load_conv(WeightLoader& w, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                 int64_t stride = 1, int64_t padding = 0);
GroupNorm load_group_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps);
LayerNorm load_layer_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps);

// softmax(q k^T / sqrt(d) + mask) v over `heads` heads (the formula of "Attention Is All You Need",
// as in LDM attention.py CrossAttention and HF CLIPAttention).
// q: [B, Lq, heads*d], k and v: [B, Lk, heads*d]; mask: additive [Lq, Lk] or undefined.
// Queries are processed in chunks so the score matrix stays bounded in memory.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        const torch::Tensor& mask = {});

}  // namespace atl::sd
