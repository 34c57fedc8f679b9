#include "lora/adapter.hpp"

#include <algorithm>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/kernels.hpp"

namespace atl::lora {

namespace {

thread_local const std::vector<int32_t>* tl_slots = nullptr;

bool needs_autograd(const torch::Tensor& x, const std::vector<Adapter>& adapters) {
    if (!torch::GradMode::is_enabled()) return false;
    if (x.requires_grad()) return true;
    for (const Adapter& a : adapters) {
        if (a.down.requires_grad() || a.up.requires_grad()) return true;
    }
    return false;
}

// [b] mask (1 where the sample's slot is `slot`), shaped to broadcast over x's other dims.
torch::Tensor sample_mask(const std::vector<int32_t>& slots, int32_t slot, int64_t dims, const torch::TensorOptions& like) {
    std::vector<float> m(slots.size());
    for (size_t i = 0; i < slots.size(); ++i) m[i] = slots[i] == slot ? 1.0f : 0.0f;
    std::vector<int64_t> shape(dims, 1);
    shape[0] = static_cast<int64_t>(slots.size());
    return torch::tensor(m).reshape(shape).to(like.device(), like.dtype().toScalarType());
}

void check_batch(const std::vector<int32_t>& slots, const torch::Tensor& x) {
    require(x.dim() >= 1 && x.size(0) == static_cast<int64_t>(slots.size()), ATL_ERR_SHAPE,
            "lora: the per-sample selection has " + std::to_string(slots.size()) +
                " entries but the batch has " + std::to_string(x.dim() ? x.size(0) : 0) + " samples");
}

}  // namespace

SampleSlotsScope::SampleSlotsScope(std::vector<int32_t> slots) : previous_(tl_slots), slots_(std::move(slots)) {
    tl_slots = &slots_;
}
SampleSlotsScope::~SampleSlotsScope() { tl_slots = previous_; }
const std::vector<int32_t>* current_sample_slots() { return tl_slots; }

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     const LoraState& state, const avx512::PackedRight* packed_weight) {
    const std::vector<int32_t>* slots = current_sample_slots();
    if (slots) check_batch(*slots, x);
    if (needs_autograd(x, state.adapters)) {
        // Training with one adapter on every sample (the trainer's): the fused kernels as an
        // autograd function. Otherwise differentiable libtorch ops (autograd gives dA, dB).
        if (state.adapters.size() == 1) {
            const Adapter& a = state.adapters[0];
            if (a.fused && (!slots || a.slot == kEverySample) && fused_autograd_applies(x, weight, bias, a.down, a.up)) {
                return fused_linear_autograd(x, weight, bias, a.down, a.up, a.scale);
            }
        }
        torch::Tensor y = torch::linear(x, weight, bias);
        for (const Adapter& a : state.adapters) {
            torch::Tensor d = torch::linear(torch::linear(x, a.down.to(x.scalar_type())), a.up.to(x.scalar_type()));
            if (slots && a.slot != kEverySample) d = d * sample_mask(*slots, a.slot, d.dim(), d.options());
            y = y + d * a.scale;
        }
        return y;
    }
    const int64_t in = weight.size(1), out = weight.size(0);
    torch::Tensor x2 = x.reshape({-1, in}).contiguous();
    const int64_t n = x2.size(0);
    std::vector<RowSegment> segments;
    auto terms_for = [&](int32_t slot, bool all) {
        std::vector<LowRank> terms;
        for (const Adapter& a : state.adapters) {
            // A 1x1 convolution's adapters (pointwise()) as a Linear's: [r, in] and [out, r].
            if (all || a.slot == slot || a.slot == kEverySample) {
                // A trained adapter (its up requires grad) changes between calls: packed afresh.
                terms.push_back({a.down.flatten(1), a.up.flatten(1), a.scale,
                                 a.up.requires_grad() ? nullptr : &a.up_pack, a.up});
            }
        }
        return terms;
    };
    // One sample's rows (x [b, L, in]: L; x [b, in]: 1) decide the kernel's route, whatever the
    // batch: a sample's result is then the same alone and batched with others.
    const int64_t sample_rows = x.dim() >= 3 && x.size(0) > 0 ? n / x.size(0) : 1;
    if (!slots) {
        segments.push_back({0, n, terms_for(0, true), sample_rows});
    } else {
        const int64_t b = static_cast<int64_t>(slots->size());
        const int64_t rows = b ? n / b : 0;
        for (int64_t i = 0; i < b;) {
            int64_t j = i + 1;
            while (j < b && (*slots)[j] == (*slots)[i]) ++j;
            segments.push_back({i * rows, j * rows, terms_for((*slots)[i], false), rows});
            i = j;
        }
    }
    torch::Tensor y = forward(Kernel::Auto, x2, weight, bias, segments, packed_weight);
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = out;
    return y.reshape(shape);
}

