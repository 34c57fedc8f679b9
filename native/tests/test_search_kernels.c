/* Atelier's search kernels (reference, AVX2, AVX-512 where the CPU has them) against FAISS's own
 * search on the same index: exact search (inner product and L2, the small-batch and the packed
 * path, odd widths, k beyond the stored count, filters, id maps) must return FAISS's ids and
 * scores; the HNSW walk must find at least FAISS's recall on the same graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "test_util.h"

static float absf(float v) { return v < 0 ? -v : v; }

/* Clustered vectors (LCG noise around `clusters` centres), unit length when normalise. */
static float* make_vectors(int n, int d, int clusters, unsigned seed, int normalise) {
    float* x = malloc(sizeof(float) * (size_t)n * d);
    float* centres = malloc(sizeof(float) * (size_t)clusters * d);
    unsigned s = seed;
#define NEXT() (s = s * 1664525u + 1013904223u, (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f)
    for (int i = 0; i < clusters * d; ++i) centres[i] = NEXT();
    for (int i = 0; i < n; ++i) {
        int c = (int)((unsigned)(NEXT() * 65536.0f + 32768.0f) % (unsigned)clusters);
        for (int j = 0; j < d; ++j) x[(size_t)i * d + j] = centres[c * d + j] + 0.3f * NEXT();
    }
#undef NEXT
    free(centres);
    if (normalise) {
        atl_tensor_view v = view_rows(x, ATL_DTYPE_F32, 2, n, d);
        OK(atl_l2_normalize(&v));
    }
    return x;
}

static atl_index* make_index(const char* factory, int d, int metric, int id_map, const float* x, int n,
                             const int64_t* ids) {
    atl_index_params p;
    atl_index_params_init(&p);
    p.factory = factory;
    p.dimension = d;
    p.metric = metric;
    p.id_map = id_map;
    atl_index* index = NULL;
    OK(atl_index_create(&p, &index));
    atl_tensor_view xv = view_rows((void*)x, ATL_DTYPE_F32, 2, n, d);
    atl_tensor_view iv = view_rows((void*)ids, ATL_DTYPE_I64, 1, n, 0);
    OK(atl_index_add(index, &xv, ids ? &iv : NULL));
    return index;
}

static void search(atl_index* index, int32_t kernel, const float* q, int nq, int d, int k, const atl_id_filter* filter,
                   float* scores, int64_t* ids) {
    OK(atl_index_set_search_kernel(index, kernel));
    atl_tensor_view qv = view_rows((void*)q, ATL_DTYPE_F32, 2, nq, d);
    atl_tensor_view sv = view_rows(scores, ATL_DTYPE_F32, 2, nq, k);
    atl_tensor_view iv = view_rows(ids, ATL_DTYPE_I64, 2, nq, k);
    OK(atl_index_search(index, &qv, k, filter, &sv, &iv));
}

