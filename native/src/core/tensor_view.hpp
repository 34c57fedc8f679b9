// Conversion between atl_tensor_view (memory owned by the caller) and libtorch tensors.
#pragma once

#include <torch/torch.h>

#include <string>

#include "atelier.h"

namespace atl {

c10::ScalarType to_scalar_type(int32_t dtype);
atl_dtype from_scalar_type(c10::ScalarType type);

// Wraps the view's memory as a tensor without copying. The tensor does not own the memory:
// it is valid only while the caller keeps view->data alive. `what` names the argument in errors.
torch::Tensor wrap(const atl_tensor_view* view, const char* what);

// Checks that out has exactly this shape and dtype, then copies src into it
// (converting dtype when needed). `what` names the argument in errors.
void write_into(const atl_tensor_view* out, const torch::Tensor& src, const char* what);

std::string shape_string(c10::IntArrayRef shape);

}  // namespace atl
