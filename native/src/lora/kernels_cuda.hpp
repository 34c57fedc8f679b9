// CUDA versions of the fused LoRA linear (kernels_cuda.cu): plain CUDA runtime, no libtorch, so
// they build wherever nvcc is (Debian's libtorch has no CUDA) and run on any GPU machine. Host
// pointers in and out (contiguous, caller-owned): each call copies its inputs to device 0, runs,
// copies the results back and frees its device memory. Errors come back as a message (empty:
// success); nothing aborts.
#pragma once

#include <cstdint>
#include <string>

namespace atl::lora::cuda {

// The element type of the activations and the frozen weight (x, W, y; dy and dx): what a network
// computes in. The adapters (A, Q, B), the bias and the adapters' gradients are F32, and every
// product accumulates in F32, as in mixed-precision training.
enum class Element { F32, F16, BF16 };

// Number of usable devices; 0 without a driver or a GPU.
int device_count();

// y [n, out] = x [n, in] W^T + bias + (x A^T) Q with A [r, in], Q [r, out] (the scale folded into
// Q); r may be 0. bias may be null. One fused GEMM over the extended depth in + r. x, w and y of
// type e.
std::string forward(Element e, const void* x, const void* w, const float* bias, const float* a, const float* q,
                    int64_t n, int64_t in, int64_t out, int64_t r, void* y);

// Gradients of y = x W^T + s (x A^T) B^T for frozen W: dx [n, in] = dy W + s (dy B) A (one fused
// GEMM), da [r, in] = s (dy B)^T x, db [out, r] = s dy^T (x A^T). x, w, dy and dx of type e.
std::string backward(Element e, const void* x, const void* w, const float* a, const float* b, float scale,
                     const void* dy, int64_t n, int64_t in, int64_t out, int64_t r, void* dx, float* da, float* db);

}  // namespace atl::lora::cuda
