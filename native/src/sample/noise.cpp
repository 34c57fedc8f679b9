#include "sample/noise.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "core/status.hpp"

namespace atl::sample {

uint64_t mix64(uint64_t x) {
    // SplitMix64 (Steele, Lea, Flood 2014) finaliser
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

namespace {

// No lock here: ATen's normal kernel takes the generator's mutex itself (a second lock deadlocks).
torch::Tensor randn_with(at::Generator& gen, const std::vector<int64_t>& shape) {
    return torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32));
}

}  // namespace

SeededNoise::SeededNoise(std::vector<uint64_t> seeds, std::vector<int64_t> element_shape, torch::Device device)
    : seeds_(std::move(seeds)), shape_(std::move(element_shape)), device_(device) {
    for (uint64_t s : seeds_) generators_.push_back(at::detail::createCPUGenerator(s));
}

torch::Tensor SeededNoise::randn() {
    std::vector<torch::Tensor> parts;
    parts.reserve(generators_.size());
    for (at::Generator& g : generators_) parts.push_back(randn_with(g, shape_));
    return torch::stack(parts).to(device_);
}

BrownianTree::BrownianTree(std::vector<uint64_t> seeds, std::vector<int64_t> element_shape, double t_min,
                           double t_max, torch::Device device, double tol)
    : seeds_(std::move(seeds)), shape_(std::move(element_shape)), t_min_(t_min), t_max_(t_max), device_(device) {
    require(t_max > t_min && std::isfinite(t_min) && std::isfinite(t_max), ATL_ERR_INVALID_ARGUMENT,
            "Brownian tree: need t_min < t_max");
    max_depth_ = std::max(1, static_cast<int>(std::ceil(std::log2((t_max - t_min) / tol))));
    max_depth_ = std::min(max_depth_, 60);
}

torch::Tensor BrownianTree::node_normal(uint64_t depth, uint64_t index) const {
    std::vector<torch::Tensor> parts;
    parts.reserve(seeds_.size());
    for (uint64_t s : seeds_) {
        // Node key: the element's seed, then depth and index; depth 0 = W(t_max) at the root.
        at::Generator gen = at::detail::createCPUGenerator(mix64(mix64(mix64(s) ^ depth) ^ index));
        parts.push_back(randn_with(gen, shape_));
    }
    return torch::stack(parts);
}

torch::Tensor BrownianTree::value(double t) const {
    t = std::clamp(t, t_min_, t_max_);
    double a = t_min_, b = t_max_;
    const torch::Tensor root = node_normal(0, 0);
    torch::Tensor wa = torch::zeros_like(root);
    torch::Tensor wb = root * std::sqrt(t_max_ - t_min_);
    if (t == a) return wa;
    if (t == b) return wb;
    uint64_t index = 0;  // of [a, b] among the 2^depth intervals of its depth
    for (int depth = 1; depth <= max_depth_; ++depth) {
        const double m = 0.5 * (a + b);
        // Brownian bridge midpoint: mean (W(a)+W(b))/2, variance (b-a)/4
        torch::Tensor wm = 0.5 * (wa + wb) + std::sqrt((b - a) / 4.0) * node_normal(depth, index);
        if (t == m) return wm;
        if (t < m) {
            b = m;
            wb = wm;
            index = 2 * index;
        } else {
            a = m;
            wa = wm;
            index = 2 * index + 1;
        }
    }
    const double w = (t - a) / (b - a);
    return (1 - w) * wa + w * wb;
}

torch::Tensor BrownianTree::normalized_increment(double t0, double t1) const {
    const double dt = std::abs(t1 - t0);
    require(dt > 0, ATL_ERR_INTERNAL, "Brownian tree: empty interval");
    return ((value(t1) - value(t0)) / std::sqrt(dt)).to(device_);
}

}  // namespace atl::sample
