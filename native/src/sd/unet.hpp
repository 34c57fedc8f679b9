// The CompVis LDM UNetModel (ldm/modules/diffusionmodules/openaimodel.py) as in SD1.x, with
// SpatialTransformer blocks (ldm/modules/attention.py). Names under "model.diffusion_model.",
// prefix stripped.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "atelier.h"
#include "lora/adapter.hpp"
#include "ops/kernel.hpp"
#include "sd/layers.hpp"

namespace atl::sd {

class UNet {
public:
    UNet(std::shared_ptr<const TensorMap> weights, const atl_unet_params& params);

    // x: [b, in, h, w], t: [b] continuous timesteps, context: [b, L, context_dim]; any float
    // dtype; h and w any size (a level of odd size is halved by rounding up, and the up path
    // interpolates back to the skip connection's size, as diffusers' UpBlocks do). Returns eps
    // [b, out, h, w] in F32. Inside, activations are channels last.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context) const;

    const atl_unet_params& config() const { return config_; }
    c10::ScalarType compute_dtype() const { return compute_; }
    const torch::Device& device() const { return device_; }

    // Every Linear and Conv2d by checkpoint name, for attaching LoRA adapters.
    std::vector<lora::LayerRef> lora_layers();
    // The LoRA slots of the adapters attached, and the per-sample selection.
    lora::LoraSlots& lora_slots() { return lora_slots_; }
    // Gradient checkpointing of the transformer blocks (SpatialTransformer) when grad mode is on.
    void set_gradient_checkpointing(bool on);

private:
    struct ResBlock {
        GroupNorm in_norm;
        Conv2d in_conv;
        Linear emb;
        GroupNorm out_norm;
        Conv2d out_conv;
        std::optional<Conv2d> skip;  // 1x1 when channels change
        torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb) const;
    };
    struct TransformerBlock {
        LayerNorm norm1, norm2, norm3;
        Linear q1, k1, v1, out1;  // self-attention
        Linear q2, k2, v2, out2;  // cross-attention on the context
        Linear ff_in, ff_out;     // GEGLU feed-forward
        int64_t heads = 1;
        torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context) const;
    };
    struct SpatialTransformer {
        GroupNorm norm;
        Conv2d proj_in, proj_out;  // 1x1 convolutions in SD1.x
        std::vector<TransformerBlock> blocks;
        bool checkpoint = false;  // recompute in backward instead of keeping activations
        torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context) const;
        // The computation itself (forward() may route it through CheckpointFunction).
        torch::Tensor run(const torch::Tensor& x, const torch::Tensor& context) const;
        // The LoRA tensors of its layers that require grad.
        std::vector<torch::Tensor> trainable() const;
    };
    // One entry of input_blocks / middle_block / output_blocks: the layers it holds, in order.
    struct Block {
        std::optional<Conv2d> conv;  // input_blocks.0 only
        std::optional<ResBlock> res;
        std::optional<SpatialTransformer> attn;
        std::optional<Conv2d> downsample;  // stride 2
        std::optional<Conv2d> upsample;    // after nearest interpolation to the next skip's size
        // next_skip: the skip connection the following output block concatenates (null for the
        // last): an upsample interpolates to its height and width.
        torch::Tensor forward(torch::Tensor x, const torch::Tensor& emb, const torch::Tensor& context,
                              const torch::Tensor* next_skip = nullptr) const;
    };

    void infer(WeightLoader& w, const atl_unet_params& given);
    ResBlock load_res(WeightLoader& w, const std::string& name, int64_t in, int64_t out) const;
    SpatialTransformer load_transformer(WeightLoader& w, const std::string& name, int64_t channels) const;

    std::shared_ptr<const TensorMap> weights_;
    atl_unet_params config_;
    c10::ScalarType compute_;
    ops::Kernel kernels_ = ops::Kernel::Auto;
    torch::Device device_{torch::kCPU};  // where the weights live and the forward runs
    int64_t time_embed_dim_ = 0;
    Linear time_embed0_, time_embed2_;
    std::vector<Block> input_blocks_;
    Block middle_;   // middle_block.0 and .1
    Block middle2_;  // middle_block.2
    std::vector<Block> output_blocks_;
    GroupNorm out_norm_;
    Conv2d out_conv_;
    lora::LoraSlots lora_slots_;
};

}  // namespace atl::sd
