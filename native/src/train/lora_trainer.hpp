// LoRA training on libtorch autograd: trainable adapters attached to named layers of the SD
// networks, the diffusion training loss (DDPM forward process, eps prediction, min-SNR-gamma),
// and AdamW over one flat buffer per network (atelier.h, "LoRA training").
#pragma once

#include <torch/torch.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "atelier.h"
#include "sd/layers.hpp"
#include "sd/text_encoder.hpp"
#include "sd/unet.hpp"

namespace atl::train {

class LoraTrainer {
public:
    // Shares ownership of the networks: it attaches adapters to their layers and removes them in
    // its destructor, so they must outlive it whatever order their handles are destroyed in.
    LoraTrainer(std::shared_ptr<sd::UNet> unet, std::shared_ptr<sd::TextEncoder> text,
                const std::vector<atl_lora_module_spec>& modules,
                torch::Tensor alphas_cumprod, const atl_lora_train_params& params);
    ~LoraTrainer();
    LoraTrainer(const LoraTrainer&) = delete;
    LoraTrainer& operator=(const LoraTrainer&) = delete;

    // One forward/backward pass; returns the unscaled loss. context or ids is defined.
    float accumulate(const torch::Tensor& latents, const torch::Tensor& context, const torch::Tensor& ids,
                     int64_t sample_index, float loss_scale);
    void update(int64_t step, float unet_lr, float text_lr);

    struct Module {
        std::string name;
        int32_t network = ATL_LORA_UNET;
        int64_t rank = 0;
        double scale = 1.0;                 // alpha / rank
        std::vector<int64_t> down_shape;    // [r, in] or [r, in, k, k]
        std::vector<int64_t> up_shape;      // [out, r] or [out, r, 1, 1]
        int64_t down_offset = 0, up_offset = 0;  // in the network's flat buffer
        std::vector<lora::Adapter>* slot = nullptr;  // the layer's unmerged adapters (LoraState::adapters)
    };
    const std::vector<Module>& modules() const { return modules_; }
    // Module i's current tensors (views of the flat buffer, detached).
    torch::Tensor down(int64_t i) const;
    torch::Tensor up(int64_t i) const;

    int64_t state_size(int32_t network) const;
    // what: 0 parameters, 1 first moments, 2 second moments; F32 [n], the live buffer.
    torch::Tensor state(int32_t network, int32_t what) const;
    void set_state(int32_t network, int32_t what, const torch::Tensor& value);

private:
    struct Flat {
        torch::Tensor params;  // [n], requires grad
        torch::Tensor exp_avg, exp_avg_sq;
    };
    // Points every adapter at fresh views of the flat parameters (called before each forward,
    // so each forward builds its own autograd graph down to the flat leaf).
    void refresh_views();
    Flat& flat(int32_t network);
    const Flat& flat(int32_t network) const;

    std::shared_ptr<sd::UNet> unet_;
    std::shared_ptr<sd::TextEncoder> text_;  // null when not given
    atl_lora_train_params params_;
    torch::Tensor alphas_cumprod_;  // [T] F32
    std::vector<Module> modules_;
    std::array<Flat, 2> flat_;
};

}  // namespace atl::train
