// The samplers, one class each (implementations in ddim.cpp, euler.cpp, ...), with the
// A1111 names: DDIM, Euler, Euler a, Heun, DPM++ 2M, DPM++ SDE.
#pragma once

#include "sample/sampler.hpp"

namespace atl::sample {

// CompVis ldm/models/diffusion/ddim.py DDIMSampler as A1111 runs it: timesteps
// range(0, T, T // steps) + 1, eps guidance, x0 prediction, eta (default 0).
class Ddim final : public Sampler {
public:
    const char* name() const override { return "ddim"; }
    torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const override;
};

// k-diffusion sampling.py sample_euler (s_churn = 0).
class Euler final : public Sampler {
public:
    const char* name() const override { return "euler"; }
    torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const override;
};

// k-diffusion sampling.py sample_euler_ancestral (eta 1, s_noise 1).
class EulerAncestral final : public Sampler {
public:
    const char* name() const override { return "euler_a"; }
    double default_eta() const override { return 1.0; }
    torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const override;
};

// k-diffusion sampling.py sample_heun (s_churn = 0).
class Heun final : public Sampler {
public:
    const char* name() const override { return "heun"; }
    torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const override;
};

// k-diffusion sampling.py sample_dpmpp_2m.
class DpmPp2m final : public Sampler {
public:
    const char* name() const override { return "dpmpp_2m"; }
    torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const override;
};

// k-diffusion sampling.py sample_dpmpp_sde (eta 1, s_noise 1, r 1/2) with Brownian noise
// from a seeded tree per element (noise.hpp BrownianTree).
class DpmPpSde final : public Sampler {
public:
    const char* name() const override { return "dpmpp_sde"; }
    double default_eta() const override { return 1.0; }
    torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const override;
};

}  // namespace atl::sample
