/* The fused attention (atl_op_attention) on the SD1.5 UNet's and VAE's shapes at 512 x 512,
 * batch 2: F32 inputs (F32 products) against BF16 inputs (BF16 products on an avx512_bf16 CPU),
 * with libtorch's bmm + softmax for scale. Not a test: run by hand,
 *   cmake --build build --target bench_attention && build/native/bench_attention [threads] [reps] [shape] [own]
 * Prints the median time of each and GFLOP/s (4 lq lk channels per batch element); shape: only
 * that row of the table (0-7), e.g. under perf; own (any fourth argument): Atelier's kernels only,
 * libtorch's column left at 0. */
#include <stdint.h>
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

/* The upper half of each F32 (truncation: timing only). */
static uint16_t* bf16_of(const float* src, int64_t n) {
    uint16_t* p = malloc(sizeof(uint16_t) * (size_t)n);
    for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, src + i, sizeof bits);
        p[i] = (uint16_t)(bits >> 16);
    }
    return p;
}

/* Median seconds of reps calls (after one warm-up); exits on an error. */
static double time_attention(int kernel, const atl_tensor_view* q, const atl_tensor_view* k, const atl_tensor_view* v,
                             int heads, atl_tensor_view* out, int reps) {
    double ts[64];
    for (int i = -1; i < reps; ++i) {
        const double t0 = now();
        atl_status* st = atl_op_attention(kernel, q, k, v, heads, out);
        if (st) {
            fprintf(stderr, "error: %s\n", atl_status_message(st));
            exit(1);
        }
        if (i >= 0) ts[i] = now() - t0;
    }
    qsort(ts, (size_t)reps, sizeof(double), compare_doubles);
    return ts[reps / 2];
}

int main(int argc, char** argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    const int only = argc > 3 ? atoi(argv[3]) : -1;
    const int with_torch = argc <= 4;
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;
    atl_set_num_threads(threads);
    printf("threads %d, median of %d, avx512_bf16 %s\n", atl_num_threads(), reps,
           atl_cpu_features() & ATL_CPU_AVX512_BF16 ? "yes" : "no");
    /* {lq, lk, channels, heads}: UNet self and cross attention per level, the VAE's middle block. */
    const int64_t shapes[][4] = {{4096, 4096, 320, 8}, {4096, 77, 320, 8}, {1024, 1024, 640, 8},
                                 {1024, 77, 640, 8},   {256, 256, 1280, 8}, {256, 77, 1280, 8},
                                 {64, 64, 1280, 8},    {4096, 4096, 512, 1}};
    printf("%-26s %10s %10s %10s %9s %9s %8s\n", "lq x lk x channels / heads", "torch ms", "f32 ms", "bf16 ms",
           "f32 GF/s", "bf16 GF/s", "f32/bf16");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
        if (only >= 0 && (size_t)only != s) continue;
        const int64_t b = 2, lq = shapes[s][0], lk = shapes[s][1], ch = shapes[s][2];
        const int heads = (int)shapes[s][3];
        const int64_t sq[3] = {b, lq, ch}, sk[3] = {b, lk, ch};
        float *q = randoms(b * lq * ch), *k = randoms(b * lk * ch), *v = randoms(b * lk * ch);
        float* out = malloc(sizeof(float) * (size_t)(b * lq * ch));
        uint16_t *qb = bf16_of(q, b * lq * ch), *kb = bf16_of(k, b * lk * ch), *vb = bf16_of(v, b * lk * ch);
        uint16_t* outb = malloc(sizeof(uint16_t) * (size_t)(b * lq * ch));
        const atl_tensor_view fq = view(q, ATL_DTYPE_F32, 3, sq), fk = view(k, ATL_DTYPE_F32, 3, sk),
                              fv = view(v, ATL_DTYPE_F32, 3, sk), bq = view(qb, ATL_DTYPE_BF16, 3, sq),
                              bk = view(kb, ATL_DTYPE_BF16, 3, sk), bv = view(vb, ATL_DTYPE_BF16, 3, sk);
        atl_tensor_view fo = view(out, ATL_DTYPE_F32, 3, sq), bo = view(outb, ATL_DTYPE_BF16, 3, sq);
        const double flops = 4.0 * b * lq * lk * ch;
        const double torch = !with_torch ? 0 : time_attention(ATL_OP_KERNEL_TORCH, &fq, &fk, &fv, heads, &fo, reps);
        const double f32 = time_attention(ATL_OP_KERNEL_AVX512, &fq, &fk, &fv, heads, &fo, reps);
        const double bf16 = time_attention(ATL_OP_KERNEL_AVX512, &bq, &bk, &bv, heads, &bo, reps);
        char name[64];
        snprintf(name, sizeof name, "%lldx%lldx%lld / %d", (long long)lq, (long long)lk, (long long)ch, heads);
        printf("%-26s %10.2f %10.2f %10.2f %9.1f %9.1f %7.2fx\n", name, torch * 1e3, f32 * 1e3, bf16 * 1e3,
               flops / f32 * 1e-9, flops / bf16 * 1e-9, f32 / bf16);
        free(q), free(k), free(v), free(out), free(qb), free(kb), free(vb), free(outb);
    }
    return 0;
}
