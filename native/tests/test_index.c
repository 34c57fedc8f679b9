/* The catalog index C API from plain C: create, add, search with and without a filter,
 * id maps, serialise and read back, truncated buffers, PCA, the GPU refusal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "atelier.h"
#include "test_util.h"

enum { D = 8, N = 200, K = 5 };

/* No libm here (the test links only libatelier). */
static float absf(float v) { return v < 0 ? -v : v; }

/* Deterministic pseudo-random numbers (LCG), rows made unit-length by atl_l2_normalize. */
static void fill(float* x, int n, unsigned seed) {
    unsigned s = seed;
    for (int i = 0; i < n * D; ++i) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    atl_tensor_view v = view_rows(x, ATL_DTYPE_F32, 2, n, D);
    atl_status* st = atl_l2_normalize(&v);
    if (st != NULL) {
        fprintf(stderr, "atl_l2_normalize: %s\n", atl_status_message(st));
        atl_status_destroy(st);
        ++failures;
    }
    float norm = 0;
    for (int j = 0; j < D; ++j) norm += x[j] * x[j];
    if (absf(norm - 1.0f) > 1e-5f) ++failures;
}

/* self_first: each vector is its own nearest neighbour (not after a lossy PCA). */
static void test_index(const char* factory, int id_map, int self_first) {
    static float x[N * D];
    fill(x, N, 7);
    atl_index_params p;
    atl_index_params_init(&p);
    p.factory = factory;
    p.dimension = D;
    p.id_map = id_map;
    atl_index* index = NULL;
    OK(atl_index_create(&p, &index));
    if (index == NULL) return;
    atl_tensor_view xv = view_rows(x, ATL_DTYPE_F32, 2, N, D);
    OK(atl_index_train(index, &xv));
    int64_t ids[N];
    for (int i = 0; i < N; ++i) ids[i] = id_map ? 1000 + 3 * i : i;
    atl_tensor_view iv = view_rows(ids, ATL_DTYPE_I64, 1, N, 0);
    OK(atl_index_add(index, &xv, &iv));
    CHECK(atl_index_ntotal(index) == N);
    CHECK(atl_index_dimension(index) == D);

    /* Each vector finds itself first. */
    float scores[K];
    int64_t found[K];
    atl_tensor_view qv = view_rows(x + 17 * D, ATL_DTYPE_F32, 2, 1, D);
    atl_tensor_view sv = view_rows(scores, ATL_DTYPE_F32, 2, 1, K);
    atl_tensor_view fv = view_rows(found, ATL_DTYPE_I64, 2, 1, K);
    OK(atl_index_search(index, &qv, K, NULL, &sv, &fv));
    if (self_first) {
        CHECK(found[0] == ids[17]);
        CHECK(absf(scores[0] - 1.0f) < 1e-4f);
    }
    int64_t first = found[0];

    /* A filter of every other id excludes the query itself. */
    int64_t allowed[N / 2];
    for (int i = 0; i < N / 2; ++i) allowed[i] = ids[2 * i];
    atl_tensor_view av = view_rows(allowed, ATL_DTYPE_I64, 1, N / 2, 0);
    atl_id_filter* filter = NULL;
    OK(atl_id_filter_create(&av, &filter));
    CHECK(atl_id_filter_count(filter) == N / 2);
    OK(atl_index_search(index, &qv, K, filter, &sv, &fv));
    for (int j = 0; j < K; ++j) {
        int member = 0;
        for (int i = 0; i < N / 2; ++i) member |= found[j] == allowed[i];
        CHECK(member);
    }
    atl_id_filter_destroy(filter);

    /* Write, read back, same results; truncated and extended buffers are format errors. */
    atl_blob* blob = NULL;
    OK(atl_index_write(index, &blob));
    atl_index* back = NULL;
    OK(atl_index_read(atl_blob_data(blob), atl_blob_size(blob), &back));
    CHECK(back != NULL && atl_index_ntotal(back) == N);
    if (back != NULL) {
        int64_t again[K];
        atl_tensor_view av2 = view_rows(again, ATL_DTYPE_I64, 2, 1, K);
        OK(atl_index_search(back, &qv, K, NULL, &sv, &av2));
        CHECK(again[0] == first);
    }
    atl_index_destroy(back);
    atl_index* bad = NULL;
    CHECK(expect_code(atl_index_read(atl_blob_data(blob), atl_blob_size(blob) - 9, &bad), ATL_ERR_FORMAT));
    unsigned char* longer = malloc(atl_blob_size(blob) + 4);
    memcpy(longer, atl_blob_data(blob), atl_blob_size(blob));
    memset(longer + atl_blob_size(blob), 0, 4);
    CHECK(expect_code(atl_index_read(longer, atl_blob_size(blob) + 4, &bad), ATL_ERR_FORMAT));
    free(longer);
    atl_blob_destroy(blob);
    printf("%-12s id_map=%d ok: %s\n", factory, id_map, atl_index_description(index));
    atl_index_destroy(index);
}

