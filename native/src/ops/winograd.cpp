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

// The 1-D transforms, applied to 16 channels at once. F(2, 3): B^T = [[1, 0, -1, 0], [0, 1, 1,
// 0], [0, -1, 1, 0], [0, 1, 0, -1]], A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
ATL_AVX512 inline void input_transform(const __m512 (&d)[4], __m512 (&r)[4]) {
    r[0] = _mm512_sub_ps(d[0], d[2]);
    r[1] = _mm512_add_ps(d[1], d[2]);
    r[2] = _mm512_sub_ps(d[2], d[1]);
    r[3] = _mm512_sub_ps(d[1], d[3]);
}

ATL_AVX512 inline void output_transform(const __m512 (&m)[4], __m512 (&o)[2]) {
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]);
}

// F(4, 3) (interpolation points 0, 1, -1, 2, -2 and infinity): B^T = [[4, 0, -5, 0, 1, 0], [0, -4,
// -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0,
// 1]], A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]].
ATL_AVX512 inline void input_transform(const __m512 (&d)[6], __m512 (&r)[6]) {
    const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f), two = _mm512_set1_ps(2.f);
    const __m512 t1 = _mm512_fnmadd_ps(four, d[2], d[4]);  // d4 - 4 d2
    const __m512 t2 = _mm512_fnmadd_ps(four, d[1], d[3]);  // d3 - 4 d1
    const __m512 t3 = _mm512_sub_ps(d[4], d[2]);
    const __m512 t4 = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
    r[0] = _mm512_add_ps(_mm512_fnmadd_ps(five, d[2], _mm512_mul_ps(four, d[0])), d[4]);
    r[1] = _mm512_add_ps(t1, t2);
    r[2] = _mm512_sub_ps(t1, t2);
    r[3] = _mm512_add_ps(t3, t4);
    r[4] = _mm512_sub_ps(t3, t4);
    r[5] = _mm512_add_ps(_mm512_fnmadd_ps(five, d[3], _mm512_mul_ps(four, d[1])), d[5]);
}

ATL_AVX512 inline void output_transform(const __m512 (&m)[6], __m512 (&o)[4]) {
    const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d34, d12), m[5]);
}

// Input transform of the tiles [t0, t1) for output tiles of M x M: U[p][t - t0][c] (p = (M + 2)
// row + column; p's matrix `stride` rows apart) = (B^T d B)[p] of the (M + 2)^2 patch whose
// top-left input pixel is (M ty - 1, M tx - 1), zeros outside the image.
template <int M>
ATL_AVX512 void input_tiles(const float* x, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                            int64_t t0, int64_t t1, int64_t stride, float* u) {
    constexpr int kSide = M + 2;
    const int64_t per_sample = tiles_y * tiles_x;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / per_sample, ty = (t % per_sample) / tiles_x, tx = t % tiles_x;
        const float* rows[kSide][kSide];
        for (int r = 0; r < kSide; ++r) {
            const int64_t iy = M * ty - 1 + r;
            for (int s = 0; s < kSide; ++s) {
                const int64_t ix = M * tx - 1 + s;
                rows[r][s] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x + ((n * h + iy) * w + ix) * c : nullptr;
            }
        }
        for (int64_t j = 0; j < c; j += 16) {
            const __mmask16 m = simd::mask_of(c - j);
            __m512 b[kSide][kSide];  // (B^T d)[row][column]
            for (int s = 0; s < kSide; ++s) {
                __m512 d[kSide], r[kSide];
                for (int q = 0; q < kSide; ++q) {
                    d[q] = rows[q][s] ? _mm512_maskz_loadu_ps(m, rows[q][s] + j) : _mm512_setzero_ps();
                }
                input_transform(d, r);
                for (int q = 0; q < kSide; ++q) b[q][s] = r[q];
            }
            for (int q = 0; q < kSide; ++q) {  // (B^T d) B
                __m512 v[kSide];
                input_transform(b[q], v);
                for (int s = 0; s < kSide; ++s) {
                    _mm512_mask_storeu_ps(u + ((kSide * q + s) * stride + t - t0) * c + j, m, v[s]);
                }
            }
        }
    }
}

