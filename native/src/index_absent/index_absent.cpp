// The catalog index's entry points in a build without FAISS (CMake found none, or -DATL_FAISS=OFF:
// a GPU machine's toolchain, say). Every call that would make or use an index answers
// ATL_ERR_UNSUPPORTED; the queries answer as for a NULL handle.
#include <cstring>

#include "atelier.h"
#include "core/status.hpp"

namespace {

atl_status* unsupported(const char* what) {
    ATL_TRY
    atl::fail(ATL_ERR_UNSUPPORTED, std::string(what) + ": this libatelier was built without FAISS (no catalog index)");
    ATL_CATCH
}

}  // namespace

extern "C" {

const char* atl_faiss_version(void) { return ""; }
const char* atl_metric_name(int32_t) { return nullptr; }
int32_t atl_metric_from_name(const char*) { return -1; }

void atl_index_params_init(atl_index_params* p) {
    if (p != nullptr) std::memset(p, 0, sizeof(*p));
}
atl_status* atl_index_create(const atl_index_params*, atl_index** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("index create");
}
void atl_index_destroy(atl_index*) {}
int32_t atl_index_dimension(const atl_index*) { return 0; }
int64_t atl_index_ntotal(const atl_index*) { return 0; }
int32_t atl_index_is_trained(const atl_index*) { return 0; }
int32_t atl_index_metric(const atl_index*) { return -1; }
const char* atl_index_description(const atl_index*) { return ""; }
atl_status* atl_index_train(atl_index*, const atl_tensor_view*) { return unsupported("index train"); }
atl_status* atl_index_add(atl_index*, const atl_tensor_view*, const atl_tensor_view*) { return unsupported("index add"); }
atl_status* atl_index_set_ef_search(atl_index*, int32_t) { return unsupported("index set_ef_search"); }
atl_status* atl_index_set_nprobe(atl_index*, int32_t) { return unsupported("index set_nprobe"); }
int32_t atl_index_ef_search(const atl_index*) { return -1; }
int32_t atl_index_nprobe(const atl_index*) { return -1; }
const char* atl_search_kernel_name(int32_t) { return nullptr; }
int32_t atl_search_kernel_from_name(const char*) { return -1; }
int32_t atl_search_kernel_available(int32_t) { return 0; }
atl_status* atl_index_set_search_kernel(atl_index*, int32_t) { return unsupported("index set_search_kernel"); }
int32_t atl_index_search_kernel(const atl_index*) { return -1; }
atl_status* atl_index_search(const atl_index*, const atl_tensor_view*, int64_t, const atl_id_filter*, atl_tensor_view*,
                             atl_tensor_view*) {
    return unsupported("index search");
}
atl_status* atl_id_filter_create(const atl_tensor_view*, atl_id_filter** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("id filter create");
}
void atl_id_filter_destroy(atl_id_filter*) {}
int64_t atl_id_filter_count(const atl_id_filter*) { return 0; }
const void* atl_blob_data(const atl_blob*) { return nullptr; }
int64_t atl_blob_size(const atl_blob*) { return 0; }
void atl_blob_destroy(atl_blob*) {}
atl_status* atl_index_write(const atl_index*, atl_blob** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("index write");
}
atl_status* atl_index_read(const void*, int64_t, atl_index** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("index read");
}
atl_status* atl_pca_create(int32_t, int32_t, float, atl_pca** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("pca create");
}
void atl_pca_destroy(atl_pca*) {}
int32_t atl_pca_d_in(const atl_pca*) { return 0; }
int32_t atl_pca_d_out(const atl_pca*) { return 0; }
int32_t atl_pca_is_trained(const atl_pca*) { return 0; }
atl_status* atl_pca_train(atl_pca*, const atl_tensor_view*) { return unsupported("pca train"); }
atl_status* atl_pca_apply(const atl_pca*, const atl_tensor_view*, atl_tensor_view*, int32_t) {
    return unsupported("pca apply");
}
atl_status* atl_pca_write(const atl_pca*, atl_blob** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("pca write");
}
atl_status* atl_pca_read(const void*, int64_t, atl_pca** out) {
    if (out != nullptr) *out = nullptr;
    return unsupported("pca read");
}

atl_status* atl_l2_normalize(atl_tensor_view*) { return unsupported("l2 normalize"); }

}  // extern "C"
