#include "index/views.hpp"

#include <string>

#include "core/status.hpp"

namespace atl::index {
namespace {

std::string shape_of(const atl_tensor_view* v) {
    std::string s = "[";
    for (int32_t i = 0; i < v->ndim; ++i) s += (i ? ", " : "") + std::to_string(v->shape[i]);
    return s + "]";
}

void check_common(const atl_tensor_view* v, int32_t dtype, int32_t ndim, const char* what) {
    require(v != nullptr, ATL_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    require(v->device == ATL_DEVICE_CPU, ATL_ERR_UNSUPPORTED, std::string(what) + " must be on the CPU");
    require(v->dtype == dtype, ATL_ERR_SHAPE,
            std::string(what) + " must be " + atl_dtype_name(dtype) + ", got " +
                (atl_dtype_name(v->dtype) ? atl_dtype_name(v->dtype) : "an unknown dtype"));
    require(v->ndim == ndim, ATL_ERR_SHAPE,
            std::string(what) + " must have " + std::to_string(ndim) + " dimensions, got " + shape_of(v));
    // Contiguous row-major: FAISS reads rows back to back.
    int64_t expected = 1;
    for (int32_t i = ndim - 1; i >= 0; --i) {
        require(v->shape[i] >= 0, ATL_ERR_SHAPE, std::string(what) + " has a negative size");
        require(v->shape[i] <= 1 || v->strides[i] == expected, ATL_ERR_SHAPE,
                std::string(what) + " must be contiguous");
        expected *= v->shape[i];
    }
    require(expected == 0 || v->data != nullptr, ATL_ERR_INVALID_ARGUMENT, std::string(what) + " has no data");
}

}  // namespace

Matrix f32_matrix(const atl_tensor_view* v, int64_t cols, const char* what) {
    check_common(v, ATL_DTYPE_F32, 2, what);
    require(cols < 0 || v->shape[1] == cols, ATL_ERR_SHAPE,
            std::string(what) + " must have " + std::to_string(cols) + " columns, got " + shape_of(v));
    return {static_cast<float*>(v->data), v->shape[0], v->shape[1]};
}

Ids i64_vector(const atl_tensor_view* v, int64_t n, const char* what) {
    check_common(v, ATL_DTYPE_I64, 1, what);
    require(n < 0 || v->shape[0] == n, ATL_ERR_SHAPE,
            std::string(what) + " must have " + std::to_string(n) + " elements, got " + shape_of(v));
    return {static_cast<int64_t*>(v->data), v->shape[0]};
}

float* f32_output(const atl_tensor_view* v, int64_t rows, int64_t cols, const char* what) {
    check_common(v, ATL_DTYPE_F32, 2, what);
    require(v->shape[0] == rows && v->shape[1] == cols, ATL_ERR_SHAPE,
            std::string(what) + " must be [" + std::to_string(rows) + ", " + std::to_string(cols) + "], got " +
                shape_of(v));
    return static_cast<float*>(v->data);
}

int64_t* i64_output(const atl_tensor_view* v, int64_t rows, int64_t cols, const char* what) {
    check_common(v, ATL_DTYPE_I64, 2, what);
    require(v->shape[0] == rows && v->shape[1] == cols, ATL_ERR_SHAPE,
            std::string(what) + " must be [" + std::to_string(rows) + ", " + std::to_string(cols) + "], got " +
                shape_of(v));
    return static_cast<int64_t*>(v->data);
}

}  // namespace atl::index