/* Exact search: every Atelier kernel returns FAISS's ids (random floats: no ties) and scores. */
static void test_exact(int32_t kernel, int metric, int n, int d, int nq, int k, int id_map, int filtered) {
    float* x = make_vectors(n, d, 20, 11, metric == ATL_METRIC_INNER_PRODUCT);
    float* q = make_vectors(nq, d, 20, 12, metric == ATL_METRIC_INNER_PRODUCT);
    int64_t* ids = NULL;
    if (id_map) {
        ids = malloc(sizeof(int64_t) * n);
        for (int i = 0; i < n; ++i) ids[i] = 5000 + 7 * (int64_t)i;
    }
    atl_index* index = make_index("Flat", d, metric, id_map, x, n, ids);
    atl_id_filter* filter = NULL;
    if (filtered) {
        int m = n / 3;
        int64_t* allowed = malloc(sizeof(int64_t) * (m + 1));
        for (int i = 0; i < m; ++i) allowed[i] = id_map ? ids[3 * i] : 3 * i;
        atl_tensor_view av = view_rows(allowed, ATL_DTYPE_I64, 1, m, 0);
        OK(atl_id_filter_create(&av, &filter));
        free(allowed);
    }
    size_t total = (size_t)nq * k;
    float* want_s = malloc(sizeof(float) * total);
    float* got_s = malloc(sizeof(float) * total);
    int64_t* want_i = malloc(sizeof(int64_t) * total);
    int64_t* got_i = malloc(sizeof(int64_t) * total);
    search(index, ATL_SEARCH_KERNEL_FAISS, q, nq, d, k, filter, want_s, want_i);
    search(index, kernel, q, nq, d, k, filter, got_s, got_i);
    int id_mismatch = 0, score_mismatch = 0;
    for (size_t i = 0; i < total; ++i) {
        id_mismatch += got_i[i] != want_i[i];
        if (want_i[i] >= 0 && absf(got_s[i] - want_s[i]) > 1e-4f * (1.0f + absf(want_s[i]))) ++score_mismatch;
    }
    if (id_mismatch || score_mismatch) {
        fprintf(stderr, "exact %s metric=%d n=%d d=%d nq=%d k=%d id_map=%d filtered=%d: %d ids and %d scores differ\n",
                atl_search_kernel_name(kernel), metric, n, d, nq, k, id_map, filtered, id_mismatch, score_mismatch);
        ++failures;
    }
    if (filtered && filter != NULL) {
        for (size_t i = 0; i < total; ++i) {
            int64_t row = got_i[i] < 0 ? 0 : id_map ? (got_i[i] - 5000) / 7 : got_i[i];
            CHECK(got_i[i] < 0 || row % 3 == 0);
        }
    }
    atl_id_filter_destroy(filter);
    atl_index_destroy(index);
    free(x), free(q), free(ids), free(want_s), free(got_s), free(want_i), free(got_i);
}

/* Recall@k of found against the exact ids. */
static double recall(const int64_t* found, const int64_t* exact, int nq, int k) {
    long hit = 0;
    for (int i = 0; i < nq; ++i) {
        for (int a = 0; a < k; ++a) {
            for (int b = 0; b < k; ++b) hit += found[i * k + a] >= 0 && found[i * k + a] == exact[i * k + b];
        }
    }
    return (double)hit / ((double)nq * k);
}

/* HNSW: Atelier's walk of FAISS's graph reaches FAISS's recall (within 1%) at the same efSearch,
 * high recall at a larger one, and honours a filter. */