bool pointwise(const torch::Tensor& weight, int64_t stride, int64_t padding, const LoraState& state) {
    if (weight.dim() != 4 || weight.size(2) != 1 || weight.size(3) != 1 || stride != 1 || padding != 0) return false;
    for (const Adapter& a : state.adapters) {
        if (a.down.numel() != a.down.size(0) * weight.size(1) || a.up.numel() != a.up.size(0) * a.down.size(0)) {
            return false;
        }
    }
    return true;
}

torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     int64_t stride, int64_t padding, const LoraState& state) {
    const std::vector<int32_t>* slots = current_sample_slots();
    if (slots) check_batch(*slots, x);
    torch::Tensor y = torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
    // LoCon: down is a conv with the base's kernel, stride and padding; up a 1x1 conv.
    for (const Adapter& a : state.adapters) {
        auto delta = [&](const torch::Tensor& in) {
            torch::Tensor t = torch::conv2d(in, a.down.to(in.scalar_type()), {}, {stride, stride}, {padding, padding});
            return torch::conv2d(t, a.up.to(in.scalar_type())).mul(a.scale);
        };
        if (!slots || a.slot == kEverySample) {
            y = y + delta(x);
            continue;
        }
        std::vector<int64_t> rows;
        for (size_t i = 0; i < slots->size(); ++i) {
            if ((*slots)[i] == a.slot) rows.push_back(static_cast<int64_t>(i));
        }
        if (rows.empty()) continue;
        if (rows.size() == slots->size()) {
            y = y + delta(x);
        } else if (needs_autograd(x, state.adapters)) {
            y = y + delta(x) * sample_mask(*slots, a.slot, y.dim(), y.options());
        } else {
            torch::Tensor idx = torch::tensor(rows).to(x.device());
            y.index_add_(0, idx, delta(x.index_select(0, idx)));
        }
    }
    return y;
}

torch::Tensor delta_weight(const Adapter& a, c10::IntArrayRef shape) {
    torch::Tensor down = a.down.to(torch::kFloat), up = a.up.to(torch::kFloat);
    const int64_t r = down.size(0);
    // kohya networks/lora.py merge: up @ down, for convs over the flattened kernels.
    torch::Tensor d = torch::mm(up.reshape({up.size(0), r}), down.reshape({r, -1}));
    return d.mul_(a.scale).reshape(shape);
}

void merge(const LayerRef& layer, const Adapter& a) {
    LoraState& st = *layer.lora;
    torch::Tensor& w = *layer.weight;
    torch::Tensor d = delta_weight(a, w.sizes());
    if (!st.merged()) {
        st.base = w;
        // Working copy in F32 (also for BF16 compute: add there, round once).
        w = st.base.to(torch::kFloat, /*non_blocking=*/false, /*copy=*/true);
    } else if (w.scalar_type() != torch::kFloat) {
        w = w.to(torch::kFloat);
    }
    w.add_(d);
    if (st.base.scalar_type() != torch::kFloat) w = w.to(st.base.scalar_type());
}

void remove(const LayerRef& layer, int32_t slot) {
    std::vector<Adapter>& a = layer.lora->adapters;
    a.erase(std::remove_if(a.begin(), a.end(), [slot](const Adapter& x) { return x.slot == slot; }), a.end());
}

void clear(const LayerRef& layer) {
    LoraState& st = *layer.lora;
    st.adapters.clear();
    if (st.merged()) {
        *layer.weight = st.base;
        st.base = torch::Tensor();
    }
}

}  // namespace atl::lora
