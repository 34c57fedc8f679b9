// Checks on the atl_tensor_view arguments of the index functions. FAISS wants plain
// contiguous float / int64 rows, so these check and hand out raw pointers without libtorch
// (keeps these files free of the heavy torch headers).
#pragma once

#include <cstdint>

#include "atelier.h"

namespace atl::index {

// A contiguous CPU F32 [rows, cols] view. cols < 0 accepts any width. `what` names the argument.
struct Matrix {
    float* data;
    int64_t rows;
    int64_t cols;
};
Matrix f32_matrix(const atl_tensor_view* v, int64_t cols, const char* what);

// A contiguous CPU I64 [n] view (n < 0 accepts any length).
struct Ids {
    int64_t* data;
    int64_t n;
};
Ids i64_vector(const atl_tensor_view* v, int64_t n, const char* what);

// Checks out is F32 [rows, cols] / I64 [rows, cols], contiguous, on the CPU.
float* f32_output(const atl_tensor_view* v, int64_t rows, int64_t cols, const char* what);
int64_t* i64_output(const atl_tensor_view* v, int64_t rows, int64_t cols, const char* what);

}  // namespace atl::index