/* Peak resident memory of this process in KiB. */
static long peak_rss_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

/* A length field inside a FAISS buffer that claims more elements than the buffer holds is a
 * format error found before the elements are allocated; a one-element id vector whose id is
 * large is still read. */
static void test_lying_lengths(void) {
    static float x[N * D];
    fill(x, N, 11);
    atl_index_params p;
    atl_index_params_init(&p);
    p.factory = "Flat";
    p.dimension = D;
    atl_index* index = NULL;
    OK(atl_index_create(&p, &index));
    if (index == NULL) return;
    atl_tensor_view xv = view_rows(x, ATL_DTYPE_F32, 2, N, D);
    OK(atl_index_add(index, &xv, NULL));
    atl_blob* blob = NULL;
    OK(atl_index_write(index, &blob));
    atl_index_destroy(index);
    int64_t size = atl_blob_size(blob);
    unsigned char* bytes = malloc(size);
    memcpy(bytes, atl_blob_data(blob), size);
    atl_blob_destroy(blob);
    /* The vectors' length field: N * D floats, the last 8-byte field before the vectors. */
    int64_t at = size - (int64_t)sizeof(float) * N * D - 8;
    uint64_t length;
    memcpy(&length, bytes + at, 8);
    CHECK(length == (uint64_t)N * D);
    /* 2^27 floats: FAISS alone would zero-fill 512 MiB before its short read. */
    uint64_t lie = (uint64_t)1 << 27;
    memcpy(bytes + at, &lie, 8);
    long before = peak_rss_kib();
    atl_index* bad = NULL;
    atl_status* st = atl_index_read(bytes, size, &bad);
    CHECK(atl_status_code(st) == ATL_ERR_FORMAT);
    if (st != NULL) {
        printf("lying length: %s\n", atl_status_message(st));
        CHECK(strstr(atl_status_message(st), "length field") != NULL);
    }
    atl_status_destroy(st);
    CHECK(bad == NULL);
    CHECK(peak_rss_kib() - before < 64 * 1024);
    free(bytes);

    /* One vector with id 10^12: the id vector's single element is data, not a length. */
    p.id_map = 1;
    OK(atl_index_create(&p, &index));
    if (index == NULL) return;
    int64_t id = 1000000000000LL;
    atl_tensor_view one = view_rows(x, ATL_DTYPE_F32, 2, 1, D);
    atl_tensor_view iv = view_rows(&id, ATL_DTYPE_I64, 1, 1, 0);
    OK(atl_index_add(index, &one, &iv));
    OK(atl_index_write(index, &blob));
    atl_index* back = NULL;
    OK(atl_index_read(atl_blob_data(blob), atl_blob_size(blob), &back));
    CHECK(back != NULL && atl_index_ntotal(back) == 1);
    atl_index_destroy(back);
    atl_blob_destroy(blob);
    atl_index_destroy(index);
}

