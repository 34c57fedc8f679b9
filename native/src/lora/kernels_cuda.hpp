// CUDA versions of the fused LoRA linear (kernels_cuda.cu): plain CUDA runtime, no libtorch, so
// they build wherever nvcc is (Debian's libtorch has no CUDA) and run on any GPU machine. Host
// pointers in and out (F32, contiguous, caller-owned): each call copies its inputs to device 0,
// runs, copies the results back and frees its device memory. Errors come back as a message
// (empty: success); nothing aborts.
#pragma once

#include <cstdint>
#include <string>

namespace atl::lora::cuda {

// Number of usable devices; 0 without a driver or a GPU.
int device_count();

// y [n, out] = x [n, in] W^T + bias + (x A^T) Q with A [r, in], Q [r, out] (the scale folded into
// Q); r may be 0. bias may be null. One fused GEMM over the extended depth in + r.
std::string forward(const float* x, const float* w, const float* bias, const float* a, const float* q, int64_t n,
                    int64_t in, int64_t out, int64_t r, float* y);

// Gradients of y = x W^T + s (x A^T) B^T for frozen W: dx [n, in] = dy W + s (dy B) A (one fused
// GEMM), da [r, in] = s (dy B)^T x, db [out, r] = s dy^T (x A^T).
std::string backward(const float* x, const float* w, const float* a, const float* b, float scale, const float* dy,
                     int64_t n, int64_t in, int64_t out, int64_t r, float* dx, float* da, float* db);

}  // namespace atl::lora::cuda
