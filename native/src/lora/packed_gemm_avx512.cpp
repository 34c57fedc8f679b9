// The AVX-512 packed GEMM of packed_gemm.hpp. Function-level target attributes keep the library
// loadable on CPUs without AVX-512; kernels.cpp calls this only when atl_cpu_features() has it.
//
// Blocking: for each depth block of 256 rows, the task's 96 rows of A are packed, each row whole
// ([rows][256] floats, or [rows][128] BF16 pairs): the microkernel's broadcasts address the row
// pointer plus constants, and packing is a copy (a conversion to BF16 pairs, or a convolution's
// receptive field gathered run by run) with no transpose. Transposing rows into 12-row
// micro-panels had cost a fifth of the BF16 convolutions' time. Then each 32-column panel of P
// (32 KiB) is swept by all 8 micro-panels of 12 rows while it is in cache. P may be larger than
// L2 (1280 x 1280 is 6.5 MiB), so it is read once per depth block and task; A's 96 x 256 block
// (96 KiB) stays in L2. The microkernel keeps a 12 x 32 tile of C in 24 zmm accumulators: per
// depth step two loads of P and 12 broadcasts feed 24 FMAs.
#include "lora/packed_gemm.hpp"

#include <ATen/Parallel.h>
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "core/parallel.hpp"
#include "core/status.hpp"
#include "lora/gemm_tile.hpp"
#include "ops/simd.hpp"

namespace atl::lora::avx512 {

namespace {

constexpr int kRows = 12;          // rows of the microkernel tile

using ops::simd::mask_of;
using ops::simd::pairs_of;

using TileFn = void (*)(const float*, const float*, int64_t, float*, int64_t, __mmask16, __mmask16, const float*, bool);

// kTiles[mr]: the tile of mr rows (the last micro-panel of a chunk may be short).
template <int... R>
constexpr std::array<TileFn, kRows + 1> tiles_of(std::integer_sequence<int, R...>) {
    return {nullptr, tile<R + 1, kDepthBlock>...};
}
constexpr std::array<TileFn, kRows + 1> kTiles = tiles_of(std::make_integer_sequence<int, kRows>{});

// The depth [k0, k0 + kb) of convolution row `row` as runs of one tap's channels: fn(offset, at,
// run) for each, offset = the run's first depth - k0, at = the index of its first element in the
// NHWC input, or -1 where the tap falls outside the input (zeros).
template <typename Fn>
void for_each_tap_run(const ConvRows& g, int64_t row, int64_t k0, int64_t kb, Fn&& fn) {
    const int64_t pixels = g.out_height * g.out_width;
    const int64_t n = row / pixels, oy = (row % pixels) / g.out_width, ox = row % g.out_width;
    for (int64_t k = k0; k < k0 + kb;) {
        const int64_t tap = k / g.channels, c = k % g.channels;
        const int64_t run = std::min(k0 + kb - k, g.channels - c);
        const int64_t iy = oy * g.stride - g.padding + tap / g.kernel, ix = ox * g.stride - g.padding + tap % g.kernel;
        const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
        fn(k - k0, inside ? ((n * g.height + iy) * g.width + ix) * g.channels + c : int64_t{-1}, run);
        k += run;
    }
}

// Depth [k0, k0 + kb) of convolution row `row` into d[0, kb).
void gather_conv_row(const ConvRows& g, int64_t row, int64_t k0, int64_t kb, float* d) {
    for_each_tap_run(g, row, k0, kb, [&](int64_t offset, int64_t at, int64_t run) {
        if (at < 0) {
            std::fill_n(d + offset, run, 0.f);
        } else {
            std::memcpy(d + offset, g.x + at, static_cast<size_t>(run) * sizeof(float));
        }
    });
}

// Rows [i0, i1) x depth [k0, k0 + kb) of the part's A: row i at (i - i0) * kDepthBlock.
void pack_left(const DepthPart& part, int64_t i0, int64_t i1, int64_t k0, int64_t kb, float* dst) {
    for (int64_t i = i0; i < i1; ++i) {
        float* d = dst + (i - i0) * kDepthBlock;
        if (part.conv) {
            gather_conv_row(*part.conv, i, k0, kb, d);
        } else {
            std::memcpy(d, part.a + i * part.lda + k0, static_cast<size_t>(kb) * sizeof(float));
        }
    }
}


// ---- BF16 pairs (avx512_bf16)

// Pairs per packed row of A: rows are stored whole, a depth block apart.
constexpr int64_t kPairStride = kDepthBlock / 2;

using TileBf16Fn = void (*)(const uint32_t*, const uint16_t*, int64_t, float*, int64_t, __mmask16, __mmask16,
                            const float*, bool);
template <int... R>
constexpr std::array<TileBf16Fn, kRows + 1> tiles_bf16_of(std::integer_sequence<int, R...>) {
    return {nullptr, tile_bf16<R + 1, kPairStride>...};
}
constexpr std::array<TileBf16Fn, kRows + 1> kTilesBf16 = tiles_bf16_of(std::make_integer_sequence<int, kRows>{});

// Depth [k0, k0 + kb) of convolution row `row` as BF16 pairs copied from g.x_bf16: with an even
// channel count, even k0 and kb, every run of one tap's channels is whole pairs.
void gather_conv_pairs(const ConvRows& g, int64_t row, int64_t k0, int64_t kb, uint32_t* d) {
    for_each_tap_run(g, row, k0, kb, [&](int64_t offset, int64_t at, int64_t run) {
        if (at < 0) {
            std::fill_n(d + offset / 2, run / 2, 0u);
        } else {
            std::memcpy(d + offset / 2, g.x_bf16 + at, static_cast<size_t>(run) * sizeof(uint16_t));
        }
    });
}

// Rows [i0, i1) x depth [k0, k0 + kb) of A as BF16 pairs: row i at (i - i0) * kPairStride, its
// (kb + 1) / 2 pairs (an odd kb pairs the last element with a zero).
void pack_left_bf16(const DepthPart& part, int64_t i0, int64_t i1, int64_t k0, int64_t kb, uint32_t* dst) {
    const ConvRows* g = part.conv;
    const bool copy_pairs = g && g->x_bf16 && g->channels % 2 == 0 && k0 % 2 == 0 && kb % 2 == 0;
    float row[kDepthBlock];
    for (int64_t i = i0; i < i1; ++i) {
        uint32_t* d = dst + (i - i0) * kPairStride;
        if (copy_pairs) {
            gather_conv_pairs(*g, i, k0, kb, d);
        } else if (g) {
            gather_conv_row(*g, i, k0, kb, row);
            pairs_of(row, kb, d);
        } else {
            pairs_of(part.a + i * part.lda + k0, kb, d);
        }
    }
}

}  // namespace

PackedRight::PackedRight(int64_t depth, int64_t out, Format format)
    : format_(format), depth_(depth), out_(out), panels_((out + kPanelCols - 1) / kPanelCols) {
    const int64_t rows = depth + (format == Format::Bf16Pairs ? 1 : 0);  // room for a padding row
    const size_t element = format == Format::Bf16Pairs ? 2 : sizeof(float);
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(1, rows * panels_ * kPanelCols)) * element;
    // Large packs (the networks' weights, kept for the process) on transparent huge pages: fewer
    // page faults while packing and fewer TLB misses while the GEMM streams them. Not zeroed: the
    // pack functions write every element, padding included.
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t align = bytes >= 2 * kHuge ? kHuge : 64;
    const size_t size = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, size);
    if (!p) throw std::bad_alloc();
    if (align == kHuge) {
        madvise(p, size, MADV_HUGEPAGE);
        // One call faults every page in (Linux 5.14+; ignored before): page faults one by one
        // cost more than the packing itself on virtual machines.
        madvise(p, size, 23 /* MADV_POPULATE_WRITE */);
    }
    data_.reset(p);
}

