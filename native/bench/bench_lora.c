/* Fused LoRA linear vs unfused (x W^T, x A^T, t B^T + add as separate libtorch ops) vs merged
 * (one GEMM with W + s B A formed beforehand) on SD1.5 attention shapes, and a batch whose
 * samples each use another LoRA vs the same batch with one LoRA. Not a test: run by hand,
 *   cmake --build build --target bench_lora && build/native/bench_lora [threads] [reps]
 * Prints the median time of each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "bench_util.h"

static float* randoms(int64_t n) {
    float* p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; ++i) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

static int reps = 15;

#define TIME(expr)                                                     \
    ({                                                                 \
        double ts[64];                                                 \
        for (int w = 0; w < 2; ++w) atl_status_destroy(expr);          \
        for (int i = 0; i < reps; ++i) {                               \
            double t0 = now();                                         \
            atl_status* st = (expr);                                   \
            ts[i] = now() - t0;                                        \
            if (st) {                                                  \
                fprintf(stderr, "error: %s\n", atl_status_message(st)); \
                exit(1);                                               \
            }                                                          \
        }                                                              \
        qsort(ts, (size_t)reps, sizeof(double), compare_doubles);                  \
        ts[reps / 2] * 1e3;                                            \
    })

int main(int argc, char** argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2) reps = atoi(argv[2]);
    if (reps > 64) reps = 64;
    atl_set_num_threads(threads);
    printf("threads %d, median of %d, fused kernel = %s\n", atl_num_threads(), reps,
           atl_lora_kernel_available(ATL_LORA_KERNEL_AVX512) ? "avx512" : "avx2/reference");
    const int64_t shapes[][2] = {{4096, 320}, {1024, 640}};
    const int64_t ranks[] = {4, 16, 32, 64, 128};
    printf("%-12s %5s %10s %10s %10s %10s %12s %12s\n", "x", "rank", "merged ms", "own gemm", "fused ms",
           "unfused ms", "fused/merged", "fused/unfused");
    for (int s = 0; s < 2; ++s) {
        const int64_t n = shapes[s][0], c = shapes[s][1];
        float *x = randoms(n * c), *w = randoms(c * c), *y = malloc(sizeof(float) * (size_t)(n * c));
        int64_t sx[2] = {n, c}, sw[2] = {c, c};
        atl_tensor_view vx = view(x, ATL_DTYPE_F32, 2, sx), vw = view(w, ATL_DTYPE_F32, 2, sw),
                        vy = view(y, ATL_DTYPE_F32, 2, sx);
        atl_tensor_view wt = vw; /* W^T as a strided view: merged = one GEMM x @ W'^T */
        wt.strides[0] = 1;
        wt.strides[1] = c;
        /* Warm-up: the first GEMMs of a process start BLAS's and OpenMP's thread pools. */
        for (int i = 0; i < 10; ++i) atl_status_destroy(atl_tensor_matmul(&vx, &wt, &vy));
        for (size_t k = 0; k < sizeof ranks / sizeof *ranks; ++k) {
            const int64_t r = ranks[k];
            float *a = randoms(r * c), *b = randoms(c * r);
            int64_t sa[2] = {r, c}, sb[2] = {c, r};
            atl_tensor_view va = view(a, ATL_DTYPE_F32, 2, sa), vb = view(b, ATL_DTYPE_F32, 2, sb);
            double merged = TIME(atl_tensor_matmul(&vx, &wt, &vy));
            /* Atelier's GEMM on its own: the same call with the adapter switched off for the one sample. */
            int64_t none = -1, s3[3] = {1, n, c}, s1[1] = {1};
            atl_tensor_view vx3 = view(x, ATL_DTYPE_F32, 3, s3), vy3 = view(y, ATL_DTYPE_F32, 3, s3),
                            vnone = view(&none, ATL_DTYPE_I64, 1, s1);
            double plain = TIME(atl_lora_linear_forward(ATL_LORA_KERNEL_AUTO, &vx3, &vw, NULL, &va, &vb, 0.5f, &vnone, &vy3));
            double fused = TIME(atl_lora_linear_forward(ATL_LORA_KERNEL_AUTO, &vx, &vw, NULL, &va, &vb, 0.5f, NULL, &vy));
            double unfused = TIME(atl_lora_linear_forward(ATL_LORA_KERNEL_UNFUSED, &vx, &vw, NULL, &va, &vb, 0.5f, NULL, &vy));
            printf("%4lldx%-7lld %5lld %10.2f %10.2f %10.2f %10.2f %12.2f %12.2f\n", (long long)n, (long long)c,
                   (long long)r, merged, plain, fused, unfused, fused / merged, fused / unfused);
            free(a), free(b);
        }
        free(x), free(w), free(y);
    }
    /* A batch of 4 samples (1024 rows x 320 each), one LoRA each vs one LoRA for all. */
    printf("\nbatch of 4 x [1024, 320], W [320, 320]\n%5s %14s %14s %10s\n", "rank", "one LoRA ms", "4 LoRAs ms",
           "throughput");
    for (size_t k = 0; k < sizeof ranks / sizeof *ranks; ++k) {
        const int64_t bsz = 4, L = 1024, c = 320, r = ranks[k];
        float *x = randoms(bsz * L * c), *w = randoms(c * c), *y = malloc(sizeof(float) * (size_t)(bsz * L * c));
        float *a = randoms(bsz * r * c), *b = randoms(bsz * c * r);
        int64_t sx[3] = {bsz, L, c}, sw[2] = {c, c}, sa[3] = {bsz, r, c}, sb[3] = {bsz, c, r}, si[1] = {bsz};
        int64_t same[4] = {0, 0, 0, 0}, each[4] = {0, 1, 2, 3};
        atl_tensor_view vx = view(x, ATL_DTYPE_F32, 3, sx), vw = view(w, ATL_DTYPE_F32, 2, sw),
                        vy = view(y, ATL_DTYPE_F32, 3, sx);
        atl_tensor_view va = view(a, ATL_DTYPE_F32, 3, sa), vb = view(b, ATL_DTYPE_F32, 3, sb);
        atl_tensor_view vsame = view(same, ATL_DTYPE_I64, 1, si), veach = view(each, ATL_DTYPE_I64, 1, si);
        double one = TIME(atl_lora_linear_forward(ATL_LORA_KERNEL_AUTO, &vx, &vw, NULL, &va, &vb, 0.5f, &vsame, &vy));
        double four = TIME(atl_lora_linear_forward(ATL_LORA_KERNEL_AUTO, &vx, &vw, NULL, &va, &vb, 0.5f, &veach, &vy));
        printf("%5lld %14.2f %14.2f %9.2fx\n", (long long)r, one, four, one / four);
        free(x), free(w), free(y), free(a), free(b);
    }
    return 0;
}
