#include "sample/samplers.hpp"

namespace atl::sample {

torch::Tensor EulerAncestral::sample(const SampleRun& run, const torch::Tensor& noise) const {
    const std::vector<double> sigmas = run.sigmas();
    torch::Tensor x = noise * sigmas[0];
    for (int i = 0; i + 1 < static_cast<int>(sigmas.size()); ++i) {
        // k-diffusion sampling.py sample_euler_ancestral
        torch::Tensor denoised = run.model(x, sigmas[i]);
        const AncestralStep st = ancestral_step(sigmas[i], sigmas[i + 1], run.eta);
        torch::Tensor d = to_d(x, sigmas[i], denoised);
        x = x + d * (st.down - sigmas[i]);
        if (sigmas[i + 1] > 0) x = x + run.noise.randn() * st.up;
        run.step_done(i + 1, static_cast<int>(sigmas.size()) - 1, x);
    }
    return x;
}

}  // namespace atl::sample
