// C entry points of sampling (atelier.h, "Sampling"): parameter checks, seeds, the eps model
// (UNet with classifier-free guidance, or a caller's callback) and the loop's progress upcall.
#include <cmath>
#include <cstring>
#include <string>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "sample/sampler.hpp"
#include "sample/schedules.hpp"
#include "sd/handles.hpp"

namespace {

using atl::fail;
using atl::require;
using namespace atl::sample;

const char* const kSamplerNames[] = {"ddim", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_karras",
                                     "dpmpp_sde_karras"};
const char* const kScheduleNames[] = {"default", "karras"};
constexpr int kSamplerCount = sizeof(kSamplerNames) / sizeof(kSamplerNames[0]);
constexpr int kScheduleCount = sizeof(kScheduleNames) / sizeof(kScheduleNames[0]);

std::string known_samplers() {
    std::string s;
    for (int i = 0; i < kSamplerCount; ++i) s += (i ? ", " : "") + std::string(kSamplerNames[i]);
    return s;
}

// The latent factor of SD1.x: the VAE halves the image 3 times.
constexpr int kLatentFactor = 8;

void validate(const atl_sample_params* p) {
    require(p != nullptr, ATL_ERR_INVALID_ARGUMENT, "sample params are NULL");
    require(p->sampler >= 0 && p->sampler < kSamplerCount, ATL_ERR_INVALID_ARGUMENT,
            "unknown sampler " + std::to_string(p->sampler) + "; known: " + known_samplers());
    require(p->schedule >= 0 && p->schedule < kScheduleCount, ATL_ERR_INVALID_ARGUMENT,
            "unknown schedule " + std::to_string(p->schedule) + "; known: default, karras");
    require(!(p->sampler == ATL_SAMPLER_DDIM && p->schedule == ATL_SCHEDULE_KARRAS), ATL_ERR_INVALID_ARGUMENT,
            "ddim runs on its own uniform timesteps; the karras schedule applies to the k-samplers only");
    require(p->steps >= 1, ATL_ERR_INVALID_ARGUMENT, "steps must be >= 1, got " + std::to_string(p->steps));
    require(std::isfinite(p->cfg), ATL_ERR_INVALID_ARGUMENT, "cfg scale must be a finite number");
    require(std::isfinite(p->eta), ATL_ERR_INVALID_ARGUMENT, "eta must be a finite number");
    require(p->width >= kLatentFactor && p->width % kLatentFactor == 0, ATL_ERR_INVALID_ARGUMENT,
            "width must be a positive multiple of 8, got " + std::to_string(p->width));
    require(p->height >= kLatentFactor && p->height % kLatentFactor == 0, ATL_ERR_INVALID_ARGUMENT,
            "height must be a positive multiple of 8, got " + std::to_string(p->height));
    require(p->batch >= 1, ATL_ERR_INVALID_ARGUMENT, "batch must be >= 1, got " + std::to_string(p->batch));
}

NoiseSchedule schedule_from(const atl_tensor_view* alphas_cumprod) {
    if (alphas_cumprod == nullptr) return NoiseSchedule::sd15();
    return NoiseSchedule(atl::wrap(alphas_cumprod, "alphas_cumprod"));
}

// Writes a view of a contiguous CPU F32 tensor (borrowed while t lives).
atl_tensor_view view_of(const torch::Tensor& t) {
    atl_tensor_view v;
    std::memset(&v, 0, sizeof v);
    v.data = t.data_ptr();
    v.dtype = ATL_DTYPE_F32;
    v.ndim = static_cast<int32_t>(t.dim());
    v.device = ATL_DEVICE_CPU;
    for (int64_t i = 0; i < t.dim(); ++i) {
        v.shape[i] = t.size(i);
        v.strides[i] = t.stride(i);
    }
    return v;
}

// Runs the whole loop: noise (given or from the seeds), the sampler, progress, the output. The
// latents stay on device (the model's) from the first step to the copy into out.
void run_loop(const EpsModel& model, const atl_tensor_view* alphas_cumprod, const atl_sample_params* p,
              int64_t channels, const atl_tensor_view* noise_view, const atl_progress* progress,
              atl_tensor_view* out, torch::Device device = torch::kCPU) {
    const int64_t b = p->batch, h = p->height / kLatentFactor, w = p->width / kLatentFactor;
    std::vector<uint64_t> seeds;
    for (int64_t j = 0; j < b; ++j) seeds.push_back(p->seed + static_cast<uint64_t>(j));
    SeededNoise rng(seeds, {channels, h, w}, device);
    torch::Tensor noise;
    if (noise_view != nullptr) {
        noise = atl::wrap(noise_view, "noise");
        require(noise.dim() == 4 && noise.size(0) == b && noise.size(1) == channels && noise.size(2) == h &&
                    noise.size(3) == w,
                ATL_ERR_SHAPE,
                "noise must be [" + std::to_string(b) + ", " + std::to_string(channels) + ", " + std::to_string(h) +
                    ", " + std::to_string(w) + "] for this batch and size, got " + atl::shape_string(noise.sizes()));
        // A copy (never the caller's memory), on the device, in one step.
        noise = noise.to(device, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true).contiguous();
    } else {
        noise = rng.randn();
    }

    const atl_sampler kind = static_cast<atl_sampler>(p->sampler);
    std::unique_ptr<Sampler> sampler = make_sampler(kind);
    const NoiseSchedule schedule = schedule_from(alphas_cumprod);
    const Denoiser denoiser(schedule, model);
    SampleRun run{denoiser, p->steps, schedule_for(kind, static_cast<atl_schedule>(p->schedule)),
                  p->eta < 0 ? sampler->default_eta() : static_cast<double>(p->eta), rng,
                  [progress](int done, int total, const torch::Tensor& x) {
                      // NaN or infinite latents (weights or a LoRA holding them, a huge guidance
                      // scale or multiplier) would go on to decode as black images: stop at the
                      // step where they appear. One pass over [b, 4, h/8, w/8] per step.
                      require(torch::isfinite(x).all().item<bool>(), ATL_ERR_INVALID_ARGUMENT,
                              "sampling: the latents are no longer finite (NaN or infinite) after step " +
                                  std::to_string(done) + " of " + std::to_string(total) +
                                  "; the model, a LoRA or the guidance scale gives non-finite values");
                      if (progress != nullptr && progress->fn != nullptr &&
                          progress->fn(progress->user_data, done, total) != 0) {
                          fail(ATL_ERR_CANCELLED, "sampling cancelled after step " + std::to_string(done) + " of " +
                                                      std::to_string(total));
                      }
                  }};
    torch::Tensor latents = sampler->sample(run, noise);
    atl::write_into(out, latents, "out_latents");
}

}  // namespace

