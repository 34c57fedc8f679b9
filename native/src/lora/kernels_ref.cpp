// Plain scalar versions of the low-rank pieces: the reference the SIMD variants are checked against.
#include "lora/kernels.hpp"

namespace atl::lora::ref {

void project(const float* x, int64_t ldx, int64_t n, int64_t k, const float* p, int64_t r, float* t) {
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < r; ++j) {
            double acc = 0;
            for (int64_t c = 0; c < k; ++c) acc += static_cast<double>(x[i * ldx + c]) * p[j * k + c];
            t[i * r + j] = static_cast<float>(acc);
        }
    }
}

void expand_add(const float* t, int64_t n, int64_t r, const float* q, int64_t m, float* y, int64_t ldy) {
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t c = 0; c < m; ++c) {
            double acc = 0;
            for (int64_t j = 0; j < r; ++j) acc += static_cast<double>(t[i * r + j]) * q[j * m + c];
            y[i * ldy + c] += static_cast<float>(acc);
        }
    }
}

}  // namespace atl::lora::ref
