#include "weights.hpp"

#include "status.hpp"
#include "tensor_view.hpp"

extern "C" {

atl_status* atl_weights_create(atl_weights** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = new atl_weights();
    ATL_CATCH
}

void atl_weights_destroy(atl_weights* w) { delete w; }

atl_status* atl_weights_add(atl_weights* w, const char* name, const atl_tensor_view* view) {
    ATL_TRY
    atl::require(w != nullptr, ATL_ERR_INVALID_ARGUMENT, "weights handle is NULL");
    atl::require(name != nullptr, ATL_ERR_INVALID_ARGUMENT, "tensor name is NULL");
    atl::require(view != nullptr && view->device == ATL_DEVICE_CPU, ATL_ERR_INVALID_ARGUMENT,
                 std::string("weights must be CPU tensor views: ") + name);
    auto [it, inserted] = w->tensors->emplace(name, atl::wrap(view, name));
    atl::require(inserted, ATL_ERR_INVALID_ARGUMENT, std::string("duplicate tensor name: ") + name);
    ATL_CATCH
}

int64_t atl_weights_count(const atl_weights* w) { return w ? static_cast<int64_t>(w->tensors->size()) : 0; }

atl_status* atl_weights_address(const atl_weights* w, const char* name, uint64_t* out_address) {
    ATL_TRY
    atl::require(w != nullptr && name != nullptr && out_address != nullptr, ATL_ERR_INVALID_ARGUMENT,
                 "weights, name and out_address must not be NULL");
    auto it = w->tensors->find(name);
    atl::require(it != w->tensors->end(), ATL_ERR_INVALID_ARGUMENT, std::string("no tensor named ") + name);
    *out_address = reinterpret_cast<uint64_t>(it->second.data_ptr());
    ATL_CATCH
}

}  // extern "C"
