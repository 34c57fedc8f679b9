/* What the native benchmarks share: a monotonic clock and the tests' tensor views
 * (tests/test_util.h). */
#ifndef ATL_BENCH_UTIL_H
#define ATL_BENCH_UTIL_H

#include <time.h>

#include "../tests/test_util.h"

/* Seconds on the monotonic clock. */
static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* qsort order of doubles, ascending. */
static inline int compare_doubles(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

#endif
