#include "ops/weight_pack.hpp"

#include "atelier.h"
#include "core/cpu_allocator.hpp"
#include "core/finite.hpp"
#include "core/status.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace atl::ops {

namespace {

// madvise over the pages that hold the weight (page-aligned outward); errors are ignored: the
// advice only saves time or memory.
void advise(const torch::Tensor& weight, int advice) {
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(weight.data_ptr()) / page * page;
    const auto end = reinterpret_cast<uintptr_t>(weight.data_ptr()) + weight.nbytes();
    madvise(reinterpret_cast<void*>(begin), end - begin, advice);
}

// Reads a mapped weight's pages in with one call (Linux 5.14+; a no-op before, and for memory
// that is not a file mapping): faulting them in one by one dominates the first forward otherwise.
void populate(const torch::Tensor& weight) { advise(weight, 22 /* MADV_POPULATE_READ */); }

// Once packed, the weight's pages of a file mapping leave the process's resident set (they stay
// in the page cache, and come back if a libtorch path reads them). MADV_PAGEOUT (Linux 5.4+)
// never discards data: private anonymous memory without swap is left as it is.
void release(const torch::Tensor& weight) { advise(weight, 21 /* MADV_PAGEOUT */); }

// BF16 pairs for a BF16 compute dtype on CPUs with avx512_bf16, else F32.
lora::avx512::Format format_for(c10::ScalarType compute) {
    return compute == torch::kBFloat16 && (atl_cpu_features() & ATL_CPU_AVX512_BF16) ? lora::avx512::Format::Bf16Pairs
                                                                                     : lora::avx512::Format::F32;
}

}  // namespace

void WeightPack::require_finite(State& s, const torch::Tensor& weight) {
    if (s.checked == weight.data_ptr()) return;
    const int64_t bad = count_non_finite(weight);
    require(bad == 0, ATL_ERR_FORMAT,
            s.name + ": " + std::to_string(bad) + " of " + std::to_string(weight.numel()) +
                " values are NaN or infinite");
    s.checked = weight.data_ptr();
}

torch::Tensor WeightPack::dense(const torch::Tensor& weight, c10::ScalarType compute) const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    State& s = *state_;
    require_finite(s, weight);
    if (weight.scalar_type() == compute) return weight;
    if (!s.dense.defined() || !s.dense_from.fits(weight)) {
        s.dense = weight.to(compute).contiguous();
        release(weight);
        s.dense_from = Form{weight, version_of(weight)};
    }
    return s.dense;
}

const WinogradWeights& WeightPack::winograd(const torch::Tensor& weight, c10::ScalarType compute, int tile) const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    State& s = *state_;
    const lora::avx512::Format format = format_for(compute);
    const size_t k = tile == 4 ? 1 : 0;  // a form per tile size: requests of two sizes use both
    auto& form = s.winograd[k];
    if (form && s.winograd_from[k].fits(weight) && form->packed[0]->format() == format) return *form;
    CpuCacheBypass bypass;  // the transform's temporaries have sizes no activation reuses
    populate(weight);
    require_finite(s, weight);
    form.reset();  // the old form goes before the new one is made
    form = winograd_weights(weight, format, tile);
    release(weight);
    s.winograd_from[k] = Form{weight, version_of(weight)};
    return *form;
}

const lora::avx512::PackedRight& WeightPack::packed(const torch::Tensor& weight, c10::ScalarType compute) const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    State& s = *state_;
    if (s.packed && s.packed_from.fits(weight) && s.packed->format() == format_for(compute)) return *s.packed;
    const int64_t out = weight.size(0);
    CpuCacheBypass bypass;  // the packing's temporaries have sizes no activation reuses
    populate(weight);
    require_finite(s, weight);
    // [out, in, k, k] -> [out, k, k, in]: depth in the (ky, kx, channel) order of the gathered rows.
    torch::Tensor rows = weight.dim() == 4 ? weight.permute({0, 2, 3, 1}) : weight;
    const int64_t depth = rows.numel() / out;
    std::unique_ptr<lora::avx512::PackedRight> packed;
    if (format_for(compute) == lora::avx512::Format::Bf16Pairs) {
        rows = rows.to(torch::kBFloat16).contiguous();
        packed = std::make_unique<lora::avx512::PackedRight>(depth, out, lora::avx512::Format::Bf16Pairs);
        lora::avx512::pack_transposed_bf16(reinterpret_cast<const uint16_t*>(rows.data_ptr()), depth, *packed);
    } else {
        rows = rows.to(torch::kFloat).contiguous();
        packed = std::make_unique<lora::avx512::PackedRight>(depth, out);
        lora::avx512::pack_transposed(rows.data_ptr<float>(), depth, *packed);
    }
    release(weight);
    s.packed = std::move(packed);
    s.packed_from = Form{weight, version_of(weight)};
    return *s.packed;
}

}  // namespace atl::ops
