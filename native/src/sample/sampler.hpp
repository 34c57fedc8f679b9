// One interface for every sampler (STYLE.md 12); one class per sampler in its own file.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "atelier.h"
#include "sample/denoiser.hpp"
#include "sample/noise.hpp"

namespace atl::sample {

// What a sampler needs besides the starting noise.
struct SampleRun {
    const Denoiser& model;
    int steps = 0;
    atl_schedule schedule = ATL_SCHEDULE_DEFAULT;  // for the k-samplers
    double eta = 0;                                // already resolved to the sampler's default
    SeededNoise& noise;                            // ancestral noise, per element
    // Called after each step with (done, total, the latents after it); throws to stop
    // (cancellation, latents that are no longer finite).
    std::function<void(int, int, const torch::Tensor&)> step_done;

    std::vector<double> sigmas() const;  // make_sigmas(model.schedule(), schedule, steps)
};

class Sampler {
public:
    virtual ~Sampler() = default;
    virtual const char* name() const = 0;
    // The eta used when the caller leaves it unset (< 0): 1 for ancestral samplers, else 0.
    virtual double default_eta() const { return 0.0; }
    // noise: unit Gaussian [b, c, h, w]. Returns the final latents [b, c, h, w].
    virtual torch::Tensor sample(const SampleRun& run, const torch::Tensor& noise) const = 0;
};

// The sampler of kind (the *_karras kinds are their base sampler; the caller picks the schedule).
std::unique_ptr<Sampler> make_sampler(atl_sampler kind);
// The schedule a sampler kind implies: Karras for the *_karras kinds, otherwise requested.
atl_schedule schedule_for(atl_sampler kind, atl_schedule requested);

// k-diffusion sampling.py to_d: (x - denoised) / sigma
inline torch::Tensor to_d(const torch::Tensor& x, double sigma, const torch::Tensor& denoised) {
    return (x - denoised) / sigma;
}

// k-diffusion sampling.py get_ancestral_step: (sigma_down, sigma_up) for a step sigma_from -> sigma_to.
struct AncestralStep {
    double down, up;
};
AncestralStep ancestral_step(double sigma_from, double sigma_to, double eta);

}  // namespace atl::sample
