/* The C API from plain C: proves the header is pure C and checks the status, tensor-view,
 * progress and weights contracts without the JVM in the way. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "test_util.h"

/* Threads of this process now (Linux). */
static int thread_count(void) {
    DIR* dir = opendir("/proc/self/task");
    CHECK(dir != NULL);
    int n = 0;
    for (struct dirent* e; (e = readdir(dir)) != NULL;) n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

/* A parallel sum at two threads leaves an idle worker thread behind; atl_release_threads ends
 * it, and the next parallel call works as before. */
static void check_release_threads(void) {
    enum { N = 1 << 20 };
    float* big = malloc(N * sizeof(float));
    CHECK(big != NULL);
    for (int i = 0; i < N; i++) big[i] = 1.0f;
    atl_tensor_view v = view_rows(big, ATL_DTYPE_F32, 1, N, 1);
    double sum = 0;
    CHECK(atl_set_num_threads(2) == NULL);
    int before = thread_count();
    CHECK(atl_tensor_sum(&v, &sum) == NULL && sum == N);
    int with_workers = thread_count();
    CHECK(with_workers > before);
    CHECK(atl_release_threads() == NULL);
    CHECK(thread_count() == with_workers - 1);
    CHECK(atl_release_threads() == NULL); /* nothing left to end */
    CHECK(atl_tensor_sum(&v, &sum) == NULL && sum == N);
    CHECK(thread_count() == with_workers);
    CHECK(atl_release_threads() == NULL);
    CHECK(atl_set_num_threads(1) == NULL);
    free(big);
}

static int cancel_at_three(void* user_data, int64_t done, int64_t total) {
    (void)total;
    *(int64_t*)user_data = done;
    return done == 3;
}

int main(void) {
    CHECK(atl_abi_version() == ATL_ABI_VERSION);
    CHECK(atl_status_code(NULL) == ATL_OK);
    CHECK(strcmp(atl_status_message(NULL), "") == 0);
    atl_status_destroy(NULL);
    CHECK(atl_dtype_size(ATL_DTYPE_BF16) == 2 && atl_dtype_size(99) == 0);
    CHECK(strcmp(atl_dtype_name(ATL_DTYPE_BOOL), "BOOL") == 0 && atl_dtype_name(-1) == NULL);

    CHECK(atl_set_num_threads(1) == NULL);
    CHECK(atl_num_threads() == 1);
    check_release_threads();

    /* matmul through libtorch, result written into caller memory */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4] = {0};
    atl_tensor_view va = view_rows(a, ATL_DTYPE_F32, 2, 2, 3), vb = view_rows(b, ATL_DTYPE_F32, 2, 3, 2);
    atl_tensor_view vc = view_rows(c, ATL_DTYPE_F32, 2, 2, 2);
    atl_status* s = atl_tensor_matmul(&va, &vb, &vc);
    CHECK(s == NULL);
    CHECK(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);

    /* a libtorch error comes back as a status with libtorch's message */
    atl_tensor_view bad = view_rows(b, ATL_DTYPE_F32, 2, 2, 3);
    s = atl_tensor_matmul(&va, &bad, &vc);
    CHECK(atl_status_code(s) == ATL_ERR_BACKEND);
    CHECK(strstr(atl_status_message(s), "cannot be multiplied") != NULL);
    atl_status_destroy(s);

    /* zero copy: libtorch sees the caller's address */
    uint64_t address = 0;
    CHECK(atl_tensor_address(&va, &address) == NULL);
    CHECK(address == (uint64_t)(uintptr_t)a);

    /* bad views are rejected, not dereferenced */
    atl_tensor_view broken = va;
    broken.ndim = 42;
    s = atl_tensor_sum(&broken, NULL);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(s);
    double sum = 0;
    broken = va;
    broken.dtype = 77;
    s = atl_tensor_sum(&broken, &sum);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(s);
    CHECK(atl_tensor_sum(&va, &sum) == NULL && sum == 21.0);

    /* progress and cancellation */
    int64_t last = 0;
    atl_progress progress = {cancel_at_three, &last};
    s = atl_run_steps(10, &progress);
    CHECK(atl_status_code(s) == ATL_ERR_CANCELLED && last == 3);
    atl_status_destroy(s);
    CHECK(atl_run_steps(5, NULL) == NULL);

    /* weights keep the caller's memory */
    atl_weights* w = NULL;
    CHECK(atl_weights_create(&w) == NULL && w != NULL);
    CHECK(atl_weights_add(w, "a", &va) == NULL);
    s = atl_weights_add(w, "a", &va);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(s);
    CHECK(atl_weights_count(w) == 1);
    address = 0;
    CHECK(atl_weights_address(w, "a", &address) == NULL && address == (uint64_t)(uintptr_t)a);
    atl_weights_destroy(w);
    atl_weights_destroy(NULL);

    return test_result("test_core");
}
