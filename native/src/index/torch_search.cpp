#include "index/torch_search.hpp"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "atelier.h"
#include "core/status.hpp"
#include "ops/kernel.hpp"

namespace atl::index {

namespace {

// Queries per product: the [chunk, n] score matrix stays near 2^28 floats (1 GiB).
int64_t query_chunk(int64_t n) { return std::max<int64_t>(1, (int64_t{1} << 28) / std::max<int64_t>(1, n)); }

}  // namespace

struct DeviceRows::State {
    torch::Device device{torch::kCPU};
    std::mutex mutex;
    const void* source = nullptr;  // the storage (or IVF index) the copy was made from, and its row count
    int64_t rows = -1;
    torch::Tensor data;   // [n, d] F32 on device
    torch::Tensor norms;  // [n] squared L2 norms (L2 metric; undefined for inner product)
    // IVF: each row's list and stored id (also on the host, for filters), and the coarse
    // centroids (with their norms when the quantizer measures L2).
    torch::Tensor list_of_row, row_ids, centroids, centroid_norms;
    std::vector<int64_t> host_row_ids;
};

namespace {

// Scores of q [len, d] against rows [n, d], higher is better: the inner product, or for L2
// (norms defined: the rows' squared norms) 2<q, y> - |y|^2, whose order is the distance's.
torch::Tensor higher_is_better(const torch::Tensor& q, const torch::Tensor& rows, const torch::Tensor& norms) {
    torch::Tensor s = torch::mm(q, rows.t());
    return norms.defined() ? s.mul_(2).sub_(norms.unsqueeze(0)) : s;
}

// [1, n] bool on device: whether sel admits each row's id (ids[i], or the row number i when ids
// is null), or undefined without a selector.
torch::Tensor members(const faiss::IDSelector* sel, int64_t n, const int64_t* ids, const torch::Device& device) {
    if (sel == nullptr) return {};
    torch::Tensor mask = torch::empty({n}, torch::kBool);
    bool* m = mask.data_ptr<bool>();
    for (int64_t i = 0; i < n; ++i) m[i] = sel->is_member(ids ? ids[i] : i);
    return mask.to(device).unsqueeze(0);
}

// Every result slot empty, as exact_search() leaves the slots it finds nothing for.
void clear(bool inner_product, int64_t count, float* scores, int64_t* ids) {
    std::fill(scores, scores + count, inner_product ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max());
    std::fill(ids, ids + count, int64_t{-1});
}

// The k best rows per query of q [len, d] against data [n, d], rows where allowed (bool [len or
// 1, n], or undefined) is false excluded; written into scores/ids [len, k] as exact_search()
// writes them (L2: squared distances), ids through row_ids (or row numbers).
void best_rows(const torch::Tensor& q, const torch::Tensor& data, const torch::Tensor& norms,
               const torch::Tensor& allowed, const torch::Tensor& row_ids, int64_t k, float* scores, int64_t* ids) {
    const int64_t len = q.size(0), kk = std::min<int64_t>(k, data.size(0));
    torch::Tensor s = higher_is_better(q, data, norms);
    if (allowed.defined()) s.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
    auto [best, at] = s.topk(kk, 1, /*largest=*/true, /*sorted=*/true);
    if (norms.defined()) best = (q.pow(2).sum(1, true) - best).clamp_min(0);
    if (row_ids.defined()) at = row_ids.index_select(0, at.reshape({-1})).reshape(at.sizes());
    torch::Tensor b = best.to(torch::kCPU).contiguous(), a = at.to(torch::kCPU).contiguous();
    const float* bp = b.data_ptr<float>();
    const int64_t* ap = a.data_ptr<int64_t>();
    for (int64_t i = 0; i < len; ++i) {
        for (int64_t j = 0; j < kk; ++j) {
            const float v = bp[i * kk + j];
            if (!std::isfinite(v)) break;  // excluded: fewer allowed rows than k
            scores[i * k + j] = v;
            ids[i * k + j] = ap[i * kk + j];
        }
    }
}

// The queries [q0, q0 + len) of queries [nq, d] on device.
torch::Tensor query_rows(const float* queries, int64_t q0, int64_t len, int64_t d, const torch::Device& device) {
    return torch::from_blob(const_cast<float*>(queries + q0 * d), {len, d}, torch::kFloat).to(device);
}

}  // namespace

DeviceRows::DeviceRows(int32_t device, int32_t device_index) : state_(std::make_unique<State>()) {
    if (device == ATL_DEVICE_CUDA) state_->device = ops::cuda_device(device_index, "GPU index");
}

DeviceRows::~DeviceRows() = default;

void DeviceRows::search(const FlatVectors& base, const float* queries, int64_t nq, int64_t k,
                        const faiss::IDSelector* sel, float* scores, int64_t* ids) {
    torch::NoGradGuard no_grad;
    torch::Tensor data, norms;
    {
        std::lock_guard<std::mutex> lock(state_->mutex);
        State& s = *state_;
        if (s.source != base.data || s.rows != base.n) {
            // from_blob over FAISS's storage, copied once to the device (a copy on the CPU too, so
            // that later adds that move the storage never leave a dangling view).
            torch::Tensor host = torch::from_blob(const_cast<float*>(base.data), {base.n, base.d}, torch::kFloat);
            s.data = host.to(s.device, /*non_blocking=*/false, /*copy=*/true);
            s.norms = base.inner_product ? torch::Tensor() : s.data.pow(2).sum(1);
            s.source = base.data;
            s.rows = base.n;
        }
        data = s.data;
        norms = s.norms;
    }
    clear(base.inner_product, nq * k, scores, ids);
    if (base.n == 0) return;
    const torch::Tensor allowed = members(sel, base.n, nullptr, data.device());
    const int64_t chunk = query_chunk(base.n);
    for (int64_t q0 = 0; q0 < nq; q0 += chunk) {
        const int64_t len = std::min(chunk, nq - q0);
        best_rows(query_rows(queries, q0, len, base.d, data.device()), data, norms, allowed, torch::Tensor(), k,
                  scores + q0 * k, ids + q0 * k);
    }
}

bool DeviceRows::search_ivf(const faiss::IndexIVFFlat& ivf, const float* queries, int64_t nq, int64_t k,
                            const faiss::IDSelector* sel, float* scores, int64_t* ids) {
    const auto* quantizer = dynamic_cast<const faiss::IndexFlat*>(ivf.quantizer);
    if (quantizer == nullptr) return false;
    const bool ip = ivf.metric_type == faiss::METRIC_INNER_PRODUCT;
    const int64_t d = ivf.d, nlist = static_cast<int64_t>(ivf.nlist);
    torch::NoGradGuard no_grad;
    State& s = *state_;
    torch::Tensor data, norms, list_of_row, row_ids, centroids, centroid_norms, allowed_ids;
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        if (s.source != &ivf || s.rows != ivf.ntotal) {
            // The lists' vectors and ids in list order, with each row's list.
            std::vector<float> rows;
            std::vector<int64_t> lists, stored;
            rows.reserve(static_cast<size_t>(ivf.ntotal * d));
            for (int64_t l = 0; l < nlist; ++l) {
                const size_t size = ivf.invlists->list_size(l);
                if (size == 0) continue;
                const auto* codes = reinterpret_cast<const float*>(ivf.invlists->get_codes(l));
                const auto* list_ids = ivf.invlists->get_ids(l);
                rows.insert(rows.end(), codes, codes + size * d);
                stored.insert(stored.end(), list_ids, list_ids + size);
                lists.insert(lists.end(), size, l);
                ivf.invlists->release_codes(l, reinterpret_cast<const uint8_t*>(codes));
                ivf.invlists->release_ids(l, list_ids);
            }
            const int64_t n = static_cast<int64_t>(stored.size());
            s.data = torch::from_blob(rows.data(), {n, d}, torch::kFloat).to(s.device, false, true);
            s.norms = ip ? torch::Tensor() : s.data.pow(2).sum(1);
            s.list_of_row = torch::from_blob(lists.data(), {n}, torch::kLong).to(s.device, false, true);
            s.row_ids = torch::from_blob(stored.data(), {n}, torch::kLong).to(s.device, false, true);
            s.host_row_ids = std::move(stored);
            s.centroids = torch::from_blob(const_cast<float*>(quantizer->get_xb()), {quantizer->ntotal, d}, torch::kFloat)
                              .to(s.device, false, true);
            s.centroid_norms =
                quantizer->metric_type == faiss::METRIC_INNER_PRODUCT ? torch::Tensor() : s.centroids.pow(2).sum(1);
            s.source = &ivf;
            s.rows = ivf.ntotal;
        }
        data = s.data, norms = s.norms, list_of_row = s.list_of_row, row_ids = s.row_ids;
        centroids = s.centroids, centroid_norms = s.centroid_norms;
        allowed_ids = members(sel, data.size(0), s.host_row_ids.data(), data.device());
    }
    clear(ip, nq * k, scores, ids);
    if (data.size(0) == 0) return true;
    const int64_t nprobe = std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(ivf.nprobe), nlist));
    const int64_t chunk = query_chunk(data.size(0));
    for (int64_t q0 = 0; q0 < nq; q0 += chunk) {
        const int64_t len = std::min(chunk, nq - q0);
        const torch::Tensor q = query_rows(queries, q0, len, d, data.device());
        // The probed lists: the quantizer's nprobe best centroids (largest inner product, or
        // nearest in L2), as FAISS's coarse search picks them.
        torch::Tensor probed = torch::zeros({len, nlist}, torch::TensorOptions().dtype(torch::kBool).device(data.device()));
        probed.scatter_(1, std::get<1>(higher_is_better(q, centroids, centroid_norms).topk(nprobe, 1)), true);
        torch::Tensor allowed = probed.index_select(1, list_of_row);  // [len, n]
        if (allowed_ids.defined()) allowed.logical_and_(allowed_ids);
        best_rows(q, data, norms, allowed, row_ids, k, scores + q0 * k, ids + q0 * k);
    }
    return true;
}

}  // namespace atl::index
