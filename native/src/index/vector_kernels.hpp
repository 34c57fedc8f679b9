// Inner products of one query with many stored vectors, the loop under every search. Debian's
// FAISS 1.7.3 is a generic build whose distance loops are scalar (benchmarks/search/results-2026-11-27.md); these run
// with AVX-512 or AVX2 where the CPU has them (function-level target attributes, dispatched on
// atl_cpu_features() once), with a plain reference beside them for the parity tests.
#pragma once

#include <cstdint>

namespace atl::index {

// out[j] = <q, rows[j]> for j < n; rows[j] points at d floats (any alignment).
using DotManyFn = void (*)(const float* q, const float* const* rows, int64_t n, int64_t d, float* out);
// out[j] = <q, x + j * d> for j < n (contiguous rows).
using DotRowsFn = void (*)(const float* q, const float* x, int64_t n, int64_t d, float* out);

// Writes to pos the positions j < n with s[j] >= threshold, in order; returns their count.
// The filter in front of every top-k: most scores of a scan fall below the k-th best so far.
using SelectAtLeastFn = int64_t (*)(const float* s, int64_t n, float threshold, int32_t* pos);

// Stored rows packed for the batch kernel: panels of kPanelRows rows, transposed, so that
// panel[c * kPanelRows + j] is element c of row j (zeros past the last row).
constexpr int64_t kPanelRows = 32;
// Queries per batch-kernel call.
constexpr int64_t kPanelQueries = 6;
// out[i * kPanelRows + j] = <q + i * ldq, row j of panel> for i < kPanelQueries, j < kPanelRows;
// panel [d, kPanelRows] 64-byte aligned. A register-blocked product of 6 queries by 32 rows
// (12 AVX-512 accumulators), the microkernel of a matrix multiply whose inner dimension d is
// small enough (128 here) to finish in registers, so scores never travel through memory.
using PanelDotFn = void (*)(const float* q, int64_t ldq, const float* panel, int64_t d, float* out);

struct VectorKernels {
    const char* name;  // "avx512", "avx2" or "reference"
    DotManyFn dot_many;
    DotRowsFn dot_rows;
    SelectAtLeastFn select_at_least;
    PanelDotFn panel_dot;
};

enum class Isa { Reference, Avx2, Avx512 };

// The kernels for isa, or NULL when this CPU lacks it.
const VectorKernels* vector_kernels(Isa isa);
// The fastest kernels this CPU runs.
const VectorKernels& best_vector_kernels();

// Squared L2 norms of n contiguous rows of d floats.
void squared_norms(const VectorKernels& kern, const float* x, int64_t n, int64_t d, float* out);

}  // namespace atl::index
