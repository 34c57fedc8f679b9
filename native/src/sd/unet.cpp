#include "sd/unet.hpp"

#include <cmath>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "sd/checkpoint.hpp"
#include "core/cpu_allocator.hpp"
#include "ops/profile.hpp"

namespace atl::sd {

namespace {

std::string idx(const char* group, int64_t i) { return std::string(group) + "." + std::to_string(i) + "."; }

void agree(WeightLoader& w, const char* field, int32_t configured, int64_t inferred) {
    if (configured != 0 && inferred >= 0 && configured != inferred) {
        w.problem(std::string("config ") + field + "=" + std::to_string(configured) + " but the weights have " +
                  std::to_string(inferred));
    }
}

// LDM util.py timestep_embedding (flip to [cos, sin], max_period 10000, no frequency shift).
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim) {
    const int64_t half = dim / 2;
    torch::Tensor freqs =
        torch::exp(-std::log(10000.0) * torch::arange(half, t.options().dtype(torch::kFloat)) / static_cast<double>(half));
    torch::Tensor args = t.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
    torch::Tensor emb = torch::cat({torch::cos(args), torch::sin(args)}, -1);
    if (dim % 2) emb = torch::cat({emb, torch::zeros({emb.size(0), 1}, emb.options())}, -1);
    return emb;
}

}  // namespace

// ---- blocks (openaimodel.py ResBlock, attention.py SpatialTransformer / BasicTransformerBlock)

// x [b, h, w, c] channels last throughout.
torch::Tensor UNet::ResBlock::forward(const torch::Tensor& x, const torch::Tensor& emb) const {
    // emb is already emb_layers(emb) for this block: added per sample by the convolution.
    torch::Tensor h = in_conv.apply(in_norm.apply(x, true), emb);
    // h and the skip's output are temporaries: the normalisation and the sum reuse their memory (x
    // is the caller's: the sum copies it). Both branches are non-const prvalues, so the residual
    // binds to the overload that takes it over.
    return out_conv.apply(out_norm.apply(std::move(h), true), {}, skip ? skip->apply(x) : torch::Tensor(x));
}

torch::Tensor UNet::TransformerBlock::forward(const torch::Tensor& x, const torch::Tensor& context) const {
    torch::Tensor n = norm1.apply(x);
    torch::Tensor h = out1.apply(attention(q1.apply(n), k1.apply(n), v1.apply(n), heads, q1.compute), x);
    n = norm2.apply(h);
    h = out2.apply(attention(q2.apply(n), k2.apply(context), v2.apply(context), heads, q2.compute), h);
    // GEGLU (attention.py): proj to 2*inner, value * gelu(gate).
    return ff_out.apply(ff_in.apply_geglu(norm3.apply(h)), h);
}

torch::Tensor UNet::SpatialTransformer::forward(const torch::Tensor& x, const torch::Tensor& context) const {
    if (checkpoint && torch::GradMode::is_enabled()) {
        std::vector<torch::Tensor> params = trainable();
        if (!params.empty() || x.requires_grad() || context.requires_grad()) {
            // As a TensorList: a std::vector argument would not be registered as autograd inputs.
            return CheckpointFunction<SpatialTransformer>::apply(this, x, context, torch::TensorList(params))[0];
        }
    }
    return run(x, context);
}

std::vector<torch::Tensor> UNet::SpatialTransformer::trainable() const {
    std::vector<torch::Tensor> out;
    auto add = [&](const lora::LoraState& lora) {
        for (const lora::Adapter& a : lora.adapters) {
            if (a.down.defined() && a.down.requires_grad()) out.push_back(a.down);
            if (a.up.defined() && a.up.requires_grad()) out.push_back(a.up);
        }
    };
    add(proj_in.lora);
    for (const TransformerBlock& t : blocks) {
        for (const Linear* l : {&t.q1, &t.k1, &t.v1, &t.out1, &t.q2, &t.k2, &t.v2, &t.out2, &t.ff_in, &t.ff_out}) {
            add(l->lora);
        }
    }
    add(proj_out.lora);
    return out;
}

