#include "core/finite.hpp"

#include <ATen/Parallel.h>

#include <atomic>

namespace atl {

namespace {

// A value is NaN or infinite exactly when its exponent bits are all ones.
template <typename Bits>
int64_t count_exponent_all_ones(const Bits* p, int64_t n, Bits exponent) {
    std::atomic<int64_t> total{0};
    // 1 MiB of bits per task: big enough to amortise the pool, small enough to spread.
    constexpr int64_t kGrain = (int64_t{1} << 20) / static_cast<int64_t>(sizeof(Bits));
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
        int64_t bad = 0;
        for (int64_t i = begin; i < end; ++i) bad += (p[i] & exponent) == exponent;  // vectorised compare and sum
        if (bad != 0) total.fetch_add(bad, std::memory_order_relaxed);
    });
    return total.load();
}

}  // namespace

int64_t count_non_finite(const torch::Tensor& t) {
    if (!t.defined() || t.numel() == 0 || !c10::isFloatingType(t.scalar_type())) return 0;
    const torch::Tensor c = t.is_contiguous() ? t : t.contiguous();
    // Memory of another device is not readable here: libtorch's ops count it there.
    if (!c.device().is_cpu()) return torch::logical_not(torch::isfinite(c)).sum().item<int64_t>();
    const int64_t n = c.numel();
    switch (c.scalar_type()) {
        case torch::kFloat:
            return count_exponent_all_ones(static_cast<const uint32_t*>(c.data_ptr()), n, uint32_t{0x7f800000});
        case torch::kDouble:
            return count_exponent_all_ones(static_cast<const uint64_t*>(c.data_ptr()), n,
                                           uint64_t{0x7ff0000000000000});
        case torch::kBFloat16:
            return count_exponent_all_ones(static_cast<const uint16_t*>(c.data_ptr()), n, uint16_t{0x7f80});
        case torch::kHalf:
            return count_exponent_all_ones(static_cast<const uint16_t*>(c.data_ptr()), n, uint16_t{0x7c00});
        default:
            return torch::logical_not(torch::isfinite(c)).sum().item<int64_t>();
    }
}

bool all_finite(const torch::Tensor& t) { return count_non_finite(t) == 0; }

}  // namespace atl
