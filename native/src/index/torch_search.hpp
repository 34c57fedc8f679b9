// Exact search on libtorch's GEMM and top-k, on the index's device: a CUDA GPU, or the CPU (where
// it is the parity check of the GPU path against Atelier's kernels). The flat rows are copied to
// the device once and again only after they change.
#pragma once

#include <faiss/impl/IDSelector.h>

#include <cstdint>
#include <memory>

#include "index/exact_search.hpp"

namespace faiss {
struct IndexIVFFlat;
}

namespace atl::index {

// The copy of one flat storage on a device; shared by the searches of an index (thread-safe).
class DeviceRows {
public:
    // device: ATL_DEVICE_CPU, or ATL_DEVICE_CUDA with its ordinal (ATL_ERR_UNSUPPORTED when
    // libtorch does not see that GPU).
    DeviceRows(int32_t device, int32_t device_index);
    ~DeviceRows();
    DeviceRows(const DeviceRows&) = delete;
    DeviceRows& operator=(const DeviceRows&) = delete;

    // exact_search()'s results for base (scores [nq, k], ids [nq, k], -1 past the rows found),
    // computed on the device; sel (may be NULL) limits them to its members.
    void search(const FlatVectors& base, const float* queries, int64_t nq, int64_t k, const faiss::IDSelector* sel,
                float* scores, int64_t* ids);
    // IVF-Flat's results (FAISS's IndexIVFFlat::search at its nprobe: the stored ids of the best
    // rows among the lists whose centroids are nearest each query), computed as an exact search
    // over every stored row with the rows of unprobed lists masked out. Returns false when the
    // coarse quantizer is not flat storage (the caller searches on the CPU then).
    bool search_ivf(const faiss::IndexIVFFlat& ivf, const float* queries, int64_t nq, int64_t k,
                    const faiss::IDSelector* sel, float* scores, int64_t* ids);

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace atl::index