static void test_hnsw(int32_t kernel, int metric) {
    enum { N = 6000, DIM = 24, NQ = 200, KK = 10 };
    float* x = make_vectors(N, DIM, 40, 21, metric == ATL_METRIC_INNER_PRODUCT);
    float* q = make_vectors(NQ, DIM, 40, 22, metric == ATL_METRIC_INNER_PRODUCT);
    atl_index* exact = make_index("Flat", DIM, metric, 0, x, N, NULL);
    atl_index* hnsw = make_index("HNSW16", DIM, metric, 0, x, N, NULL);
    static float s[NQ * KK];
    static int64_t truth[NQ * KK], faiss_ids[NQ * KK], ours[NQ * KK];
    search(exact, ATL_SEARCH_KERNEL_FAISS, q, NQ, DIM, KK, NULL, s, truth);
    for (int ef = 10; ef <= 80; ef *= 8) {
        OK(atl_index_set_ef_search(hnsw, ef));
        search(hnsw, ATL_SEARCH_KERNEL_FAISS, q, NQ, DIM, KK, NULL, s, faiss_ids);
        search(hnsw, kernel, q, NQ, DIM, KK, NULL, s, ours);
        double r_faiss = recall(faiss_ids, truth, NQ, KK), r_ours = recall(ours, truth, NQ, KK);
        printf("hnsw %-9s metric=%d efSearch=%d: recall@10 faiss %.4f atelier %.4f\n", atl_search_kernel_name(kernel),
               metric, ef, r_faiss, r_ours);
        CHECK(r_ours >= r_faiss - 0.01);
        if (ef == 80) CHECK(r_ours >= 0.98);
        for (int i = 0; i < NQ; ++i) {  /* best first */
            for (int j = 1; j < KK; ++j) {
                float a = s[i * KK + j - 1], b = s[i * KK + j];
                CHECK(metric == ATL_METRIC_INNER_PRODUCT ? a >= b : a <= b);
            }
        }
    }
    /* Only multiples of 4 allowed: every result is one, and most of the filtered exact top 10 are found. */
    int64_t* allowed = malloc(sizeof(int64_t) * (N / 4));
    for (int i = 0; i < N / 4; ++i) allowed[i] = 4 * i;
    atl_tensor_view av = view_rows(allowed, ATL_DTYPE_I64, 1, N / 4, 0);
    atl_id_filter* filter = NULL;
    OK(atl_id_filter_create(&av, &filter));
    search(exact, ATL_SEARCH_KERNEL_FAISS, q, NQ, DIM, KK, filter, s, truth);
    search(hnsw, kernel, q, NQ, DIM, KK, filter, s, ours);
    for (int i = 0; i < NQ * KK; ++i) CHECK(ours[i] >= 0 && ours[i] % 4 == 0);
    printf("hnsw %-9s metric=%d filtered efSearch=80: recall@10 %.4f\n", atl_search_kernel_name(kernel), metric,
           recall(ours, truth, NQ, KK));
    CHECK(recall(ours, truth, NQ, KK) >= 0.9);
    atl_id_filter_destroy(filter);
    free(allowed);
    atl_index_destroy(exact);
    atl_index_destroy(hnsw);
    free(x), free(q);
}