int main(void) {
    test_lying_lengths();
    test_index("Flat", 0, 1);
    test_index("HNSW16", 0, 1);
    test_index("IVF4,Flat", 0, 1);
    test_index("Flat", 1, 1);
    test_index("HNSW16", 1, 1);
    test_index("PCA4,Flat", 0, 0); /* filters by over-fetching */

    atl_index_params p;
    atl_index_params_init(&p);
    CHECK(p.hnsw_ef_construction == 200);
    p.dimension = D;
    atl_index* index = NULL;
    p.factory = "NoSuchIndex";
    CHECK(expect_code(atl_index_create(&p, &index), ATL_ERR_INVALID_ARGUMENT));
    p.factory = "Flat";
    p.device = ATL_DEVICE_CUDA;
    CHECK(expect_code(atl_index_create(&p, &index), ATL_ERR_UNSUPPORTED));
    p.device = ATL_DEVICE_CPU;
    /* Descriptions as atelier.h spells them, the metric as atl_metric_name names it. */
    p.factory = "HNSW16";
    p.metric = ATL_METRIC_L2;
    p.id_map = 1;
    OK(atl_index_create(&p, &index));
    printf("description: %s\n", atl_index_description(index));
    CHECK(strcmp(atl_index_description(index), "IDMap2(HNSW(M=16, efConstruction=200, efSearch=64, l2))") == 0);
    atl_index_destroy(index);
    p.factory = "Flat";
    p.metric = ATL_METRIC_INNER_PRODUCT;
    p.id_map = 0;
    OK(atl_index_create(&p, &index));
    CHECK(strcmp(atl_index_description(index), "Flat(inner_product)") == 0);
    /* Flat numbers its vectors itself: other ids are refused. */
    static float x[N * D];
    fill(x, N, 3);
    atl_tensor_view xv = view_rows(x, ATL_DTYPE_F32, 2, 2, D);
    int64_t ids[2] = {5, 6};
    atl_tensor_view iv = view_rows(ids, ATL_DTYPE_I64, 1, 2, 0);
    CHECK(expect_code(atl_index_add(index, &xv, &iv), ATL_ERR_INVALID_ARGUMENT));
    CHECK(expect_code(atl_index_set_ef_search(index, 10), ATL_ERR_INVALID_ARGUMENT));
    atl_index_destroy(index);
    CHECK(atl_metric_from_name(atl_metric_name(ATL_METRIC_L2)) == ATL_METRIC_L2);

    /* PCA 8 -> 4, normalised rows, serialised and read back with equal output. */
    atl_pca* pca = NULL;
    OK(atl_pca_create(D, 4, 0.0f, &pca));
    xv = view_rows(x, ATL_DTYPE_F32, 2, N, D);
    OK(atl_pca_train(pca, &xv));
    CHECK(atl_pca_is_trained(pca));
    float y[2 * 4], y2[2 * 4];
    atl_tensor_view in = view_rows(x, ATL_DTYPE_F32, 2, 2, D);
    atl_tensor_view yv = view_rows(y, ATL_DTYPE_F32, 2, 2, 4);
    OK(atl_pca_apply(pca, &in, &yv, 1));
    float norm = 0;
    for (int j = 0; j < 4; ++j) norm += y[j] * y[j];
    CHECK(absf(norm - 1.0f) < 1e-5f);
    atl_blob* blob = NULL;
    OK(atl_pca_write(pca, &blob));
    atl_pca* back = NULL;
    OK(atl_pca_read(atl_blob_data(blob), atl_blob_size(blob), &back));
    atl_tensor_view y2v = view_rows(y2, ATL_DTYPE_F32, 2, 2, 4);
    OK(atl_pca_apply(back, &in, &y2v, 1));
    CHECK(memcmp(y, y2, sizeof y) == 0);
    atl_pca* bad = NULL;
    CHECK(expect_code(atl_pca_read(atl_blob_data(blob), atl_blob_size(blob) / 2, &bad), ATL_ERR_FORMAT));
    atl_blob_destroy(blob);
    atl_pca_destroy(back);
    atl_pca_destroy(pca);

    return test_result("test_index");
}
