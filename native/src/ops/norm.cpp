// Dispatch of norm.hpp, the libtorch path and the plain reference (double).
#include "ops/norm.hpp"

#include <cmath>

#include "core/status.hpp"
#include "core/tensor_view.hpp"

namespace atl::ops {

namespace {

void group_norm_reference(const float* x, int64_t n, int64_t positions, int64_t c, int64_t groups, const float* w,
                          const float* b, double eps, bool silu, float* y) {
    const int64_t per = c / groups;
    for (int64_t s = 0; s < n; ++s) {
        for (int64_t g = 0; g < groups; ++g) {
            double sum = 0, sq = 0;
            for (int64_t p = 0; p < positions; ++p) {
                for (int64_t j = g * per; j < (g + 1) * per; ++j) sum += x[(s * positions + p) * c + j];
            }
            const double mean = sum / static_cast<double>(positions * per);
            for (int64_t p = 0; p < positions; ++p) {
                for (int64_t j = g * per; j < (g + 1) * per; ++j) {
                    const double d = x[(s * positions + p) * c + j] - mean;
                    sq += d * d;
                }
            }
            const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(positions * per) + eps);
            for (int64_t p = 0; p < positions; ++p) {
                for (int64_t j = g * per; j < (g + 1) * per; ++j) {
                    const int64_t i = (s * positions + p) * c + j;
                    double v = (x[i] - mean) * rstd * w[j] + b[j];
                    if (silu) v = v / (1.0 + std::exp(-v));
                    y[i] = static_cast<float>(v);
                }
            }
        }
    }
}

void layer_norm_reference(const float* x, int64_t rows, int64_t c, const float* w, const float* b, double eps, float* y) {
    for (int64_t r = 0; r < rows; ++r) {
        double sum = 0, sq = 0;
        for (int64_t j = 0; j < c; ++j) sum += x[r * c + j];
        const double mean = sum / static_cast<double>(c);
        for (int64_t j = 0; j < c; ++j) sq += (x[r * c + j] - mean) * (x[r * c + j] - mean);
        const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(c) + eps);
        for (int64_t j = 0; j < c; ++j) y[r * c + j] = static_cast<float>((x[r * c + j] - mean) * rstd * w[j] + b[j]);
    }
}

void check_affine(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, const char* what) {
    const int64_t c = x.dim() > 0 ? x.size(-1) : 0;
    require(x.dim() >= 2 && weight.dim() == 1 && bias.dim() == 1 && weight.size(0) == c && bias.size(0) == c,
            ATL_ERR_SHAPE,
            std::string(what) + ": x [..., c] with weight and bias [c], got x " + shape_string(x.sizes()) +
                ", weight " + shape_string(weight.sizes()) + ", bias " + shape_string(bias.sizes()));
}

}  // namespace

torch::Tensor group_norm_nhwc(Kernel kernel, const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps, bool silu, bool overwrite_x) {
    check_affine(x, weight, bias, "group norm");
    const int64_t n = x.size(0), c = x.size(-1);
    require(groups > 0 && c % groups == 0, ATL_ERR_SHAPE,
            "group norm: " + std::to_string(c) + " channels do not split into " + std::to_string(groups) + " groups");
    kernel = resolve(kernel);
    if (kernel == Kernel::Torch) {
        // torch.nn.GroupNorm on the channels-first view of the same memory.
        std::vector<int64_t> to_first{0, x.dim() - 1}, to_last{0};
        for (int64_t d = 1; d < x.dim() - 1; ++d) to_first.push_back(d), to_last.push_back(d + 1);
        to_last.push_back(1);
        torch::Tensor y = torch::group_norm(x.to(torch::kFloat).permute(to_first), groups, weight, bias, eps);
        if (silu) y = torch::silu(y);
        return y.permute(to_last).to(x.scalar_type()).contiguous();
    }
    require(kernel_available(kernel), ATL_ERR_UNSUPPORTED, "group norm: this CPU cannot run the AVX-512 kernel");
    const int64_t positions = x.numel() / std::max<int64_t>(1, n * c);
    torch::Tensor w = weight.to(torch::kFloat).contiguous(), b = bias.to(torch::kFloat).contiguous();
    if (kernel == Kernel::Reference) {
        torch::Tensor xf = x.to(torch::kFloat).contiguous(), y = torch::empty_like(xf);
        group_norm_reference(xf.data_ptr<float>(), n, positions, c, groups, w.data_ptr<float>(), b.data_ptr<float>(),
                             eps, silu, y.data_ptr<float>());
        return y.to(x.scalar_type());
    }
    if (x.scalar_type() == torch::kBFloat16) {
        torch::Tensor xc = x.contiguous(), y = torch::empty_like(xc);
        avx512::group_norm(xc.data_ptr<c10::BFloat16>(), n, positions, c, groups, w.data_ptr<float>(),
                           b.data_ptr<float>(), eps, silu, y.data_ptr<c10::BFloat16>());
        return y;
    }
    // The kernel's second pass reads each element before it writes the same element: y may be x.
    const bool reuse = overwrite_x && sole_owner(x) && x.scalar_type() == torch::kFloat && x.is_contiguous();
    torch::Tensor xc = x.to(torch::kFloat).contiguous(), y = reuse ? xc : torch::empty_like(xc);
    avx512::group_norm(xc.data_ptr<float>(), n, positions, c, groups, w.data_ptr<float>(), b.data_ptr<float>(), eps,
                       silu, y.data_ptr<float>());
    return y.to(x.scalar_type());
}

torch::Tensor layer_norm(Kernel kernel, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                         double eps) {
    check_affine(x, weight, bias, "layer norm");
    const int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(1, c);
    kernel = resolve(kernel);
    if (kernel == Kernel::Torch) {
        return torch::layer_norm(x.to(torch::kFloat), {c}, weight, bias, eps).to(x.scalar_type());
    }
    require(kernel_available(kernel), ATL_ERR_UNSUPPORTED, "layer norm: this CPU cannot run the AVX-512 kernel");
    torch::Tensor w = weight.to(torch::kFloat).contiguous(), b = bias.to(torch::kFloat).contiguous();
    if (kernel == Kernel::Reference) {
        torch::Tensor xf = x.to(torch::kFloat).contiguous(), y = torch::empty_like(xf);
        layer_norm_reference(xf.data_ptr<float>(), rows, c, w.data_ptr<float>(), b.data_ptr<float>(), eps,
                             y.data_ptr<float>());
        return y.to(x.scalar_type());
    }
    if (x.scalar_type() == torch::kBFloat16) {
        torch::Tensor xc = x.contiguous(), y = torch::empty_like(xc);
        avx512::layer_norm(xc.data_ptr<c10::BFloat16>(), rows, c, w.data_ptr<float>(), b.data_ptr<float>(), eps,
                           y.data_ptr<c10::BFloat16>());
        return y;
    }
    torch::Tensor xc = x.to(torch::kFloat).contiguous(), y = torch::empty_like(xc);
    avx512::layer_norm(xc.data_ptr<float>(), rows, c, w.data_ptr<float>(), b.data_ptr<float>(), eps, y.data_ptr<float>());
    return y;
}

}  // namespace atl::ops