torch::Tensor UNet::SpatialTransformer::run(const torch::Tensor& x, const torch::Tensor& context) const {
    const int64_t b = x.size(0), hgt = x.size(1), wid = x.size(2);
    torch::Tensor h = proj_in.apply(norm.apply(x));
    const int64_t c = h.size(3);
    h = h.reshape({b, hgt * wid, c});  // b h w c -> b (h w) c: a view
    for (const TransformerBlock& blk : blocks) h = blk.forward(h, context);
    return proj_out.apply(h.reshape({b, hgt, wid, c}), {}, x);
}

torch::Tensor UNet::Block::forward(torch::Tensor x, const torch::Tensor& emb, const torch::Tensor& context,
                                   const torch::Tensor* next_skip) const {
    if (conv) x = conv->apply(x);
    if (res) x = res->forward(x, res->emb.apply(emb));
    if (attn) x = attn->forward(x, context);
    if (downsample) x = downsample->apply(x);
    if (upsample) {
        // diffusers' upsample_size: twice the size, or one less where the level above is odd.
        x = upsample->apply(next_skip ? upsample_nearest_to(x, next_skip->size(1), next_skip->size(2))
                                      : upsample_nearest2x(x));
    }
    return x;
}

// ---- loading

UNet::ResBlock UNet::load_res(WeightLoader& w, const std::string& p, int64_t in, int64_t out) const {
    ResBlock r;
    r.in_norm = load_group_norm(w, p + "in_layers.0", in, 1e-5);
    r.in_conv = load_conv(w, p + "in_layers.2", in, out, 3, 1, 1);
    r.emb = load_linear(w, p + "emb_layers.1", time_embed_dim_, out);
    r.out_norm = load_group_norm(w, p + "out_layers.0", out, 1e-5);
    r.out_conv = load_conv(w, p + "out_layers.3", out, out, 3, 1, 1);
    if (in != out) r.skip = load_conv(w, p + "skip_connection", in, out, 1);
    return r;
}

UNet::SpatialTransformer UNet::load_transformer(WeightLoader& w, const std::string& p, int64_t ch) const {
    // openaimodel.py: heads from num_head_channels when set, else num_heads.
    int64_t heads = config_.num_head_channels > 0 ? ch / config_.num_head_channels : config_.num_heads;
    if (heads <= 0 || ch % heads != 0) {
        w.problem(p + ": " + std::to_string(ch) + " channels do not split into heads (num_heads " +
                  std::to_string(config_.num_heads) + ", num_head_channels " +
                  std::to_string(config_.num_head_channels) + ")");
        heads = 1;
    }
    const int64_t ctx = config_.context_dim, inner = ch * 4;
    SpatialTransformer s;
    s.norm = load_group_norm(w, p + "norm", ch, 1e-6);  // attention.py Normalize: eps 1e-6
    s.proj_in = load_conv(w, p + "proj_in", ch, ch, 1);
    s.proj_out = load_conv(w, p + "proj_out", ch, ch, 1);
    for (int64_t d = 0; d < config_.transformer_depth; ++d) {
        const std::string b = p + idx("transformer_blocks", d);
        TransformerBlock t;
        t.heads = heads;
        t.norm1 = load_layer_norm(w, b + "norm1", ch, 1e-5);
        t.norm2 = load_layer_norm(w, b + "norm2", ch, 1e-5);
        t.norm3 = load_layer_norm(w, b + "norm3", ch, 1e-5);
        t.q1 = load_linear(w, b + "attn1.to_q", ch, ch, false);
        t.k1 = load_linear(w, b + "attn1.to_k", ch, ch, false);
        t.v1 = load_linear(w, b + "attn1.to_v", ch, ch, false);
        t.out1 = load_linear(w, b + "attn1.to_out.0", ch, ch);
        t.q2 = load_linear(w, b + "attn2.to_q", ch, ch, false);
        t.k2 = load_linear(w, b + "attn2.to_k", ctx, ch, false);
        t.v2 = load_linear(w, b + "attn2.to_v", ctx, ch, false);
        t.out2 = load_linear(w, b + "attn2.to_out.0", ch, ch);
        t.ff_in = load_linear(w, b + "ff.net.0.proj", ch, inner * 2);
        t.ff_out = load_linear(w, b + "ff.net.2", inner, ch);
        s.blocks.push_back(std::move(t));
    }
    return s;
}