namespace {

// Zeroes columns [cols, 32) of rows [0, rows) of a [rows][32] block (the last panel's padding).
void zero_padding(float* block, int64_t rows, int64_t cols) {
    if (cols >= kPanelCols) return;
    for (int64_t k = 0; k < rows; ++k) std::fill(block + k * kPanelCols + cols, block + (k + 1) * kPanelCols, 0.f);
}

}  // namespace

void pack_transposed(const float* w, int64_t ldw, PackedRight& p) {
    require(p.format() == Format::F32, ATL_ERR_INTERNAL, "packed gemm: F32 packing into a BF16 operand");
    const int64_t depth = p.depth(), out = p.out();
    at::parallel_for(0, p.panels(), 1, [&](int64_t p0, int64_t p1) {
        for (int64_t pi = p0; pi < p1; ++pi) {
            const int64_t cols = std::min<int64_t>(kPanelCols, out - pi * kPanelCols);
            for (int64_t k0 = 0; k0 < depth; k0 += kDepthBlock) {
                float* d = p.block(k0, pi);
                const int64_t kb = p.block_rows(k0);
                zero_padding(d, kb, cols);
                // Reads rows of W in order; the strided writes stay inside one 32 KiB block.
                for (int64_t j = 0; j < cols; ++j) {
                    const float* src = w + (pi * kPanelCols + j) * ldw + k0;
                    for (int64_t k = 0; k < kb; ++k) d[k * kPanelCols + j] = src[k];
                }
            }
        }
    });
}

