#include "status.hpp"

#include <c10/util/Exception.h>

#include <new>

namespace {
// Returned when a status cannot be allocated; atl_status_destroy recognises and keeps it.
atl_status out_of_memory_status{ATL_ERR_OUT_OF_MEMORY, "out of memory"};
}  // namespace

namespace atl {

atl_status* make_status(atl_code code, const char* message) noexcept {
    try {
        return new atl_status{code, message ? message : ""};
    } catch (...) {
        return &out_of_memory_status;
    }
}

atl_status* status_from_current_exception() noexcept {
    try {
        throw;
    } catch (const Error& e) {
        return make_status(e.code(), e.what());
    } catch (const c10::Error& e) {
        // what_without_backtrace keeps libtorch's message and drops its C++ stack trace.
        return make_status(ATL_ERR_BACKEND, e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
        return &out_of_memory_status;
    } catch (const std::exception& e) {
        return make_status(ATL_ERR_BACKEND, e.what());
    } catch (...) {
        return make_status(ATL_ERR_INTERNAL, "unknown exception in libatelier");
    }
}

}  // namespace atl

extern "C" {

atl_code atl_status_code(const atl_status* s) { return s ? s->code : ATL_OK; }

const char* atl_status_message(const atl_status* s) { return s ? s->message.c_str() : ""; }

void atl_status_destroy(atl_status* s) {
    if (s != nullptr && s != &out_of_memory_status) delete s;
}

}  // extern "C"
