#include "sample/schedules.hpp"

#include <cmath>

#include "core/status.hpp"

namespace atl::sample {

namespace {

std::vector<double> to_vector_append_zero(const torch::Tensor& sigmas) {
    torch::Tensor s = sigmas.to(torch::kFloat32).contiguous();
    std::vector<double> out(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
    out.push_back(0.0);  // k-diffusion sampling.py append_zero
    return out;
}

}  // namespace

std::vector<double> default_sigmas(const NoiseSchedule& schedule, int steps) {
    require(steps >= 1, ATL_ERR_INVALID_ARGUMENT, "steps must be >= 1");
    const double t_max = static_cast<double>(schedule.size() - 1);
    // k-diffusion external.py DiscreteSchedule.get_sigmas: torch.linspace(t_max, 0, n) (F32)
    torch::Tensor t = torch::linspace(t_max, 0.0, steps, torch::TensorOptions().dtype(torch::kFloat32));
    return to_vector_append_zero(schedule.t_to_sigma(t));
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps, double rho) {
    require(steps >= 1, ATL_ERR_INVALID_ARGUMENT, "steps must be >= 1");
    // k-diffusion sampling.py get_sigmas_karras: (max^(1/rho) + ramp * (min^(1/rho) - max^(1/rho)))^rho,
    // ramp = linspace(0, 1, n) in F32, the scalar terms Python floats.
    torch::Tensor ramp = torch::linspace(0.0, 1.0, steps, torch::TensorOptions().dtype(torch::kFloat32));
    const double min_inv_rho = std::pow(sigma_min, 1.0 / rho);
    const double max_inv_rho = std::pow(sigma_max, 1.0 / rho);
    torch::Tensor sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)).pow(rho);
    return to_vector_append_zero(sigmas);
}

std::vector<double> make_sigmas(const NoiseSchedule& schedule, atl_schedule kind, int steps) {
    switch (kind) {
        case ATL_SCHEDULE_DEFAULT:
            return default_sigmas(schedule, steps);
        case ATL_SCHEDULE_KARRAS:
            // A1111 sd_samplers_kdiffusion: sigma_min/max = model_wrap.sigmas[0], sigmas[-1]
            return karras_sigmas(schedule.sigma_min(), schedule.sigma_max(), steps);
    }
    fail(ATL_ERR_INVALID_ARGUMENT, "unknown schedule " + std::to_string(static_cast<int>(kind)));
}

}  // namespace atl::sample
