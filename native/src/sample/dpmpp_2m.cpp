#include "sample/samplers.hpp"

#include <cmath>

namespace atl::sample {

torch::Tensor DpmPp2m::sample(const SampleRun& run, const torch::Tensor& noise) const {
    const std::vector<double> sigmas = run.sigmas();
    torch::Tensor x = noise * sigmas[0];
    // k-diffusion sampling.py sample_dpmpp_2m: t = -log(sigma), sigma = exp(-t)
    auto t_fn = [](double sigma) { return -std::log(sigma); };
    torch::Tensor old_denoised;
    for (int i = 0; i + 1 < static_cast<int>(sigmas.size()); ++i) {
        torch::Tensor denoised = run.model(x, sigmas[i]);
        const double ratio = sigmas[i + 1] / sigmas[i];  // sigma_fn(t_next) / sigma_fn(t)
        if (sigmas[i + 1] == 0) {
            x = denoised;  // h = inf: ratio 0, -expm1(-h) = 1
        } else {
            const double t = t_fn(sigmas[i]), t_next = t_fn(sigmas[i + 1]);
            const double h = t_next - t;
            if (!old_denoised.defined()) {
                x = ratio * x - std::expm1(-h) * denoised;
            } else {
                const double h_last = t - t_fn(sigmas[i - 1]);
                const double r = h_last / h;
                torch::Tensor denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised;
                x = ratio * x - std::expm1(-h) * denoised_d;
            }
        }
        old_denoised = denoised;
        run.step_done(i + 1, static_cast<int>(sigmas.size()) - 1, x);
    }
    return x;
}

}  // namespace atl::sample
