// A layer's weight in the packed layout of Atelier's GEMM (lora/packed_gemm.hpp), made on first
// use and kept. It is made again when the layer's weight tensor is replaced or written in place
// (a merged LoRA swaps in a working copy): the pack holds the tensor it was made from, so that
// tensor's memory cannot be reused for another weight while the pack exists.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <mutex>

#include "lora/packed_gemm.hpp"

namespace atl::ops {

class WeightPack {
public:
    // weight [out, in] (Linear) or [out, in, k, k] (convolution, depth ordered (ky, kx, in) to
    // match ConvRows). F32, or BF16: packed as BF16 pairs on CPUs with avx512_bf16 (the GEMM
    // then rounds its other operand to BF16 too), else widened to F32.
    const lora::avx512::PackedRight& get(const torch::Tensor& weight) const;

private:
    struct State {
        std::mutex mutex;
        torch::Tensor source;
        int64_t version = -1;
        std::unique_ptr<lora::avx512::PackedRight> packed;
    };
    // Shared by copies of the layer (layers are moved into the network's vectors while loading).
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace atl::ops
