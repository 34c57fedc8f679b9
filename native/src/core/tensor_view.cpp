#include "tensor_view.hpp"

#include <sstream>

#include "status.hpp"

namespace atl {

c10::ScalarType to_scalar_type(int32_t dtype) {
    switch (dtype) {
        case ATL_DTYPE_F64: return torch::kFloat64;
        case ATL_DTYPE_F32: return torch::kFloat32;
        case ATL_DTYPE_F16: return torch::kFloat16;
        case ATL_DTYPE_BF16: return torch::kBFloat16;
        case ATL_DTYPE_I64: return torch::kInt64;
        case ATL_DTYPE_I32: return torch::kInt32;
        case ATL_DTYPE_I16: return torch::kInt16;
        case ATL_DTYPE_I8: return torch::kInt8;
        case ATL_DTYPE_U8: return torch::kUInt8;
        case ATL_DTYPE_BOOL: return torch::kBool;
        default: fail(ATL_ERR_INVALID_ARGUMENT, "unknown dtype code " + std::to_string(dtype));
    }
}

atl_dtype from_scalar_type(c10::ScalarType type) {
    switch (type) {
        case torch::kFloat64: return ATL_DTYPE_F64;
        case torch::kFloat32: return ATL_DTYPE_F32;
        case torch::kFloat16: return ATL_DTYPE_F16;
        case torch::kBFloat16: return ATL_DTYPE_BF16;
        case torch::kInt64: return ATL_DTYPE_I64;
        case torch::kInt32: return ATL_DTYPE_I32;
        case torch::kInt16: return ATL_DTYPE_I16;
        case torch::kInt8: return ATL_DTYPE_I8;
        case torch::kUInt8: return ATL_DTYPE_U8;
        case torch::kBool: return ATL_DTYPE_BOOL;
        default: fail(ATL_ERR_UNSUPPORTED, std::string("no atl_dtype for ") + c10::toString(type));
    }
}

std::string shape_string(c10::IntArrayRef shape) {
    std::ostringstream s;
    s << '[';
    for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

torch::Tensor wrap(const atl_tensor_view* view, const char* what) {
    require(view != nullptr, ATL_ERR_INVALID_ARGUMENT, std::string(what) + ": tensor view is NULL");
    require(view->ndim >= 0 && view->ndim <= ATL_MAX_DIMS, ATL_ERR_INVALID_ARGUMENT,
            std::string(what) + ": ndim " + std::to_string(view->ndim) + " is outside 0.." +
                std::to_string(ATL_MAX_DIMS));
    c10::ScalarType type = to_scalar_type(view->dtype);
    std::vector<int64_t> shape(view->shape, view->shape + view->ndim);
    std::vector<int64_t> strides(view->strides, view->strides + view->ndim);
    int64_t numel = 1;
    for (int64_t d : shape) {
        require(d >= 0, ATL_ERR_SHAPE, std::string(what) + ": negative dimension in " + shape_string(shape));
        numel *= d;
    }
    require(numel == 0 || view->data != nullptr, ATL_ERR_INVALID_ARGUMENT,
            std::string(what) + ": data is NULL");
    torch::Device device(torch::kCPU);
    if (view->device == ATL_DEVICE_CUDA) {
        require(torch::cuda::is_available(), ATL_ERR_UNSUPPORTED,
                std::string(what) + ": CUDA tensor given but CUDA is not available");
        device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(view->device_index));
    } else {
        require(view->device == ATL_DEVICE_CPU, ATL_ERR_INVALID_ARGUMENT,
                std::string(what) + ": unknown device " + std::to_string(view->device));
    }
    // from_blob with no deleter: libtorch never frees caller memory.
    return torch::from_blob(view->data, shape, strides, torch::TensorOptions().dtype(type).device(device));
}

void write_into(const atl_tensor_view* out, const torch::Tensor& src, const char* what) {
    torch::Tensor dst = wrap(out, what);
    require(dst.sizes() == src.sizes(), ATL_ERR_SHAPE,
            std::string(what) + ": expected shape " + shape_string(src.sizes()) + ", got " +
                shape_string(dst.sizes()));
    dst.copy_(src);
}

}  // namespace atl
