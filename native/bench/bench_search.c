/* Exact (flat) search throughput of FAISS's own code vs Atelier's kernels, in batches, and one
 * query at a time: the inner loop of issue 5's target (>= 500 queries/s at 800,000 x 128 in
 * batches of 1,000). Not a test: run by hand,
 *   cmake --build build --target bench_search && build/native/bench_search [n] [batch] [threads] [kernels]
 * kernels: comma-separated atl_search_kernel names (default "faiss,auto"). Random unit vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "bench_util.h"

static void check(atl_status* s, const char* what) {
    if (s != NULL) {
        fprintf(stderr, "%s: %s\n", what, atl_status_message(s));
        exit(1);
    }
}

/* Best wall time of reps searches of queries. */
static double best_time(const atl_index* index, const atl_tensor_view* queries, int64_t k, atl_tensor_view* scores,
                        atl_tensor_view* ids, int reps) {
    double best = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
        double t0 = now();
        check(atl_index_search(index, queries, k, NULL, scores, ids), "search");
        double t = now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char** argv) {
    const int64_t n = argc > 1 ? atoll(argv[1]) : 800000, nq = argc > 2 ? atoll(argv[2]) : 1000, d = 128, k = 5;
    const int threads = argc > 3 ? atoi(argv[3]) : 2;
    char kernels[256];
    snprintf(kernels, sizeof kernels, "%s", argc > 4 ? argv[4] : "faiss,auto");
    check(atl_set_num_threads(threads), "threads");
    float* x = malloc(sizeof(float) * (size_t)(n * d));
    float* q = malloc(sizeof(float) * (size_t)(nq * d));
    unsigned s = 1;
    for (int64_t i = 0; i < n * d; ++i) x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int64_t i = 0; i < nq * d; ++i) q[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    atl_tensor_view xv = view_rows(x, ATL_DTYPE_F32, 2, n, d), qv = view_rows(q, ATL_DTYPE_F32, 2, nq, d);
    check(atl_l2_normalize(&xv), "normalize");
    check(atl_l2_normalize(&qv), "normalize");
    atl_index_params p;
    atl_index_params_init(&p);
    p.dimension = (int32_t)d;
    atl_index* index = NULL;
    check(atl_index_create(&p, &index), "create");
    check(atl_index_add(index, &xv, NULL), "add");
    float* scores = malloc(sizeof(float) * (size_t)(nq * k));
    int64_t* ids = malloc(sizeof(int64_t) * (size_t)(nq * k));
    atl_tensor_view sv = view_rows(scores, ATL_DTYPE_F32, 2, nq, k), iv = view_rows(ids, ATL_DTYPE_I64, 2, nq, k);
    int64_t* first_ids = NULL;  /* the first kernel's batch results: the others are compared with them */
    printf("n=%lld d=%lld batch=%lld k=%lld threads=%d\n", (long long)n, (long long)d, (long long)nq, (long long)k, threads);
    for (char* name = strtok(kernels, ","); name != NULL; name = strtok(NULL, ",")) {
        int32_t kernel = atl_search_kernel_from_name(name);
        check(atl_index_set_search_kernel(index, kernel), name);
        double best = best_time(index, &qv, k, &sv, &iv, 3);
        int64_t differ = 0;
        if (first_ids == NULL) {
            first_ids = malloc(sizeof(int64_t) * (size_t)(nq * k));
            memcpy(first_ids, ids, sizeof(int64_t) * (size_t)(nq * k));
        } else {
            for (int64_t i = 0; i < nq * k; ++i) differ += ids[i] != first_ids[i];
        }
        atl_tensor_view q1 = view_rows(q, ATL_DTYPE_F32, 2, 1, d), s1 = view_rows(scores, ATL_DTYPE_F32, 2, 1, k),
                        i1 = view_rows(ids, ATL_DTYPE_I64, 2, 1, k);
        double one = best_time(index, &q1, k, &s1, &i1, 5);
        printf("%-10s batch: %8.3f s = %7.0f queries/s (%.0f GFLOP/s); one query: %.2f ms; ids differing from the first "
               "kernel's: %lld\n", name, best, nq / best, 2.0 * n * d * nq / best * 1e-9, one * 1e3, (long long)differ);
    }
    atl_index_destroy(index);
    free(x), free(q), free(scores), free(ids), free(first_ids);
    return 0;
}
