// Exact (brute-force) k-nearest search over contiguous float rows: what a FAISS IndexFlat
// holds. Replaces FAISS 1.7.3's generic path, which multiplies blocks with BLAS and then pushes
// every one of the nq x n scores through a scalar heap (about 28 queries/s at 800,000 x 128 in
// batches of 1,000 on 2 cores; benchmarks/search/results-2026-11-27.md).
#pragma once

#include <faiss/impl/IDSelector.h>

#include <cstdint>

#include "index/vector_kernels.hpp"

namespace atl::index {

struct FlatVectors {
    const float* data;   // [n, d], borrowed from the index
    int64_t n;
    int64_t d;
    bool inner_product;  // else squared L2
};

// The k best rows of `base` for each of the nq queries [nq, d]: scores [nq, k] (inner product
// larger first, L2 distance smaller first), ids [nq, k] row numbers, -1 past the rows found.
// sel (may be NULL) limits the results to its members. Threads: OpenMP, as set by the caller.
void exact_search(const VectorKernels& kern, const FlatVectors& base, const float* queries, int64_t nq, int64_t k, const faiss::IDSelector* sel,
                  float* scores, int64_t* ids);

}  // namespace atl::index