// Output transform of the tiles [t0, t1) from M[p][t - t0][c]: the M x M block A^T M A (+ bias,
// per-sample bias, and the residual already in y when accumulate), cropped at the image's edge.
template <int M>
ATL_AVX512 void output_tiles(const float* mt, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                             int64_t t0, int64_t t1, int64_t stride, const float* bias, const float* sample_bias,
                             bool accumulate, float* y) {
    constexpr int kSide = M + 2;
    const int64_t per_sample = tiles_y * tiles_x;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / per_sample, ty = (t % per_sample) / tiles_x, tx = t % tiles_x;
        for (int64_t j = 0; j < c; j += 16) {
            const __mmask16 m = simd::mask_of(c - j);
            __m512 a[M][kSide];  // (A^T M)[row][column]
            for (int s = 0; s < kSide; ++s) {
                __m512 v[kSide], o[M];
                for (int q = 0; q < kSide; ++q) {
                    v[q] = _mm512_maskz_loadu_ps(m, mt + ((kSide * q + s) * stride + t - t0) * c + j);
                }
                output_transform(v, o);
                for (int r = 0; r < M; ++r) a[r][s] = o[r];
            }
            __m512 add = bias ? _mm512_maskz_loadu_ps(m, bias + j) : _mm512_setzero_ps();
            if (sample_bias) add = _mm512_add_ps(add, _mm512_maskz_loadu_ps(m, sample_bias + n * c + j));
            for (int r = 0; r < M; ++r) {
                const int64_t oy = M * ty + r;
                if (oy >= h) break;
                __m512 out[M];
                output_transform(a[r], out);
                for (int s = 0; s < M; ++s) {
                    const int64_t ox = M * tx + s;
                    if (ox >= w) break;
                    float* dst = y + ((n * h + oy) * w + ox) * c + j;
                    const __m512 value = _mm512_add_ps(out[s], add);
                    _mm512_mask_storeu_ps(dst, m, accumulate ? _mm512_add_ps(value, _mm512_maskz_loadu_ps(m, dst)) : value);
                }
            }
        }
    }
}

// The tiles [t0, t1) into U, for tiles of m = 2 or 4.
void transform_input(int m, const float* x, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                     int64_t t0, int64_t t1, int64_t stride, float* u) {
    (m == 4 ? input_tiles<4> : input_tiles<2>)(x, h, w, c, tiles_y, tiles_x, t0, t1, stride, u);
}

// The tiles [t0, t1) from M into y, for tiles of m = 2 or 4.
void transform_output(int m, const float* mt, int64_t h, int64_t w, int64_t c, int64_t tiles_y, int64_t tiles_x,
                      int64_t t0, int64_t t1, int64_t stride, const float* bias, const float* sample_bias,
                      bool accumulate, float* y) {
    (m == 4 ? output_tiles<4> : output_tiles<2>)(mt, h, w, c, tiles_y, tiles_x, t0, t1, stride, bias, sample_bias,
                                                 accumulate, y);
}

}  // namespace

int winograd_tile(int64_t kernel, int64_t stride, int64_t padding, int64_t height, int64_t width,
                  c10::ScalarType compute, bool bf16_winograd) {
    if (kernel != 3 || stride != 1 || padding != 1) return 0;
    const int64_t pixels = height * width;
    if (compute != torch::kBFloat16) {
        // F(4x4) cuts the multiply-adds a further 1.8x, but its transformed weights take 4x the
        // direct form's memory (36 F32 matrices for 9 taps) against 16/9 for F(2x2). From 1024
        // pixels (the UNet's first level at 256 x 256, its first two at 512, the VAE) that adds
        // about 0.9 GiB to a 512 x 512 UNet; taking it from 256 pixels too was a further 2-5 % of a
        // step for another 1.9 GiB.
        return pixels >= 1024 ? 4 : pixels >= 64 ? 2 : 0;
    }
    // BF16 takes F(2x2) only (F(4x4)'s transforms multiply by up to 8, too much for BF16's 8-bit
    // mantissa). Its transformed weights take 16/9 of the direct form's memory, and the weights are
    // most of a BF16 generation's memory: the UNet keeps its deepest level and middle block direct
    // (bf16_winograd false; about 400 MiB of transformed weights more at 512 x 512, past the
    // budget of the BF16 weights plus 1.5 GiB), and every other layer takes Winograd from 64
    // pixels, where the transforms pay: the UNet's third level taking it cut a BF16 step's
    // convolutions by 13 % at 256 x 256 and 23 % at 512 x 512, for about 350 MiB.
    return bf16_winograd && pixels >= 64 ? 2 : 0;
}

