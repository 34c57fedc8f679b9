#include "sample/samplers.hpp"

#include <algorithm>
#include <cmath>

namespace atl::sample {

torch::Tensor DpmPpSde::sample(const SampleRun& run, const torch::Tensor& noise) const {
    const std::vector<double> sigmas = run.sigmas();
    torch::Tensor x = noise * sigmas[0];
    // k-diffusion sampling.py sample_dpmpp_sde: BrownianTreeNoiseSampler on [min sigma > 0, max sigma]
    double sigma_min = sigmas[0], sigma_max = sigmas[0];
    for (double s : sigmas) {
        if (s > 0) sigma_min = std::min(sigma_min, s);
        sigma_max = std::max(sigma_max, s);
    }
    std::unique_ptr<BrownianTree> tree;
    if (sigma_max > sigma_min) {
        std::vector<int64_t> shape(noise.sizes().begin() + 1, noise.sizes().end());
        tree = std::make_unique<BrownianTree>(run.noise.seeds(), shape, sigma_min, sigma_max, run.noise.device());
    }
    auto brownian = [&](double s0, double s1) { return tree->normalized_increment(s0, s1); };
    auto sigma_fn = [](double t) { return std::exp(-t); };
    auto t_fn = [](double sigma) { return -std::log(sigma); };
    const double eta = run.eta, r = 0.5;
    for (int i = 0; i + 1 < static_cast<int>(sigmas.size()); ++i) {
        torch::Tensor denoised = run.model(x, sigmas[i]);
        if (sigmas[i + 1] == 0) {
            // Euler method
            torch::Tensor d = to_d(x, sigmas[i], denoised);
            x = x + d * (sigmas[i + 1] - sigmas[i]);
        } else {
            // DPM-Solver++
            const double t = t_fn(sigmas[i]), t_next = t_fn(sigmas[i + 1]);
            const double h = t_next - t;
            const double s = t + h * r;
            const double fac = 1 / (2 * r);
            // Step 1
            AncestralStep st = ancestral_step(sigma_fn(t), sigma_fn(s), eta);
            const double s_ = t_fn(st.down);
            torch::Tensor x2 = (sigma_fn(s_) / sigma_fn(t)) * x - std::expm1(t - s_) * denoised;
            if (st.up > 0) x2 = x2 + brownian(sigma_fn(t), sigma_fn(s)) * st.up;
            torch::Tensor denoised2 = run.model(x2, sigma_fn(s));
            // Step 2
            st = ancestral_step(sigma_fn(t), sigma_fn(t_next), eta);
            const double t_next_ = t_fn(st.down);
            torch::Tensor denoised_d = (1 - fac) * denoised + fac * denoised2;
            x = (sigma_fn(t_next_) / sigma_fn(t)) * x - std::expm1(t - t_next_) * denoised_d;
            if (st.up > 0) x = x + brownian(sigma_fn(t), sigma_fn(t_next)) * st.up;
        }
        run.step_done(i + 1, static_cast<int>(sigmas.size()) - 1, x);
    }
    return x;
}

}  // namespace atl::sample
