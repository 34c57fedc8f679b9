#include "index/id_filter.hpp"

#include <algorithm>

#include "core/status.hpp"
#include "index/views.hpp"

extern "C" {

atl_status* atl_id_filter_create(const atl_tensor_view* ids, atl_id_filter** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    auto v = atl::index::i64_vector(ids, -1, "ids");
    auto filter = std::make_unique<atl_id_filter>();
    std::vector<faiss::Index::idx_t> sorted(v.data, v.data + v.n);
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    atl::require(sorted.empty() || sorted.front() >= 0, ATL_ERR_INVALID_ARGUMENT, "ids must not be negative");
    filter->count = static_cast<int64_t>(sorted.size());
    int64_t max_id = sorted.empty() ? -1 : sorted.back();
    // A bitmap costs (max_id + 1) / 8 bytes and one load per test; a hash set costs about
    // 16 bytes per id and a hash per test. Take the bitmap unless it would be much larger.
    if (max_id + 1 <= 64 * std::max<int64_t>(filter->count, 1024)) {
        size_t n = static_cast<size_t>(max_id + 1);
        filter->bitmap.assign((n + 7) / 8, 0);
        for (auto id : sorted) filter->bitmap[id >> 3] |= static_cast<uint8_t>(1u << (id & 7));
        filter->selector = std::make_unique<faiss::IDSelectorBitmap>(filter->bitmap.size(), filter->bitmap.data());
    } else {
        // IDSelectorBatch copies the ids into its own hash set.
        filter->selector = std::make_unique<faiss::IDSelectorBatch>(sorted.size(), sorted.data());
    }
    *out = filter.release();
    ATL_CATCH
}

void atl_id_filter_destroy(atl_id_filter* filter) { delete filter; }

int64_t atl_id_filter_count(const atl_id_filter* filter) { return filter ? filter->count : 0; }

}  // extern "C"
