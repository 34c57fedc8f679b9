#include "sample/samplers.hpp"

namespace atl::sample {

torch::Tensor Heun::sample(const SampleRun& run, const torch::Tensor& noise) const {
    const std::vector<double> sigmas = run.sigmas();
    torch::Tensor x = noise * sigmas[0];
    for (int i = 0; i + 1 < static_cast<int>(sigmas.size()); ++i) {
        // k-diffusion sampling.py sample_heun with gamma = 0
        torch::Tensor denoised = run.model(x, sigmas[i]);
        torch::Tensor d = to_d(x, sigmas[i], denoised);
        const double dt = sigmas[i + 1] - sigmas[i];
        if (sigmas[i + 1] == 0) {
            x = x + d * dt;  // Euler method on the last step
        } else {
            torch::Tensor x2 = x + d * dt;  // Heun's method
            torch::Tensor denoised2 = run.model(x2, sigmas[i + 1]);
            torch::Tensor d2 = to_d(x2, sigmas[i + 1], denoised2);
            x = x + (d + d2) / 2 * dt;
        }
        run.step_done(i + 1, static_cast<int>(sigmas.size()) - 1, x);
    }
    return x;
}

}  // namespace atl::sample