void pack_transposed_bf16(const uint16_t* w, int64_t ldw, PackedRight& p) {
    require(p.format() == Format::Bf16Pairs, ATL_ERR_INTERNAL, "packed gemm: BF16 packing into an F32 operand");
    const int64_t depth = p.depth(), out = p.out();
    at::parallel_for(0, p.panels(), 1, [&](int64_t p0, int64_t p1) {
        for (int64_t pi = p0; pi < p1; ++pi) {
            const int64_t cols = std::min<int64_t>(kPanelCols, out - pi * kPanelCols);
            for (int64_t k0 = 0; k0 < depth; k0 += kDepthBlock) {
                uint16_t* d = p.pairs(k0, pi);
                const int64_t kb = p.block_rows(k0), stored = p.stored_rows(k0);
                std::fill(d, d + stored * kPanelCols, uint16_t{0});
                // Element (k, j) at [k / 2][j][k % 2].
                for (int64_t j = 0; j < cols; ++j) {
                    const uint16_t* src = w + (pi * kPanelCols + j) * ldw + k0;
                    for (int64_t k = 0; k < kb; ++k) d[(k / 2) * 2 * kPanelCols + 2 * j + (k % 2)] = src[k];
                }
            }
        }
    });
}

void pack_rows(const float* q, PackedRight& p) {
    require(p.format() == Format::F32, ATL_ERR_INTERNAL, "packed gemm: F32 packing into a BF16 operand");
    const int64_t out = p.out();
    const int64_t grain = p.depth() * out >= (int64_t{1} << 16) ? 1 : p.panels();  // small: one thread
    at::parallel_for(0, p.panels(), grain, [&](int64_t p0, int64_t p1) {
        for (int64_t pi = p0; pi < p1; ++pi) {
            const int64_t cols = std::min<int64_t>(kPanelCols, out - pi * kPanelCols);
            for (int64_t k0 = 0; k0 < p.depth(); k0 += kDepthBlock) zero_padding(p.block(k0, pi), p.block_rows(k0), cols);
            for (int64_t k = 0; k < p.depth(); ++k) std::copy_n(q + k * out + pi * kPanelCols, cols, p.row(k, pi));
        }
    });
}

namespace {

// One task of gemm: rows [i0, i1) x panels [pa, pb), every part and depth block. c points at
// row row0, column pa * 32 of C; bias (if any) at column 0, added with the first depth block.
// accumulate: add to C instead of overwriting.
__attribute__((target("avx512f"))) void gemm_task(const DepthPart* parts, int nparts, int64_t i0, int64_t i1,
                                                  int64_t pa, int64_t pb, const float* bias, float* c, int64_t row0,
                                                  int64_t ldc, bool accumulate, float* left) {
    const int64_t out = parts[0].p->out();
    bool first = true;
    for (int q = 0; q < nparts; ++q) {
        const PackedRight& p = *parts[q].p;
        for (int64_t k0 = 0; k0 < p.depth(); k0 += kDepthBlock) {
            const int64_t kb = p.block_rows(k0);
            if (p.format() == Format::Bf16Pairs) {
                const int64_t kb2 = (kb + 1) / 2 * 2;
                auto* pairs = reinterpret_cast<uint32_t*>(left);
                pack_left_bf16(parts[q], i0, i1, k0, kb, pairs);
                for (int64_t pi = pa; pi < pb; ++pi) {
                    const int64_t col = pi * kPanelCols;
                    const __mmask16 m0 = mask_of(out - col), m1 = mask_of(out - col - 16);
                    for (int64_t m = i0; m < i1; m += kRows) {
                        const int mr = static_cast<int>(std::min<int64_t>(kRows, i1 - m));
                        kTilesBf16[mr](pairs + (m - i0) * kPairStride, p.pairs(k0, pi), kb2,
                                       c + (m - row0) * ldc + (pi - pa) * kPanelCols, ldc, m0, m1,
                                       first && bias ? bias + col : nullptr, accumulate || !first);
                    }
                }
                first = false;
                continue;
            }
            pack_left(parts[q], i0, i1, k0, kb, left);
            for (int64_t pi = pa; pi < pb; ++pi) {
                const int64_t col = pi * kPanelCols;
                const __mmask16 m0 = mask_of(out - col), m1 = mask_of(out - col - 16);
                const float* bp = p.block(k0, pi);
                for (int64_t m = i0; m < i1; m += kRows) {
                    const int mr = static_cast<int>(std::min<int64_t>(kRows, i1 - m));
                    kTiles[mr](left + (m - i0) * kDepthBlock, bp, kb, c + (m - row0) * ldc + (pi - pa) * kPanelCols, ldc, m0, m1,
                               first && bias ? bias + col : nullptr, accumulate || !first);
                }
            }
            first = false;
        }
    }
    if (first) {  // every part had depth 0: C = (accumulate ? C : 0) + bias
        for (int64_t i = i0; i < i1; ++i) {
            for (int64_t o = pa * kPanelCols; o < std::min(out, pb * kPanelCols); ++o) {
                float& y = c[(i - row0) * ldc + o - pa * kPanelCols];
                y = (accumulate ? y : 0.f) + (bias ? bias[o] : 0.f);
            }
        }
    }
}

// The calling thread's buffer for a task's packed rows of A (kRowChunk x kDepthBlock floats),
// made once per thread and never zeroed (packing writes what the microkernels read): a network of
// small layers runs thousands of GEMMs a step, and a fresh zeroed 96 KiB per call and thread cost
// more than the smallest GEMMs themselves. A GEMM never runs inside another on the same thread.
float* left_scratch() {
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    thread_local const std::unique_ptr<float, Free> buffer(
        static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kRowChunk * kDepthBlock)));
    if (!buffer) throw std::bad_alloc();
    return buffer.get();
}

}  // namespace

