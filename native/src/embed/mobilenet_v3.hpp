// torchvision's MobileNetV3-Large, functional over a state_dict-named weight map (eval mode).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/weights.hpp"

namespace atl::embed {

// One row of the bneck table (torchvision mobilenetv3.py, _mobilenet_v3_conf "mobilenet_v3_large").
struct BlockConfig {
    int64_t in;
    int64_t kernel;
    int64_t expanded;
    int64_t out;
    bool use_se;
    bool hardswish;  // false: ReLU
    int64_t stride;
    int64_t dilation;
};

// The 15 inverted residual blocks of MobileNetV3-Large (features.1 .. features.15).
const std::vector<BlockConfig>& mobilenet_v3_large_blocks();

// torchvision's _make_divisible (from the TensorFlow reference): rounds v to a multiple of
// divisor, never going below 90% of v.
int64_t make_divisible(double v, int64_t divisor);

struct Options {
    bool fold_batchnorm = true;
    bool channels_last = true;
};

// Conv2d (no bias) followed by BatchNorm2d; after folding, bias holds the BatchNorm shift.
struct ConvBn {
    torch::Tensor weight;  // [out, in/groups, k, k]
    torch::Tensor bias;    // [out]; defined only when folded
    torch::Tensor bn_weight, bn_bias, bn_mean, bn_var;  // [out]; defined only when not folded
    int64_t stride = 1;
    int64_t padding = 0;
    int64_t dilation = 1;
    int64_t groups = 1;
};

// torchvision.ops.SqueezeExcitation: scale = hardsigmoid(fc2(relu(fc1(avgpool(x))))).
struct SqueezeExcitation {
    torch::Tensor fc1_weight;  // [squeeze, expanded, 1, 1]
    torch::Tensor fc1_bias;    // [squeeze]
    torch::Tensor fc2_weight;  // [expanded, squeeze, 1, 1]
    torch::Tensor fc2_bias;    // [expanded]
};

struct Block {
    BlockConfig config;
    std::optional<ConvBn> expand;  // absent when expanded == in
    ConvBn depthwise;
    std::optional<SqueezeExcitation> se;
    ConvBn project;
    bool residual = false;  // stride 1 and in == out
};

struct Outputs {
    torch::Tensor pooled;     // [n, 960]
    torch::Tensor prelogits;  // [n, 1280]; undefined unless asked for
    torch::Tensor logits;     // [n, classes]; undefined unless asked for
};

class MobileNetV3 {
public:
    // Checks every tensor against the configuration (ATL_ERR_FORMAT listing all problems),
    // then prepares the weights (BatchNorm folding, memory format). Never writes into weights.
    MobileNetV3(const TensorMap& weights, const Options& options);

    // x: F32 [n, 3, H, W]. Thread-safe: reads only immutable tensors.
    Outputs forward(const torch::Tensor& x, bool prelogits, bool logits) const;

    int64_t pooled_dim() const { return last_.weight.size(0); }
    int64_t prelogits_dim() const { return fc0_weight_.size(0); }
    int64_t num_classes() const { return fc3_weight_.size(0); }

private:
    torch::Tensor conv_bn(const torch::Tensor& x, const ConvBn& c) const;

    Options options_;
    ConvBn stem_;                // features.0: 3 -> 16, stride 2, Hardswish
    std::vector<Block> blocks_;  // features.1 .. features.15
    ConvBn last_;                // features.16: 160 -> 960, Hardswish
    torch::Tensor fc0_weight_;   // [1280, 960]
    torch::Tensor fc0_bias_;     // [1280]
    torch::Tensor fc3_weight_;   // [classes, 1280]
    torch::Tensor fc3_bias_;     // [classes]
};

}  // namespace atl::embed
