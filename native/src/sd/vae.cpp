#include "sd/vae.hpp"

#include <optional>

#include "core/cpu_allocator.hpp"
#include "ops/profile.hpp"

#include "core/status.hpp"
#include "core/tensor_view.hpp"

namespace atl::sd {

namespace {

std::string idx(const std::string& group, int64_t i) { return group + "." + std::to_string(i) + "."; }

void agree(WeightLoader& w, const char* field, int32_t configured, int64_t inferred) {
    if (configured != 0 && inferred >= 0 && configured != inferred) {
        w.problem(std::string("config ") + field + "=" + std::to_string(configured) + " but the weights have " +
                  std::to_string(inferred));
    }
}

constexpr double kEps = 1e-6;  // model.py Normalize: GroupNorm(32, eps=1e-6)

}  // namespace

// x [b, h, w, c] channels last throughout.
// x is given up: with a shortcut convolution, the first normalisation runs in x's memory once
// the shortcut has read it (the 256 -> 128 channel block at full resolution then holds one
// 512 x 512 x 256 tensor instead of two); with the identity, skip shares x and the normalisation
// copies. h and the shortcut's output are temporaries: the second normalisation and the sum
// reuse their memory.
torch::Tensor Vae::ResBlock::forward(torch::Tensor x) const {
    torch::Tensor skip = shortcut ? shortcut->apply(x) : x;
    torch::Tensor h = conv1.apply(norm1.apply(std::move(x), true));
    return conv2.apply(norm2.apply(std::move(h), true), {}, std::move(skip));
}

torch::Tensor Vae::AttnBlock::forward(const torch::Tensor& x) const {
    const int64_t b = x.size(0), hgt = x.size(1), wid = x.size(2), c = x.size(3);
    torch::Tensor n = norm.apply(x);
    auto tokens = [&](const torch::Tensor& t) { return t.reshape({b, hgt * wid, c}); };
    torch::Tensor h = attention(tokens(q.apply(n)), tokens(k.apply(n)), tokens(v.apply(n)), 1, q.compute);
    return proj_out.apply(h.reshape({b, hgt, wid, c}), {}, x);
}

torch::Tensor Vae::Mid::forward(torch::Tensor x) const {
    return block2.forward(attn.forward(block1.forward(std::move(x))));
}

Vae::ResBlock Vae::load_res(WeightLoader& w, const std::string& p, int64_t in, int64_t out) const {
    ResBlock r;
    r.norm1 = load_group_norm(w, p + "norm1", in, kEps);
    r.conv1 = load_conv(w, p + "conv1", in, out, 3, 1, 1);
    r.norm2 = load_group_norm(w, p + "norm2", out, kEps);
    r.conv2 = load_conv(w, p + "conv2", out, out, 3, 1, 1);
    if (in != out) r.shortcut = load_conv(w, p + "nin_shortcut", in, out, 1);
    return r;
}

Vae::AttnBlock Vae::load_attn(WeightLoader& w, const std::string& p, int64_t ch) const {
    AttnBlock a;
    a.norm = load_group_norm(w, p + "norm", ch, kEps);
    a.q = load_conv(w, p + "q", ch, ch, 1);
    a.k = load_conv(w, p + "k", ch, ch, 1);
    a.v = load_conv(w, p + "v", ch, ch, 1);
    a.proj_out = load_conv(w, p + "proj_out", ch, ch, 1);
    return a;
}

Vae::Mid Vae::load_mid(WeightLoader& w, const std::string& p, int64_t ch) const {
    return Mid{load_res(w, p + "block_1.", ch, ch), load_attn(w, p + "attn_1.", ch), load_res(w, p + "block_2.", ch, ch)};
}

Vae::Vae(std::shared_ptr<const TensorMap> weights, const atl_vae_params& params) : weights_(weights), config_(params) {
    const ops::Placement place =
        ops::placement_param(params.compute_dtype, params.kernels, params.device, params.device_index, "vae");
    compute_ = place.compute;
    kernels_ = place.kernels;
    device_ = place.device;
    use_caching_cpu_allocator();
    WeightLoader w(weights, "vae", compute_, device_);

    // Architecture from the shapes.
    const int64_t ch = w.dim("encoder.conv_in.weight", 0);
    const int64_t in = w.dim("encoder.conv_in.weight", 1);
    const int64_t z = w.dim("decoder.conv_in.weight", 1);
    const int64_t embed = w.dim("post_quant_conv.weight", 0);
    const int64_t out = w.dim("decoder.conv_out.weight", 0);
    w.check();
    std::vector<int64_t> mult;
    int64_t nrb = 0;
    while (w.has_prefix(idx("encoder.down.0.block", nrb))) ++nrb;
    for (int64_t l = 0; w.has_prefix(idx("encoder.down", l)); ++l) {
        const int64_t c = w.dim(idx("encoder.down", l) + "block.0.conv2.weight", 0);
        mult.push_back(c > 0 && ch > 0 ? c / ch : 0);
    }
    const int64_t levels = static_cast<int64_t>(mult.size());
    if (levels == 0 || levels > ATL_SD_MAX_LEVELS) w.problem("cannot read the levels of encoder.down");
    w.check();
    agree(w, "in_channels", params.in_channels, in);
    agree(w, "out_channels", params.out_channels, out);
    agree(w, "ch", params.ch, ch);
    agree(w, "z_channels", params.z_channels, z);
    agree(w, "embed_dim", params.embed_dim, embed);
    agree(w, "num_res_blocks", params.num_res_blocks, nrb);
    agree(w, "num_levels", params.num_levels, levels);
    if (params.num_levels == levels) {
        for (int64_t l = 0; l < levels; ++l) agree(w, "ch_mult", params.ch_mult[l], mult[l]);
    }
    w.check();
    config_.in_channels = static_cast<int32_t>(in);
    config_.out_channels = static_cast<int32_t>(out);
    config_.ch = static_cast<int32_t>(ch);
    config_.z_channels = static_cast<int32_t>(z);
    config_.embed_dim = static_cast<int32_t>(embed);
    config_.num_res_blocks = static_cast<int32_t>(nrb);
    config_.num_levels = static_cast<int32_t>(levels);
    for (int64_t l = 0; l < ATL_SD_MAX_LEVELS; ++l) config_.ch_mult[l] = l < levels ? static_cast<int32_t>(mult[l]) : 0;

    // Encoder (model.py Encoder, double_z: conv_out gives 2 * z_channels).
    enc_conv_in_ = load_conv(w, "encoder.conv_in", in, ch, 3, 1, 1);
    int64_t c = ch;
    for (int64_t l = 0; l < levels; ++l) {
        Level lv;
        const int64_t co = ch * mult[l];
        for (int64_t j = 0; j < nrb; ++j) {
            lv.blocks.push_back(load_res(w, idx(idx("encoder.down", l) + "block", j), c, co));
            c = co;
        }
        // Padding (0,1,0,1) is applied in encode(); the conv itself has none.
        if (l != levels - 1) lv.resample = load_conv(w, idx("encoder.down", l) + "downsample.conv", c, c, 3, 2, 0);
        down_.push_back(std::move(lv));
    }
    enc_mid_ = load_mid(w, "encoder.mid.", c);
    enc_norm_out_ = load_group_norm(w, "encoder.norm_out", c, kEps);
    enc_conv_out_ = load_conv(w, "encoder.conv_out", c, 2 * z, 3, 1, 1);
    quant_conv_ = load_conv(w, "quant_conv", 2 * z, 2 * embed, 1);

    // Decoder (model.py Decoder): up levels run from the last to 0 with num_res_blocks + 1 blocks.
    post_quant_conv_ = load_conv(w, "post_quant_conv", embed, z, 1);
    c = ch * mult[levels - 1];
    dec_conv_in_ = load_conv(w, "decoder.conv_in", z, c, 3, 1, 1);
    dec_mid_ = load_mid(w, "decoder.mid.", c);
    up_.resize(levels);
    for (int64_t l = levels - 1; l >= 0; --l) {
        const int64_t co = ch * mult[l];
        for (int64_t j = 0; j <= nrb; ++j) {
            up_[l].blocks.push_back(load_res(w, idx(idx("decoder.up", l) + "block", j), c, co));
            c = co;
        }
        if (l != 0) up_[l].resample = load_conv(w, idx("decoder.up", l) + "upsample.conv", c, c, 3, 1, 1);
    }
    dec_norm_out_ = load_group_norm(w, "decoder.norm_out", c, kEps);
    dec_conv_out_ = load_conv(w, "decoder.conv_out", c, out, 3, 1, 1);
    w.finish();
}

namespace {

// Decodes whose largest activation takes at least this many bytes bound the allocator's cache and
// free its cached blocks before each stage (core/cpu_allocator.hpp: both act on every thread),
// where the earlier stage's cached blocks would add to the peak. Smaller decodes do neither:
// there it saves no memory, and in a server the UNet batch running beside each image's decode
// would lose its cached blocks (and allocate and fault them in again on its next step).
constexpr int64_t kBoundedDecodeBytes = int64_t{16} << 20;

}  // namespace

torch::Tensor Vae::decode(const torch::Tensor& z) const {
    require(z.dim() == 4 && z.size(1) == config_.embed_dim, ATL_ERR_SHAPE,
            "vae: latents must be [b, " + std::to_string(config_.embed_dim) + ", h, w], got " +
                shape_string(z.sizes()));
    // The decoder's largest activation: its last level's channels at the image's size.
    const int64_t largest = z.size(0) * z.size(2) * z.size(3) * config_.ch * config_.ch_mult[0] *
                            static_cast<int64_t>(sizeof(float)) << (2 * (config_.num_levels - 1));
    const bool bounded = largest >= kBoundedDecodeBytes;
    auto trim = [bounded] {
        if (bounded) trim_cpu_cache();
    };
    trim();
    std::optional<CpuCacheBound> bound;
    if (bounded) bound.emplace();
    ops::KernelScope kernels(kernels_);
    ops::NetworkScope network(ops::Network::Vae);
    torch::Tensor h = dec_conv_in_.apply(post_quant_conv_.apply(to_channels_last(z.to(device_, ops::activation_dtype(compute_)))));
    h = dec_mid_.forward(std::move(h));
    for (int64_t l = config_.num_levels - 1; l >= 0; --l) {
        // Each level's activations are 4x the size of the one before: the cached blocks of the
        // previous level would serve none of them.
        trim();
        for (const ResBlock& r : up_[l].blocks) h = r.forward(std::move(h));
        if (up_[l].resample) {
            torch::Tensor up = upsample_nearest2x(h);
            h.reset();
            h = up_[l].resample->apply(up);
        }
    }
    trim();
    h = dec_conv_out_.apply(dec_norm_out_.apply(h, true));
    return to_channels_first(h).to(torch::kFloat);
}

std::pair<torch::Tensor, torch::Tensor> Vae::encode(const torch::Tensor& image) const {
    require(image.dim() == 4 && image.size(1) == config_.in_channels, ATL_ERR_SHAPE,
            "vae: image must be [b, " + std::to_string(config_.in_channels) + ", H, W], got " +
                shape_string(image.sizes()));
    require(image.size(2) % factor() == 0 && image.size(3) % factor() == 0, ATL_ERR_SHAPE,
            "vae: image height and width must be multiples of " + std::to_string(factor()) + ", got " +
                shape_string(image.sizes()));
    CpuCacheBound bound;
    ops::KernelScope kernels(kernels_);
    ops::NetworkScope network(ops::Network::Vae);
    torch::Tensor h = enc_conv_in_.apply(to_channels_last(image.to(device_, ops::activation_dtype(compute_))));
    for (const Level& lv : down_) {
        for (const ResBlock& r : lv.blocks) h = r.forward(std::move(h));
        // model.py Downsample: asymmetric zero pad (right 1, bottom 1), then stride-2 conv.
        if (lv.resample) {
            torch::Tensor padded;
            {
                ops::OpScope scope(ops::OpClass::Layout, 0);
                padded = torch::constant_pad_nd(h, {0, 0, 0, 1, 0, 1}, 0);
            }
            h = lv.resample->apply(padded);
        }
    }
    h = enc_mid_.forward(std::move(h));
    h = enc_conv_out_.apply(enc_norm_out_.apply(h, true));
    torch::Tensor moments = to_channels_first(quant_conv_.apply(h)).to(torch::kFloat);
    std::vector<torch::Tensor> parts = moments.chunk(2, 1);
    // distributions.py DiagonalGaussianDistribution: logvar clamped to [-30, 20].
    return {parts[0].contiguous(), parts[1].clamp(-30.0, 20.0).contiguous()};
}

}  // namespace atl::sd
