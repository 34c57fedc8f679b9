#include "sd/layers.hpp"

#include "lora/kernels.hpp"

#include <algorithm>

namespace atl::sd {

torch::Tensor Linear::apply(const torch::Tensor& x) const {
    if (lora.adapters.empty()) {
        if (lora::packed_gemm_applies(x, weight)) {
            torch::Tensor y = lora::avx512::forward_packed(x.reshape({-1, x.size(-1)}), weight, bias, {});
            std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
            shape.back() = weight.size(0);
            return y.view(shape);
        }
        return torch::linear(x, weight, bias);
    }
    return lora::linear(x, weight, bias, lora);
}

torch::Tensor Conv2d::apply(const torch::Tensor& x) const {
    if (lora.adapters.empty()) return torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
    return lora::conv2d(x, weight, bias, stride, padding, lora);
}

torch::Tensor GroupNorm::apply(const torch::Tensor& x) const {
    return torch::group_norm(x.to(torch::kFloat), groups, weight, bias, eps).to(x.scalar_type());
}

torch::Tensor LayerNorm::apply(const torch::Tensor& x) const {
    return torch::layer_norm(x.to(torch::kFloat), {weight.size(0)}, weight, bias, eps).to(x.scalar_type());
}

Linear load_linear(WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool bias) {
    Linear l;
    l.name = name;
    l.weight = w.take(name + ".weight", {out, in});
    if (bias) l.bias = w.take(name + ".bias", {out});
    return l;
}

Conv2d load_conv(WeightLoader& w, const std::string& name, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                 int64_t padding) {
    Conv2d c;
    c.name = name;
    c.weight = w.take(name + ".weight", {out, in, kernel, kernel});
    c.bias = w.take(name + ".bias", {out});
    c.stride = stride;
    c.padding = padding;
    return c;
}

GroupNorm load_group_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps) {
    GroupNorm g;
    g.weight = w.take(name + ".weight", {channels}, true);
    g.bias = w.take(name + ".bias", {channels}, true);
    g.eps = eps;
    if (channels % g.groups != 0) {
        w.problem(name + ": " + std::to_string(channels) + " channels do not split into 32 groups");
    }
    return g;
}

LayerNorm load_layer_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps) {
    LayerNorm n;
    n.weight = w.take(name + ".weight", {channels}, true);
    n.bias = w.take(name + ".bias", {channels}, true);
    n.eps = eps;
    return n;
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        const torch::Tensor& mask) {
    const int64_t b = q.size(0), lq = q.size(1), lk = k.size(1), inner = q.size(2);
    const int64_t d = inner / heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    // [B, L, H*d] -> [B*H, L, d]
    auto split = [&](const torch::Tensor& t) {
        return t.reshape({b, t.size(1), heads, d}).permute({0, 2, 1, 3}).reshape({b * heads, t.size(1), d});
    };
    // The scale goes on q (L x d) rather than on the scores (L x L): one pass over the smaller
    // tensor (PERFORMANCE.md: `sim * scale` was 8.4% of the fp32 step).
    torch::Tensor qh = split(q * scale), kt = split(k).transpose(1, 2), vh = split(v);
    // Bound one chunk's scores to about 64M elements.
    const int64_t budget = int64_t{1} << 26;
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(lq, budget / std::max<int64_t>(1, b * heads * lk)));
    std::vector<torch::Tensor> outs;
    for (int64_t start = 0; start < lq; start += chunk) {
        int64_t len = std::min(chunk, lq - start);
        torch::Tensor scores = torch::bmm(qh.narrow(1, start, len), kt);
        if (mask.defined()) scores.add_(mask.narrow(0, start, len).to(scores.scalar_type()));
        // BF16 scores go to ATen's BF16 softmax, which accumulates in F32 (libtorch 1.13: the
        // same bits as softmax(..., kFloat).to(kBFloat16), benchmarks/sd/README.md) without the
        // two conversions of the whole L x L matrix, which cost more than the softmax itself
        // (7x slower on 16 x 1024 x 4096 scores, and most of the BF16 step at 512 x 512).
        torch::Tensor p = torch::softmax(scores, -1);
        outs.push_back(torch::bmm(p, vh));
    }
    torch::Tensor out = outs.size() == 1 ? outs[0] : torch::cat(outs, 1);
    return out.reshape({b, heads, lq, d}).permute({0, 2, 1, 3}).reshape({b, lq, inner});
}

}  // namespace atl::sd
