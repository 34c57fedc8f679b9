#include "train/lora_trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>
#include <set>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "sample/noise.hpp"

namespace atl::train {

namespace {

// splitmix64 decorrelates the per-pass seeds of nearby indices.
using atl::sample::mix64;

int64_t numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

}  // namespace

LoraTrainer::LoraTrainer(std::shared_ptr<sd::UNet> unet, std::shared_ptr<sd::TextEncoder> text,
                         const std::vector<atl_lora_module_spec>& specs, torch::Tensor alphas_cumprod,
                         const atl_lora_train_params& params)
    : unet_(std::move(unet)), text_(std::move(text)), params_(params), alphas_cumprod_(alphas_cumprod.to(torch::kFloat).contiguous().clone()) {
    require(alphas_cumprod_.dim() == 1 && alphas_cumprod_.size(0) >= 1, ATL_ERR_SHAPE,
            "lora trainer: alphas_cumprod must be F32 [T], got " + shape_string(alphas_cumprod_.sizes()));
    {
        const bool ok = torch::all(alphas_cumprod_ > 0).item<bool>() && torch::all(alphas_cumprod_ < 1).item<bool>();
        require(ok, ATL_ERR_INVALID_ARGUMENT, "lora trainer: alphas_cumprod values must lie in (0, 1)");
    }
    require(std::isfinite(params.beta1) && params.beta1 >= 0 && params.beta1 < 1 && std::isfinite(params.beta2) &&
                params.beta2 >= 0 && params.beta2 < 1,
            ATL_ERR_INVALID_ARGUMENT, "lora trainer: AdamW betas must lie in [0, 1)");
    require(std::isfinite(params.eps) && params.eps > 0, ATL_ERR_INVALID_ARGUMENT, "lora trainer: eps must be > 0");
    require(std::isfinite(params.weight_decay) && params.weight_decay >= 0, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: weight_decay must be >= 0");
    require(std::isfinite(params.min_snr_gamma) && params.min_snr_gamma >= 0, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: min_snr_gamma must be >= 0 (0 = off)");
    require(std::isfinite(params.noise_offset) && params.noise_offset >= 0, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: noise_offset must be >= 0");
    require(params.clip_skip >= 1, ATL_ERR_INVALID_ARGUMENT, "lora trainer: clip_skip must be >= 1");
    require(params.kernel == ATL_LORA_KERNEL_AUTO || params.kernel == ATL_LORA_KERNEL_UNFUSED, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: kernel must be auto or unfused, got " + std::to_string(params.kernel));
    require(!specs.empty(), ATL_ERR_INVALID_ARGUMENT, "lora trainer: no modules to train");

    // Find the layers by name.
    require(!text_ || text_->device() == unet_->device(), ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: the text encoder and the UNet must be on the same device");
    std::map<std::string, lora::LayerRef> unet_layers, text_layers;
    for (const lora::LayerRef& r : unet_->lora_layers()) unet_layers.emplace(r.name, r);
    if (text_) {
        for (const lora::LayerRef& r : text_->lora_layers()) text_layers.emplace(r.name, r);
    }

    std::set<std::pair<int32_t, std::string>> seen;
    std::array<int64_t, 2> sizes{0, 0};
    for (const atl_lora_module_spec& s : specs) {
        require(s.name != nullptr, ATL_ERR_INVALID_ARGUMENT, "lora trainer: a module name is NULL");
        Module m;
        m.name = s.name;
        m.network = s.network;
        const std::string what = "lora trainer: module \"" + m.name + "\": ";
        require(s.network == ATL_LORA_UNET || s.network == ATL_LORA_TEXT_ENCODER, ATL_ERR_INVALID_ARGUMENT,
                what + "unknown network " + std::to_string(s.network));
        require(s.rank >= 1, ATL_ERR_INVALID_ARGUMENT,
                what + "rank must be at least 1, got " + std::to_string(s.rank));
        require(std::isfinite(s.alpha), ATL_ERR_INVALID_ARGUMENT, what + "alpha must be a finite number");
        require(seen.insert({s.network, m.name}).second, ATL_ERR_INVALID_ARGUMENT, what + "listed twice");
        m.rank = s.rank;
        m.scale = static_cast<double>(s.alpha) / static_cast<double>(s.rank);
        const lora::LayerRef* ref = nullptr;
        if (s.network == ATL_LORA_TEXT_ENCODER) {
            require(text_ != nullptr, ATL_ERR_INVALID_ARGUMENT, what + "names the text encoder, which was not given");
            auto it = text_layers.find(m.name);
            require(it != text_layers.end() && !it->second.conv, ATL_ERR_INVALID_ARGUMENT,
                    what + "no such Linear in the text encoder");
            ref = &it->second;
        } else {
            auto it = unet_layers.find(m.name);
            require(it != unet_layers.end(), ATL_ERR_INVALID_ARGUMENT,
                    what + "no such Linear or convolution in the UNet");
            ref = &it->second;
        }
        const torch::Tensor& w = *ref->weight;
        if (ref->conv) {
            m.down_shape = {m.rank, w.size(1), w.size(2), w.size(3)};
            m.up_shape = {w.size(0), m.rank, 1, 1};
        } else {
            m.down_shape = {m.rank, w.size(1)};
            m.up_shape = {w.size(0), m.rank};
        }
        m.slot = &ref->lora->adapters;
        int64_t& size = sizes[m.network];
        m.down_offset = size;
        size += numel(m.down_shape);
        m.up_offset = size;
        size += numel(m.up_shape);
        modules_.push_back(std::move(m));
    }

    // kohya LoRAModule init: lora_down Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in),
    // 1/sqrt(fan_in)) (torch.nn.init.kaiming_uniform_), lora_up zeros: the adapter starts as 0.
    torch::Generator gen = at::detail::createCPUGenerator(mix64(params.seed));
    for (int32_t n = 0; n < 2; ++n) flat_[n].params = torch::zeros({sizes[n]}, torch::kFloat);
    for (const Module& m : modules_) {
        const int64_t fan_in = numel(m.down_shape) / m.rank;
        const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
        flat_[m.network].params.narrow(0, m.down_offset, numel(m.down_shape)).uniform_(-bound, bound, gen);
    }
    // The parameters and the optimiser state live with the networks (the parameters drawn on the
    // CPU, as above, so a seed starts the same adapters on every device).
    for (Flat& f : flat_) {
        f.params = f.params.to(unet_->device());
        f.exp_avg = torch::zeros_like(f.params);
        f.exp_avg_sq = torch::zeros_like(f.params);
        f.params.set_requires_grad(true);
    }
    // Every sample, whatever per-sample selection is set for generation (previews included).
    for (Module& m : modules_) {
        m.slot->push_back(lora::Adapter{torch::Tensor(), torch::Tensor(), m.scale, lora::kEverySample,
                                        params.kernel == ATL_LORA_KERNEL_AUTO, {}});
    }
    refresh_views();
    unet_->set_gradient_checkpointing(params.gradient_checkpointing != 0);
}

LoraTrainer::~LoraTrainer() {
    unet_->set_gradient_checkpointing(false);
    // Remove exactly our adapters (others, e.g. loaded LoRAs, stay).
    for (Module& m : modules_) {
        auto& v = *m.slot;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (it->down.defined() && it->down.is_alias_of(flat_[m.network].params)) {
                v.erase(it);
                break;
            }
        }
    }
}

LoraTrainer::Flat& LoraTrainer::flat(int32_t network) {
    require(network == ATL_LORA_UNET || network == ATL_LORA_TEXT_ENCODER, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: unknown network " + std::to_string(network));
    return flat_[network];
}

const LoraTrainer::Flat& LoraTrainer::flat(int32_t network) const {
    return const_cast<LoraTrainer*>(this)->flat(network);
}

void LoraTrainer::refresh_views() {
    for (Module& m : modules_) {
        const torch::Tensor& p = flat_[m.network].params;
        for (lora::Adapter& a : *m.slot) {
            if (a.down.defined() && !a.down.is_alias_of(p)) continue;  // someone else's adapter
            a.down = p.narrow(0, m.down_offset, numel(m.down_shape)).view(m.down_shape);
            a.up = p.narrow(0, m.up_offset, numel(m.up_shape)).view(m.up_shape);
            break;
        }
    }
}

torch::Tensor LoraTrainer::down(int64_t i) const {
    const Module& m = modules_.at(i);
    return flat_[m.network].params.detach().narrow(0, m.down_offset, numel(m.down_shape)).view(m.down_shape);
}

torch::Tensor LoraTrainer::up(int64_t i) const {
    const Module& m = modules_.at(i);
    return flat_[m.network].params.detach().narrow(0, m.up_offset, numel(m.up_shape)).view(m.up_shape);
}

float LoraTrainer::accumulate(const torch::Tensor& latents, const torch::Tensor& context, const torch::Tensor& ids,
                              int64_t sample_index, float loss_scale) {
    require(latents.dim() == 4, ATL_ERR_SHAPE,
            "lora trainer: latents must be [b, c, h, w], got " + shape_string(latents.sizes()));
    require(context.defined() != ids.defined(), ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: give exactly one of context and input_ids");
    require(!ids.defined() || text_ != nullptr, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: input_ids given but the trainer has no text encoder");
    require(std::isfinite(loss_scale) && loss_scale > 0, ATL_ERR_INVALID_ARGUMENT,
            "lora trainer: loss_scale must be > 0");
    torch::AutoGradMode grad(true);
    const torch::Device device = unet_->device();
    torch::Tensor x0 = latents.to(device, torch::kFloat);
    const int64_t b = x0.size(0);

    // Noise and timesteps from a generator seeded by (seed, sample_index): a resumed run draws
    // the same numbers for the same samples.
    torch::Generator gen = at::detail::createCPUGenerator(mix64(params_.seed ^ mix64(static_cast<uint64_t>(sample_index))));
    torch::Tensor noise = torch::randn(x0.sizes(), gen, torch::kFloat);
    if (params_.noise_offset > 0) {
        // Noise offset (crosslabs.org, "Diffusion with offset noise"; kohya train_util.py):
        // a per-sample, per-channel constant.
        noise = noise + params_.noise_offset * torch::randn({b, x0.size(1), 1, 1}, gen, torch::kFloat);
    }
    const int64_t steps = alphas_cumprod_.size(0);
    torch::Tensor t = torch::randint(0, steps, {b}, gen, torch::kLong);
    // Drawn on the CPU (the same numbers on every device), used where the networks are.
    noise = noise.to(device);
    // DDPM forward process (Ho et al. 2020, eq. 4): x_t = sqrt(acp) x0 + sqrt(1 - acp) noise.
    torch::Tensor acp = alphas_cumprod_.index_select(0, t).to(device);
    torch::Tensor noisy = acp.sqrt().view({b, 1, 1, 1}) * x0 + (1 - acp).sqrt().view({b, 1, 1, 1}) * noise;

    refresh_views();
    // The per-sample selection belongs to generation batches, not to this training batch: while the
    // step runs every adapter applies to every sample (the trainer's own ones always do).
    struct SelectionPause {
        sd::UNet* unet;
        sd::TextEncoder* text;
        std::vector<int32_t> unet_slots, text_slots;
        SelectionPause(sd::UNet* u, sd::TextEncoder* t) : unet(u), text(t), unet_slots(u->lora_slots().selection()) {
            u->lora_slots().select({});
            if (t) text_slots = t->lora_slots().selection(), t->lora_slots().select({});
        }
        ~SelectionPause() {
            unet->lora_slots().select(std::move(unet_slots));
            if (text) text->lora_slots().select(std::move(text_slots));
        }
    } pause(unet_.get(), text_.get());
    torch::Tensor ctx = ids.defined() ? text_->forward(ids, params_.clip_skip) : context.to(device, torch::kFloat);
    require(ctx.size(0) == b, ATL_ERR_SHAPE,
            "lora trainer: conditioning batch " + std::to_string(ctx.size(0)) + " != latents batch " + std::to_string(b));
    torch::Tensor eps = unet_->forward(noisy, t.to(torch::kFloat), ctx);
    torch::Tensor per_sample = (eps - noise).pow(2).mean({1, 2, 3});
    if (params_.min_snr_gamma > 0) {
        // Min-SNR-gamma (Hang et al. 2023; kohya custom_train_functions.py apply_snr_weight) for
        // eps prediction: weight = min(SNR, gamma) / SNR, SNR = acp / (1 - acp).
        torch::Tensor snr = acp / (1 - acp);
        per_sample = per_sample * (torch::clamp_max(snr, params_.min_snr_gamma) / snr);
    }
    torch::Tensor loss = per_sample.mean();
    const float value = loss.item<float>();
    require(std::isfinite(value), ATL_ERR_BACKEND,
            "lora trainer: loss is " + std::string(std::isnan(value) ? "NaN" : "infinite") +
                " (sample " + std::to_string(sample_index) + "): the learning rate is probably too high");
    (loss * loss_scale).backward();
    return value;
}

void LoraTrainer::update(int64_t step, float unet_lr, float text_lr) {
    require(step >= 1, ATL_ERR_INVALID_ARGUMENT, "lora trainer: step must be >= 1");
    require(std::isfinite(unet_lr) && unet_lr >= 0 && std::isfinite(text_lr) && text_lr >= 0,
            ATL_ERR_INVALID_ARGUMENT, "lora trainer: learning rates must be finite and >= 0");
    torch::NoGradGuard no_grad;
    const double b1 = params_.beta1, b2 = params_.beta2;
    const double bc1 = 1 - std::pow(b1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(b2, static_cast<double>(step));
    for (int32_t n = 0; n < 2; ++n) {
        Flat& f = flat_[n];
        const double lr = n == ATL_LORA_UNET ? unet_lr : text_lr;
        torch::Tensor g = f.params.mutable_grad();
        if (!g.defined() || f.params.numel() == 0) continue;
        if (lr > 0) {
            require(torch::isfinite(g).all().item<bool>(), ATL_ERR_BACKEND,
                    "lora trainer: gradients are not finite at step " + std::to_string(step));
            torch::Tensor p0 = f.params.detach().clone(), m0 = f.exp_avg.clone(), v0 = f.exp_avg_sq.clone();
            // AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW): decoupled decay, then Adam.
            torch::Tensor p = f.params.detach();
            p.mul_(1 - lr * params_.weight_decay);
            f.exp_avg.mul_(b1).add_(g, 1 - b1);
            f.exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2);
            torch::Tensor denom = (f.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(params_.eps);
            p.addcdiv_(f.exp_avg, denom, -lr / bc1);
            if (!torch::isfinite(p).all().item<bool>()) {
                p.copy_(p0);
                f.exp_avg.copy_(m0);
                f.exp_avg_sq.copy_(v0);
                fail(ATL_ERR_BACKEND, "lora trainer: parameters overflowed at step " + std::to_string(step) +
                                          " (update undone): the learning rate is probably too high");
            }
        }
        g.zero_();
    }
}

int64_t LoraTrainer::state_size(int32_t network) const { return flat(network).params.numel(); }

torch::Tensor LoraTrainer::state(int32_t network, int32_t what) const {
    const Flat& f = flat(network);
    switch (what) {
        case ATL_LORA_STATE_PARAMETERS: return f.params.detach();
        case ATL_LORA_STATE_EXP_AVG: return f.exp_avg;
        case ATL_LORA_STATE_EXP_AVG_SQ: return f.exp_avg_sq;
        default: fail(ATL_ERR_INVALID_ARGUMENT, "lora trainer: unknown state kind " + std::to_string(what));
    }
}

void LoraTrainer::set_state(int32_t network, int32_t what, const torch::Tensor& value) {
    torch::Tensor target = state(network, what);
    require(value.dim() == 1 && value.size(0) == target.size(0), ATL_ERR_SHAPE,
            "lora trainer: state must be F32 [" + std::to_string(target.size(0)) + "], got " +
                shape_string(value.sizes()));
    torch::NoGradGuard no_grad;
    target.copy_(value);
    refresh_views();
}

}  // namespace atl::train