void UNet::infer(WeightLoader& w, const atl_unet_params& given) {
    const int64_t mc = w.dim("input_blocks.0.0.weight", 0);
    const int64_t in = w.dim("input_blocks.0.0.weight", 1);
    const int64_t out = w.dim("out.2.weight", 0);
    time_embed_dim_ = w.dim("time_embed.0.weight", 0);
    w.check();
    // Walk input_blocks: a ".0.op." entry is a downsample closing a level; others are ResBlocks.
    std::vector<int64_t> mult, res_per_level, attn;
    int64_t context = 0, depth = 0, count = 0;
    bool level_attn = false;
    for (int64_t i = 1;; ++i) {
        const std::string p = idx("input_blocks", i);
        const bool down = w.has_prefix(p + "0.op.");
        if (down || !w.has_prefix(p)) {
            res_per_level.push_back(count);
            attn.push_back(level_attn ? 1 : 0);
            count = 0;
            level_attn = false;
            if (!down) break;
            continue;
        }
        const int64_t ch = w.dim(p + "0.out_layers.3.weight", 0);
        if (count == 0 && ch > 0 && mc > 0) mult.push_back(ch / mc);
        ++count;
        if (w.has_prefix(p + "1.")) {
            level_attn = true;
            if (context == 0) {
                context = w.dim(p + "1.transformer_blocks.0.attn2.to_k.weight", 1);
                while (w.has_prefix(p + "1." + idx("transformer_blocks", depth))) ++depth;
            }
        }
    }
    w.check();
    const int64_t levels = static_cast<int64_t>(res_per_level.size());
    if (levels > ATL_SD_MAX_LEVELS || static_cast<int64_t>(mult.size()) != levels) {
        w.problem("cannot read the levels of input_blocks (" + std::to_string(levels) + " found)");
    }
    for (int64_t n : res_per_level) {
        if (n != res_per_level[0]) w.problem("input_blocks: levels have different numbers of ResBlocks");
    }
    w.check();
    agree(w, "in_channels", given.in_channels, in);
    agree(w, "out_channels", given.out_channels, out);
    agree(w, "model_channels", given.model_channels, mc);
    agree(w, "num_res_blocks", given.num_res_blocks, res_per_level[0]);
    agree(w, "context_dim", given.context_dim, context);
    agree(w, "transformer_depth", given.transformer_depth, depth);
    agree(w, "num_levels", given.num_levels, levels);
    if (given.num_levels == levels) {
        for (int64_t l = 0; l < levels; ++l) {
            agree(w, "channel_mult", given.channel_mult[l], mult[l]);
            if ((given.attention_levels[l] != 0) != (attn[l] != 0)) {
                w.problem("config attention at level " + std::to_string(l) + " disagrees with the weights");
            }
        }
    }
    w.check();
    config_.in_channels = static_cast<int32_t>(in);
    config_.out_channels = static_cast<int32_t>(out);
    config_.model_channels = static_cast<int32_t>(mc);
    config_.num_res_blocks = static_cast<int32_t>(res_per_level[0]);
    config_.context_dim = static_cast<int32_t>(context);
    config_.transformer_depth = static_cast<int32_t>(depth);
    config_.num_levels = static_cast<int32_t>(levels);
    for (int64_t l = 0; l < ATL_SD_MAX_LEVELS; ++l) {
        config_.channel_mult[l] = l < levels ? static_cast<int32_t>(mult[l]) : 0;
        config_.attention_levels[l] = l < levels ? static_cast<int32_t>(attn[l]) : 0;
    }
}

