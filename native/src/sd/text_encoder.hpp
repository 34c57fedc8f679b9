// OpenAI CLIP text transformer as used by SD1.x (HF CLIPTextModel names under
// "cond_stage_model.transformer.text_model.", prefix stripped).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "atelier.h"
#include "lora/adapter.hpp"
#include "ops/kernel.hpp"
#include "sd/layers.hpp"

namespace atl::sd {

class TextEncoder {
public:
    TextEncoder(std::shared_ptr<const TensorMap> weights, const atl_text_encoder_params& params);

    // ids: I64 [n, c * max_positions]; returns [n, c * max_positions, width] in F32.
    // Each max_positions chunk is encoded on its own (A1111 long prompts).
    torch::Tensor forward(const torch::Tensor& ids, int64_t clip_skip) const;

    const atl_text_encoder_params& config() const { return config_; }
    const torch::Device& device() const { return device_; }

    // Every Linear by checkpoint name, for attaching LoRA adapters.
    std::vector<lora::LayerRef> lora_layers();
    // The LoRA slots of the adapters attached, and the per-sample selection (a slot per input_ids row).
    lora::LoraSlots& lora_slots() { return lora_slots_; }

private:
    struct Layer {
        LayerNorm norm1, norm2;
        Linear q, k, v, out, fc1, fc2;
    };
    // ids: [n, max_positions] -> [n, max_positions, width] in the compute dtype.
    torch::Tensor encode_chunks(const torch::Tensor& ids, int64_t clip_skip) const;

    std::shared_ptr<const TensorMap> weights_;  // keeps the mapped memory alive
    atl_text_encoder_params config_;
    c10::ScalarType compute_;
    ops::Kernel kernels_ = ops::Kernel::Auto;
    torch::Device device_{torch::kCPU};  // where the weights live and the forward runs
    torch::Tensor token_embedding_;     // [vocab, width]
    torch::Tensor position_embedding_;  // [max_positions, width]
    std::vector<Layer> layers_;
    LayerNorm final_norm_;
    lora::LoraSlots lora_slots_;
};

}  // namespace atl::sd
