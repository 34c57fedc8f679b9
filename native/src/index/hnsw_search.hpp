// Search of a FAISS HNSW graph whose vectors sit in a flat store (IndexHNSWFlat), with the
// SIMD inner products of vector_kernels and the neighbours' vectors prefetched before they
// are scored. The graph, its format and its build stay FAISS's; only the query walk is ours:
// FAISS 1.7.3's generic build scores one neighbour at a time in scalar code (169 us p50 at
// 100,000 x 128 against Lucene's 63 us, benchmarks/search/results-2026-11-27.md).
#pragma once

#include <faiss/IndexHNSW.h>
#include <faiss/impl/IDSelector.h>

#include <cstdint>

#include "index/vector_kernels.hpp"

namespace atl::index {

// Whether hnsw_search can walk this index (its storage is a plain IndexFlat).
bool hnsw_search_supports(const faiss::IndexHNSW& index);

// The k best vectors for each of the nq queries, as faiss::IndexHNSW::search returns them
// (inner product larger first, L2 smaller first; id -1 past those found), with search
// breadth ef = max(efSearch, k). The walk is the classic one (Malkov & Yashunin 2018, alg. 2
// and 5): greedy descent through the upper layers, then a best-first search of layer 0 that
// stops when the nearest unexpanded candidate is farther than the ef-th best found. sel (may be
// NULL) limits the results, not the walk. Queries run in parallel over OpenMP threads.
void hnsw_search(const VectorKernels& kern, const faiss::IndexHNSW& index, const float* queries, int64_t nq, int64_t k, int ef_search,
                 const faiss::IDSelector* sel, float* scores, int64_t* ids);

}  // namespace atl::index
