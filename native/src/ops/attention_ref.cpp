// The reference attention of attention.hpp: scores, softmax and P V per query row in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/attention.hpp"

namespace atl::ops::ref {

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, float* out) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.dim));
    std::vector<double> p(static_cast<size_t>(s.lk)), acc(static_cast<size_t>(s.dim));
    for (int64_t b = 0; b < s.batch; ++b) {
        for (int64_t h = 0; h < s.heads; ++h) {
            for (int64_t i = 0; i < s.lq; ++i) {
                const float* qi = q + (b * s.lq + i) * s.ldq + h * s.dim;
                double top = -INFINITY;
                for (int64_t j = 0; j < s.lk; ++j) {
                    const float* kj = k + (b * s.lk + j) * s.ldk + h * s.dim;
                    double dot = 0;
                    for (int64_t c = 0; c < s.dim; ++c) dot += static_cast<double>(qi[c]) * kj[c];
                    p[j] = dot * scale;
                    top = std::max(top, p[j]);
                }
                double sum = 0;
                for (int64_t j = 0; j < s.lk; ++j) sum += p[j] = std::exp(p[j] - top);
                std::fill(acc.begin(), acc.end(), 0.0);
                for (int64_t j = 0; j < s.lk; ++j) {
                    const float* vj = v + (b * s.lk + j) * s.ldv + h * s.dim;
                    for (int64_t c = 0; c < s.dim; ++c) acc[c] += p[j] * vj[c];
                }
                float* oi = out + (b * s.lq + i) * s.ldo + h * s.dim;
                for (int64_t c = 0; c < s.dim; ++c) oi[c] = static_cast<float>(acc[c] / sum);
            }
        }
    }
}

}  // namespace atl::ops::ref
