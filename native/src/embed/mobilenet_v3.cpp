#include "embed/mobilenet_v3.hpp"

#include <cmath>
#include <sstream>

#include "core/status.hpp"
#include "core/tensor_view.hpp"

namespace atl::embed {

namespace {

// torchvision mobilenetv3.py: BatchNorm2d(eps=0.001) in every Conv2dNormActivation.
constexpr double kBatchNormEps = 0.001;
constexpr int64_t kStemChannels = 16;
constexpr int64_t kPrelogits = 1280;  // last_channel of mobilenet_v3_large

// Looks up tensors by name and shape, collecting every problem instead of stopping at the first.
class Checker {
public:
    explicit Checker(const TensorMap& weights) : weights_(weights) {}

    // The tensor as F32, or an undefined tensor (and a recorded problem) when it is missing,
    // not floating point, or of another shape. Never modifies the mapped original.
    torch::Tensor get(const std::string& name, std::vector<int64_t> shape) {
        auto it = weights_.find(name);
        if (it == weights_.end()) {
            problems_.push_back("missing tensor " + name + " " + shape_string(shape));
            return {};
        }
        const torch::Tensor& t = it->second;
        if (!t.is_floating_point()) {
            problems_.push_back(name + ": dtype " + std::string(c10::toString(t.scalar_type())) +
                                " is not floating point");
            return {};
        }
        if (t.sizes() != c10::IntArrayRef(shape)) {
            problems_.push_back(name + ": shape " + shape_string(t.sizes()) + ", expected " + shape_string(shape));
            return {};
        }
        return t.to(torch::kFloat);
    }

    // Conv2d weight (no bias) + BatchNorm2d under prefix.{0,1}.
    ConvBn conv_bn(const std::string& prefix, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                   int64_t dilation, int64_t groups) {
        ConvBn c;
        c.weight = get(prefix + ".0.weight", {out, in / groups, kernel, kernel});
        c.bn_weight = get(prefix + ".1.weight", {out});
        c.bn_bias = get(prefix + ".1.bias", {out});
        c.bn_mean = get(prefix + ".1.running_mean", {out});
        c.bn_var = get(prefix + ".1.running_var", {out});
        c.stride = stride;
        c.dilation = dilation;
        c.groups = groups;
        // torchvision Conv2dNormActivation: padding = (kernel - 1) // 2 * dilation.
        c.padding = (kernel - 1) / 2 * dilation;
        return c;
    }

