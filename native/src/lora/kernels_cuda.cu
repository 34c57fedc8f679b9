// CUDA kernels of the fused LoRA linear (kernels_cuda.hpp). One strided, shared-memory tiled GEMM
// does every product: operands are read through (row, column) strides, so x W^T, dy W, the
// low-rank projections and the reductions dA, dB need no transposed copies; and it sums up to two
// depth parts into the same accumulators, so [x | t] times [W^T ; s B^T] writes y once (the
// low-rank term is fused into the GEMM, as on the CPU). Operands of F16 or BF16 are widened to F32
// as they are read into shared memory and the sums stay F32; a 16-bit output is rounded once, when
// stored. Checked against the CPU reference by the tests tagged gpu and by test_lora_kernels when a
// GPU is present.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "lora/kernels_cuda.hpp"

namespace atl::lora::cuda {

namespace {

constexpr int kTile = 32;    // C tile kTile x kTile; depth step kTile
constexpr int kThreadsY = 8; // block (32, 8): each thread computes kTile / kThreadsY rows of one column

// Element (i, j) of a matrix at p[i * s0 + j * s1], of type e.
struct Operand {
    const void* p;
    int64_t s0, s1;
    Element e;
};

size_t size_of(Element e) { return e == Element::F32 ? sizeof(float) : 2; }

__device__ __forceinline__ float load(const Operand& o, int64_t i, int64_t j) {
    const int64_t at = i * o.s0 + j * o.s1;
    switch (o.e) {
        case Element::F16: return __half2float(static_cast<const __half*>(o.p)[at]);
        case Element::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(o.p)[at]);
        default: return static_cast<const float*>(o.p)[at];
    }
}

__device__ __forceinline__ void store(void* c, Element e, int64_t at, float v) {
    switch (e) {
        case Element::F16: static_cast<__half*>(c)[at] = __float2half_rn(v); break;
        case Element::BF16: static_cast<__nv_bfloat16*>(c)[at] = __float2bfloat16_rn(v); break;
        default: static_cast<float*>(c)[at] = v;
    }
}
// alpha * A(m, k) B(k, n) summed over k < depth.
struct Part {
    Operand a, b;
    int64_t depth;
    float alpha;
};

// C [m, n] (row stride ldc, type ce) = sum over parts + bias[n] (bias may be null). nparts 1 or 2.
__global__ void gemm_kernel(Part p0, Part p1, int nparts, int64_t m, int64_t n, const float* __restrict__ bias,
                            void* __restrict__ c, Element ce, int64_t ldc) {
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
                as[r][tx] = (mi < m && ka < p.depth) ? load(p.a, mi, ka) : 0.f;
                bs[r][tx] = (kb < p.depth && nj < n) ? p.alpha * load(p.b, kb, nj) : 0.f;
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
        if (row < m) store(c, ce, row * ldc + col, acc[i] + (bias ? bias[col] : 0.f));
    }
}

