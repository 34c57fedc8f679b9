#include "ops/winograd.hpp"

#include <algorithm>

#include "core/parallel.hpp"
#include "core/status.hpp"
#include "ops/simd.hpp"

namespace atl::ops {

namespace {

using lora::avx512::DepthPart;
using lora::avx512::Format;
using lora::avx512::PackedRight;

constexpr int64_t kTilesPerTask = 16;

// Input transform of the tiles [t0, t1): U[p][t][c] = (B^T d B)[p] of the 4x4 patch whose top-left
// input pixel is (2 ty - 1, 2 tx - 1), zeros outside the image.
// B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
ATL_AVX512 void input_tiles(const float* x, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                            int64_t t0, int64_t t1, int64_t tiles, float* u) {
    const int64_t per_sample = tiles_y * tiles_x;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / per_sample, ty = (t % per_sample) / tiles_x, tx = t % tiles_x;
        const float* rows[4][4];
        for (int r = 0; r < 4; ++r) {
            const int64_t iy = 2 * ty - 1 + r;
            for (int s = 0; s < 4; ++s) {
                const int64_t ix = 2 * tx - 1 + s;
                rows[r][s] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x + ((n * h + iy) * w + ix) * c : nullptr;
            }
        }
        for (int64_t j = 0; j < c; j += 16) {
            const __mmask16 m = simd::mask_of(c - j);
            __m512 d[4][4];
            for (int r = 0; r < 4; ++r) {
                for (int s = 0; s < 4; ++s) d[r][s] = rows[r][s] ? _mm512_maskz_loadu_ps(m, rows[r][s] + j) : _mm512_setzero_ps();
            }
            __m512 b[4][4];  // B^T d
            for (int s = 0; s < 4; ++s) {
                b[0][s] = _mm512_sub_ps(d[0][s], d[2][s]);
                b[1][s] = _mm512_add_ps(d[1][s], d[2][s]);
                b[2][s] = _mm512_sub_ps(d[2][s], d[1][s]);
                b[3][s] = _mm512_sub_ps(d[1][s], d[3][s]);
            }
            for (int r = 0; r < 4; ++r) {  // (B^T d) B
                const __m512 v[4] = {_mm512_sub_ps(b[r][0], b[r][2]), _mm512_add_ps(b[r][1], b[r][2]),
                                     _mm512_sub_ps(b[r][2], b[r][1]), _mm512_sub_ps(b[r][1], b[r][3])};
                for (int s = 0; s < 4; ++s) _mm512_mask_storeu_ps(u + ((4 * r + s) * tiles + t) * c + j, m, v[s]);
            }
        }
    }
}

// Output transform of the tiles [t0, t1): the 2x2 block A^T M A (+ bias, per-sample bias, and the
// residual already in y when accumulate), cropped at the image's edge.
// A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
ATL_AVX512 void output_tiles(const float* mt, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                             int64_t t0, int64_t t1, int64_t tiles, const float* bias, const float* sample_bias,
                             bool accumulate, float* y) {
    const int64_t per_sample = tiles_y * tiles_x;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / per_sample, ty = (t % per_sample) / tiles_x, tx = t % tiles_x;
        for (int64_t j = 0; j < c; j += 16) {
            const __mmask16 m = simd::mask_of(c - j);
            __m512 v[4][4];
            for (int p = 0; p < 16; ++p) v[p / 4][p % 4] = _mm512_maskz_loadu_ps(m, mt + (p * tiles + t) * c + j);
            __m512 a[2][4];  // A^T M
            for (int s = 0; s < 4; ++s) {
                a[0][s] = _mm512_add_ps(_mm512_add_ps(v[0][s], v[1][s]), v[2][s]);
                a[1][s] = _mm512_sub_ps(_mm512_sub_ps(v[1][s], v[2][s]), v[3][s]);
            }
            __m512 add = bias ? _mm512_maskz_loadu_ps(m, bias + j) : _mm512_setzero_ps();
            if (sample_bias) add = _mm512_add_ps(add, _mm512_maskz_loadu_ps(m, sample_bias + n * c + j));
            for (int r = 0; r < 2; ++r) {
                const __m512 out[2] = {_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[r][0], a[r][1]), a[r][2]), add),
                                       _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(a[r][1], a[r][2]), a[r][3]), add)};
                const int64_t oy = 2 * ty + r;
                if (oy >= h) continue;
                for (int s = 0; s < 2; ++s) {
                    const int64_t ox = 2 * tx + s;
                    if (ox >= w) continue;
                    float* dst = y + ((n * h + oy) * w + ox) * c + j;
                    const __m512 value = accumulate ? _mm512_add_ps(out[s], _mm512_maskz_loadu_ps(m, dst)) : out[s];
                    _mm512_mask_storeu_ps(dst, m, value);
                }
            }
        }
    }
}

}  // namespace