static void test_names(void) {
    for (int32_t k = ATL_SEARCH_KERNEL_AUTO; k <= ATL_SEARCH_KERNEL_TORCH; ++k) {
        CHECK(atl_search_kernel_from_name(atl_search_kernel_name(k)) == k);
    }
    CHECK(atl_search_kernel_name(99) == NULL);
    CHECK(atl_search_kernel_from_name("sse") == -1);
    CHECK(atl_search_kernel_available(ATL_SEARCH_KERNEL_REFERENCE) == 1);
    float x[4] = {1, 0, 0, 0};
    atl_index* index = make_index("Flat", 4, ATL_METRIC_INNER_PRODUCT, 0, x, 1, NULL);
    atl_status* st = atl_index_set_search_kernel(index, 99);
    CHECK(atl_status_code(st) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(st);
    CHECK(atl_index_search_kernel(index) == ATL_SEARCH_KERNEL_AUTO);
    atl_index_destroy(index);
}

/* IVF-Flat through the TORCH kernel (the GPU index's code, here on the CPU): FAISS's IVF results at
 * the same nprobe (the same probed lists, then exact scores), with and without a filter. */
static void test_ivf(int metric) {
    enum { N = 6000, DIM = 24, NQ = 50, KK = 10 };
    float* x = make_vectors(N, DIM, 40, 31, metric == ATL_METRIC_INNER_PRODUCT);
    float* q = make_vectors(NQ, DIM, 40, 32, metric == ATL_METRIC_INNER_PRODUCT);
    atl_index_params p;
    atl_index_params_init(&p);
    p.factory = "IVF32,Flat";
    p.dimension = DIM;
    p.metric = metric;
    p.ivf_nprobe = 4;
    atl_index* ivf = NULL;
    OK(atl_index_create(&p, &ivf));
    atl_tensor_view xv = view_rows(x, ATL_DTYPE_F32, 2, N, DIM);
    OK(atl_index_train(ivf, &xv));
    OK(atl_index_add(ivf, &xv, NULL));
    int64_t allowed[N / 2];
    for (int i = 0; i < N / 2; ++i) allowed[i] = 2 * i;
    atl_tensor_view av = view_rows(allowed, ATL_DTYPE_I64, 1, N / 2, 0);
    atl_id_filter* filter = NULL;
    OK(atl_id_filter_create(&av, &filter));
    static float ws[NQ * KK], gs[NQ * KK];
    static int64_t wi[NQ * KK], gi[NQ * KK];
    for (int f = 0; f < 2; ++f) {
        search(ivf, ATL_SEARCH_KERNEL_FAISS, q, NQ, DIM, KK, f ? filter : NULL, ws, wi);
        search(ivf, ATL_SEARCH_KERNEL_TORCH, q, NQ, DIM, KK, f ? filter : NULL, gs, gi);
        int ids = 0, scores = 0;
        for (int i = 0; i < NQ * KK; ++i) {
            ids += gi[i] != wi[i];
            if (wi[i] >= 0 && absf(gs[i] - ws[i]) > 1e-4f * (1.0f + absf(ws[i]))) ++scores;
            if (f) CHECK(gi[i] < 0 || gi[i] % 2 == 0);
        }
        printf("ivf torch metric=%d%s: %d ids and %d scores differ from FAISS's\n", metric, f ? " filtered" : "", ids, scores);
        CHECK(ids == 0 && scores == 0);
    }
    atl_id_filter_destroy(filter);
    atl_index_destroy(ivf);
    free(x), free(q);
}

/* A GPU index: a Flat or IVF-Flat index on a GPU this library sees; anything else is refused,
 * saying why. */
static void test_gpu_index(void) {
    atl_index_params p;
    atl_index_params_init(&p);
    p.dimension = 8;
    p.device = ATL_DEVICE_CUDA;
    p.device_index = atl_cuda_device_count(); /* one past the last GPU */
    atl_index* index = NULL;
    atl_status* st = atl_index_create(&p, &index);
    CHECK(atl_status_code(st) == ATL_ERR_UNSUPPORTED && strstr(atl_status_message(st), "is not available") != NULL);
    atl_status_destroy(st);
    p.device_index = 0;
    p.factory = "HNSW32";
    st = atl_index_create(&p, &index);
    CHECK(atl_status_code(st) == ATL_ERR_UNSUPPORTED &&
          strstr(atl_status_message(st), "is neither a Flat nor an IVF-Flat index") != NULL);
    atl_status_destroy(st);
    CHECK(index == NULL);
}

int main(void) {
    test_names();
    test_gpu_index();
    test_ivf(ATL_METRIC_INNER_PRODUCT);
    test_ivf(ATL_METRIC_L2);
    /* TORCH: libtorch's GEMM and top-k, on the CPU here (the GPU index's code). */
    const int32_t kernels[] = {ATL_SEARCH_KERNEL_AUTO, ATL_SEARCH_KERNEL_REFERENCE, ATL_SEARCH_KERNEL_AVX2,
                               ATL_SEARCH_KERNEL_AVX512, ATL_SEARCH_KERNEL_TORCH};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; ++i) {
        int32_t kernel = kernels[i];
        if (!atl_search_kernel_available(kernel)) {
            printf("%s: not on this CPU\n", atl_search_kernel_name(kernel));
            continue;
        }
        for (int metric = ATL_METRIC_INNER_PRODUCT; metric <= ATL_METRIC_L2; ++metric) {
            test_exact(kernel, metric, 3001, 37, 5, 10, 0, 0);    /* few queries, odd width */
            test_exact(kernel, metric, 9000, 128, 300, 5, 0, 0);  /* packed path: 300 queries, a partial last block of rows */
            test_exact(kernel, metric, 7, 16, 40, 10, 0, 0);      /* k beyond the stored count */
            test_exact(kernel, metric, 5000, 24, 3, 8, 1, 1);     /* id map + filter, few queries */
            test_exact(kernel, metric, 5000, 24, 64, 8, 1, 1);    /* id map + filter, packed path */
            test_hnsw(kernel, metric);
        }
        printf("%s: exact search equals FAISS's; HNSW recall at least FAISS's\n", atl_search_kernel_name(kernel));
    }
    return test_result("test_search_kernels");
}
