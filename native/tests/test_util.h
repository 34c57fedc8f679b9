/* What every native test shares: the failure count, CHECK and OK, status-code checks and tensor
 * views of caller-owned memory. Plain C (the tests prove the header is pure C); C++ tests include
 * it too. Functions are static inline so that a test that does not use one gets no warning. */
#ifndef ATL_TEST_UTIL_H
#define ATL_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

#include "atelier.h"

static int failures = 0;

/* Counts a failed condition, with its file and line, and goes on. */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

/* Counts a call that returned a status (not NULL), with the status's message, and frees it. */
#define OK(call)                                                                                          \
    do {                                                                                                  \
        atl_status* s_ = (call);                                                                          \
        if (s_ != NULL) {                                                                                 \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, atl_status_message(s_)); \
            atl_status_destroy(s_);                                                                       \
            ++failures;                                                                                   \
        }                                                                                                 \
    } while (0)

/* 1 when s carries code (reported on stderr otherwise); frees s. */
static inline int expect_code(atl_status* s, atl_code code) {
    int ok = atl_status_code(s) == code;
    if (!ok) fprintf(stderr, "expected code %d, got %d: %s\n", code, atl_status_code(s), atl_status_message(s));
    atl_status_destroy(s);
    return ok;
}

/* A contiguous (row-major) CPU view of caller-owned data [shape[0], ..., shape[ndim - 1]]. */
static inline atl_tensor_view view(void* data, int32_t dtype, int ndim, const int64_t* shape) {
    atl_tensor_view v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.dtype = dtype;
    v.ndim = ndim;
    int64_t stride = 1;
    for (int d = ndim - 1; d >= 0; --d) {
        v.shape[d] = shape[d];
        v.strides[d] = stride;
        stride *= shape[d];
    }
    return v;
}

/* A contiguous view [rows] (ndim 1; cols ignored) or [rows, cols] (ndim 2). */
static inline atl_tensor_view view_rows(void* data, int32_t dtype, int ndim, int64_t rows, int64_t cols) {
    int64_t shape[2] = {rows, cols};
    return view(data, dtype, ndim, shape);
}

/* The test's exit status: 0 when every check passed, else 1 (the count goes to stderr). */
static inline int test_result(const char* name) {
    if (failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
        return 1;
    }
    printf("%s: all passed\n", name);
    return 0;
}

#endif
