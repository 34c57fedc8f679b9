// The LDM AutoencoderKL (ldm/models/autoencoder.py, ldm/modules/diffusionmodules/model.py
// Encoder/Decoder) as in SD1.x. Names under "first_stage_model.", prefix stripped.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "atelier.h"
#include "ops/kernel.hpp"
#include "sd/layers.hpp"

namespace atl::sd {

class Vae {
public:
    Vae(std::shared_ptr<const TensorMap> weights, const atl_vae_params& params);

    // decoder(post_quant_conv(z)): z [b, embed_dim, h, w] -> image [b, out, h*f, w*f] in F32.
    // The caller divides diffusion latents by the scale factor first.
    torch::Tensor decode(const torch::Tensor& z) const;
    // Posterior (mean, logvar) of quant_conv(encoder(image)), logvar clamped to [-30, 20]; F32.
    std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& image) const;

    const atl_vae_params& config() const { return config_; }
    // Spatial factor between image and latents: 2^(num_levels-1).
    int64_t factor() const { return int64_t{1} << (config_.num_levels - 1); }

private:
    struct ResBlock {  // model.py ResnetBlock without time embedding
        GroupNorm norm1, norm2;
        Conv2d conv1, conv2;
        std::optional<Conv2d> shortcut;  // nin_shortcut, 1x1
        torch::Tensor forward(torch::Tensor x) const;
    };
    struct AttnBlock {  // model.py AttnBlock: single head, 1x1 convolutions
        GroupNorm norm;
        Conv2d q, k, v, proj_out;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    struct Level {
        std::vector<ResBlock> blocks;
        std::optional<Conv2d> resample;  // encoder: downsample (stride 2); decoder: upsample conv
    };
    struct Mid {
        ResBlock block1;
        AttnBlock attn;
        ResBlock block2;
        torch::Tensor forward(torch::Tensor x) const;
    };

    ResBlock load_res(WeightLoader& w, const std::string& name, int64_t in, int64_t out) const;
    AttnBlock load_attn(WeightLoader& w, const std::string& name, int64_t ch) const;
    Mid load_mid(WeightLoader& w, const std::string& name, int64_t ch) const;

    std::shared_ptr<const TensorMap> weights_;
    atl_vae_params config_;
    c10::ScalarType compute_;
    ops::Kernel kernels_ = ops::Kernel::Auto;
    torch::Device device_{torch::kCPU};  // where the weights live and the forward runs
    // Encoder
    Conv2d enc_conv_in_;
    std::vector<Level> down_;  // by level, 0 = full resolution
    Mid enc_mid_;
    GroupNorm enc_norm_out_;
    Conv2d enc_conv_out_;
    Conv2d quant_conv_;
    // Decoder
    Conv2d post_quant_conv_;
    Conv2d dec_conv_in_;
    Mid dec_mid_;
    std::vector<Level> up_;  // by level as named in the checkpoint; run from the last to 0
    GroupNorm dec_norm_out_;
    Conv2d dec_conv_out_;
};

}  // namespace atl::sd
