#include "ops/winograd.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>

#include "core/cpu_allocator.hpp"
#include "core/parallel.hpp"
#include "core/status.hpp"
#include "ops/simd.hpp"

namespace atl::ops {

namespace {

using lora::avx512::DepthPart;
using lora::avx512::Format;
using lora::avx512::PackedRight;

constexpr int64_t kChunk = 96;      // tiles per task: one row chunk of the packed GEMM
constexpr int64_t kChunkRows = 12;  // tiles per transform task when U and M are whole

// Input transform of the tiles [t0, t1): U[p][t - t0][c] (p's matrix `stride` rows apart) =
// (B^T d B)[p] of the 4x4 patch whose top-left input pixel is (2 ty - 1, 2 tx - 1), zeros outside
// the image.
// B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
ATL_AVX512 void input_tiles(const float* x, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                            int64_t t0, int64_t t1, int64_t stride, float* u) {
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
                for (int s = 0; s < 4; ++s) _mm512_mask_storeu_ps(u + ((4 * r + s) * stride + t - t0) * c + j, m, v[s]);
            }
        }
    }
}

// Output transform of the tiles [t0, t1) from M[p][t - t0][c] (p's matrix `stride` rows apart):
// the 2x2 block A^T M A (+ bias, per-sample bias, and the residual already in y when accumulate),
// cropped at the image's edge. A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
ATL_AVX512 void output_tiles(const float* mt, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                             int64_t t0, int64_t t1, int64_t stride, const float* bias, const float* sample_bias,
                             bool accumulate, float* y) {
    const int64_t per_sample = tiles_y * tiles_x;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / per_sample, ty = (t % per_sample) / tiles_x, tx = t % tiles_x;
        for (int64_t j = 0; j < c; j += 16) {
            const __mmask16 m = simd::mask_of(c - j);
            __m512 v[4][4];
            for (int p = 0; p < 16; ++p) v[p / 4][p % 4] = _mm512_maskz_loadu_ps(m, mt + (p * stride + t - t0) * c + j);
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

bool winograd_applies(int64_t kernel, int64_t stride, int64_t padding, int64_t height, int64_t width,
                      int64_t in, int64_t out, c10::ScalarType compute) {
    if (kernel != 3 || stride != 1 || padding != 1) return false;
    const int64_t pixels = height * width;
    if (compute != torch::kBFloat16) return pixels >= 64;
    // The transformed weights take 16/9 of the direct form's memory (32 bytes per input x output
    // channel in BF16). In F32 that buys a 2.25x cut in multiply-adds wherever the transforms pay;
    // in BF16 the direct GEMM already runs twice as fast and the weights are most of a
    // generation's memory, so only layers with many pixels per weight take it: 4096 pixels (at
    // 512 x 512 the UNet's first level; the VAE), or 256 with at most 1920 x 640 channels (the
    // UNet's first two levels from 256 x 256 up: about 220 MiB of transformed weights in place of
    // 120 MiB of direct ones, for about a tenth of the convolutions' time at 256 and 512; the two
    // deeper levels, with 4x fewer pixels per weight, would add about 700 MiB more).
    return pixels >= 4096 || (pixels >= 256 && in * out <= 1920 * 640);
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
    const int64_t chunks = (tiles + kChunk - 1) / kChunk;
    auto buffers = [&](int64_t rows) {
        CpuCacheBypass bypass;  // sizes of this call's own; the activations have others
        return std::make_pair(torch::empty({16, rows, in}, torch::kFloat),
                              torch::empty({16, rows, out}, torch::kFloat));
    };
    if (chunks >= 2 * at::get_num_threads()) {
        // Each task transforms a chunk of tiles, runs the 16 GEMMs on it (on its own thread: the
        // GEMM's parallel loop runs inline inside a task) and transforms it back: U and M are a
        // chunk each, written and read again while in cache, instead of 16 x tiles x channels
        // apiece in memory (at 512 x 512 x 128 channels the transforms were memory-bound).
        using Buffers = std::pair<torch::Tensor, torch::Tensor>;
        for_each_task(chunks, [&] { return buffers(kChunk); }, [&](int64_t task, Buffers& um) {
            const int64_t t0 = task * kChunk, t1 = std::min(tiles, t0 + kChunk);
            float* up = um.first.data_ptr<float>();
            float* mp = um.second.data_ptr<float>();
            input_tiles(x, h, w, in, tiles_y, tiles_x, t0, t1, kChunk, up);
            for (int64_t p = 0; p < 16; ++p) {
                const DepthPart part{up + p * kChunk * in, in, weights.packed[p].get()};
                lora::avx512::gemm(&part, 1, t1 - t0, nullptr, mp + p * kChunk * out, out);
            }
            output_tiles(mp, h, w, out, tiles_y, tiles_x, t0, t1, kChunk, bias, sample_bias, accumulate, y);
        });
        return;
    }
    // Too few tiles to give every thread chunks: whole U and M, and the GEMM parallel over columns.
    auto [u, m] = buffers(tiles);
    float* up = u.data_ptr<float>();
    float* mp = m.data_ptr<float>();
    const int64_t tasks = (tiles + kChunkRows - 1) / kChunkRows;
    for_each_task(tasks, [&](int64_t task) {
        const int64_t t0 = task * kChunkRows;
        input_tiles(x, h, w, in, tiles_y, tiles_x, t0, std::min(tiles, t0 + kChunkRows), tiles, up + t0 * in);
    });
    for (int64_t p = 0; p < 16; ++p) {
        const DepthPart part{up + p * tiles * in, in, weights.packed[p].get()};
        lora::avx512::gemm(&part, 1, tiles, nullptr, mp + p * tiles * out, out);
    }
    for_each_task(tasks, [&](int64_t task) {
        const int64_t t0 = task * kChunkRows;
        output_tiles(mp + t0 * out, h, w, out, tiles_y, tiles_x, t0, std::min(tiles, t0 + kChunkRows), tiles, bias,
                     sample_bias, accumulate, y);
    });
}

}  // namespace atl::ops
