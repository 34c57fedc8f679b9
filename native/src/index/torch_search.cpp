#include "index/torch_search.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>

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
    const float* source = nullptr;  // the storage the copy was made from, and its row count
    int64_t rows = -1;
    torch::Tensor data;   // [n, d] F32 on device
    torch::Tensor norms;  // [n] squared L2 norms (L2 metric)
};

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
    const float empty = base.inner_product ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max();
    std::fill(scores, scores + nq * k, empty);
    std::fill(ids, ids + nq * k, int64_t{-1});
    if (base.n == 0) return;
    torch::Tensor allowed;  // [n] bool, members of sel
    if (sel != nullptr) {
        torch::Tensor mask = torch::empty({base.n}, torch::kBool);
        bool* m = mask.data_ptr<bool>();
        for (int64_t i = 0; i < base.n; ++i) m[i] = sel->is_member(i);
        allowed = mask.to(data.device());
    }
    const int64_t kk = std::min(k, base.n);
    const int64_t chunk = query_chunk(base.n);
    for (int64_t q0 = 0; q0 < nq; q0 += chunk) {
        const int64_t len = std::min(chunk, nq - q0);
        torch::Tensor q = torch::from_blob(const_cast<float*>(queries + q0 * base.d), {len, base.d}, torch::kFloat)
                              .to(data.device());
        // Higher is better inside: the inner product, or 2<q, y> - |y|^2 for L2 (|q|^2 added after).
        torch::Tensor s = torch::mm(q, data.t());
        if (!base.inner_product) s = s.mul_(2).sub_(norms.unsqueeze(0));
        if (allowed.defined()) s.masked_fill_(allowed.logical_not().unsqueeze(0), -std::numeric_limits<float>::infinity());
        auto [best, at] = s.topk(kk, 1, /*largest=*/true, /*sorted=*/true);
        if (!base.inner_product) best = (q.pow(2).sum(1, true) - best).clamp_min(0);
        torch::Tensor b = best.to(torch::kCPU).contiguous(), a = at.to(torch::kCPU).contiguous();
        const float* bp = b.data_ptr<float>();
        const int64_t* ap = a.data_ptr<int64_t>();
        for (int64_t i = 0; i < len; ++i) {
            for (int64_t j = 0; j < kk; ++j) {
                const float v = bp[i * kk + j];
                if (!std::isfinite(v)) break;  // masked out: fewer members than k
                scores[(q0 + i) * k + j] = v;
                ids[(q0 + i) * k + j] = ap[i * kk + j];
            }
        }
    }
}

}  // namespace atl::index
