// Seeded randomness for the sampling loop: the initial noise, ancestral noise and the
// Brownian noise of DPM++ SDE. Everything is drawn per batch element from that element's seed,
// so an image depends on its own seed only, not on the batch it was made in.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace atl::sample {

// One CPU generator per batch element, element j seeded with seeds[j] (mt19937, as
// torch.Generator().manual_seed(seed)). The numbers are drawn on the CPU whatever the device the
// sampling runs on (A1111's "CPU" random source: the same seed gives the same image everywhere)
// and handed over on `device`.
class SeededNoise {
public:
    SeededNoise(std::vector<uint64_t> seeds, std::vector<int64_t> element_shape, torch::Device device = torch::kCPU);

    // [b, ...element_shape] unit Gaussian on device(); element j drawn from generator j,
    // continuing its stream.
    torch::Tensor randn();

    const std::vector<uint64_t>& seeds() const { return seeds_; }
    const std::vector<int64_t>& element_shape() const { return shape_; }
    const torch::Device& device() const { return device_; }

private:
    std::vector<uint64_t> seeds_;
    std::vector<int64_t> shape_;
    torch::Device device_;
    std::vector<at::Generator> generators_;
};

// A Brownian motion W(t) on [t_min, t_max] for each batch element, a pure function of the
// element's seed: W(t_min) = 0, W(t_max) ~ N(0, t_max - t_min), and every other point from a
// Brownian bridge on a dyadic tree: the midpoint of [a, b] is
// (W(a) + W(b)) / 2 + sqrt((b - a) / 4) * z, with z drawn from a generator seeded by a hash of
// (seed, depth, index) of that node. A query descends to intervals shorter than tol and
// interpolates linearly inside the last one.
//
// This plays the part of torchsde's BrownianTree in k-diffusion's BrownianTreeNoiseSampler
// (same construction: bridges on a binary tree with per-node seeds, tolerance 1e-6), and like it
// it gives noise that depends on the seed and the queried interval only, not on the step count
// or order of queries. It does NOT reproduce torchsde's numbers (its seed derivation and
// PRNG splitting are its own), so DPM++ SDE images match A1111's in distribution, not bit for bit.
class BrownianTree {
public:
    BrownianTree(std::vector<uint64_t> seeds, std::vector<int64_t> element_shape, double t_min, double t_max,
                 torch::Device device = torch::kCPU, double tol = 1e-6);

    // W(t1) - W(t0) [b, ...element_shape], divided by sqrt|t1 - t0| (k-diffusion
    // BrownianTreeNoiseSampler.__call__), so unit Gaussian for any interval. Computed on the CPU
    // like SeededNoise, returned on device.
    torch::Tensor normalized_increment(double t0, double t1) const;

private:
    torch::Tensor value(double t) const;  // W(t), [b, ...]
    torch::Tensor node_normal(uint64_t depth, uint64_t index) const;

    std::vector<uint64_t> seeds_;
    std::vector<int64_t> shape_;
    double t_min_, t_max_;
    torch::Device device_;
    int max_depth_;
};

// SplitMix64 finaliser: a well-mixed 64-bit hash, for generator seeds of tree nodes.
uint64_t mix64(uint64_t x);

}  // namespace atl::sample