#define ATL_CU(call)                                                                             \
    do {                                                                                         \
        cudaError_t e_ = (call);                                                                 \
        if (e_ != cudaSuccess) return std::string("cuda: " #call ": ") + cudaGetErrorString(e_); \
    } while (0)

// Device buffers of count elements of type e, freed when the call returns, whatever the path.
class Buffers {
public:
    ~Buffers() {
        for (void* p : owned_) cudaFree(p);
    }
    template <typename T>
    std::string alloc(T** out, int64_t count, Element e = Element::F32) {
        void* p = nullptr;
        std::string error = allocate(&p, count, e);
        *out = static_cast<T*>(p);
        return error;
    }
    template <typename T>
    std::string upload(const T** out, const T* host, int64_t count, Element e = Element::F32) {
        T* p = nullptr;
        std::string error = alloc(&p, count, e);
        *out = p;
        if (!error.empty() || count <= 0) return error;
        ATL_CU(cudaMemcpy(p, host, static_cast<size_t>(count) * size_of(e), cudaMemcpyHostToDevice));
        return {};
    }

private:
    std::string allocate(void** out, int64_t count, Element e) {
        if (count <= 0) return {};
        ATL_CU(cudaMalloc(out, static_cast<size_t>(count) * size_of(e)));
        owned_.push_back(*out);
        return {};
    }
    std::vector<void*> owned_;
};

template <typename T>
std::string download(T* host, const T* dev, int64_t count, Element e = Element::F32) {
    if (count <= 0) return {};
    ATL_CU(cudaMemcpy(host, dev, static_cast<size_t>(count) * size_of(e), cudaMemcpyDeviceToHost));
    return {};
}

std::string gemm(const Part& p0, const Part* p1, int64_t m, int64_t n, const float* bias, void* c,
                 Element ce = Element::F32) {
    if (m <= 0 || n <= 0) return {};
    const dim3 block(kTile, kThreadsY);
    const dim3 grid(static_cast<unsigned>((n + kTile - 1) / kTile), static_cast<unsigned>((m + kTile - 1) / kTile));
    if (grid.y > 65535u) return "cuda: " + std::to_string(m) + " rows exceed one launch";
    gemm_kernel<<<grid, block>>>(p0, p1 ? *p1 : p0, p1 ? 2 : 1, m, n, bias, c, ce, n);
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

std::string forward(Element e, const void* x, const void* w, const float* bias, const float* a, const float* q,
                    int64_t n, int64_t in, int64_t out, int64_t r, void* y) {
    ATL_CU(cudaSetDevice(0));
    Buffers buf;
    const void *dx, *dw;
    const float *db = nullptr, *da, *dq;
    float* dt;
    void* dy;
    ATL_TRY_CU(buf.upload(&dx, x, n * in, e));
    ATL_TRY_CU(buf.upload(&dw, w, out * in, e));
    if (bias) ATL_TRY_CU(buf.upload(&db, bias, out));
    ATL_TRY_CU(buf.upload(&da, a, r * in));
    ATL_TRY_CU(buf.upload(&dq, q, r * out));
    ATL_TRY_CU(buf.alloc(&dt, n * r));
    ATL_TRY_CU(buf.alloc(&dy, n * out, e));
    const Operand xm{dx, in, 1, e};
    const Part xw{xm, {dw, 1, in, e}, in, 1.f};  // x [n, in] times W^T: B(k, o) = W[o, k]
    if (r > 0) {
        const Part xa{xm, {da, 1, in, Element::F32}, in, 1.f};  // t = x A^T
        ATL_TRY_CU(gemm(xa, nullptr, n, r, nullptr, dt));
        const Part tq{{dt, r, 1, Element::F32}, {dq, out, 1, Element::F32}, r, 1.f};  // + t Q, same accumulators
        ATL_TRY_CU(gemm(xw, &tq, n, out, db, dy, e));
    } else {
        ATL_TRY_CU(gemm(xw, nullptr, n, out, db, dy, e));
    }
    ATL_CU(cudaDeviceSynchronize());
    return download<void>(y, dy, n * out, e);
}

std::string backward(Element e, const void* x, const void* w, const float* a, const float* b, float scale,
                     const void* dy, int64_t n, int64_t in, int64_t out, int64_t r, void* dx, float* da, float* db) {
    ATL_CU(cudaSetDevice(0));
    Buffers buf;
    const void *gx, *gw, *gdy;
    const float *ga, *gb;
    float *gt, *gu, *gda, *gdb;
    void* gdx;
    ATL_TRY_CU(buf.upload(&gx, x, n * in, e));
    ATL_TRY_CU(buf.upload(&gw, w, out * in, e));
    ATL_TRY_CU(buf.upload(&ga, a, r * in));
    ATL_TRY_CU(buf.upload(&gb, b, out * r));
    ATL_TRY_CU(buf.upload(&gdy, dy, n * out, e));
    ATL_TRY_CU(buf.alloc(&gt, n * r));
    ATL_TRY_CU(buf.alloc(&gu, n * r));
    ATL_TRY_CU(buf.alloc(&gdx, n * in, e));
    ATL_TRY_CU(buf.alloc(&gda, r * in));
    ATL_TRY_CU(buf.alloc(&gdb, out * r));
    constexpr Element f32 = Element::F32;
    const Part xa{{gx, in, 1, e}, {ga, 1, in, f32}, in, 1.f};     // t = x A^T         [n, r]
    const Part gbm{{gdy, out, 1, e}, {gb, r, 1, f32}, out, 1.f};  // u = dy B          [n, r]
    ATL_TRY_CU(gemm(xa, nullptr, n, r, nullptr, gt));
    ATL_TRY_CU(gemm(gbm, nullptr, n, r, nullptr, gu));
    const Part gwp{{gdy, out, 1, e}, {gw, in, 1, e}, out, 1.f};  // dy W
    const Part ua{{gu, r, 1, f32}, {ga, in, 1, f32}, r, scale};  // + s u A
    ATL_TRY_CU(gemm(gwp, r > 0 ? &ua : nullptr, n, in, nullptr, gdx, e));
    const Part utx{{gu, 1, r, f32}, {gx, in, 1, e}, n, scale};      // dA = s u^T x
    const Part gtt{{gdy, 1, out, e}, {gt, r, 1, f32}, n, scale};    // dB = s dy^T t
    ATL_TRY_CU(gemm(utx, nullptr, r, in, nullptr, gda));
    ATL_TRY_CU(gemm(gtt, nullptr, out, r, nullptr, gdb));
    ATL_CU(cudaDeviceSynchronize());
    ATL_TRY_CU(download<void>(dx, gdx, n * in, e));
    ATL_TRY_CU(download(da, gda, r * in));
    return download(db, gdb, out * r);
}

}  // namespace atl::lora::cuda
