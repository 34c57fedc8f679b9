// An eps-prediction model seen as a denoiser D(x, sigma), as k-diffusion's CompVisDenoiser
// (external.py DiscreteEpsDDPMDenoiser) wraps the LDM UNet for A1111.
#pragma once

#include <torch/torch.h>

#include <functional>

#include "sample/noise_schedule.hpp"

namespace atl::sample {

// eps = model(x_in, t): x_in [b, c, h, w] F32 (already scaled), t [b] F32 continuous timesteps.
// Classifier-free guidance lives inside this function (see sample_api.cpp).
using EpsModel = std::function<torch::Tensor(const torch::Tensor& x_in, const torch::Tensor& t)>;

class Denoiser {
public:
    Denoiser(const NoiseSchedule& schedule, EpsModel model) : schedule_(schedule), model_(std::move(model)) {}

    const NoiseSchedule& schedule() const { return schedule_; }

    // The raw model at timestep t for every element (DDIM works on timesteps, not sigmas).
    torch::Tensor eps(const torch::Tensor& x, double t) const;

    // k-diffusion external.py DiscreteEpsDDPMDenoiser.forward:
    // c_in = 1/sqrt(sigma^2+1), eps = model(x*c_in, sigma_to_t(sigma)), denoised = x - sigma*eps.
    torch::Tensor operator()(const torch::Tensor& x, double sigma) const;

private:
    const NoiseSchedule& schedule_;
    EpsModel model_;
};

}  // namespace atl::sample