std::unique_ptr<WinogradWeights> winograd_weights(const torch::Tensor& weight, Format format, int tile) {
    // G for m = 2: [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]; for m = 4: [[1/4, 0,
    // 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6], [1/24, -1/12, 1/6], [0, 0, 1]].
    // G g G^T in F32 (a rounding or two per element; F(4x4) is used in F32 only).
    require(tile == 2 || tile == 4, ATL_ERR_INTERNAL, "winograd: tiles of 2 or 4 pixels a side");
    const int64_t side = tile + 2;
    const torch::Tensor g =
        tile == 2 ? torch::tensor({1.f, 0.f, 0.f, 0.5f, 0.5f, 0.5f, 0.5f, -0.5f, 0.5f, 0.f, 0.f, 1.f}).reshape({4, 3})
                  : torch::tensor({1.f / 4, 0.f, 0.f, -1.f / 6, -1.f / 6, -1.f / 6, -1.f / 6, 1.f / 6, -1.f / 6, 1.f / 24,
                                   1.f / 12, 1.f / 6, 1.f / 24, -1.f / 12, 1.f / 6, 0.f, 0.f, 1.f})
                        .reshape({6, 3});
    torch::Tensor u = torch::matmul(torch::matmul(g, weight.to(torch::kFloat)), g.t());  // [out, in, side, side]
    const int64_t out = weight.size(0), in = weight.size(1);
    auto result = std::make_unique<WinogradWeights>();
    result->tile = tile;
    for (int64_t p = 0; p < side * side; ++p) {
        torch::Tensor rows = u.select(3, p % side).select(2, p / side);  // [out, in]
        auto packed = std::make_unique<PackedRight>(in, out, format);
        if (format == Format::Bf16Pairs) {
            torch::Tensor b = rows.to(torch::kBFloat16).contiguous();
            lora::avx512::pack_transposed_bf16(reinterpret_cast<const uint16_t*>(b.data_ptr()), in, *packed);
        } else {
            torch::Tensor f = rows.contiguous();
            lora::avx512::pack_transposed(f.data_ptr<float>(), in, *packed);
        }
        result->packed.push_back(std::move(packed));
    }
    return result;
}

void conv_winograd(const float* x, int64_t n, int64_t h, int64_t w, int64_t in, const WinogradWeights& weights,
                   const float* bias, const float* sample_bias, bool accumulate, float* y) {
    const int m = weights.tile;
    const int64_t count = static_cast<int64_t>(weights.packed.size());  // (m + 2)^2 matrices
    const int64_t out = weights.packed[0]->out();
    const int64_t tiles_y = (h + m - 1) / m, tiles_x = (w + m - 1) / m, tiles = n * tiles_y * tiles_x;
    const int64_t chunks = (tiles + kChunk - 1) / kChunk;
    auto buffers = [&](int64_t rows) {
        CpuCacheBypass bypass;  // sizes of this call's own; the activations have others
        return std::make_pair(torch::empty({count, rows, in}, torch::kFloat),
                              torch::empty({count, rows, out}, torch::kFloat));
    };
    if (chunks >= 2 * at::get_num_threads()) {
        // Each task transforms a chunk of tiles, runs the GEMMs on it (on its own thread: the
        // GEMM's parallel loop runs inline inside a task) and transforms it back: U and M are a
        // chunk each, written and read again while in cache, instead of count x tiles x channels
        // apiece in memory (at 512 x 512 x 128 channels the transforms were memory-bound).
        using Buffers = std::pair<torch::Tensor, torch::Tensor>;
        for_each_task(chunks, [&] { return buffers(kChunk); }, [&](int64_t task, Buffers& um) {
            const int64_t t0 = task * kChunk, t1 = std::min(tiles, t0 + kChunk);
            float* up = um.first.data_ptr<float>();
            float* mp = um.second.data_ptr<float>();
            transform_input(m, x, h, w, in, tiles_y, tiles_x, t0, t1, kChunk, up);
            for (int64_t p = 0; p < count; ++p) {
                const DepthPart part{up + p * kChunk * in, in, weights.packed[p].get()};
                lora::avx512::gemm(&part, 1, t1 - t0, nullptr, mp + p * kChunk * out, out);
            }
            transform_output(m, mp, h, w, out, tiles_y, tiles_x, t0, t1, kChunk, bias, sample_bias, accumulate, y);
        });
        return;
    }
    // Too few tiles to give every thread chunks: whole U and M, and the GEMM parallel over columns.
    auto [u, mm] = buffers(tiles);
    float* up = u.data_ptr<float>();
    float* mp = mm.data_ptr<float>();
    const int64_t tasks = (tiles + kChunkRows - 1) / kChunkRows;
    for_each_task(tasks, [&](int64_t task) {
        const int64_t t0 = task * kChunkRows;
        transform_input(m, x, h, w, in, tiles_y, tiles_x, t0, std::min(tiles, t0 + kChunkRows), tiles, up + t0 * in);
    });
    for (int64_t p = 0; p < count; ++p) {
        const DepthPart part{up + p * tiles * in, in, weights.packed[p].get()};
        lora::avx512::gemm(&part, 1, tiles, nullptr, mp + p * tiles * out, out);
    }
    for_each_task(tasks, [&](int64_t task) {
        const int64_t t0 = task * kChunkRows;
        transform_output(m, mp + t0 * out, h, w, out, tiles_y, tiles_x, t0, std::min(tiles, t0 + kChunkRows), tiles,
                         bias, sample_bias, accumulate, y);
    });
}

}  // namespace atl::ops