// A packed panel block is itself a row-major matrix [rows][32]: P += AT Q is a GEMM into it, with Q
// packed like any right operand.
void add_product(const float* at, int64_t r, const float* q, PackedRight& p) {
    if (r == 0) return;
    PackedRight qp(r, p.out());
    pack_rows(q, qp);
    const int64_t blocks = (p.depth() + kDepthBlock - 1) / kDepthBlock;
    at::parallel_for(0, blocks * p.panels(), 1, [&](int64_t t0, int64_t t1) {
        std::vector<float> left(static_cast<size_t>(kDepthBlock * kDepthBlock));
        for (int64_t task = t0; task < t1; ++task) {
            const int64_t k0 = (task / p.panels()) * kDepthBlock, pi = task % p.panels();
            const DepthPart part{at + k0 * r, r, &qp};
            gemm_task(&part, 1, 0, p.block_rows(k0), pi, pi + 1, nullptr, p.block(k0, pi), 0, kPanelCols, true,
                      left.data());
        }
    });
}

void gemm(const DepthPart* parts, int nparts, int64_t n, const float* bias, float* c, int64_t ldc, bool accumulate) {
    if (n <= 0 || nparts <= 0) return;
    const int64_t panels = parts[0].p->panels();
    for (int q = 1; q < nparts; ++q) {
        require(parts[q].p->out() == parts[0].p->out(), ATL_ERR_INTERNAL,
                "packed gemm: parts disagree on the output width");
    }
    // Tasks: row chunks, times column groups when there are too few chunks to keep every thread busy.
    // Inside another parallel loop (a Winograd chunk's GEMMs) the tasks run in turn on one thread:
    // column groups would only pack the same rows of A again for each group.
    const int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
    const int64_t want = at::in_parallel_region() ? 1 : 4 * static_cast<int64_t>(at::get_num_threads());
    const int64_t groups = chunks >= want ? 1 : std::min<int64_t>(panels, (want + chunks - 1) / chunks);
    const int64_t per_group = (panels + groups - 1) / groups;
    for_each_task(chunks * groups, left_scratch, [&](int64_t task, float* left) {
        const int64_t i0 = (task / groups) * kRowChunk, i1 = std::min(n, i0 + kRowChunk);
        const int64_t pa = (task % groups) * per_group, pb = std::min(panels, pa + per_group);
        if (pa < pb) gemm_task(parts, nparts, i0, i1, pa, pb, bias, c + pa * kPanelCols, 0, ldc, accumulate, left);
    });
}

void gemm_rows(const DepthPart* parts, int nparts, int64_t n, const float* bias, const RowsFn& rows) {
    if (n <= 0 || nparts <= 0) return;
    const int64_t panels = parts[0].p->panels();
    // A row stride of a multiple of 4 KiB would put a tile's 12 rows of C in the same few cache
    // sets (the projections' widths are 2560 to 10240 floats): 16 floats more spread them.
    int64_t ldc = panels * kPanelCols;
    if (ldc * sizeof(float) % 4096 == 0) ldc += 16;
    struct Scratch {
        float* left;
        float* c;
    };
    auto make = [&] {
        thread_local std::vector<float> c;
        if (c.size() < static_cast<size_t>(kRowChunk * ldc)) c.resize(static_cast<size_t>(kRowChunk * ldc));
        return Scratch{left_scratch(), c.data()};
    };
    for_each_task((n + kRowChunk - 1) / kRowChunk, make, [&](int64_t task, Scratch& sc) {
        const int64_t i0 = task * kRowChunk, i1 = std::min(n, i0 + kRowChunk);
        gemm_task(parts, nparts, i0, i1, 0, panels, bias, sc.c, i0, ldc, false, sc.left);
        rows(i0, i1, sc.c, ldc);
    });
}

}  // namespace atl::lora::avx512
