/* The fused LoRA kernels (atl_lora_linear_forward / _backward) against libtorch autograd in
 * float64 (ATL_LORA_KERNEL_TORCH_F64) on random shapes, with |got - ref| <= atol + rtol * |ref|
 * (STYLE.md 9), a fixed seed, every kernel this CPU can run; and a batch whose samples use
 * different adapters against the same samples run one by one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "test_util.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* xorshift64*, in [-1, 1) */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return ((double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}
/* Square root by Newton's method: keeps the test free of libm (the test targets link only libatelier). */
static double root(double v) {
    double r = v > 1 ? v : 1;
    for (int i = 0; i < 60; ++i) r = 0.5 * (r + v / r);
    return r;
}
static int between(int lo, int hi) { return lo + (int)((uniform() + 1.0) * 0.5 * (hi - lo + 1)) % (hi - lo + 1); }

/* Rounds to the nearest BF16 value (ties to even) so the f64 reference sees the BF16 kernel's inputs. */
static float round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half precision, rounded to nearest even (subnormals included; past 65504: infinity). */
static uint16_t f16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000u, mant = u & 0x7fffffu;
    const int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) { /* subnormal: value / 2^-24, from the 24-bit significand */
        if (exp < -10) return (uint16_t)sign;
        const int shift = 14 - exp;
        const uint32_t full = mant | 0x800000u, rem = full & ((1u << shift) - 1), mid = 1u << (shift - 1);
        uint32_t h = full >> shift;
        if (rem > mid || (rem == mid && (h & 1))) ++h;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h; /* a carry into the exponent is the right result */
    return (uint16_t)(sign | h);
}

