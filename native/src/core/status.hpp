// Status objects and the one try/catch wrapper every exported function uses.
// Pattern from FAISS c_api (CATCH_AND_HANDLE) and ONNX Runtime (OrtStatus): no C++
// exception may cross the C boundary, because a throw into the JVM kills it.
#pragma once

#include <stdexcept>
#include <string>

#include "atelier.h"

struct atl_status {
    atl_code code;
    std::string message;
};

namespace atl {

// Thrown inside the library; turned into an atl_status* at the boundary.
class Error : public std::runtime_error {
public:
    Error(atl_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
    atl_code code() const { return code_; }

private:
    atl_code code_;
};

[[noreturn]] inline void fail(atl_code code, const std::string& message) { throw Error(code, message); }

inline void require(bool ok, atl_code code, const std::string& message) {
    if (!ok) fail(code, message);
}

// Allocates a status; nothrow so that it is safe inside catch blocks. Returns a static
// out-of-memory status when even that allocation fails (never freed: see atl_status_destroy).
atl_status* make_status(atl_code code, const char* message) noexcept;

// Converts the exception in flight into a status. Only called from ATL_CATCH.
atl_status* status_from_current_exception() noexcept;

}  // namespace atl

// Wraps the body of every exported function returning atl_status*.
#define ATL_TRY try {
#define ATL_CATCH                                    \
    return nullptr;                                  \
    }                                                \
    catch (...) {                                    \
        return ::atl::status_from_current_exception(); \
    }
