#include "ops/weight_pack.hpp"

namespace atl::ops {

const lora::avx512::PackedRight& WeightPack::get(const torch::Tensor& weight) const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    State& s = *state_;
    if (s.packed && s.source.is_same(weight) && s.version == weight._version()) return *s.packed;
    const int64_t out = weight.size(0);
    // [out, in, k, k] -> [out, k, k, in]: depth in the (ky, kx, channel) order of the gathered rows.
    torch::Tensor rows = (weight.dim() == 4 ? weight.permute({0, 2, 3, 1}) : weight).to(torch::kFloat).contiguous();
    const int64_t depth = rows.numel() / out;
    auto packed = std::make_unique<lora::avx512::PackedRight>(depth, out);
    lora::avx512::pack_transposed(rows.data_ptr<float>(), depth, *packed);
    s.packed = std::move(packed);
    s.source = weight;
    s.version = weight._version();
    return *s.packed;
}

}  // namespace atl::ops
