#include "sample/denoiser.hpp"

#include <cmath>

#include "core/status.hpp"
#include "core/tensor_view.hpp"

namespace atl::sample {

torch::Tensor Denoiser::eps(const torch::Tensor& x, double t) const {
    torch::Tensor ts = torch::full({x.size(0)}, t, x.options().dtype(torch::kFloat32));
    torch::Tensor e = model_(x, ts);
    require(e.sizes() == x.sizes(), ATL_ERR_SHAPE,
            "eps model returned " + shape_string(e.sizes()) + " for input " + shape_string(x.sizes()));
    return e.to(torch::kFloat32);
}

torch::Tensor Denoiser::operator()(const torch::Tensor& x, double sigma) const {
    // k-diffusion external.py DiscreteEpsDDPMDenoiser.get_scalings: c_out = -sigma, c_in = 1/(sigma^2+1)^0.5
    const double c_in = 1.0 / std::sqrt(sigma * sigma + 1.0);
    torch::Tensor e = eps(x * c_in, schedule_.sigma_to_t(sigma));
    return x - sigma * e;
}

}  // namespace atl::sample