extern "C" {

atl_status* atl_noise_schedule(double linear_start, double linear_end, int32_t timesteps, atl_tensor_view* out) {
    ATL_TRY
    require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "noise schedule: out must not be NULL");
    atl::write_into(out, NoiseSchedule::linear_alphas_cumprod(linear_start, linear_end, timesteps), "alphas_cumprod");
    ATL_CATCH
}

const char* atl_sampler_name(int32_t sampler) {
    return sampler >= 0 && sampler < kSamplerCount ? kSamplerNames[sampler] : nullptr;
}

int32_t atl_sampler_from_name(const char* name) {
    if (name == nullptr) return -1;
    for (int i = 0; i < kSamplerCount; ++i) {
        if (std::strcmp(name, kSamplerNames[i]) == 0) return i;
    }
    return -1;
}

const char* atl_schedule_name(int32_t schedule) {
    return schedule >= 0 && schedule < kScheduleCount ? kScheduleNames[schedule] : nullptr;
}

int32_t atl_schedule_from_name(const char* name) {
    if (name == nullptr) return -1;
    for (int i = 0; i < kScheduleCount; ++i) {
        if (std::strcmp(name, kScheduleNames[i]) == 0) return i;
    }
    return -1;
}

void atl_sample_params_init(atl_sample_params* p) {
    if (!p) return;
    std::memset(p, 0, sizeof(*p));
    p->sampler = ATL_SAMPLER_EULER_A;  // A1111's default sampler
    p->schedule = ATL_SCHEDULE_DEFAULT;
    p->steps = 20;
    p->cfg = 7.0f;
    p->eta = -1.0f;
    p->seed = 0;
    p->width = 512;
    p->height = 512;
    p->batch = 1;
}

atl_status* atl_sample_sigmas(const atl_tensor_view* alphas_cumprod, int32_t schedule, int32_t steps,
                              atl_tensor_view* out) {
    ATL_TRY
    require(schedule >= 0 && schedule < kScheduleCount, ATL_ERR_INVALID_ARGUMENT,
            "unknown schedule " + std::to_string(schedule) + "; known: default, karras");
    require(steps >= 1, ATL_ERR_INVALID_ARGUMENT, "steps must be >= 1, got " + std::to_string(steps));
    const NoiseSchedule sched = schedule_from(alphas_cumprod);
    std::vector<double> sigmas = make_sigmas(sched, static_cast<atl_schedule>(schedule), steps);
    torch::Tensor t = torch::tensor(sigmas, torch::TensorOptions().dtype(torch::kFloat64)).to(torch::kFloat32);
    atl::write_into(out, t, "sigmas output");
    ATL_CATCH
}

