#include "sample/samplers.hpp"

#include <cmath>

#include "core/status.hpp"

namespace atl::sample {

torch::Tensor Ddim::sample(const SampleRun& run, const torch::Tensor& noise) const {
    const NoiseSchedule& sched = run.model.schedule();
    const int64_t T = sched.size();
    require(run.steps <= T, ATL_ERR_INVALID_ARGUMENT,
            "ddim: steps must be at most " + std::to_string(T) + ", got " + std::to_string(run.steps));
    // ldm/modules/diffusionmodules/util.py make_ddim_timesteps("uniform"):
    // range(0, T, T // steps) + 1 (A1111 clips to T-1)
    std::vector<int64_t> timesteps;
    for (int64_t t = 0; t < T; t += T / run.steps) timesteps.push_back(std::min<int64_t>(t + 1, T - 1));
    const float* ac = sched.alphas_cumprod().data_ptr<float>();
    const int n = static_cast<int>(timesteps.size());
    torch::Tensor x = noise;
    for (int k = 0; k < n; ++k) {
        const int index = n - 1 - k;  // ddim.py ddim_sampling walks the timesteps backwards
        const double a_t = ac[timesteps[index]];
        // util.py make_ddim_sampling_parameters: alphas_prev = [ac[0]] + ac[timesteps[:-1]]
        const double a_prev = index > 0 ? ac[timesteps[index - 1]] : ac[0];
        // util.py make_ddim_sampling_parameters: sigma = eta * sqrt((1-a_prev)/(1-a) * (1 - a/a_prev))
        const double sigma_t = run.eta * std::sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev));
        torch::Tensor e_t = run.model.eps(x, static_cast<double>(timesteps[index]));
        // ddim.py p_sample_ddim: pred_x0, direction pointing to x_t, x_prev
        torch::Tensor pred_x0 = (x - std::sqrt(1 - a_t) * e_t) / std::sqrt(a_t);
        torch::Tensor dir_xt = std::sqrt(1 - a_prev - sigma_t * sigma_t) * e_t;
        x = std::sqrt(a_prev) * pred_x0 + dir_xt;
        if (sigma_t > 0) x = x + sigma_t * run.noise.randn();
        run.step_done(k + 1, n, x);
    }
    return x;
}

}  // namespace atl::sample
