#include "sample/samplers.hpp"

namespace atl::sample {

torch::Tensor Euler::sample(const SampleRun& run, const torch::Tensor& noise) const {
    const std::vector<double> sigmas = run.sigmas();
    torch::Tensor x = noise * sigmas[0];  // A1111 / k-diffusion: x = noise * sigmas[0]
    for (int i = 0; i + 1 < static_cast<int>(sigmas.size()); ++i) {
        // k-diffusion sampling.py sample_euler with gamma = 0: sigma_hat = sigmas[i]
        torch::Tensor denoised = run.model(x, sigmas[i]);
        torch::Tensor d = to_d(x, sigmas[i], denoised);
        x = x + d * (sigmas[i + 1] - sigmas[i]);
        run.step_done(i + 1, static_cast<int>(sigmas.size()) - 1, x);
    }
    return x;
}

}  // namespace atl::sample
