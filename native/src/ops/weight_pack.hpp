// The forms a layer's weight is computed in, derived from the weight as loaded (the file's dtype,
// usually the mapped bytes themselves) on first use and kept:
//   - packed: the panel layout of Atelier's GEMM (lora/packed_gemm.hpp), F32 or BF16 pairs;
//   - winograd: a 3x3 convolution's transformed matrices, packed (ops/winograd.hpp);
//   - dense: a plain tensor in the compute dtype, for libtorch's ops (training, LoRA paths).
// Inference on Atelier's kernels makes only the packed form, so a BF16 network holds its weights
// once, in BF16, and the file's pages leave the resident set after packing.
// A form is made again when the layer's weight tensor is replaced or written in place (a merged
// LoRA swaps in a working copy): each holds the tensor it was made from, so that tensor's memory
// cannot be reused for another weight while the form exists.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>

#include "lora/packed_gemm.hpp"
#include "ops/winograd.hpp"

namespace atl::ops {

// The tensor's version counter (bumped by in-place writes); 0 for inference tensors, which have
// none and cannot be written in place outside inference mode.
inline int64_t version_of(const torch::Tensor& t) { return t.is_inference() ? 0 : t._version(); }

class WeightPack {
public:
    // weight [out, in] (Linear) or [out, in, k, k] (convolution, depth ordered (ky, kx, in) to
    // match ConvRows), any float dtype. compute kBFloat16 packs BF16 pairs on CPUs with
    // avx512_bf16 (the GEMM then rounds its other operand to BF16 too); otherwise F32.
    const lora::avx512::PackedRight& packed(const torch::Tensor& weight, c10::ScalarType compute) const;
    // weight in the compute dtype: weight itself when it already is, else a converted copy.
    torch::Tensor dense(const torch::Tensor& weight, c10::ScalarType compute) const;
    // A 3x3 convolution's Winograd matrices for output tiles of tile x tile pixels, packed as
    // packed() packs (ops/winograd.hpp).
    const WinogradWeights& winograd(const torch::Tensor& weight, c10::ScalarType compute, int tile) const;
    // The weight's name in messages. The first form made of a weight checks that its values are
    // finite (ATL_ERR_FORMAT naming it otherwise): the form reads every value anyway.
    void set_name(std::string name) { state_->name = std::move(name); }

private:
    struct Form {
        torch::Tensor source;
        int64_t version = -1;
        bool fits(const torch::Tensor& weight) const { return source.is_same(weight) && version == version_of(weight); }
    };
    struct State {
        std::mutex mutex;
        std::string name = "weight";
        const void* checked = nullptr;  // the data whose values were found finite
        Form packed_from, dense_from, winograd_from[2];
        std::unique_ptr<lora::avx512::PackedRight> packed;
        std::unique_ptr<WinogradWeights> winograd[2];  // tiles of 2 and of 4 pixels a side
        torch::Tensor dense;
    };
    // Fails with ATL_ERR_FORMAT when weight holds NaN or infinity; once per weight's data.
    static void require_finite(State& s, const torch::Tensor& weight);
    // Shared by copies of the layer (layers are moved into the network's vectors while loading).
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace atl::ops