atl_status* atl_sample(atl_eps_fn eps_fn, void* eps_user_data, const atl_tensor_view* alphas_cumprod,
                       const atl_sample_params* params, const atl_tensor_view* noise, const atl_progress* progress,
                       atl_tensor_view* out_latents) {
    ATL_TRY
    require(eps_fn != nullptr, ATL_ERR_INVALID_ARGUMENT, "sample: eps_fn is NULL");
    validate(params);
    torch::InferenceMode guard;
    const int64_t channels = noise != nullptr && noise->ndim == 4 ? noise->shape[1] : 4;
    EpsModel model = [eps_fn, eps_user_data](const torch::Tensor& x_in, const torch::Tensor& t) {
        torch::Tensor x = x_in.to(torch::kFloat32).contiguous();
        torch::Tensor tt = t.to(torch::kFloat32).contiguous();
        torch::Tensor out = torch::zeros_like(x);
        const atl_tensor_view xv = view_of(x), tv = view_of(tt);
        atl_tensor_view ov = view_of(out);
        require(eps_fn(eps_user_data, &xv, &tv, &ov) == 0, ATL_ERR_BACKEND, "sample: the eps callback failed");
        return out;
    };
    run_loop(model, alphas_cumprod, params, channels, noise, progress, out_latents);
    ATL_CATCH
}

atl_status* atl_generate(atl_unet* unet, const atl_tensor_view* alphas_cumprod, const atl_sample_params* params,
                         const atl_tensor_view* cond_context, const atl_tensor_view* uncond_context,
                         const atl_tensor_view* noise, const atl_progress* progress, atl_tensor_view* out_latents) {
    ATL_TRY
    require(unet != nullptr, ATL_ERR_INVALID_ARGUMENT, "generate: unet handle is NULL");
    require(cond_context != nullptr, ATL_ERR_INVALID_ARGUMENT, "generate: cond_context is NULL");
    validate(params);
    torch::InferenceMode guard;
    const int64_t b = params->batch;
    const bool guided = uncond_context != nullptr;
    require(guided || params->cfg == 1.0f, ATL_ERR_INVALID_ARGUMENT,
            "generate: uncond_context may be NULL only when cfg == 1");
    auto context = [b](const atl_tensor_view* v, const char* what) {
        torch::Tensor c = atl::wrap(v, what).to(torch::kFloat32);
        require(c.dim() == 3 && (c.size(0) == 1 || c.size(0) == b), ATL_ERR_SHAPE,
                std::string(what) + " must be [1 or " + std::to_string(b) + ", L, context_dim], got " +
                    atl::shape_string(c.sizes()));
        return c.expand({b, c.size(1), c.size(2)}).contiguous();
    };
    const torch::Tensor cond = context(cond_context, "cond_context").to(unet->impl->device());
    torch::Tensor both;  // [2b, L, D]: uncond first, as CompVis ddim.py and A1111 batch them
    if (guided) {
        const torch::Tensor uncond = context(uncond_context, "uncond_context");
        require(uncond.sizes() == cond.sizes(), ATL_ERR_SHAPE,
                "uncond_context " + atl::shape_string(uncond.sizes()) + " must match cond_context " +
                    atl::shape_string(cond.sizes()) + " (pad the negative prompt to the same number of chunks)");
        both = torch::cat({uncond.to(cond.device()), cond});
    }
    const atl::sd::UNet& net = *unet->impl;
    const double cfg = params->cfg;
    EpsModel model = [&net, &cond, &both, guided, cfg, b](const torch::Tensor& x, const torch::Tensor& t) {
        if (!guided) return net.forward(x, t, cond);
        // Classifier-free guidance (ddim.py p_sample_ddim): eps = uncond + cfg * (cond - uncond)
        torch::Tensor e = net.forward(torch::cat({x, x}), torch::cat({t, t}), both);
        torch::Tensor e_uncond = e.slice(0, 0, b), e_cond = e.slice(0, b);
        return e_uncond + cfg * (e_cond - e_uncond);
    };
    run_loop(model, alphas_cumprod, params, net.config().in_channels, noise, progress, out_latents, net.device());
    ATL_CATCH
}

}  // extern "C"
