#include "sample/sampler.hpp"

#include <algorithm>
#include <cmath>

#include "core/status.hpp"
#include "sample/samplers.hpp"
#include "sample/schedules.hpp"

namespace atl::sample {

std::vector<double> SampleRun::sigmas() const { return make_sigmas(model.schedule(), schedule, steps); }

AncestralStep ancestral_step(double sigma_from, double sigma_to, double eta) {
    // k-diffusion sampling.py get_ancestral_step
    if (eta == 0) return {sigma_to, 0.0};
    const double up = std::min(
        sigma_to, eta * std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) /
                                  (sigma_from * sigma_from)));
    const double down = std::sqrt(sigma_to * sigma_to - up * up);
    return {down, up};
}

std::unique_ptr<Sampler> make_sampler(atl_sampler kind) {
    switch (kind) {
        case ATL_SAMPLER_DDIM: return std::make_unique<Ddim>();
        case ATL_SAMPLER_EULER: return std::make_unique<Euler>();
        case ATL_SAMPLER_EULER_A: return std::make_unique<EulerAncestral>();
        case ATL_SAMPLER_HEUN: return std::make_unique<Heun>();
        case ATL_SAMPLER_DPMPP_2M:
        case ATL_SAMPLER_DPMPP_2M_KARRAS: return std::make_unique<DpmPp2m>();
        case ATL_SAMPLER_DPMPP_SDE_KARRAS: return std::make_unique<DpmPpSde>();
    }
    fail(ATL_ERR_INVALID_ARGUMENT, "unknown sampler " + std::to_string(static_cast<int>(kind)));
}

atl_schedule schedule_for(atl_sampler kind, atl_schedule requested) {
    if (kind == ATL_SAMPLER_DPMPP_2M_KARRAS || kind == ATL_SAMPLER_DPMPP_SDE_KARRAS) return ATL_SCHEDULE_KARRAS;
    return requested;
}

}  // namespace atl::sample
