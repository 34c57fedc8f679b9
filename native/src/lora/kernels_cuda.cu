// CUDA kernels of the fused LoRA linear (kernels_cuda.hpp). One strided, shared-memory tiled GEMM
// does every product: operands are read through (row, column) strides, so x W^T, dy W, the
// low-rank projections and the reductions dA, dB need no transposed copies; and it sums up to two
// depth parts into the same accumulators, so [x | t] times [W^T ; s B^T] writes y once (the
// low-rank term is fused into the GEMM, as on the CPU). Checked against the CPU reference by the
// tests tagged gpu and by test_lora_kernels when a GPU is present.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "lora/kernels_cuda.hpp"

namespace atl::lora::cuda {

namespace {

constexpr int kTile = 32;    // C tile kTile x kTile; depth step kTile
constexpr int kThreadsY = 8; // block (32, 8): each thread computes kTile / kThreadsY rows of one column

// Element (i, j) of a matrix at p[i * s0 + j * s1].
struct Operand {
    const float* p;
    int64_t s0, s1;
};
// alpha * A(m, k) B(k, n) summed over k < depth.
struct Part {
    Operand a, b;
    int64_t depth;
    float alpha;
};

// C [m, n] (row stride ldc) = sum over parts + bias[n] (bias may be null). nparts 1 or 2.
__global__ void gemm_kernel(Part p0, Part p1, int nparts, int64_t m, int64_t n, const float* __restrict__ bias,
                            float* __restrict__ c, int64_t ldc) {
    __shared__ float as[kTile][kTile + 1];  // [row][k]; +1: no bank conflicts on the column reads
    __shared__ float bs[kTile][kTile + 1];  // [k][col]
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile, col0 = static_cast<int64_t>(blockIdx.x) * kTile;
    float acc[kTile / kThreadsY] = {};
    for (int q = 0; q < nparts; ++q) {
        const Part p = q == 0 ? p0 : p1;
        for (int64_t k0 = 0; k0 < p.depth; k0 += kTile) {
            for (int r = ty; r < kTile; r += kThreadsY) {
                const int64_t mi = row0 + r, ka = k0 + tx, kb = k0 + r, nj = col0 + tx;
                as[r][tx] = (mi < m && ka < p.depth) ? p.a.p[mi * p.a.s0 + ka * p.a.s1] : 0.f;
                bs[r][tx] = (kb < p.depth && nj < n) ? p.alpha * p.b.p[kb * p.b.s0 + nj * p.b.s1] : 0.f;
            }
            __syncthreads();
#pragma unroll 8
            for (int kk = 0; kk < kTile; ++kk) {
                const float bv = bs[kk][tx];
#pragma unroll
                for (int i = 0; i < kTile / kThreadsY; ++i) acc[i] += as[ty + kThreadsY * i][kk] * bv;
            }
            __syncthreads();
        }
    }
    const int64_t col = col0 + tx;
    if (col >= n) return;
    for (int i = 0; i < kTile / kThreadsY; ++i) {
        const int64_t row = row0 + ty + kThreadsY * i;
        if (row < m) c[row * ldc + col] = acc[i] + (bias ? bias[col] : 0.f);
    }
}

#define ATL_CU(call)                                                                             \
    do {                                                                                         \
        cudaError_t e_ = (call);                                                                 \
        if (e_ != cudaSuccess) return std::string("cuda: " #call ": ") + cudaGetErrorString(e_); \
    } while (0)

// Device buffers freed when the call returns, whatever the path.
class Buffers {
public:
    ~Buffers() {
        for (float* p : owned_) cudaFree(p);
    }
    std::string alloc(float** out, int64_t count) {
        *out = nullptr;
        if (count <= 0) return {};
        ATL_CU(cudaMalloc(reinterpret_cast<void**>(out), static_cast<size_t>(count) * sizeof(float)));
        owned_.push_back(*out);
        return {};
    }
    std::string upload(float** out, const float* host, int64_t count) {
        std::string e = alloc(out, count);
        if (!e.empty() || count <= 0) return e;
        ATL_CU(cudaMemcpy(*out, host, static_cast<size_t>(count) * sizeof(float), cudaMemcpyHostToDevice));
        return {};
    }

private:
    std::vector<float*> owned_;
};

std::string download(float* host, const float* dev, int64_t count) {
    if (count <= 0) return {};
    ATL_CU(cudaMemcpy(host, dev, static_cast<size_t>(count) * sizeof(float), cudaMemcpyDeviceToHost));
    return {};
}

std::string gemm(const Part& p0, const Part* p1, int64_t m, int64_t n, const float* bias, float* c) {
    if (m <= 0 || n <= 0) return {};
    const dim3 block(kTile, kThreadsY);
    const dim3 grid(static_cast<unsigned>((n + kTile - 1) / kTile), static_cast<unsigned>((m + kTile - 1) / kTile));
    if (grid.y > 65535u) return "cuda: " + std::to_string(m) + " rows exceed one launch";
    gemm_kernel<<<grid, block>>>(p0, p1 ? *p1 : p0, p1 ? 2 : 1, m, n, bias, c, n);
    ATL_CU(cudaGetLastError());
    return {};
}

#define ATL_TRY_CU(expr)             \
    do {                             \
        std::string e_ = (expr);     \
        if (!e_.empty()) return e_;  \
    } while (0)

}  // namespace

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return count;
}

std::string forward(const float* x, const float* w, const float* bias, const float* a, const float* q, int64_t n,
                    int64_t in, int64_t out, int64_t r, float* y) {
    ATL_CU(cudaSetDevice(0));
    Buffers buf;
    float *dx, *dw, *db = nullptr, *da, *dq, *dt, *dy;
    ATL_TRY_CU(buf.upload(&dx, x, n * in));
    ATL_TRY_CU(buf.upload(&dw, w, out * in));
    if (bias) ATL_TRY_CU(buf.upload(&db, bias, out));
    ATL_TRY_CU(buf.upload(&da, a, r * in));
    ATL_TRY_CU(buf.upload(&dq, q, r * out));
    ATL_TRY_CU(buf.alloc(&dt, n * r));
    ATL_TRY_CU(buf.alloc(&dy, n * out));
    const Part xw{{dx, in, 1}, {dw, 1, in}, in, 1.f};  // x [n, in] times W^T: B(k, o) = W[o, k]
    if (r > 0) {
        const Part xa{{dx, in, 1}, {da, 1, in}, in, 1.f};  // t = x A^T
        ATL_TRY_CU(gemm(xa, nullptr, n, r, nullptr, dt));
        const Part tq{{dt, r, 1}, {dq, out, 1}, r, 1.f};  // + t Q, same accumulators
        ATL_TRY_CU(gemm(xw, &tq, n, out, db, dy));
    } else {
        ATL_TRY_CU(gemm(xw, nullptr, n, out, db, dy));
    }
    ATL_CU(cudaDeviceSynchronize());
    return download(y, dy, n * out);
}

std::string backward(const float* x, const float* w, const float* a, const float* b, float scale, const float* dy,
                     int64_t n, int64_t in, int64_t out, int64_t r, float* dx, float* da, float* db) {
    ATL_CU(cudaSetDevice(0));
    Buffers buf;
    float *gx, *gw, *ga, *gb, *gdy, *gt, *gu, *gdx, *gda, *gdb;
    ATL_TRY_CU(buf.upload(&gx, x, n * in));
    ATL_TRY_CU(buf.upload(&gw, w, out * in));
    ATL_TRY_CU(buf.upload(&ga, a, r * in));
    ATL_TRY_CU(buf.upload(&gb, b, out * r));
    ATL_TRY_CU(buf.upload(&gdy, dy, n * out));
    ATL_TRY_CU(buf.alloc(&gt, n * r));
    ATL_TRY_CU(buf.alloc(&gu, n * r));
    ATL_TRY_CU(buf.alloc(&gdx, n * in));
    ATL_TRY_CU(buf.alloc(&gda, r * in));
    ATL_TRY_CU(buf.alloc(&gdb, out * r));
    const Part xa{{gx, in, 1}, {ga, 1, in}, in, 1.f};    // t = x A^T         [n, r]
    const Part gbm{{gdy, out, 1}, {gb, r, 1}, out, 1.f}; // u = dy B          [n, r]
    ATL_TRY_CU(gemm(xa, nullptr, n, r, nullptr, gt));
    ATL_TRY_CU(gemm(gbm, nullptr, n, r, nullptr, gu));
    const Part gwp{{gdy, out, 1}, {gw, in, 1}, out, 1.f};  // dy W
    const Part ua{{gu, r, 1}, {ga, in, 1}, r, scale};      // + s u A
    ATL_TRY_CU(gemm(gwp, r > 0 ? &ua : nullptr, n, in, nullptr, gdx));
    const Part utx{{gu, 1, r}, {gx, in, 1}, n, scale};      // dA = s u^T x
    const Part gtt{{gdy, 1, out}, {gt, r, 1}, n, scale};    // dB = s dy^T t
    ATL_TRY_CU(gemm(utx, nullptr, r, in, nullptr, gda));
    ATL_TRY_CU(gemm(gtt, nullptr, out, r, nullptr, gdb));
    ATL_CU(cudaDeviceSynchronize());
    ATL_TRY_CU(download(dx, gdx, n * in));
    ATL_TRY_CU(download(da, gda, r * in));
    return download(db, gdb, out * r);
}

}  // namespace atl::lora::cuda
