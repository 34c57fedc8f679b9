// CUDA versions of the fused LoRA linear (kernels.hpp, namespace cuda). Built only when CMake
// finds CUDA and a CUDA libtorch (ATL_WITH_CUDA); checked against the CPU reference by the
// tests tagged gpu. The dense GEMMs go to cuBLAS through libtorch; the low-rank projection and
// expansion are the hand-written kernels below, F32.
#include <ATen/cuda/CUDAContext.h>

#include "core/status.hpp"
#include "lora/kernels.hpp"

namespace atl::lora::cuda {

namespace {

constexpr int kThreads = 128;

// T[i, j] = sum_c X[i, c] P[j, c]: one block per row i, the row staged in shared memory,
// a warp per rank j with a shuffle reduction.
__global__ void project_kernel(const float* __restrict__ x, int64_t k, const float* __restrict__ p, int64_t r,
                               float* __restrict__ t) {
    extern __shared__ float row[];
    const int64_t i = blockIdx.x;
    for (int64_t c = threadIdx.x; c < k; c += blockDim.x) row[c] = x[i * k + c];
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int64_t j = warp; j < r; j += warps) {
        float acc = 0.f;
        for (int64_t c = lane; c < k; c += 32) acc += row[c] * p[j * k + c];
        for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) t[i * r + j] = acc;
    }
}

// Y[i, c] += sum_j T[i, j] Q[j, c]: blocks over (row, column strip), T's row in shared memory.
__global__ void expand_add_kernel(const float* __restrict__ t, int64_t r, const float* __restrict__ q, int64_t m,
                                  float* __restrict__ y) {
    extern __shared__ float ti[];
    const int64_t i = blockIdx.x;
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) ti[j] = t[i * r + j];
    __syncthreads();
    const int64_t c = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
    if (c >= m) return;
    float acc = 0.f;
    for (int64_t j = 0; j < r; ++j) acc += ti[j] * q[j * m + c];
    y[i * m + c] += acc;
}

void project(const torch::Tensor& x, const torch::Tensor& p, torch::Tensor& t) {
    const int64_t n = x.size(0), k = x.size(1), r = p.size(0);
    if (n == 0) return;
    auto stream = at::cuda::getCurrentCUDAStream();
    project_kernel<<<static_cast<unsigned>(n), kThreads, k * sizeof(float), stream>>>(
        x.data_ptr<float>(), k, p.data_ptr<float>(), r, t.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void expand_add(const torch::Tensor& t, const torch::Tensor& q, torch::Tensor& y) {
    const int64_t n = t.size(0), r = t.size(1), m = q.size(1);
    if (n == 0) return;
    dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>((m + kThreads - 1) / kThreads));
    auto stream = at::cuda::getCurrentCUDAStream();
    expand_add_kernel<<<grid, kThreads, r * sizeof(float), stream>>>(t.data_ptr<float>(), r, q.data_ptr<float>(), m,
                                                                    y.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
}

torch::Tensor f32(const torch::Tensor& t) { return t.to(torch::kFloat).contiguous(); }

}  // namespace

torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                      const LowRank& term) {
    torch::Tensor xc = f32(x), a = f32(term.a);
    torch::Tensor q = term.b.to(torch::kFloat).t().mul(term.scale).contiguous();  // s B^T [r, out]
    torch::Tensor y = torch::linear(xc, f32(weight), bias.defined() ? f32(bias) : bias).contiguous();
    torch::Tensor t = torch::empty({xc.size(0), a.size(0)}, xc.options());
    project(xc, a, t);
    expand_add(t, q, y);
    return y;
}

Grads backward(const torch::Tensor& x, const torch::Tensor& weight, const LowRank& term, const torch::Tensor& dy) {
    torch::Tensor xc = f32(x), g = f32(dy), a = f32(term.a);
    torch::Tensor bt = term.b.to(torch::kFloat).t().contiguous();  // [r, out]
    const int64_t n = xc.size(0), r = a.size(0);
    torch::Tensor t = torch::empty({n, r}, xc.options()), u = torch::empty({n, r}, xc.options());
    project(xc, a, t);   // t = x A^T
    project(g, bt, u);   // u = dy B
    torch::Tensor dx = torch::mm(g, f32(weight)).contiguous();
    torch::Tensor sa = a.mul(term.scale).contiguous();
    expand_add(u, sa, dx);  // dx += s u A
    return {dx, torch::mm(u.t(), xc).mul_(term.scale), torch::mm(g.t(), t).mul_(term.scale)};
}

}  // namespace atl::lora::cuda
