// The discrete noise schedule of an eps-prediction model, seen as k-diffusion sees it
// (k-diffusion external.py DiscreteSchedule / DiscreteEpsDDPMDenoiser).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace atl::sample {

class NoiseSchedule {
public:
    // alphas_cumprod: [T], any float dtype; converted to F32 as LDM registers it.
    explicit NoiseSchedule(const torch::Tensor& alphas_cumprod);

    // LDM ddpm.py make_beta_schedule("linear") and register_schedule: betas =
    // linspace(sqrt(start), sqrt(end), timesteps, F64)^2, alphas_cumprod = cumprod(1 - betas) in
    // F64 [timesteps]. The one computation of the schedule from a config's betas.
    static torch::Tensor linear_alphas_cumprod(double start, double end, int64_t timesteps);

    // v1-inference.yaml's schedule: linear_alphas_cumprod(0.00085, 0.012, 1000), stored as F32.
    static NoiseSchedule sd15();

    int64_t size() const { return alphas_cumprod_.size(0); }
    const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }  // F32 [T]
    const torch::Tensor& sigmas() const { return sigmas_; }                  // F32 [T], increasing
    double sigma_min() const { return sigma_min_; }
    double sigma_max() const { return sigma_max_; }

    // k-diffusion DiscreteSchedule.sigma_to_t (quantize off, as A1111 runs it): the continuous
    // timestep whose log-sigma interpolates linearly between its two neighbours.
    double sigma_to_t(double sigma) const;
    // k-diffusion DiscreteSchedule.t_to_sigma: log-sigma interpolated at t, in F32. t: F32 [n].
    torch::Tensor t_to_sigma(const torch::Tensor& t) const;

private:
    torch::Tensor alphas_cumprod_;  // F32 [T]
    torch::Tensor sigmas_;          // F32 [T]
    torch::Tensor log_sigmas_;      // F32 [T]
    std::vector<float> log_sigmas_host_;
    double sigma_min_ = 0, sigma_max_ = 0;
};

}  // namespace atl::sample