static float f16_value(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    float f;
    if (exp == 0) {
        f = (float)mant / 16777216.0f; /* 2^-24 */
        return sign ? -f : f;
    }
    const uint32_t u = sign | (exp == 31 ? 0x7f800000u | (mant << 13) : ((exp + 112) << 23) | (mant << 13));
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t bf16_bits(float f) {
    f = round_bf16(f);
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

static float bf16_value(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The conversions above on values whose encodings are known. */
static void check_16bit_conversions(void) {
    const float values[] = {1.0f, -2.5f, 65504.0f, 1.0f / 3.0f, 6.1035156e-05f, 5.9604645e-08f, 0.0f, 1e6f};
    const uint16_t f16[] = {0x3c00, 0xc100, 0x7bff, 0x3555, 0x0400, 0x0001, 0x0000, 0x7c00};
    const uint16_t bf16[] = {0x3f80, 0xc020, 0x4780, 0x3eab, 0x3880, 0x3380, 0x0000, 0x4974};
    for (int i = 0; i < 8; ++i) {
        CHECK(f16_bits(values[i]) == f16[i]);
        CHECK(bf16_bits(values[i]) == bf16[i]);
        if (i != 3 && i != 7) CHECK(f16_value(f16[i]) == values[i]); /* exact in F16 */
    }
    CHECK(fabs(f16_value(0x3555) - 1.0 / 3.0) < 1e-3 && bf16_value(0x3f80) == 1.0f);
}

static float* random_floats(int64_t n, int bf16) {
    float* p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; ++i) p[i] = bf16 ? round_bf16((float)uniform()) : (float)uniform();
    return p;
}

/* Largest |got - ref| / (atol + rtol |ref|); <= 1 passes. */
static double worst(const float* got, const double* ref, int64_t n, double atol, double rtol) {
    double w = 0;
    for (int64_t i = 0; i < n; ++i) {
        double e = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (isnan(e)) return INFINITY; /* NaN counts as a failure */
        if (e > w) w = e;
    }
    return w;
}

static void check_status(atl_status* s, const char* what) {
    if (s) {
        fprintf(stderr, "%s: %s\n", what, atl_status_message(s));
        ++failures;
        atl_status_destroy(s);
    }
}

static void forward_case(int kernel, int trial) {
    const int bf16 = kernel == ATL_LORA_KERNEL_AVX512_BF16;
    int64_t n = between(1, 70), in = between(1, 100), out = between(1, 90), r = between(1, 20);
    if (trial == 0) { n = 300; in = 64; out = 48; r = 16; } /* more rows than one block */
    /* The packed GEMM's edges: depth over one 256-row block, a partial 32-column panel, and both
     * routes of the low-rank term (merged on the fly with many rows, extended depth with few). */
    if (trial == 1) { n = 700; in = 300; out = 70; r = 5; }
    if (trial == 2) { n = 20; in = 600; out = 100; r = 40; }
    if (trial == 3) { n = 97; in = 257; out = 33; r = 129; }
    const float scale = (float)(0.5 + uniform());
    float *x = random_floats(n * in, bf16), *w = random_floats(out * in, bf16), *bias = random_floats(out, bf16);
    float *a = random_floats(r * in, bf16), *b = random_floats(out * r, bf16);
    float* y = malloc(sizeof(float) * (size_t)(n * out));
    double* ref = malloc(sizeof(double) * (size_t)(n * out));
    int64_t sx[2] = {n, in}, sw[2] = {out, in}, sb[1] = {out}, sa[2] = {r, in}, sbb[2] = {out, r}, sy[2] = {n, out};
    atl_tensor_view vx = view(x, ATL_DTYPE_F32, 2, sx), vw = view(w, ATL_DTYPE_F32, 2, sw);
    atl_tensor_view vbias = view(bias, ATL_DTYPE_F32, 1, sb), va = view(a, ATL_DTYPE_F32, 2, sa);
    atl_tensor_view vb = view(b, ATL_DTYPE_F32, 2, sbb), vy = view(y, ATL_DTYPE_F32, 2, sy);
    atl_tensor_view vref = view(ref, ATL_DTYPE_F64, 2, sy);
    check_status(atl_lora_linear_forward(ATL_LORA_KERNEL_TORCH_F64, &vx, &vw, &vbias, &va, &vb, scale, NULL, &vref),
                 "torch_f64 forward");
    check_status(atl_lora_linear_forward(kernel, &vx, &vw, &vbias, &va, &vb, scale, NULL, &vy), "forward");
    /* F32: error grows with the reduction length; BF16: the output is rounded to 8 bits. */
    const double atol = bf16 ? 0.02 * root((double)in) : 2e-6 * (in + r), rtol = bf16 ? 1e-2 : 1e-5;
    double e = worst(y, ref, n * out, atol, rtol);
    if (e > 1) fprintf(stderr, "forward %s n=%lld in=%lld out=%lld r=%lld: error %.3g of tolerance\n",
                       atl_lora_kernel_name(kernel), (long long)n, (long long)in, (long long)out, (long long)r, e);
    CHECK(e <= 1);
    free(x), free(w), free(bias), free(a), free(b), free(y), free(ref);
}

static void backward_case(int kernel, int trial) {
    int64_t n = between(1, 70), in = between(1, 100), out = between(1, 90), r = between(1, 20);
    /* Packed-GEMM edges as in forward_case (dx: depth out, columns in). */
    if (trial == 1) { n = 700; in = 70; out = 300; r = 5; }
    if (trial == 2) { n = 20; in = 100; out = 600; r = 40; }
    const float scale = (float)(0.5 + uniform());
    float *x = random_floats(n * in, 0), *w = random_floats(out * in, 0), *a = random_floats(r * in, 0);
    float *b = random_floats(out * r, 0), *dy = random_floats(n * out, 0);
    float *dx = malloc(sizeof(float) * (size_t)(n * in)), *da = malloc(sizeof(float) * (size_t)(r * in)),
          *db = malloc(sizeof(float) * (size_t)(out * r));
    double *rdx = malloc(sizeof(double) * (size_t)(n * in)), *rda = malloc(sizeof(double) * (size_t)(r * in)),
           *rdb = malloc(sizeof(double) * (size_t)(out * r));
    int64_t sx[2] = {n, in}, sw[2] = {out, in}, sa[2] = {r, in}, sbb[2] = {out, r}, sy[2] = {n, out};
    atl_tensor_view vx = view(x, ATL_DTYPE_F32, 2, sx), vw = view(w, ATL_DTYPE_F32, 2, sw);
    atl_tensor_view va = view(a, ATL_DTYPE_F32, 2, sa), vb = view(b, ATL_DTYPE_F32, 2, sbb);
    atl_tensor_view vdy = view(dy, ATL_DTYPE_F32, 2, sy);
    atl_tensor_view vdx = view(dx, ATL_DTYPE_F32, 2, sx), vda = view(da, ATL_DTYPE_F32, 2, sa),
                    vdb = view(db, ATL_DTYPE_F32, 2, sbb);
    atl_tensor_view rvdx = view(rdx, ATL_DTYPE_F64, 2, sx), rvda = view(rda, ATL_DTYPE_F64, 2, sa),
                    rvdb = view(rdb, ATL_DTYPE_F64, 2, sbb);
    check_status(atl_lora_linear_backward(ATL_LORA_KERNEL_TORCH_F64, &vx, &vw, &va, &vb, scale, &vdy, &rvdx, &rvda, &rvdb),
                 "torch_f64 backward");
    check_status(atl_lora_linear_backward(kernel, &vx, &vw, &va, &vb, scale, &vdy, &vdx, &vda, &vdb), "backward");
    double e1 = worst(dx, rdx, n * in, 2e-6 * (out + r), 1e-5);
    double e2 = worst(da, rda, r * in, 2e-6 * (n + out), 1e-5);
    double e3 = worst(db, rdb, out * r, 2e-6 * (n + in), 1e-5);
    if (e1 > 1 || e2 > 1 || e3 > 1)
        fprintf(stderr, "backward %s n=%lld in=%lld out=%lld r=%lld: dx %.3g da %.3g db %.3g of tolerance\n",
                atl_lora_kernel_name(kernel), (long long)n, (long long)in, (long long)out, (long long)r, e1, e2, e3);
    CHECK(e1 <= 1 && e2 <= 1 && e3 <= 1);
    free(x), free(w), free(a), free(b), free(dy), free(dx), free(da), free(db), free(rdx), free(rda), free(rdb);
}

/* A batch whose samples use adapters 2, 0, none, 1 equals each sample run alone. */
static void per_sample_case(int kernel) {
    const int64_t bsz = 4, L = 37, in = 40, out = 24, r = 8, m = 3;
    const int64_t idx[4] = {2, 0, -1, 1};
    float *x = random_floats(bsz * L * in, 0), *w = random_floats(out * in, 0);
    float *a = random_floats(m * r * in, 0), *b = random_floats(m * out * r, 0);
    float* y = malloc(sizeof(float) * (size_t)(bsz * L * out));
    float* one = malloc(sizeof(float) * (size_t)(L * out));
    int64_t sx[3] = {bsz, L, in}, sw[2] = {out, in}, sa[3] = {m, r, in}, sb[3] = {m, out, r}, sy[3] = {bsz, L, out};
    int64_t si[1] = {bsz};
    atl_tensor_view vx = view(x, ATL_DTYPE_F32, 3, sx), vw = view(w, ATL_DTYPE_F32, 2, sw);
    atl_tensor_view va = view(a, ATL_DTYPE_F32, 3, sa), vb = view(b, ATL_DTYPE_F32, 3, sb);
    atl_tensor_view vy = view(y, ATL_DTYPE_F32, 3, sy), vi = view((void*)idx, ATL_DTYPE_I64, 1, si);
    check_status(atl_lora_linear_forward(kernel, &vx, &vw, NULL, &va, &vb, 0.7f, &vi, &vy), "per-sample forward");
    for (int64_t s = 0; s < bsz; ++s) {
        int64_t s2[2] = {L, in}, so[2] = {L, out}, sa2[2] = {r, in}, sb2[2] = {out, r};
        atl_tensor_view xs = view(x + s * L * in, ATL_DTYPE_F32, 2, s2), ys = view(one, ATL_DTYPE_F32, 2, so);
        const int64_t k = idx[s] < 0 ? 0 : idx[s];
        atl_tensor_view as = view(a + k * r * in, ATL_DTYPE_F32, 2, sa2), bs = view(b + k * out * r, ATL_DTYPE_F32, 2, sb2);
        check_status(atl_lora_linear_forward(kernel, &xs, &vw, NULL, &as, &bs, idx[s] < 0 ? 0.0f : 0.7f, NULL, &ys),
                     "single forward");
        double worst_diff = 0;
        for (int64_t i = 0; i < L * out; ++i) {
            double d = fabs((double)one[i] - y[s * L * out + i]);
            if (d > worst_diff) worst_diff = d;
        }
        if (worst_diff > 1e-5) fprintf(stderr, "per-sample %s sample %lld: %.3g\n", atl_lora_kernel_name(kernel), (long long)s, worst_diff);
        CHECK(worst_diff <= 1e-5);
    }
    free(x), free(w), free(a), free(b), free(y), free(one);
}

/* Values of v rounded to the 16-bit type (ATL_DTYPE_F16 or ATL_DTYPE_BF16): their bits in h, the
 * rounded values back in v (what the F64 reference sees). */
static uint16_t* to_16bit(float* v, int64_t n, int dtype) {
    uint16_t* h = malloc(sizeof(uint16_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; ++i) {
        h[i] = dtype == ATL_DTYPE_F16 ? f16_bits(v[i]) : bf16_bits(v[i]);
        v[i] = dtype == ATL_DTYPE_F16 ? f16_value(h[i]) : bf16_value(h[i]);
    }
    return h;
}

static float* from_16bit(const uint16_t* h, int64_t n, int dtype) {
    float* v = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; ++i) v[i] = dtype == ATL_DTYPE_F16 ? f16_value(h[i]) : bf16_value(h[i]);
    return v;
}

/* F16 or BF16 views of the activations and weight (x, W, y; dy, dx), F32 adapters, bias and
 * adapter gradients, against libtorch in float64 on the same rounded inputs: the CUDA kernel sums
 * in F32 from the 16-bit values and the reference kernel widens them first, so the error is F32's
 * plus one rounding of a 16-bit output (rtol: BF16 2^-8, F16 2^-10, twice the half ulp). */
static void sixteen_bit_case(int kernel, int dtype, int trial) {
    int64_t n = between(1, 70), in = between(1, 100), out = between(1, 90), r = between(1, 20);
    if (trial == 0) { n = 300; in = 600; out = 70; r = 40; } /* several 32-wide tiles each way */
    const float scale = (float)(0.5 + uniform());
    float *x = random_floats(n * in, 0), *w = random_floats(out * in, 0), *bias = random_floats(out, 0);
    float *a = random_floats(r * in, 0), *b = random_floats(out * r, 0), *dy = random_floats(n * out, 0);
    uint16_t *xh = to_16bit(x, n * in, dtype), *wh = to_16bit(w, out * in, dtype), *dyh = to_16bit(dy, n * out, dtype);
    uint16_t *yh = malloc(sizeof(uint16_t) * (size_t)(n * out)), *dxh = malloc(sizeof(uint16_t) * (size_t)(n * in));
    float *da = malloc(sizeof(float) * (size_t)(r * in)), *db = malloc(sizeof(float) * (size_t)(out * r));
    double *ry = malloc(sizeof(double) * (size_t)(n * out)), *rdx = malloc(sizeof(double) * (size_t)(n * in));
    double *rda = malloc(sizeof(double) * (size_t)(r * in)), *rdb = malloc(sizeof(double) * (size_t)(out * r));
    int64_t sx[2] = {n, in}, sw[2] = {out, in}, sb[1] = {out}, sa[2] = {r, in}, sbb[2] = {out, r}, sy[2] = {n, out};
    atl_tensor_view vx = view(x, ATL_DTYPE_F32, 2, sx), vw = view(w, ATL_DTYPE_F32, 2, sw);
    atl_tensor_view vdy = view(dy, ATL_DTYPE_F32, 2, sy), vbias = view(bias, ATL_DTYPE_F32, 1, sb);
    atl_tensor_view va = view(a, ATL_DTYPE_F32, 2, sa), vb = view(b, ATL_DTYPE_F32, 2, sbb);
    atl_tensor_view hx = view(xh, dtype, 2, sx), hw = view(wh, dtype, 2, sw), hdy = view(dyh, dtype, 2, sy);
    atl_tensor_view hy = view(yh, dtype, 2, sy), hdx = view(dxh, dtype, 2, sx);
    atl_tensor_view vda = view(da, ATL_DTYPE_F32, 2, sa), vdb = view(db, ATL_DTYPE_F32, 2, sbb);
    atl_tensor_view rvy = view(ry, ATL_DTYPE_F64, 2, sy), rvdx = view(rdx, ATL_DTYPE_F64, 2, sx);
    atl_tensor_view rvda = view(rda, ATL_DTYPE_F64, 2, sa), rvdb = view(rdb, ATL_DTYPE_F64, 2, sbb);
    check_status(atl_lora_linear_forward(ATL_LORA_KERNEL_TORCH_F64, &vx, &vw, &vbias, &va, &vb, scale, NULL, &rvy),
                 "torch_f64 forward");
    check_status(atl_lora_linear_backward(ATL_LORA_KERNEL_TORCH_F64, &vx, &vw, &va, &vb, scale, &vdy, &rvdx, &rvda, &rvdb),
                 "torch_f64 backward");
    check_status(atl_lora_linear_forward(kernel, &hx, &hw, &vbias, &va, &vb, scale, NULL, &hy), "16-bit forward");
    check_status(atl_lora_linear_backward(kernel, &hx, &hw, &va, &vb, scale, &hdy, &hdx, &vda, &vdb), "16-bit backward");
    const double rtol = dtype == ATL_DTYPE_F16 ? 1.0 / 1024 : 1.0 / 256;
    float *y = from_16bit(yh, n * out, dtype), *dx = from_16bit(dxh, n * in, dtype);
    const double e0 = worst(y, ry, n * out, 2e-6 * (in + r), rtol);
    const double e1 = worst(dx, rdx, n * in, 2e-6 * (out + r), rtol);
    const double e2 = worst(da, rda, r * in, 2e-6 * (n + out), 1e-5);
    const double e3 = worst(db, rdb, out * r, 2e-6 * (n + in), 1e-5);
    if (e0 > 1 || e1 > 1 || e2 > 1 || e3 > 1)
        fprintf(stderr, "%s %s n=%lld in=%lld out=%lld r=%lld: y %.3g dx %.3g da %.3g db %.3g of tolerance\n",
                atl_lora_kernel_name(kernel), dtype == ATL_DTYPE_F16 ? "f16" : "bf16", (long long)n, (long long)in,
                (long long)out, (long long)r, e0, e1, e2, e3);
    CHECK(e0 <= 1 && e1 <= 1 && e2 <= 1 && e3 <= 1);
    free(x), free(w), free(bias), free(a), free(b), free(dy), free(xh), free(wh), free(dyh), free(yh), free(dxh);
    free(da), free(db), free(ry), free(rdx), free(rda), free(rdb), free(y), free(dx);
}

int main(void) {
    check_16bit_conversions();
    CHECK(atl_lora_kernel_from_name("avx512") == ATL_LORA_KERNEL_AVX512);
    CHECK(strcmp(atl_lora_kernel_name(ATL_LORA_KERNEL_REFERENCE), "reference") == 0);
    CHECK(atl_lora_kernel_name(99) == NULL && atl_lora_kernel_from_name("nope") == -1);
    CHECK(atl_lora_mode_from_name("unmerged") == ATL_LORA_UNMERGED);
    const int forward_kernels[] = {ATL_LORA_KERNEL_REFERENCE, ATL_LORA_KERNEL_AVX2, ATL_LORA_KERNEL_AVX512,
                                   ATL_LORA_KERNEL_AVX512_BF16, ATL_LORA_KERNEL_UNFUSED, ATL_LORA_KERNEL_MERGED,
                                   ATL_LORA_KERNEL_AUTO, ATL_LORA_KERNEL_CUDA};
    for (size_t k = 0; k < sizeof forward_kernels / sizeof *forward_kernels; ++k) {
        const int kernel = forward_kernels[k];
        if (!atl_lora_kernel_available(kernel)) {
            printf("kernel %s: not available on this CPU, not checked\n", atl_lora_kernel_name(kernel));
            continue;
        }
        for (int trial = 0; trial < 25; ++trial) forward_case(kernel, trial);
        if (kernel != ATL_LORA_KERNEL_MERGED) per_sample_case(kernel);
        if (kernel != ATL_LORA_KERNEL_AVX512_BF16 && kernel != ATL_LORA_KERNEL_MERGED) {
            for (int trial = 0; trial < 25; ++trial) backward_case(kernel, trial);
        }
        if (kernel == ATL_LORA_KERNEL_CUDA || kernel == ATL_LORA_KERNEL_REFERENCE) {
            for (int trial = 0; trial < 10; ++trial) sixteen_bit_case(kernel, ATL_DTYPE_F16, trial);
            for (int trial = 0; trial < 10; ++trial) sixteen_bit_case(kernel, ATL_DTYPE_BF16, trial);
        }
        printf("kernel %s: checked\n", atl_lora_kernel_name(kernel));
    }
    /* An unavailable kernel is refused with ATL_ERR_UNSUPPORTED, never run. */
    if (!atl_lora_kernel_available(ATL_LORA_KERNEL_CUDA)) {
        float v = 1;
        int64_t s1[2] = {1, 1};
        atl_tensor_view t = view(&v, ATL_DTYPE_F32, 2, s1);
        atl_status* s = atl_lora_linear_forward(ATL_LORA_KERNEL_CUDA, &t, &t, NULL, &t, &t, 1.0f, NULL, &t);
        CHECK(atl_status_code(s) == ATL_ERR_UNSUPPORTED);
        atl_status_destroy(s);
    }
    return test_result("test_lora_kernels");
}
