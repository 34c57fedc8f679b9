#include "sample/noise_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "core/status.hpp"

namespace atl::sample {

NoiseSchedule::NoiseSchedule(const torch::Tensor& alphas_cumprod) {
    require(alphas_cumprod.defined() && alphas_cumprod.dim() == 1 && alphas_cumprod.size(0) >= 2, ATL_ERR_SHAPE,
            "alphas_cumprod must be a 1-D tensor of at least 2 values");
    require(alphas_cumprod.is_floating_point(), ATL_ERR_SHAPE, "alphas_cumprod must be a float tensor");
    alphas_cumprod_ = alphas_cumprod.to(torch::kCPU, torch::kFloat32).contiguous().clone();
    const float lo = alphas_cumprod_.min().item<float>();
    const float hi = alphas_cumprod_.max().item<float>();
    require(std::isfinite(lo) && std::isfinite(hi) && lo > 0 && hi < 1, ATL_ERR_FORMAT,
            "alphas_cumprod values must lie in (0, 1)");
    // k-diffusion external.py CompVisDenoiser: sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
    sigmas_ = ((1 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);
    require(torch::all(sigmas_.slice(0, 1) >= sigmas_.slice(0, 0, -1)).item<bool>(), ATL_ERR_FORMAT,
            "alphas_cumprod must be non-increasing");
    log_sigmas_ = sigmas_.log();
    log_sigmas_host_.assign(log_sigmas_.data_ptr<float>(), log_sigmas_.data_ptr<float>() + log_sigmas_.numel());
    sigma_min_ = sigmas_[0].item<float>();
    sigma_max_ = sigmas_[-1].item<float>();
}

torch::Tensor NoiseSchedule::linear_alphas_cumprod(double start, double end, int64_t timesteps) {
    require(std::isfinite(start) && std::isfinite(end) && start > 0 && start <= end && end < 1,
            ATL_ERR_INVALID_ARGUMENT,
            "noise schedule: betas must satisfy 0 < linear_start <= linear_end < 1, got " + std::to_string(start) +
                " and " + std::to_string(end));
    require(timesteps >= 2, ATL_ERR_INVALID_ARGUMENT,
            "noise schedule: timesteps must be >= 2, got " + std::to_string(timesteps));
    // LDM ddpm.py make_beta_schedule("linear"): torch.linspace(start**0.5, end**0.5, n, float64) ** 2
    torch::Tensor betas =
        torch::linspace(std::sqrt(start), std::sqrt(end), timesteps, torch::TensorOptions().dtype(torch::kFloat64)).pow(2);
    // LDM ddpm.py register_schedule: alphas_cumprod = np.cumprod(1 - betas) in float64
    return torch::cumprod(1 - betas, 0);
}

NoiseSchedule NoiseSchedule::sd15() { return NoiseSchedule(linear_alphas_cumprod(0.00085, 0.012, 1000)); }

double NoiseSchedule::sigma_to_t(double sigma) const {
    // k-diffusion DiscreteSchedule.sigma_to_t: low_idx = last index with log_sigmas <= log(sigma),
    // clamped to T-2; w = (low - log_sigma) / (low - high) clamped to [0, 1]; t = (1-w)*low + w*high.
    const float log_sigma = std::log(static_cast<float>(sigma));
    const int64_t n = static_cast<int64_t>(log_sigmas_host_.size());
    int64_t low = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (log_sigma - log_sigmas_host_[i] >= 0) low = i;
    }
    low = std::min(low, n - 2);
    const int64_t high = low + 1;
    const float lo = log_sigmas_host_[low], hi = log_sigmas_host_[high];
    float w = (lo - log_sigma) / (lo - hi);
    w = std::clamp(w, 0.0f, 1.0f);
    return (1 - w) * static_cast<float>(low) + w * static_cast<float>(high);
}

torch::Tensor NoiseSchedule::t_to_sigma(const torch::Tensor& t_in) const {
    // k-diffusion DiscreteSchedule.t_to_sigma: log_sigma = (1-w)*log_sigmas[floor t] + w*log_sigmas[ceil t]
    torch::Tensor t = t_in.to(torch::kFloat32);
    torch::Tensor low = t.floor().to(torch::kLong), high = t.ceil().to(torch::kLong), w = t.frac();
    torch::Tensor log_sigma = (1 - w) * log_sigmas_.index({low}) + w * log_sigmas_.index({high});
    return log_sigma.exp();
}

}  // namespace atl::sample