    void finish() const {
        if (problems_.empty()) return;
        constexpr size_t kShown = 20;
        std::ostringstream msg;
        msg << "weights do not match torchvision's MobileNetV3-Large (" << problems_.size() << " problem"
            << (problems_.size() == 1 ? "" : "s") << "):";
        for (size_t i = 0; i < problems_.size() && i < kShown; ++i) msg << "\n  " << problems_[i];
        if (problems_.size() > kShown) msg << "\n  ... and " << problems_.size() - kShown << " more";
        fail(ATL_ERR_FORMAT, msg.str());
    }

private:
    const TensorMap& weights_;
    std::vector<std::string> problems_;
};

// Eval-mode BatchNorm folded into the convolution (computed in double, stored as F32):
// w' = w * g / sqrt(var + eps), b' = beta - mean * g / sqrt(var + eps).
void fold(ConvBn& c) {
    torch::Tensor scale = c.bn_weight.to(torch::kDouble) / (c.bn_var.to(torch::kDouble) + kBatchNormEps).sqrt();
    c.weight = (c.weight.to(torch::kDouble) * scale.view({-1, 1, 1, 1})).to(torch::kFloat);
    c.bias = (c.bn_bias.to(torch::kDouble) - c.bn_mean.to(torch::kDouble) * scale).to(torch::kFloat);
    c.bn_weight = c.bn_bias = c.bn_mean = c.bn_var = torch::Tensor();
}

void prepare(ConvBn& c, const Options& options) {
    if (options.fold_batchnorm) fold(c);
    if (options.channels_last) {
        c.weight = c.weight.contiguous(at::MemoryFormat::ChannelsLast);
    } else {
        c.weight = c.weight.contiguous();
    }
}

torch::Tensor activate_(torch::Tensor x, bool hardswish) {
    return hardswish ? at::hardswish_(x) : at::relu_(x);
}

}  // namespace

const std::vector<BlockConfig>& mobilenet_v3_large_blocks() {
    // torchvision mobilenetv3.py, mobilenet_v3_large bneck table:
    // in, kernel, expanded, out, use_se, activation (false = RE, true = HS), stride, dilation.
    static const std::vector<BlockConfig> table = {
        {16, 3, 16, 16, false, false, 1, 1},     {16, 3, 64, 24, false, false, 2, 1},
        {24, 3, 72, 24, false, false, 1, 1},     {24, 5, 72, 40, true, false, 2, 1},
        {40, 5, 120, 40, true, false, 1, 1},     {40, 5, 120, 40, true, false, 1, 1},
        {40, 3, 240, 80, false, true, 2, 1},     {80, 3, 200, 80, false, true, 1, 1},
        {80, 3, 184, 80, false, true, 1, 1},     {80, 3, 184, 80, false, true, 1, 1},
        {80, 3, 480, 112, true, true, 1, 1},     {112, 3, 672, 112, true, true, 1, 1},
        {112, 5, 672, 160, true, true, 2, 1},    {160, 5, 960, 160, true, true, 1, 1},
        {160, 5, 960, 160, true, true, 1, 1},
    };
    return table;
}

int64_t make_divisible(double v, int64_t divisor) {
    // torchvision _utils._make_divisible with min_value = divisor.
    int64_t rounded = static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor;
    int64_t result = std::max(divisor, rounded);
    if (result < 0.9 * v) result += divisor;
    return result;
}

MobileNetV3::MobileNetV3(const TensorMap& weights, const Options& options) : options_(options) {
    Checker check(weights);
    stem_ = check.conv_bn("features.0", 3, kStemChannels, 3, 2, 1, 1);
    const auto& table = mobilenet_v3_large_blocks();
    for (size_t i = 0; i < table.size(); ++i) {
        const BlockConfig& cfg = table[i];
        std::string prefix = "features." + std::to_string(i + 1) + ".block.";
        Block b;
        b.config = cfg;
        // torchvision InvertedResidual: expand (if needed), depthwise, SE (if used), project.
        int index = 0;
        if (cfg.expanded != cfg.in) {
            b.expand = check.conv_bn(prefix + std::to_string(index++), cfg.in, cfg.expanded, 1, 1, 1, 1);
        }
        // A dilated block keeps stride 1 (torchvision: stride = 1 if dilation > 1).
        int64_t stride = cfg.dilation > 1 ? 1 : cfg.stride;
        b.depthwise = check.conv_bn(prefix + std::to_string(index++), cfg.expanded, cfg.expanded, cfg.kernel,
                                    stride, cfg.dilation, cfg.expanded);
        if (cfg.use_se) {
            int64_t squeeze = make_divisible(cfg.expanded / 4, 8);
            std::string se = prefix + std::to_string(index++);
            SqueezeExcitation s;
            s.fc1_weight = check.get(se + ".fc1.weight", {squeeze, cfg.expanded, 1, 1});
            s.fc1_bias = check.get(se + ".fc1.bias", {squeeze});
            s.fc2_weight = check.get(se + ".fc2.weight", {cfg.expanded, squeeze, 1, 1});
            s.fc2_bias = check.get(se + ".fc2.bias", {cfg.expanded});
            b.se = s;
        }
        b.project = check.conv_bn(prefix + std::to_string(index++), cfg.expanded, cfg.out, 1, 1, 1, 1);
        b.residual = cfg.stride == 1 && cfg.in == cfg.out;
        blocks_.push_back(std::move(b));
    }
    int64_t last_in = table.back().out;
    int64_t last_out = 6 * last_in;  // torchvision: lastconv_output_channels = 6 * lastconv_input_channels
    last_ = check.conv_bn("features.16", last_in, last_out, 1, 1, 1, 1);
    fc0_weight_ = check.get("classifier.0.weight", {kPrelogits, last_out});
    fc0_bias_ = check.get("classifier.0.bias", {kPrelogits});
    // The number of classes is whatever classifier.3 holds (1000 for ImageNet).
    auto fc3 = weights.find("classifier.3.weight");
    int64_t classes = fc3 != weights.end() && fc3->second.dim() == 2 ? fc3->second.size(0) : 1000;
    fc3_weight_ = check.get("classifier.3.weight", {classes, kPrelogits});
    fc3_bias_ = check.get("classifier.3.bias", {classes});
    check.finish();

    prepare(stem_, options_);
    for (Block& b : blocks_) {
        if (b.expand) prepare(*b.expand, options_);
        prepare(b.depthwise, options_);
        prepare(b.project, options_);
        if (b.se && options_.channels_last) {
            b.se->fc1_weight = b.se->fc1_weight.contiguous(at::MemoryFormat::ChannelsLast);
            b.se->fc2_weight = b.se->fc2_weight.contiguous(at::MemoryFormat::ChannelsLast);
        }
    }
    prepare(last_, options_);
}

torch::Tensor MobileNetV3::conv_bn(const torch::Tensor& x, const ConvBn& c) const {
    if (c.bias.defined()) {
        return at::conv2d(x, c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups);
    }
    torch::Tensor y = at::conv2d(x, c.weight, {}, c.stride, c.padding, c.dilation, c.groups);
    return at::batch_norm(y, c.bn_weight, c.bn_bias, c.bn_mean, c.bn_var, /*training=*/false,
                          /*momentum=*/0.1, kBatchNormEps, /*cudnn_enabled=*/false);
}

Outputs MobileNetV3::forward(const torch::Tensor& input, bool want_prelogits, bool want_logits) const {
    torch::Tensor x = options_.channels_last ? input.contiguous(at::MemoryFormat::ChannelsLast) : input.contiguous();
    x = activate_(conv_bn(x, stem_), true);
    for (const Block& b : blocks_) {
        torch::Tensor y = x;
        if (b.expand) y = activate_(conv_bn(y, *b.expand), b.config.hardswish);
        y = activate_(conv_bn(y, b.depthwise), b.config.hardswish);
        if (b.se) {
            torch::Tensor s = at::adaptive_avg_pool2d(y, {1, 1});
            s = at::conv2d(s, b.se->fc1_weight, b.se->fc1_bias);
            at::relu_(s);
            s = at::conv2d(s, b.se->fc2_weight, b.se->fc2_bias);
            at::hardsigmoid_(s);
            y = y * s;
        }
        y = conv_bn(y, b.project);
        if (b.residual) y.add_(x);
        x = y;
    }
    x = activate_(conv_bn(x, last_), true);
    Outputs out;
    out.pooled = at::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    if (want_prelogits || want_logits) {
        // classifier: Linear, Hardswish, Dropout (identity in eval mode), Linear.
        out.prelogits = at::linear(out.pooled, fc0_weight_, fc0_bias_);
        at::hardswish_(out.prelogits);
        if (want_logits) out.logits = at::linear(out.prelogits, fc3_weight_, fc3_bias_);
    }
    return out;
}

}  // namespace atl::embed
