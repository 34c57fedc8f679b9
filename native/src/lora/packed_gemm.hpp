// An AVX-512 F32 GEMM, C[n, out] = sum over parts of A_part[n, depth_part] * P_part (+ bias), whose
// right-hand operands P are packed once per call by the LoRA kernel. It exists so the fused LoRA
// linear can put the low-rank term INSIDE the GEMM instead of after it:
//   - "merged on the fly": P = (W + s B A)^T, formed while packing W (the packing pass a GEMM does
//     anyway). Costs out*in*r extra multiply-adds, independent of the number of rows;
//   - "extended depth": parts {x, W^T} and {t = x A^T, s B^T}: the same accumulators sum both, so
//     y is written once. Costs rows*r*(in+out), cheaper when there are few rows.
// The loaded weight W is never modified, so one base model serves requests with different LoRAs.
//
// Layout of P (depth rows x out columns): depth blocks of kDepthBlock rows; inside a block, panels of
// kPanelCols columns stored row by row ([rows][32] floats); columns past out are zero. A 256 x 32
// panel is 32 KiB: it stays in L1/L2 while the microkernel sweeps the packed rows of A over it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>

namespace atl::lora::avx512 {

constexpr int64_t kPanelCols = 32;
constexpr int64_t kDepthBlock = 256;

// How a packed operand stores its elements: F32, or BF16 in pairs of consecutive depth rows
// ([rows / 2][32][2] per block, odd row counts padded with a zero row), the operand layout of
// avx512_bf16's vdpbf16ps, which multiplies and adds two products per F32 lane.
enum class Format { F32, Bf16Pairs };

// Owns a 64-byte aligned packed operand (its contents undefined until packed).
class PackedRight {
public:
    PackedRight(int64_t depth, int64_t out, Format format = Format::F32);
    Format format() const { return format_; }
    int64_t depth() const { return depth_; }
    int64_t out() const { return out_; }
    int64_t panels() const { return panels_; }
    // Row k's 32 columns of panel p (F32).
    float* row(int64_t k, int64_t p) {
        const int64_t k0 = k - k % kDepthBlock;
        return block(k0, p) + (k - k0) * kPanelCols;
    }
    // The [block_rows(k0)][32] block of panel p starting at depth row k0 (a multiple of kDepthBlock), F32.
    float* block(int64_t k0, int64_t p) { return static_cast<float*>(data_.get()) + offset(k0, p); }
    const float* block(int64_t k0, int64_t p) const { return static_cast<const float*>(data_.get()) + offset(k0, p); }
    // The same block as BF16 pairs: [stored_rows(k0) / 2][32][2].
    uint16_t* pairs(int64_t k0, int64_t p) { return static_cast<uint16_t*>(data_.get()) + offset(k0, p); }
    const uint16_t* pairs(int64_t k0, int64_t p) const {
        return static_cast<const uint16_t*>(data_.get()) + offset(k0, p);
    }
    int64_t block_rows(int64_t k0) const { return depth_ - k0 < kDepthBlock ? depth_ - k0 : kDepthBlock; }
    // Rows stored for the block: block_rows, rounded up to even for Bf16Pairs.
    int64_t stored_rows(int64_t k0) const {
        return format_ == Format::Bf16Pairs ? (block_rows(k0) + 1) / 2 * 2 : block_rows(k0);
    }

private:
    int64_t offset(int64_t k0, int64_t p) const { return k0 * panels_ * kPanelCols + p * stored_rows(k0) * kPanelCols; }
    struct Free {
        void operator()(void* p) const { std::free(p); }
    };
    Format format_;
    int64_t depth_, out_, panels_;
    std::unique_ptr<void, Free> data_;
};

// P = W^T for W [out, depth] (row stride ldw). Parallel over panels. p: F32.
void pack_transposed(const float* w, int64_t ldw, PackedRight& p);
// The same from BF16 bits into a Bf16Pairs operand (no rounding: the values are copied).
void pack_transposed_bf16(const uint16_t* w, int64_t ldw, PackedRight& p);
// P = Q for Q [depth, out] (row stride out).
void pack_rows(const float* q, PackedRight& p);
// P += AT Q: AT [depth, r] (A^T, row stride r), Q [r, out] (row stride out). Parallel over panels.
void add_product(const float* at, int64_t r, const float* q, PackedRight& p);

// The rows of an implicit-GEMM convolution: row i of A is output pixel i (sample, y, x in that
// order) and its depth is the receptive field, (ky, kx, channel) in that order, read straight
// from the NHWC input x [batch, height, width, channels] (zero outside it). Nothing the size of
// an im2col matrix is formed: each task gathers its rows for one depth block into cache.
struct ConvRows {
    const float* x;
    int64_t height, width, channels;
    int64_t kernel, stride, padding;
    int64_t out_height, out_width;
    // x rounded to BF16 (same layout), or null. With an even channel count and a Bf16Pairs operand
    // the gather copies pairs of channels from it instead of rounding each element again for each
    // of the kernel's taps.
    const uint16_t* x_bf16 = nullptr;
};

// One depth part: A [n, p.depth()] with row stride lda (or gathered by conv when set), times p.
// With a Bf16Pairs p, A is rounded to BF16 (nearest even) while it is packed; sums stay F32.
struct DepthPart {
    const float* a;
    int64_t lda;
    const PackedRight* p;
    const ConvRows* conv = nullptr;
};
// C [n, out] (row stride ldc) = sum of parts + bias (bias [out] or null), or C += that when
// accumulate (C holds a residual to add). Every part has the same out. Parallel over blocks of
// rows (and of columns when rows are few).
void gemm(const DepthPart* parts, int nparts, int64_t n, const float* bias, float* c, int64_t ldc,
          bool accumulate = false);
// The same product handed out by rows: each task computes every column of a chunk of rows into a
// buffer of its thread, then calls rows(i0, i1, c, ldc) there with rows [i0, i1) of the product at
// c (row stride ldc >= out), while they are in cache. For an epilogue that needs whole rows (GEGLU
// pairs column j with column j + out / 2); C itself never exists in memory. Parallel over the
// chunks only: the caller takes it where there are chunks for every thread.
using RowsFn = std::function<void(int64_t i0, int64_t i1, const float* c, int64_t ldc)>;
void gemm_rows(const DepthPart* parts, int nparts, int64_t n, const float* bias, const RowsFn& rows);
// Rows of A per task of gemm and gemm_rows (8 micro-panels of 12).
constexpr int64_t kRowChunk = 96;

}  // namespace atl::lora::avx512
