// Builds without nvcc: the CUDA entry points report that there are no CUDA kernels.
// kernel_available(Kernel::Cuda) is false there, so the kernels never call them.
#ifndef ATL_WITH_CUDA

#include "lora/kernels_cuda.hpp"

namespace atl::lora::cuda {

int device_count() { return 0; }

std::string forward(Element, const void*, const void*, const float*, const float*, const float*, int64_t, int64_t,
                    int64_t, int64_t, void*) {
    return "cuda: this build has no CUDA kernels";
}

std::string backward(Element, const void*, const void*, const float*, const float*, float, const void*, int64_t,
                     int64_t, int64_t, int64_t, void*, float*, float*) {
    return "cuda: this build has no CUDA kernels";
}

}  // namespace atl::lora::cuda

#endif