bool winograd_applies(int64_t kernel, int64_t stride, int64_t padding, int64_t height, int64_t width) {
    return kernel == 3 && stride == 1 && padding == 1 && height * width >= 64;
}

std::unique_ptr<WinogradWeights> winograd_weights(const torch::Tensor& weight, Format format) {
    // G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]; G g G^T in F32 (halves and
    // sums of three terms: at most a rounding or two per element).
    const torch::Tensor g = torch::tensor({1.f, 0.f, 0.f, 0.5f, 0.5f, 0.5f, 0.5f, -0.5f, 0.5f, 0.f, 0.f, 1.f}).reshape({4, 3});
    torch::Tensor u = torch::matmul(torch::matmul(g, weight.to(torch::kFloat)), g.t());  // [out, in, 4, 4]
    const int64_t out = weight.size(0), in = weight.size(1);
    auto result = std::make_unique<WinogradWeights>();
    for (int64_t p = 0; p < 16; ++p) {
        torch::Tensor rows = u.select(3, p % 4).select(2, p / 4);  // [out, in]
        auto packed = std::make_unique<PackedRight>(in, out, format);
        if (format == Format::Bf16Pairs) {
            torch::Tensor b = rows.to(torch::kBFloat16).contiguous();
            lora::avx512::pack_transposed_bf16(reinterpret_cast<const uint16_t*>(b.data_ptr()), in, *packed);
        } else {
            torch::Tensor f = rows.to(torch::kFloat).contiguous();
            lora::avx512::pack_transposed(f.data_ptr<float>(), in, *packed);
        }
        result->packed.push_back(std::move(packed));
    }
    return result;
}

void conv_winograd(const float* x, int64_t n, int64_t h, int64_t w, int64_t in, const WinogradWeights& weights,
                   const float* bias, const float* sample_bias, bool accumulate, float* y) {
    const int64_t out = weights.packed[0]->out();
    const int64_t tiles_y = (h + 1) / 2, tiles_x = (w + 1) / 2, tiles = n * tiles_y * tiles_x;
    const int64_t tasks = (tiles + kTilesPerTask - 1) / kTilesPerTask;
    torch::Tensor u = torch::empty({16, tiles, in}, torch::kFloat), m = torch::empty({16, tiles, out}, torch::kFloat);
    float* up = u.data_ptr<float>();
    float* mp = m.data_ptr<float>();
    for_each_task(tasks, [&](int64_t task) {
        const int64_t t0 = task * kTilesPerTask;
        input_tiles(x, h, w, in, tiles_y, tiles_x, t0, std::min(tiles, t0 + kTilesPerTask), tiles, up);
    });
    for (int64_t p = 0; p < 16; ++p) {
        const DepthPart part{up + p * tiles * in, in, weights.packed[p].get()};
        lora::avx512::gemm(&part, 1, tiles, nullptr, mp + p * tiles * out, out);
    }
    for_each_task(tasks, [&](int64_t task) {
        const int64_t t0 = task * kTilesPerTask;
        output_tiles(mp, h, w, out, tiles_y, tiles_x, t0, std::min(tiles, t0 + kTilesPerTask), tiles, bias, sample_bias,
                     accumulate, y);
    });
}

}  // namespace atl::ops
