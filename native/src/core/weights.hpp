// Named tensors that wrap caller memory (memory-mapped safetensors) without a copy.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "atelier.h"

namespace atl {

using TensorMap = std::map<std::string, torch::Tensor>;

}  // namespace atl

struct atl_weights {
    // Shared so that models built from these weights outlive the handle (see atl_weights_destroy).
    std::shared_ptr<atl::TensorMap> tensors = std::make_shared<atl::TensorMap>();
};
