// Sigma schedules for the k-samplers: which noise levels n steps run through. A schedule is
// separate from the sampler (A1111 "DPM++ 2M Karras" = DPM++ 2M on the Karras schedule).
#pragma once

#include <vector>

#include "atelier.h"
#include "sample/noise_schedule.hpp"

namespace atl::sample {

// n + 1 sigmas, decreasing, the last 0, as F32 values (k-diffusion computes them in F32).
std::vector<double> make_sigmas(const NoiseSchedule& schedule, atl_schedule kind, int steps);

// k-diffusion DiscreteSchedule.get_sigmas(n): t = linspace(T-1, 0, n), sigma(t), append 0.
std::vector<double> default_sigmas(const NoiseSchedule& schedule, int steps);

// k-diffusion sampling.py get_sigmas_karras(n, sigma_min, sigma_max, rho=7), append 0.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps, double rho = 7.0);

}  // namespace atl::sample