UNet::UNet(std::shared_ptr<const TensorMap> weights, const atl_unet_params& params)
    : weights_(weights), config_(params) {
    const ops::Placement place =
        ops::placement_param(params.compute_dtype, params.kernels, params.device, params.device_index, "unet");
    compute_ = place.compute;
    kernels_ = place.kernels;
    device_ = place.device;
    use_caching_cpu_allocator();
    WeightLoader w(weights, "unet", compute_, device_);
    infer(w, params);

    const int64_t mc = config_.model_channels, levels = config_.num_levels, nrb = config_.num_res_blocks;
    time_embed0_ = load_linear(w, "time_embed.0", mc, time_embed_dim_);
    time_embed2_ = load_linear(w, "time_embed.2", time_embed_dim_, time_embed_dim_);

    // The deepest level's and the middle block's 3x3 convolutions see 1/64 of the first level's
    // pixels and hold a third of the weights: in BF16 they keep the direct form (ops::winograd_tile).
    auto keep_direct_in_bf16 = [](ResBlock& r) { r.in_conv.bf16_winograd = r.out_conv.bf16_winograd = false; };

    // openaimodel.py UNetModel.__init__, in the same order so the block indices match.
    Block first;
    first.conv = load_conv(w, "input_blocks.0.0", config_.in_channels, mc, 3, 1, 1);
    input_blocks_.push_back(std::move(first));
    std::vector<int64_t> skip_channels{mc};
    int64_t ch = mc;
    for (int64_t level = 0; level < levels; ++level) {
        for (int64_t r = 0; r < nrb; ++r) {
            const std::string p = idx("input_blocks", static_cast<int64_t>(input_blocks_.size()));
            const int64_t out = config_.channel_mult[level] * mc;
            Block b;
            b.res = load_res(w, p + "0.", ch, out);
            if (level == levels - 1) keep_direct_in_bf16(*b.res);
            ch = out;
            if (config_.attention_levels[level]) b.attn = load_transformer(w, p + "1.", ch);
            input_blocks_.push_back(std::move(b));
            skip_channels.push_back(ch);
        }
        if (level != levels - 1) {
            const std::string p = idx("input_blocks", static_cast<int64_t>(input_blocks_.size()));
            Block b;
            b.downsample = load_conv(w, p + "0.op", ch, ch, 3, 2, 1);
            input_blocks_.push_back(std::move(b));
            skip_channels.push_back(ch);
        }
    }
    middle_.res = load_res(w, "middle_block.0.", ch, ch);
    middle_.attn = load_transformer(w, "middle_block.1.", ch);
    Block middle2;
    middle2.res = load_res(w, "middle_block.2.", ch, ch);
    keep_direct_in_bf16(*middle_.res);
    keep_direct_in_bf16(*middle2.res);
    for (int64_t level = levels - 1; level >= 0; --level) {
        for (int64_t r = 0; r <= nrb; ++r) {
            const std::string p = idx("output_blocks", static_cast<int64_t>(output_blocks_.size()));
            const int64_t skip = skip_channels.back();
            skip_channels.pop_back();
            const int64_t out = config_.channel_mult[level] * mc;
            Block b;
            b.res = load_res(w, p + "0.", ch + skip, out);
            if (level == levels - 1) keep_direct_in_bf16(*b.res);  // its upsampler runs a level up
            ch = out;
            int64_t k = 1;
            if (config_.attention_levels[level]) {
                b.attn = load_transformer(w, p + "1.", ch);
                k = 2;
            }
            if (level > 0 && r == nrb) b.upsample = load_conv(w, p + std::to_string(k) + ".conv", ch, ch, 3, 1, 1);
            output_blocks_.push_back(std::move(b));
        }
    }
    out_norm_ = load_group_norm(w, "out.0", ch, 1e-5);
    out_conv_ = load_conv(w, "out.2", ch, config_.out_channels, 3, 1, 1);
    w.finish();
    middle2_ = std::move(middle2);
}

