// LoRA adapters as they sit on a layer: the one representation shared by inference (merged or
// unmerged) and training (trainable down/up tensors attached to the same slots).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ops/weight_pack.hpp"

namespace atl::lora {

namespace avx512 {
class PackedRight;  // lora/packed_gemm.hpp
}

// The slot of adapters that apply to every sample whatever the per-sample selection: a trainer's
// adapters (its training steps and the previews it renders must see them).
constexpr int32_t kEverySample = -2;

// A network's LoRA slots: each LoRA attached to it takes the next slot, and a per-sample selection
// names the slot each sample (row) of the following forward calls uses.
class LoraSlots {
public:
    // slots: one per sample; empty: every adapter for every sample.
    void select(std::vector<int32_t> slots) { selection_ = std::move(slots); }
    const std::vector<int32_t>& selection() const { return selection_; }
    int32_t next() { return made_++; }
    int32_t made() const { return made_; }
    void reset() { selection_.clear(); made_ = 0; }

private:
    std::vector<int32_t> selection_;
    int32_t made_ = 0;
};

// One low-rank adapter on one layer (kohya LoRA / LoCon): delta W = scale * up @ down.
// Linear:  down [r, in],        up [out, r]
// Conv2d:  down [r, in, kh, kw] (the base conv's stride and padding), up [out, r, 1, 1]
struct Adapter {
    torch::Tensor down;
    torch::Tensor up;
    double scale = 1.0;  // multiplier * alpha / rank (kohya networks/lora.py)
    int32_t slot = 0;    // the LoRA it belongs to; a per-sample batch selects slots (or kEverySample)
    bool fused = true;   // training: Atelier's fused forward and backward where they apply
    // up packed for the GEMM, made on first use and kept while up is unchanged, so that a layer
    // called at every step does not pack it again (shared by copies of the adapter).
    ops::WeightPack up_pack;
};

// The LoRA state of one Linear or Conv2d.
struct LoraState {
    std::vector<Adapter> adapters;  // unmerged: added at run time by apply()
    torch::Tensor base;             // the weight as loaded while a merged copy replaces it; undefined otherwise
    bool merged() const { return base.defined(); }
};

// A Linear or Conv2d of a network, by checkpoint name, for attaching adapters.
struct LayerRef {
    std::string name;       // e.g. "input_blocks.1.1.proj_in", "encoder.layers.0.mlp.fc1"
    torch::Tensor* weight;  // [out, in] or [out, in, k, k], as stored (the file's dtype)
    LoraState* lora;
    c10::ScalarType compute = torch::kFloat;  // the dtype the layer computes in
    bool conv = false;
    int64_t stride = 1, padding = 0;
};

// Per-sample LoRA selection for the forward calls made on this thread while a scope is alive:
// sample i of the batch gets the unmerged adapters whose slot is slots[i] (-1: none), and those
// in kEverySample. Without a scope every unmerged adapter applies to every sample.
class SampleSlotsScope {
public:
    explicit SampleSlotsScope(std::vector<int32_t> slots);
    ~SampleSlotsScope();
    SampleSlotsScope(const SampleSlotsScope&) = delete;
    SampleSlotsScope& operator=(const SampleSlotsScope&) = delete;

private:
    const std::vector<int32_t>* previous_;
    std::vector<int32_t> slots_;
};
// The current selection; nullptr when every adapter applies to every sample.
const std::vector<int32_t>* current_sample_slots();

// y = x W^T + bias + sum of the adapters' low-rank terms. Under autograd with trainable tensors
// it is plain libtorch ops (differentiable); in inference the fused kernel (kernels.hpp).
// packed_weight: W^T already packed for the F32 kernel (the layer's cached form), or null.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     const LoraState& state, const avx512::PackedRight* packed_weight = nullptr);
// True when the convolution (weight [out, in, kh, kw], stride, padding) is 1x1 with stride 1 and
// no padding, and every adapter is pointwise too: then linear() computes it on channels-last
// pixels, with the adapters' down [r, in, 1, 1] and up [out, r, 1, 1] taken as [r, in], [out, r].
bool pointwise(const torch::Tensor& weight, int64_t stride, int64_t padding, const LoraState& state);
torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     int64_t stride, int64_t padding, const LoraState& state);

// scale * up @ down in the shape of the layer's weight (conv: over flattened kernels), F32.
torch::Tensor delta_weight(const Adapter& a, c10::IntArrayRef weight_shape);
// Merges a into the layer: the first merge keeps the loaded weight as base and works on a copy
// (mapped weights are read-only).
void merge(const LayerRef& layer, const Adapter& a);
// Drops every adapter and swaps the base weight back (bit for bit).
// Drops the unmerged adapters of slot (merged ones and other slots stay).
void remove(const LayerRef& layer, int32_t slot);
void clear(const LayerRef& layer);

}  // namespace atl::lora