void UNet::set_gradient_checkpointing(bool on) {
    auto set = [&](Block& b) {
        if (b.attn) b.attn->checkpoint = on;
    };
    for (Block& b : input_blocks_) set(b);
    set(middle_);
    set(middle2_);
    for (Block& b : output_blocks_) set(b);
}

torch::Tensor UNet::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context) const {
    require(x.dim() == 4 && x.size(1) == config_.in_channels && x.size(2) > 0 && x.size(3) > 0, ATL_ERR_SHAPE,
            "unet: x must be [b, " + std::to_string(config_.in_channels) + ", h, w], got " + shape_string(x.sizes()));
    const int64_t b = x.size(0);
    require(t.dim() == 1 && t.size(0) == b, ATL_ERR_SHAPE,
            "unet: t must be [" + std::to_string(b) + "], got " + shape_string(t.sizes()));
    require(context.dim() == 3 && context.size(0) == b && context.size(2) == config_.context_dim, ATL_ERR_SHAPE,
            "unet: context must be [" + std::to_string(b) + ", L, " + std::to_string(config_.context_dim) +
                "], got " + shape_string(context.sizes()));

    std::optional<lora::SampleSlotsScope> slots;
    if (!lora_slots_.selection().empty()) slots.emplace(lora_slots_.selection());
    ops::KernelScope kernels(kernels_);
    ops::NetworkScope network(ops::Network::UNet);
    const c10::ScalarType act = ops::activation_dtype(compute_);
    torch::Tensor emb = timestep_embedding(t.to(device_), config_.model_channels).to(act);
    emb = time_embed2_.apply(torch::silu(time_embed0_.apply(emb)));
    // Every ResBlock's emb_layers start with SiLU (openaimodel.py): applied once here.
    torch::Tensor emb_silu = torch::silu(emb);
    torch::Tensor ctx = context.to(device_, act);
    torch::Tensor h = to_channels_last(x.to(device_, act));  // channels last until the end
    std::vector<torch::Tensor> skips;
    for (const Block& blk : input_blocks_) {
        h = blk.forward(h, emb_silu, ctx);
        skips.push_back(h);
    }
    h = middle_.forward(h, emb_silu, ctx);
    h = middle2_.forward(h, emb_silu, ctx);
    for (const Block& blk : output_blocks_) {
        {
            ops::OpScope scope(ops::OpClass::Layout, 0);
            h = torch::cat({h, skips.back()}, 3);
        }
        skips.pop_back();
        h = blk.forward(h, emb_silu, ctx, skips.empty() ? nullptr : &skips.back());
    }
    h = out_conv_.apply(out_norm_.apply(h, true));
    return to_channels_first(h).to(torch::kFloat);
}

std::vector<lora::LayerRef> UNet::lora_layers() {
    std::vector<lora::LayerRef> out{time_embed0_.ref(), time_embed2_.ref()};
    auto block = [&](Block& b) {
        if (b.conv) out.push_back(b.conv->ref());
        if (b.res) {
            out.push_back(b.res->in_conv.ref());
            out.push_back(b.res->emb.ref());
            out.push_back(b.res->out_conv.ref());
            if (b.res->skip) out.push_back(b.res->skip->ref());
        }
        if (b.attn) {
            out.push_back(b.attn->proj_in.ref());
            for (TransformerBlock& t : b.attn->blocks) {
                for (Linear* l : {&t.q1, &t.k1, &t.v1, &t.out1, &t.q2, &t.k2, &t.v2, &t.out2, &t.ff_in, &t.ff_out}) {
                    out.push_back(l->ref());
                }
            }
            out.push_back(b.attn->proj_out.ref());
        }
        if (b.downsample) out.push_back(b.downsample->ref());
        if (b.upsample) out.push_back(b.upsample->ref());
    };
    for (Block& b : input_blocks_) block(b);
    block(middle_);
    block(middle2_);
    for (Block& b : output_blocks_) block(b);
    out.push_back(out_conv_.ref());
    return out;
}

}  // namespace atl::sd
