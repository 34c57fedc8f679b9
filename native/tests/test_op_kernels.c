/* The SD networks' operations on Atelier's kernels (atl_op_attention, atl_op_linear,
 * atl_op_conv2d, atl_op_group_norm, atl_op_layer_norm): every kernel this CPU can run (REFERENCE
 * always, AVX512 when available) against libtorch (ATL_OP_KERNEL_TORCH) and against the
 * double-precision REFERENCE, with |got - ref| <= atol + rtol * |ref| (STYLE.md 9) and a fixed
 * seed, on shapes that miss the kernels' blocks (48 queries, 128 keys and 32-key panels in
 * attention; 12-row tiles, 96-row tasks, 256-deep blocks and 32-column panels in the GEMM); BF16
 * inputs and weights; the checker's own ability to fail; and the error paths of the C API. The
 * REFERENCE kernels are plain loops, so they run only on the smaller shapes; libtorch checks all. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atelier.h"
#include "test_util.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* xorshift64*, in [-1, 1) */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return ((double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

/* BF16 bits of f, rounded to nearest even (the inputs here are finite). */
static uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static float bf16_value(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float* floats(int64_t n) { return malloc(sizeof(float) * (size_t)(n ? n : 1)); }
/* offset + scale * uniform in [-1, 1). */
static float* random_floats(int64_t n, double offset, double scale) {
    float* p = floats(n);
    for (int64_t i = 0; i < n; ++i) p[i] = (float)(offset + scale * uniform());
    return p;
}
static uint16_t* to_bf16(const float* src, int64_t n) {
    uint16_t* p = malloc(sizeof(uint16_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; ++i) p[i] = bf16_bits(src[i]);
    return p;
}
static float* widen(const uint16_t* src, int64_t n) {
    float* p = floats(n);
    for (int64_t i = 0; i < n; ++i) p[i] = bf16_value(src[i]);
    return p;
}
/* Every output starts as NaN, so an element the kernel never writes fails the comparison. */
static float* nan_floats(int64_t n) {
    float* p = floats(n);
    for (int64_t i = 0; i < n; ++i) p[i] = NAN;
    return p;
}
static uint16_t* nan_bf16(int64_t n) {
    uint16_t* p = malloc(sizeof(uint16_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; ++i) p[i] = 0x7fc0;
    return p;
}

/* 1 when s is success; otherwise reports it as a failure. */
static int ran(atl_status* s, const char* what, const char* desc) {
    if (!s) return 1;
    fprintf(stderr, "%s [%s]: unexpected status %d: %s\n", what, desc, (int)atl_status_code(s), atl_status_message(s));
    ++failures;
    atl_status_destroy(s);
    return 0;
}

/* ---- The checker ---------------------------------------------------------------------------- */

/* atol = atol_scale * max|ref| over the output (errors of F32 sums scale with the output's
 * magnitude, not with each element's), plus rtol * |ref| per element. */
typedef struct tolerance {
    double atol_scale, rtol;
} tolerance;
/* F32 against F32 or double: sums in another order, exp_ps's ~1 ulp, a pre-scaled q. */
static const tolerance kF32 = {1e-5, 1e-4};
/* A BF16 output: the value is rounded to 8 significant bits (half an ulp is <= 2^-8 |ref|), and
 * two kernels whose F32 results differ in the last bits may round to neighbouring BF16 values
 * (one ulp is <= 2^-7 |ref| = 0.0078 |ref|). */
static const tolerance kBf16Out = {1e-5, 1e-2};

/* Largest |got - ref| / (atol + rtol |ref| + slack[i]): <= 1 passes; INFINITY when got has a NaN
 * (or an infinity where ref has none). slack: a bound of the rounding error the formula itself
 * allows at each element (NULL: none). *abs_err: the largest |got - ref|; *where: the worst element. */
static double ratio_of(const float* got, const float* ref, const float* slack, int64_t n, tolerance t, double* abs_err,
                       int64_t* where) {
    double top = 0;
    for (int64_t i = 0; i < n; ++i) top = fabs((double)ref[i]) > top ? fabs((double)ref[i]) : top;
    const double atol = t.atol_scale * top > 1e-30 ? t.atol_scale * top : 1e-30;
    double worst = 0, biggest = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = fabs((double)got[i] - ref[i]);
        double e = d / (atol + t.rtol * fabs((double)ref[i]) + (slack ? slack[i] : 0.0));
        if (isnan(e) || isinf(e)) e = INFINITY;
        if (e > worst) worst = e, at = i;
        if (d > biggest || isnan(d)) biggest = d;
    }
    if (abs_err) *abs_err = biggest;
    if (where) *where = at;
    return worst;
}

/* The checker must fail a wrong output: ref itself passes, and a copy with one element moved by
 * 1e-2 * max|ref| (first, middle, last, and the smallest |ref|, where only atol protects it) or
 * set to NaN fails. Run on real outputs of every (operation, comparison) pair, with its tolerance.
 * 1e-2 * max|ref| exceeds atol + rtol |ref| + slack wherever rtol |ref| + slack < (1e-2 -
 * atol_scale) max|ref|: everywhere for kF32 without slack, at the smallest |ref| for kBf16Out.
 * Returns the number of elements it could perturb beyond the tolerance (0: try another case). */
static int self_test(const char* key, const float* ref, const float* slack, int64_t n, tolerance t) {
    double top = 0;
    int64_t smallest = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (fabs((double)ref[i]) > top) top = fabs((double)ref[i]);
        if (fabs((double)ref[i]) < fabs((double)ref[smallest])) smallest = i;
    }
    float* copy = floats(n);
    memcpy(copy, ref, sizeof(float) * (size_t)n);
    const int ok_as_is = ratio_of(copy, ref, slack, n, t, NULL, NULL) <= 1;
    const int64_t spots[4] = {0, n / 2, n - 1, smallest};
    int caught = 1, tested = 0;
    for (int s = 0; s < 4; ++s) {
        const int64_t i = spots[s];
        if (t.rtol * fabs((double)ref[i]) + (slack ? slack[i] : 0.0) >= (1e-2 - t.atol_scale) * top) continue;
        ++tested;
        copy[i] = (float)(ref[i] + 1e-2 * top);
        int64_t where = -1;
        caught &= ratio_of(copy, ref, slack, n, t, NULL, &where) > 1 && where == i;
        copy[i] = NAN;
        caught &= ratio_of(copy, ref, slack, n, t, NULL, NULL) > 1;
        copy[i] = ref[i];
    }
    if (!ok_as_is || !caught) fprintf(stderr, "checker self-test failed for %s\n", key);
    CHECK(ok_as_is && caught);
    free(copy);
    return tested;
}

/* Worst errors per (operation, kernel, comparison), printed at the end. */
typedef struct op_stat {
    char key[96];
    int cases, self_tested, slack; /* slack: some case of this key had a per-element slack */
    double max_abs, max_ratio;
    tolerance t;
} op_stat;
static op_stat stats[64];
static int nstats = 0;

/* One case's comparisons: names for the report, the output's length, tolerance and slack. */
typedef struct case_info {
    const char* op;
    const char* kind;
    const char* desc;
    int64_t n;
    tolerance t;
    const float* slack; /* per element, or NULL */
} case_info;

/* Compares got with ref for one case and records the error under "op kernel vs base (kind)". */
static void compare(const case_info* c, int kernel, int base, const float* got, const float* ref) {
    const int64_t n = c->n;
    const float* slack = c->slack;
    const tolerance t = c->t;
    char key[96];
    snprintf(key, sizeof key, "%s %s vs %s (%s)", c->op, atl_op_kernel_name(kernel), atl_op_kernel_name(base), c->kind);
    op_stat* s = NULL;
    for (int i = 0; i < nstats; ++i) {
        if (strcmp(stats[i].key, key) == 0) s = &stats[i];
    }
    if (!s && nstats < (int)(sizeof stats / sizeof *stats)) {
        s = &stats[nstats++];
        memset(s, 0, sizeof *s);
        snprintf(s->key, sizeof s->key, "%s", key);
        s->t = t;
    }
    if (s && slack) s->slack = 1;
    if (s && !s->self_tested && n >= 4) s->self_tested = self_test(key, ref, slack, n, t) > 0;
    double abs_err = 0;
    int64_t where = 0;
    const double r = ratio_of(got, ref, slack, n, t, &abs_err, &where);
    if (s) {
        s->cases++;
        if (abs_err > s->max_abs) s->max_abs = abs_err;
        if (r > s->max_ratio) s->max_ratio = r;
    }
    if (!(r <= 1)) {
        fprintf(stderr, "%s [%s]: %.3g of tolerance, max |err| %.3g; element %lld: got %.9g, ref %.9g\n", key,
                c->desc, r, abs_err, (long long)where, (double)got[where], (double)ref[where]);
    }
    CHECK(r <= 1);
}

/* The kernels under test on this CPU. */
static int kernels[2], nkernels = 0;
static int has_bf16_dot = 0; /* avx512_bf16: the AVX512 GEMM then rounds x to BF16 next to a BF16 weight */

/* ---- Attention ------------------------------------------------------------------------------- */

static double attention_score_range = 0; /* the largest |q k^T| / sqrt(d) met */

/* A score s near 50 is held in F32 to 2^-24 |s| at best, and its dot product of d terms rounds
 * terms of total size S = sum |q_c k_c| / sqrt(d); an error x in one score scales that key's
 * softmax weight by about 1 + x, so the output moves by up to ~2 x max|v|. Two F32
 * implementations (or one and the double reference) may differ by a few 2^-24 S max|v| in such a
 * row, beyond the kF32 atol when S is large: slack[i] = 8 * 2^-24 * S_row * max|v| for the rows
 * hot_row picks (other rows have S ~ sqrt(d) / 4: their bound is far below the atol and they get
 * none). */
static float* attention_slack(const float* q, const float* k, const float* v, int64_t b, int64_t lq, int64_t lk,
                              int64_t heads, int64_t dim, int (*hot_row)(int64_t)) {
    const int64_t ch = heads * dim;
    double inv = 1.0;
    for (int i = 0; i < 60; ++i) inv = 0.5 * (inv + (double)dim / inv); /* sqrt(dim) by Newton's method: no libm */
    inv = 1.0 / inv;
    double vmax = 0;
    for (int64_t i = 0; i < b * lk * ch; ++i) vmax = fabs((double)v[i]) > vmax ? fabs((double)v[i]) : vmax;
    float* slack = floats(b * lq * ch);
    for (int64_t s = 0; s < b; ++s)
        for (int64_t i = 0; i < lq; ++i)
            for (int64_t h = 0; h < heads; ++h) {
                const float* qi = q + (s * lq + i) * ch + h * dim;
                double size = 0;
                for (int64_t j = 0; j < lk && hot_row(s * lq + i); ++j) {
                    const float* kj = k + (s * lk + j) * ch + h * dim;
                    double dot = 0, abs_sum = 0;
                    for (int64_t c = 0; c < dim; ++c) {
                        dot += (double)qi[c] * kj[c];
                        abs_sum += fabs((double)qi[c] * kj[c]);
                    }
                    if (fabs(dot) * inv > attention_score_range) attention_score_range = fabs(dot) * inv;
                    if (abs_sum * inv > size) size = abs_sum * inv;
                }
                float* row = slack + (s * lq + i) * ch + h * dim;
                for (int64_t c = 0; c < dim; ++c) row[c] = (float)(8.0 / 16777216.0 * size * vmax);
            }
    return slack;
}
static int hot_row(int64_t r) { return r % 5 == 2; }

/* The AVX512 kernel on an avx512_bf16 CPU multiplies BF16 operands: it rounds q / sqrt(d) (k and
 * v are BF16 here already) and each softmax probability p_j to BF16 (relative error <= 2^-9),
 * and sums in F32 (atelier.h). A score's error is then at most 2^-9 A_j, A_j = sum_c |q_c k_jc| /
 * sqrt(d), and moves output column c by up to sum_j p_j 2^-9 A_j |v_jc - o_c| / l to first order;
 * a rounded p_j moves it by up to 2^-9 sum_j p_j |v_jc| / l. slack = 4 x their sum (twice each
 * bound: for the first-order error and F32 rounding), plus slack[i] when slack is given. */
static float* attention_bf16_slack(const float* q, const float* k, const float* v, int64_t b, int64_t lq, int64_t lk,
                                   int64_t heads, int64_t dim, float* slack) {
    const int64_t ch = heads * dim;
    double inv = 1.0;
    for (int i = 0; i < 60; ++i) inv = 0.5 * (inv + (double)dim / inv); /* sqrt(dim) by Newton's method */
    inv = 1.0 / inv;
    float* out = floats(b * lq * ch);
    double *p = malloc(sizeof(double) * (size_t)lk), *a = malloc(sizeof(double) * (size_t)lk);
    CHECK(p && a);
    const double u = 1.0 / 512.0; /* 2^-9 */
    for (int64_t s = 0; s < b; ++s)
        for (int64_t i = 0; i < lq; ++i)
            for (int64_t h = 0; h < heads; ++h) {
                const float* qi = q + (s * lq + i) * ch + h * dim;
                double top = -1e300;
                for (int64_t j = 0; j < lk; ++j) {
                    const float* kj = k + (s * lk + j) * ch + h * dim;
                    double dot = 0, abs_sum = 0;
                    for (int64_t c = 0; c < dim; ++c) dot += (double)qi[c] * kj[c], abs_sum += fabs((double)qi[c] * kj[c]);
                    p[j] = dot * inv, a[j] = abs_sum * inv;
                    if (p[j] > top) top = p[j];
                }
                double l = 0;
                for (int64_t j = 0; j < lk; ++j) p[j] = exp(p[j] - top), l += p[j];
                for (int64_t c = 0; c < dim; ++c) {
                    double o = 0, moved = 0, size = 0;
                    for (int64_t j = 0; j < lk; ++j) o += p[j] * v[(s * lk + j) * ch + h * dim + c];
                    o /= l;
                    for (int64_t j = 0; j < lk; ++j) {
                        const double vj = v[(s * lk + j) * ch + h * dim + c];
                        moved += p[j] * a[j] * fabs(vj - o), size += p[j] * fabs(vj);
                    }
                    const int64_t e = (s * lq + i) * ch + h * dim + c;
                    out[e] = (float)(4.0 * u * (moved + size) / l) + (slack ? slack[e] : 0.f);
                }
            }
    free(p), free(a);
    return out;
}

/* hot: every fifth query row (hot_row) is scaled by 25 and the keys from 128 on (the second key
 * block) by 1.5, so scores reach ~50 and a row's maximum often rises in a later key block: the
 * online softmax must rescale what it has summed. bf16: q, k, v (and out) are BF16 views. */
static void attention_case(int64_t b, int64_t heads, int64_t dim, int64_t lq, int64_t lk, int hot, int bf16) {
    const int64_t ch = heads * dim, nq = b * lq * ch, nk = b * lk * ch;
    float *q = random_floats(nq, 0, 1), *k = random_floats(nk, 0, 1), *v = random_floats(nk, 0, 1);
    if (hot) {
        for (int64_t r = 0; r < b * lq; ++r)
            if (hot_row(r))
                for (int64_t c = 0; c < ch; ++c) q[r * ch + c] *= 25.f;
        for (int64_t r = 0; r < b * lk; ++r)
            if (r % lk >= 128)
                for (int64_t c = 0; c < ch; ++c) k[r * ch + c] *= 1.5f;
    }
    uint16_t *qb = NULL, *kb = NULL, *vb = NULL;
    if (bf16) { /* the baselines see the BF16 values in F32 */
        qb = to_bf16(q, nq), kb = to_bf16(k, nk), vb = to_bf16(v, nk);
        free(q), free(k), free(v);
        q = widen(qb, nq), k = widen(kb, nk), v = widen(vb, nk);
    }
    char desc[160];
    snprintf(desc, sizeof desc, "b=%lld heads=%lld dim=%lld lq=%lld lk=%lld%s%s", (long long)b, (long long)heads,
             (long long)dim, (long long)lq, (long long)lk, hot ? " hot" : "", bf16 ? " bf16" : "");
    float* slack = hot ? attention_slack(q, k, v, b, lq, lk, heads, dim, hot_row) : NULL;
    const int64_t sq[3] = {b, lq, ch}, sk[3] = {b, lk, ch};
    const atl_tensor_view fq = view(q, ATL_DTYPE_F32, 3, sq), fk = view(k, ATL_DTYPE_F32, 3, sk),
                          fv = view(v, ATL_DTYPE_F32, 3, sk);
    /* The REFERENCE kernel loops in double: only where its work stays small. */
    const int small = (double)b * lq * lk * ch <= 4e6;
    float* torch_out = nan_floats(nq);
    atl_tensor_view vo = view(torch_out, ATL_DTYPE_F32, 3, sq);
    const int have_torch =
        ran(atl_op_attention(ATL_OP_KERNEL_TORCH, &fq, &fk, &fv, (int32_t)heads, &vo), "attention torch", desc);
    float* ref_out = NULL;
    if (small) {
        ref_out = nan_floats(nq);
        vo = view(ref_out, ATL_DTYPE_F32, 3, sq);
        atl_status* st = atl_op_attention(ATL_OP_KERNEL_REFERENCE, &fq, &fk, &fv, (int32_t)heads, &vo);
        if (!ran(st, "attention reference", desc)) free(ref_out), ref_out = NULL;
    }
    const case_info ci = {"attention", bf16 ? "bf16" : hot ? "f32, scores to ~50" : "f32", desc, nq,
                          bf16 ? kBf16Out : kF32, slack};
    /* BF16 inputs on an avx512_bf16 CPU: the AVX512 kernel's products are BF16. */
    float* bf16_slack = bf16 && has_bf16_dot ? attention_bf16_slack(q, k, v, b, lq, lk, heads, dim, slack) : NULL;
    const case_info ci_bf16 = {"attention", "bf16 products", desc, nq, kBf16Out, bf16_slack};
    for (int i = 0; i < nkernels; ++i) {
        const int kernel = kernels[i];
        if (kernel == ATL_OP_KERNEL_REFERENCE && !small) continue;
        if (kernel == ATL_OP_KERNEL_REFERENCE && !bf16) { /* the F32 REFERENCE output is the baseline itself */
            if (ref_out && have_torch) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, ref_out, torch_out);
            continue;
        }
        float* got = NULL;
        uint16_t* got_bits = NULL;
        int ok;
        if (bf16) {
            got_bits = nan_bf16(nq);
            const atl_tensor_view bq = view(qb, ATL_DTYPE_BF16, 3, sq), bk = view(kb, ATL_DTYPE_BF16, 3, sk),
                                  bv = view(vb, ATL_DTYPE_BF16, 3, sk);
            atl_tensor_view bo = view(got_bits, ATL_DTYPE_BF16, 3, sq);
            ok = ran(atl_op_attention(kernel, &bq, &bk, &bv, (int32_t)heads, &bo), "attention", desc);
            got = widen(got_bits, nq);
        } else {
            got = nan_floats(nq);
            atl_tensor_view go = view(got, ATL_DTYPE_F32, 3, sq);
            ok = ran(atl_op_attention(kernel, &fq, &fk, &fv, (int32_t)heads, &go), "attention", desc);
        }
        const case_info* c = bf16_slack && kernel == ATL_OP_KERNEL_AVX512 ? &ci_bf16 : &ci;
        if (ok && have_torch) compare(c, kernel, ATL_OP_KERNEL_TORCH, got, torch_out);
        if (ok && ref_out) compare(c, kernel, ATL_OP_KERNEL_REFERENCE, got, ref_out);
        free(got), free(got_bits);
    }
    free(q), free(k), free(v), free(qb), free(kb), free(vb), free(torch_out), free(ref_out), free(slack), free(bf16_slack);
}

/* q, k and v as views into wider rows: q of [b, lq, ch + 3], k and v the two halves of [b, lk,
 * 2 ch] (as a fused projection writes them). The kernels read them in place with row strides
 * ch + 3 and 2 ch; the baselines get contiguous copies. */
static void attention_strided_case(int64_t b, int64_t heads, int64_t dim, int64_t lq, int64_t lk) {
    const int64_t ch = heads * dim, nq = b * lq * ch, nk = b * lk * ch;
    float *qbuf = random_floats(b * lq * (ch + 3), 0, 1), *kv = random_floats(2 * nk, 0, 1);
    float *q = floats(nq), *k = floats(nk), *v = floats(nk);
    for (int64_t r = 0; r < b * lq; ++r) memcpy(q + r * ch, qbuf + r * (ch + 3), sizeof(float) * (size_t)ch);
    for (int64_t r = 0; r < b * lk; ++r) {
        memcpy(k + r * ch, kv + r * 2 * ch, sizeof(float) * (size_t)ch);
        memcpy(v + r * ch, kv + r * 2 * ch + ch, sizeof(float) * (size_t)ch);
    }
    char desc[160];
    snprintf(desc, sizeof desc, "b=%lld heads=%lld dim=%lld lq=%lld lk=%lld strided", (long long)b, (long long)heads,
             (long long)dim, (long long)lq, (long long)lk);
    const int64_t sq[3] = {b, lq, ch}, sk[3] = {b, lk, ch};
    const atl_tensor_view fq = view(q, ATL_DTYPE_F32, 3, sq), fk = view(k, ATL_DTYPE_F32, 3, sk),
                          fv = view(v, ATL_DTYPE_F32, 3, sk);
    atl_tensor_view wq = view(qbuf, ATL_DTYPE_F32, 3, sq), wk = view(kv, ATL_DTYPE_F32, 3, sk),
                    wv = view(kv + ch, ATL_DTYPE_F32, 3, sk);
    wq.strides[0] = lq * (ch + 3), wq.strides[1] = ch + 3;
    wk.strides[0] = wv.strides[0] = lk * 2 * ch, wk.strides[1] = wv.strides[1] = 2 * ch;
    const int small = (double)b * lq * lk * ch <= 4e6;
    float *torch_out = nan_floats(nq), *ref_out = small ? nan_floats(nq) : NULL;
    atl_tensor_view vo = view(torch_out, ATL_DTYPE_F32, 3, sq);
    const int have_torch =
        ran(atl_op_attention(ATL_OP_KERNEL_TORCH, &fq, &fk, &fv, (int32_t)heads, &vo), "attention torch", desc);
    vo = view(ref_out, ATL_DTYPE_F32, 3, sq);
    const int have_ref = small && ran(atl_op_attention(ATL_OP_KERNEL_REFERENCE, &fq, &fk, &fv, (int32_t)heads, &vo),
                                      "attention reference", desc);
    const case_info ci = {"attention", "f32, strided", desc, nq, kF32, NULL};
    for (int i = 0; i < nkernels; ++i) {
        const int kernel = kernels[i];
        if (kernel == ATL_OP_KERNEL_REFERENCE && !small) continue;
        float* got = nan_floats(nq);
        atl_tensor_view go = view(got, ATL_DTYPE_F32, 3, sq);
        if (ran(atl_op_attention(kernel, &wq, &wk, &wv, (int32_t)heads, &go), "attention", desc)) {
            if (have_torch) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, got, torch_out);
            if (have_ref) compare(&ci, kernel, ATL_OP_KERNEL_REFERENCE, got, ref_out);
        }
        free(got);
    }
    free(qbuf), free(kv), free(q), free(k), free(v), free(torch_out), free(ref_out);
}

static void attention_cases(void) {
    static const int64_t lqs[] = {1, 7, 47, 49, 130, 300};
    static const int64_t lks[] = {1, 31, 77, 154, 129, 300}; /* 154: a chunked 2 x 77 context */
    static const int64_t heads_of[] = {1, 3, 8};
    static const int64_t dims[] = {8, 40, 17, 80, 160};
    int idx = 0;
    /* Every (lq, lk) pair, with heads, head dim and batch turning over so each value meets many sizes. */
    for (int a = 0; a < 6; ++a) {
        for (int c = 0; c < 6; ++c, ++idx) {
            const int64_t heads = heads_of[idx % 3], dim = dims[(idx + idx / 5) % 5], b = 1 + (idx / 3) % 3;
            attention_case(b, heads, dim, lqs[a], lks[c], idx % 2, 0);
        }
    }
    /* Every head dim with every head count, on a shape small enough for the REFERENCE kernel. */
    for (int d = 0; d < 5; ++d) {
        for (int h = 0; h < 3; ++h) attention_case(1 + (d + h) % 3, heads_of[h], dims[d], 49, 31, (d + h) % 2, 0);
    }
    /* BF16 q, k, v. */
    for (int d = 0; d < 5; ++d) {
        attention_case(2, heads_of[d % 3], dims[d], 47, 77, d % 2, 1);
        attention_case(1, heads_of[(d + 1) % 3], dims[d], 130, 154, (d + 1) % 2, 1);
    }
    attention_case(3, 8, 40, 300, 300, 1, 1);
    /* Views with row strides wider than the channels. */
    attention_strided_case(2, 3, 17, 49, 77);
    attention_strided_case(1, 8, 40, 130, 154);
    attention_strided_case(2, 1, 80, 7, 129);
}

/* ---- Linear ---------------------------------------------------------------------------------- */

/* y = x W^T + bias. bf16_weight: W is a BF16 view (the kernels widen it; the AVX512 GEMM on an
 * avx512_bf16 CPU also rounds x to BF16, atelier.h). The baselines run in F32 on the values the
 * kernel under test multiplies: the BF16 weight, and x rounded exactly when that kernel rounds it.
 * Every difference left is F32 summation order, so BF16 cases keep the F32 tolerance. */
static void linear_case(int64_t rows, int64_t in, int64_t out, int bf16_weight, int with_bias) {
    float *x = random_floats(rows * in, 0, 1), *w = random_floats(out * in, 0, 1), *bias = random_floats(out, 0, 1);
    uint16_t* wb = NULL;
    float* xr = NULL;
    if (bf16_weight) {
        wb = to_bf16(w, out * in);
        free(w);
        w = widen(wb, out * in);
        uint16_t* xb = to_bf16(x, rows * in);
        xr = widen(xb, rows * in);
        free(xb);
    }
    char desc[160];
    snprintf(desc, sizeof desc, "rows=%lld in=%lld out=%lld%s%s", (long long)rows, (long long)in, (long long)out,
             with_bias ? " bias" : "", bf16_weight ? " bf16-weight" : "");
    /* x as [3, 100, in] for 300 rows: leading dimensions fold into rows. */
    const int nd = rows == 300 ? 3 : 2;
    const int64_t sx[3] = {nd == 3 ? 3 : rows, nd == 3 ? 100 : in, in};
    const int64_t sy[3] = {nd == 3 ? 3 : rows, nd == 3 ? 100 : out, out};
    const int64_t sw[2] = {out, in}, sb[1] = {out};
    const atl_tensor_view vw = view(w, ATL_DTYPE_F32, 2, sw), vbias = view(bias, ATL_DTYPE_F32, 1, sb);
    const atl_tensor_view* pbias = with_bias ? &vbias : NULL;
    const int64_t ny = rows * out;
    const int small = (double)rows * in * out <= 2e6;
    /* Baselines [base: 0 torch, 1 reference][x: 0 as given, 1 rounded to BF16], made when needed. */
    float* base[2][2] = {{NULL, NULL}, {NULL, NULL}};
    for (int i = 0; i < nkernels; ++i) {
        const int kernel = kernels[i];
        if (kernel == ATL_OP_KERNEL_REFERENCE && !small) continue;
        const int rounded = bf16_weight && kernel == ATL_OP_KERNEL_AVX512 && has_bf16_dot;
        for (int bi = 0; bi < 2; ++bi) {
            const int bk = bi == 0 ? ATL_OP_KERNEL_TORCH : ATL_OP_KERNEL_REFERENCE;
            if (bi == 1 && !small) continue;
            if (!base[bi][rounded]) {
                float* y = nan_floats(ny);
                const atl_tensor_view vx = view(rounded ? xr : x, ATL_DTYPE_F32, nd, sx);
                atl_tensor_view vy = view(y, ATL_DTYPE_F32, nd, sy);
                if (!ran(atl_op_linear(bk, &vx, &vw, pbias, &vy), "linear baseline", desc)) {
                    free(y);
                    continue;
                }
                base[bi][rounded] = y;
            }
        }
        const case_info ci = {"linear", bf16_weight ? (rounded ? "bf16 weight, x rounded" : "bf16 weight") : "f32",
                              desc, ny, kF32, NULL};
        if (kernel == ATL_OP_KERNEL_REFERENCE && !bf16_weight) { /* the F32 REFERENCE output is a baseline */
            if (base[0][0] && base[1][0]) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, base[1][0], base[0][0]);
            continue;
        }
        float* got = nan_floats(ny);
        const atl_tensor_view vx = view(x, ATL_DTYPE_F32, nd, sx);
        const atl_tensor_view kw = bf16_weight ? view(wb, ATL_DTYPE_BF16, 2, sw) : vw;
        atl_tensor_view vy = view(got, ATL_DTYPE_F32, nd, sy);
        if (ran(atl_op_linear(kernel, &vx, &kw, pbias, &vy), "linear", desc)) {
            if (base[0][rounded]) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, got, base[0][rounded]);
            if (base[1][rounded]) compare(&ci, kernel, ATL_OP_KERNEL_REFERENCE, got, base[1][rounded]);
        }
        free(got);
    }
    for (int a = 0; a < 2; ++a) free(base[a][0]), free(base[a][1]);
    free(x), free(w), free(bias), free(wb), free(xr);
}

static void linear_cases(void) {
    static const int64_t rows[] = {1, 5, 13, 97, 300};     /* 13: not a multiple of 12; 97: over a 96-row task */
    static const int64_t ins[] = {3, 17, 256, 257, 520};   /* 257, 520: over one 256-deep block, odd */
    static const int64_t outs[] = {1, 31, 33, 320};        /* around one 32-column panel; 10 panels */
    int idx = 0;
    for (int r = 0; r < 5; ++r)
        for (int i = 0; i < 5; ++i)
            for (int o = 0; o < 4; ++o, ++idx) {
                linear_case(rows[r], ins[i], outs[o], 0, idx % 2);
                linear_case(rows[r], ins[i], outs[o], 1, (idx + 1) % 2);
            }
}

/* ---- Convolution ----------------------------------------------------------------------------- */

/* Atelier's convolution of a 3x3, stride 1, padding 1 layer takes Winograd's F(m x m, 3x3)
 * (ops/winograd.hpp) for enough output pixels per sample: in BF16 m = 2 from 64 pixels (the op
 * API's layers allow it); in F32 m = 4 from 1024 pixels, m = 2 from 64.
 * Each output is A^T [sum_c U_c (.) W_c] A over an m x m block, U_c = B^T d B of the (m + 2)^2
 * input patch and W_c = G g G^T. Returns m, or 0 for the direct GEMM. */
static int winograd_tile(int64_t ks, int64_t stride, int64_t pad, int64_t oh, int64_t ow, int bf16) {
    if (ks != 3 || stride != 1 || pad != 1) return 0;
    if (bf16) return has_bf16_dot && oh * ow >= 64 ? 2 : 0;
    return oh * ow >= 1024 ? 4 : oh * ow >= 64 ? 2 : 0;
}

/* A bound of the transforms' rounding at each output, slack[i] = scale x sum_c sum_p |a_p| U'_p
 * W'_p over the products that reach output i (a_p the output transform's coefficient). BF16 (m =
 * 2): U and W are rounded to BF16 (relative error <= 2^-9 each) before the products: U'_p = |U_p|,
 * W'_p = |W_p|, scale 4 x 2^-9, twice each rounding's bound; the F32 sums' own error is below the
 * kF32 tolerance. F32 (m = 4): every add of the three transforms rounds (2^-24 of the partial sum):
 * U'_p and W'_p are the transforms of |d| and |g| by the coefficients' magnitudes, which bound
 * every partial sum, and scale 16 x 2^-24 covers the at most 14 roundings in sequence (input 2 x 3,
 * weight 2 x 2, output 2 x 2), so the 4x4 tiles' amplified rounding is allowed and nothing more. */
static float* winograd_slack(const float* x, const float* w, int64_t n, int64_t h, int64_t wd, int64_t c, int64_t out,
                             int m) {
    static const double bt2[4][6] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double at2[2][6] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
    static const double bt4[6][6] = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    static const double g4[6][3] = {{0.25, 0, 0},           {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                    {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
    static const double at4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
    const int side = m + 2, count = side * side, f32 = m == 4;
    const double scale = f32 ? 16.0 / 16777216.0 : 4.0 / 512.0;
    const int64_t ty_n = (h + m - 1) / m, tx_n = (wd + m - 1) / m;
    float* slack = floats(n * h * wd * out);
    double* u = malloc(sizeof(double) * (size_t)(count * c));         /* U' of one tile, [c][count] */
    double* wt = malloc(sizeof(double) * (size_t)(count * out * c));  /* W' [out][c][count] */
    CHECK(u && wt);
    for (int64_t o = 0; o < out; ++o)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int i = 0; i < side; ++i)
                for (int j = 0; j < side; ++j) {
                    double v = 0;
                    for (int a = 0; a < 3; ++a)
                        for (int b = 0; b < 3; ++b) {
                            const double gi = m == 4 ? g4[i][a] : g2[i][a], gj = m == 4 ? g4[j][b] : g2[j][b];
                            const double wv = w[((o * c + ch) * 3 + a) * 3 + b];
                            v += f32 ? fabs(gi) * fabs(wv) * fabs(gj) : gi * wv * gj;
                        }
                    wt[(o * c + ch) * count + i * side + j] = fabs(v);
                }
    for (int64_t s = 0; s < n; ++s)
        for (int64_t ty = 0; ty < ty_n; ++ty)
            for (int64_t tx = 0; tx < tx_n; ++tx) {
                for (int64_t ch = 0; ch < c; ++ch)
                    for (int i = 0; i < side; ++i)
                        for (int j = 0; j < side; ++j) {
                            double v = 0;
                            for (int r = 0; r < side; ++r)
                                for (int q = 0; q < side; ++q) {
                                    const int64_t iy = m * ty - 1 + r, ix = m * tx - 1 + q;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    const double d = x[((s * h + iy) * wd + ix) * c + ch];
                                    const double bi = m == 4 ? bt4[i][r] : bt2[i][r], bj = m == 4 ? bt4[j][q] : bt2[j][q];
                                    v += f32 ? fabs(bi) * fabs(d) * fabs(bj) : bi * d * bj;
                                }
                            u[ch * count + i * side + j] = fabs(v);
                        }
                for (int r = 0; r < m; ++r)
                    for (int q = 0; q < m; ++q) {
                        const int64_t oy = m * ty + r, ox = m * tx + q;
                        if (oy >= h || ox >= wd) continue;
                        for (int64_t o = 0; o < out; ++o) {
                            double bound = 0;
                            for (int i = 0; i < side; ++i)
                                for (int j = 0; j < side; ++j) {
                                    const double a = fabs(m == 4 ? at4[r][i] * at4[q][j] : at2[r][i] * at2[q][j]);
                                    if (a == 0) continue;
                                    for (int64_t ch = 0; ch < c; ++ch)
                                        bound += a * u[ch * count + i * side + j] * wt[(o * c + ch) * count + i * side + j];
                                }
                            slack[((s * h + oy) * wd + ox) * out + o] = (float)(scale * bound);
                        }
                    }
            }
    free(u), free(wt);
    return slack;
}

/* y [n, oh, ow, out] = conv2d(x [n, h, w, c], weight [out, c, k, k]) + bias, with BF16 weights
 * handled as in linear_case (the implicit GEMM rounds the gathered x as the Linear GEMM does). */
static void conv_case(int64_t n, int64_t h, int64_t wd, int64_t c, int64_t out, int64_t ks, int64_t stride,
                      int64_t pad, int with_bias, int bf16_weight) {
    const int64_t oh = (h + 2 * pad - ks) / stride + 1, ow = (wd + 2 * pad - ks) / stride + 1;
    const int64_t nx = n * h * wd * c, nw = out * c * ks * ks, ny = n * oh * ow * out;
    float *x = random_floats(nx, 0, 1), *w = random_floats(nw, 0, 1), *bias = random_floats(out, 0, 1);
    if (h * wd >= 4096) {
        /* Eight zero rows mid-image: the outputs whose 3x3 field lies in them are the bias alone,
         * exactly, and have no Winograd slack, so the checker's self-test has somewhere to bite. */
        for (int64_t s = 0; s < n; ++s)
            for (int64_t r = h / 2; r < h / 2 + 8; ++r)
                memset(x + (s * h + r) * wd * c, 0, sizeof(float) * (size_t)(wd * c));
    }
    uint16_t* wb = NULL;
    float* xr = NULL;
    if (bf16_weight) {
        wb = to_bf16(w, nw);
        free(w);
        w = widen(wb, nw);
        uint16_t* xb = to_bf16(x, nx);
        xr = widen(xb, nx);
        free(xb);
    }
    char desc[200];
    snprintf(desc, sizeof desc, "x=[%lld,%lld,%lld,%lld] out=%lld k=%lld stride=%lld pad=%lld%s%s", (long long)n,
             (long long)h, (long long)wd, (long long)c, (long long)out, (long long)ks, (long long)stride,
             (long long)pad, with_bias ? " bias" : "", bf16_weight ? " bf16-weight" : "");
    const int64_t sx[4] = {n, h, wd, c}, sw[4] = {out, c, ks, ks}, sb[1] = {out}, sy[4] = {n, oh, ow, out};
    const atl_tensor_view vw = view(w, ATL_DTYPE_F32, 4, sw), vbias = view(bias, ATL_DTYPE_F32, 1, sb);
    const atl_tensor_view* pbias = with_bias ? &vbias : NULL;
    const int small = (double)ny * c * ks * ks <= 3e6;
    /* BF16 Winograd rounds its transforms, not x: compared with the unrounded x, within a slack.
     * F32 F(4x4, 3x3) rounds more than a direct sum: within its own slack. */
    const int tile = winograd_tile(ks, stride, pad, oh, ow, bf16_weight);
    const int winograd = bf16_weight && tile;
    float* wslack = winograd || tile == 4 ? winograd_slack(x, w, n, h, wd, c, out, tile) : NULL;
    float* base[2][2] = {{NULL, NULL}, {NULL, NULL}};
    for (int i = 0; i < nkernels; ++i) {
        const int kernel = kernels[i];
        if (kernel == ATL_OP_KERNEL_REFERENCE && !small) continue;
        const int rounded = bf16_weight && kernel == ATL_OP_KERNEL_AVX512 && has_bf16_dot && !winograd;
        for (int bi = 0; bi < 2; ++bi) {
            const int bk = bi == 0 ? ATL_OP_KERNEL_TORCH : ATL_OP_KERNEL_REFERENCE;
            if (bi == 1 && !small) continue;
            if (!base[bi][rounded]) {
                float* y = nan_floats(ny);
                const atl_tensor_view vx = view(rounded ? xr : x, ATL_DTYPE_F32, 4, sx);
                atl_tensor_view vy = view(y, ATL_DTYPE_F32, 4, sy);
                atl_status* st = atl_op_conv2d(bk, &vx, &vw, pbias, (int32_t)stride, (int32_t)pad, &vy);
                if (!ran(st, "conv2d baseline", desc)) {
                    free(y);
                    continue;
                }
                base[bi][rounded] = y;
            }
        }
        const int wg = wslack && kernel == ATL_OP_KERNEL_AVX512;
        const case_info ci = {"conv2d",
                              wg ? (bf16_weight ? "bf16 winograd" : "f32 winograd 4x4")
                                 : bf16_weight ? (rounded ? "bf16 weight, x rounded" : "bf16 weight") : "f32",
                              desc, ny, kF32, wg ? wslack : NULL};
        if (kernel == ATL_OP_KERNEL_REFERENCE && !bf16_weight) {
            if (base[0][0] && base[1][0]) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, base[1][0], base[0][0]);
            continue;
        }
        float* got = nan_floats(ny);
        const atl_tensor_view vx = view(x, ATL_DTYPE_F32, 4, sx);
        const atl_tensor_view kw = bf16_weight ? view(wb, ATL_DTYPE_BF16, 4, sw) : vw;
        atl_tensor_view vy = view(got, ATL_DTYPE_F32, 4, sy);
        if (ran(atl_op_conv2d(kernel, &vx, &kw, pbias, (int32_t)stride, (int32_t)pad, &vy), "conv2d", desc)) {
            if (base[0][rounded]) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, got, base[0][rounded]);
            if (base[1][rounded]) compare(&ci, kernel, ATL_OP_KERNEL_REFERENCE, got, base[1][rounded]);
        }
        free(got);
    }
    for (int a = 0; a < 2; ++a) free(base[a][0]), free(base[a][1]);
    free(x), free(w), free(bias), free(wb), free(xr), free(wslack);
}

static void conv_cases(void) {
    static const int64_t channels[] = {3, 4, 20, 33, 64};
    static const int64_t outs[] = {1, 17, 40};
    static const int64_t sizes[3][2] = {{7, 5}, {9, 9}, {1, 1}};
    int idx = 0;
    for (int ci = 0; ci < 5; ++ci)
        for (int ks = 1; ks <= 3; ks += 2)
            for (int stride = 1; stride <= 2; ++stride)
                for (int pad = 0; pad <= 1; ++pad)
                    for (int si = 0; si < 3; ++si) {
                        const int64_t h = sizes[si][0], wd = sizes[si][1];
                        if (h + 2 * pad < ks || wd + 2 * pad < ks) continue; /* no output */
                        const int64_t n = 1 + idx % 3, out = outs[(idx / 3 + idx) % 3];
                        conv_case(n, h, wd, channels[ci], out, ks, stride, pad, idx % 2, 0);
                        conv_case(n, h, wd, channels[ci], out, ks, stride, pad, (idx + 1) % 2, 1);
                        ++idx;
                    }
    /* Larger ones for libtorch only: many 96-row tasks, depth 576 and 297 (three blocks; a block
     * boundary inside a tap's channels), depth 360 (an even channel count whose block boundary is
     * inside tap 6: the BF16 gather copies pairs of channels), a dense 1x1 with 10 column panels. */
    for (int bf16 = 0; bf16 <= 1; ++bf16) {
        conv_case(2, 17, 13, 64, 40, 3, 1, 1, 1, bf16);
        conv_case(3, 9, 7, 40, 17, 3, 1, 1, 0, bf16);
        conv_case(2, 10, 9, 40, 33, 3, 2, 1, 1, bf16);
        conv_case(3, 15, 11, 33, 17, 3, 2, 1, 0, bf16);
        conv_case(2, 12, 13, 64, 320, 1, 1, 0, 1, bf16);
        conv_case(1, 9, 9, 20, 33, 3, 2, 0, 1, bf16);
        /* 64 x 66: 4224 pixels (F32 takes F(4x4, 3x3) from 1024, BF16 F(2x2, 3x3)) and 2112 tiles
         * of 2x2 (tasks of 96 tiles, each thread a chunk); 33 x 40: 1320 pixels, Winograd in
         * BF16 (for 20 x 24 and 962 x 320 channels); 7 x 9: 63 pixels, the direct GEMM in both (BF16
         * with x rounded for 962 x 320). */
        conv_case(2, 64, 66, 20, 24, 3, 1, 1, 1 - bf16, bf16);
        conv_case(1, 33, 40, 20, 24, 3, 1, 1, bf16, bf16);
        if (bf16) conv_case(1, 33, 40, 962, 320, 3, 1, 1, 1, bf16);
        /* F32 from 1024 pixels takes F(4x4, 3x3): depth 640 over 1056 pixels, whose 33 rows end in
         * a cropped tile. */
        if (!bf16) conv_case(1, 33, 32, 640, 48, 3, 1, 1, 1, bf16);
        if (bf16) conv_case(2, 7, 9, 962, 320, 3, 1, 1, 1, bf16);
    }
}

/* ---- Normalisations -------------------------------------------------------------------------- */

/* GroupNorm of x [n, positions, c] (63 positions as [n, 9, 7, c]) with mean ~3, so a variance
 * formed as E[x^2] - mean^2 in F32 would lose most of its digits. bf16: x and y BF16 views, the
 * baselines run on the BF16 values in F32 and the output is compared loosely. */
/* Any F32 evaluation of y = (x - mean) rstd w + b, as x a + (b - mean a) with a = w rstd (the
 * AVX512 kernel and libtorch) or otherwise, rounds terms of size |x| |a|, |mean| |a| and |b|: its
 * error is a few 2^-24 (|x| + 2 |mean|) |a| + |b|. With mean ~3 that is small next to the atol
 * while a group's variance is ~1/3, but a group of one element (one position, one channel per
 * group: variance 0, rstd = 1/sqrt(eps) = 1000) or of two close values amplifies it 1000-fold.
 * slack[i] = 4 * 2^-23 * that bound (SiLU's slope is below 1.1). */
static float* group_norm_slack(const float* x, int64_t n, int64_t positions, int64_t c, int64_t groups, const float* w,
                               const float* bias, double eps) {
    const int64_t per = c / groups;
    float* slack = floats(n * positions * c);
    for (int64_t s = 0; s < n; ++s)
        for (int64_t g = 0; g < groups; ++g) {
            double sum = 0, sq = 0;
            for (int64_t p = 0; p < positions; ++p)
                for (int64_t j = g * per; j < (g + 1) * per; ++j) sum += x[(s * positions + p) * c + j];
            const double mean = sum / (double)(positions * per);
            for (int64_t p = 0; p < positions; ++p)
                for (int64_t j = g * per; j < (g + 1) * per; ++j) {
                    const double d = x[(s * positions + p) * c + j] - mean;
                    sq += d * d;
                }
            const double var = sq / (double)(positions * per) + eps;
            double rstd = var > 1 ? 1 / var : 1; /* 1 / sqrt(var) by Newton's method: no libm */
            for (int i = 0; i < 100; ++i) rstd = rstd * (1.5 - 0.5 * var * rstd * rstd);
            for (int64_t p = 0; p < positions; ++p)
                for (int64_t j = g * per; j < (g + 1) * per; ++j) {
                    const int64_t i = (s * positions + p) * c + j;
                    const double a = fabs((double)w[j]) * rstd;
                    const double bound = (fabs((double)x[i]) + 2 * fabs(mean)) * a + fabs((double)bias[j]);
                    slack[i] = (float)(4.0 / 8388608.0 * bound);
                }
        }
    return slack;
}

static void group_norm_case(int64_t n, int64_t positions, int64_t c, int64_t groups, int silu, int bf16) {
    const int64_t nx = n * positions * c;
    float *x = random_floats(nx, 3.0, 1.0), *w = random_floats(c, 1.0, 0.5), *bias = random_floats(c, 0, 0.5);
    uint16_t* xb = NULL;
    if (bf16) {
        xb = to_bf16(x, nx);
        free(x);
        x = widen(xb, nx);
    }
    const float eps = 1e-6f;
    char desc[160];
    snprintf(desc, sizeof desc, "n=%lld positions=%lld c=%lld groups=%lld%s%s", (long long)n, (long long)positions,
             (long long)c, (long long)groups, silu ? " silu" : "", bf16 ? " bf16" : "");
    const int nd = positions == 63 ? 4 : 3;
    const int64_t s3[3] = {n, positions, c}, s4[4] = {n, 9, 7, c}, sc[1] = {c};
    const int64_t* sx = nd == 4 ? s4 : s3;
    const atl_tensor_view vw = view(w, ATL_DTYPE_F32, 1, sc), vb = view(bias, ATL_DTYPE_F32, 1, sc);
    const atl_tensor_view fx = view(x, ATL_DTYPE_F32, nd, sx);
    float *torch_y = nan_floats(nx), *ref_y = nan_floats(nx);
    atl_tensor_view vy = view(torch_y, ATL_DTYPE_F32, nd, sx);
    const int32_t g = (int32_t)groups;
    const int have_torch =
        ran(atl_op_group_norm(ATL_OP_KERNEL_TORCH, &fx, g, &vw, &vb, eps, silu, &vy), "group norm torch", desc);
    vy = view(ref_y, ATL_DTYPE_F32, nd, sx);
    const int have_ref =
        ran(atl_op_group_norm(ATL_OP_KERNEL_REFERENCE, &fx, g, &vw, &vb, eps, silu, &vy), "group norm reference", desc);
    float* slack = group_norm_slack(x, n, positions, c, groups, w, bias, eps);
    const case_info ci = {"group_norm", bf16 ? (silu ? "bf16, silu" : "bf16") : (silu ? "f32, silu" : "f32"), desc, nx,
                          bf16 ? kBf16Out : kF32, slack};
    for (int i = 0; i < nkernels; ++i) {
        const int kernel = kernels[i];
        if (kernel == ATL_OP_KERNEL_REFERENCE && !bf16) {
            if (have_ref && have_torch) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, ref_y, torch_y);
            continue;
        }
        float* got = NULL;
        int ok;
        if (bf16) {
            uint16_t* bits = nan_bf16(nx);
            const atl_tensor_view bx = view(xb, ATL_DTYPE_BF16, nd, sx);
            atl_tensor_view by = view(bits, ATL_DTYPE_BF16, nd, sx);
            ok = ran(atl_op_group_norm(kernel, &bx, g, &vw, &vb, eps, silu, &by), "group norm", desc);
            got = widen(bits, nx);
            free(bits);
        } else {
            got = nan_floats(nx);
            atl_tensor_view gy = view(got, ATL_DTYPE_F32, nd, sx);
            ok = ran(atl_op_group_norm(kernel, &fx, g, &vw, &vb, eps, silu, &gy), "group norm", desc);
        }
        if (ok && have_torch) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, got, torch_y);
        if (ok && have_ref) compare(&ci, kernel, ATL_OP_KERNEL_REFERENCE, got, ref_y);
        free(got);
    }
    free(x), free(w), free(bias), free(xb), free(torch_y), free(ref_y), free(slack);
}

static void layer_norm_case(int64_t rows, int64_t c, int bf16) {
    const int64_t nx = rows * c;
    float *x = random_floats(nx, 3.0, 1.0), *w = random_floats(c, 1.0, 0.5), *bias = random_floats(c, 0, 0.5);
    uint16_t* xb = NULL;
    if (bf16) {
        xb = to_bf16(x, nx);
        free(x);
        x = widen(xb, nx);
    }
    const float eps = 1e-5f;
    char desc[96];
    snprintf(desc, sizeof desc, "rows=%lld c=%lld%s", (long long)rows, (long long)c, bf16 ? " bf16" : "");
    /* 154 rows as [2, 77, c]: a batch of token sequences. */
    const int nd = rows == 154 ? 3 : 2;
    const int64_t s2[2] = {rows, c}, s3[3] = {2, 77, c}, sc[1] = {c};
    const int64_t* sx = nd == 3 ? s3 : s2;
    const atl_tensor_view vw = view(w, ATL_DTYPE_F32, 1, sc), vb = view(bias, ATL_DTYPE_F32, 1, sc);
    const atl_tensor_view fx = view(x, ATL_DTYPE_F32, nd, sx);
    float *torch_y = nan_floats(nx), *ref_y = nan_floats(nx);
    atl_tensor_view vy = view(torch_y, ATL_DTYPE_F32, nd, sx);
    const int have_torch =
        ran(atl_op_layer_norm(ATL_OP_KERNEL_TORCH, &fx, &vw, &vb, eps, &vy), "layer norm torch", desc);
    vy = view(ref_y, ATL_DTYPE_F32, nd, sx);
    const int have_ref =
        ran(atl_op_layer_norm(ATL_OP_KERNEL_REFERENCE, &fx, &vw, &vb, eps, &vy), "layer norm reference", desc);
    const case_info ci = {"layer_norm", bf16 ? "bf16" : "f32", desc, nx, bf16 ? kBf16Out : kF32, NULL};
    for (int i = 0; i < nkernels; ++i) {
        const int kernel = kernels[i];
        if (kernel == ATL_OP_KERNEL_REFERENCE && !bf16) {
            if (have_ref && have_torch) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, ref_y, torch_y);
            continue;
        }
        float* got = NULL;
        int ok;
        if (bf16) {
            uint16_t* bits = nan_bf16(nx);
            const atl_tensor_view bx = view(xb, ATL_DTYPE_BF16, nd, sx);
            atl_tensor_view by = view(bits, ATL_DTYPE_BF16, nd, sx);
            ok = ran(atl_op_layer_norm(kernel, &bx, &vw, &vb, eps, &by), "layer norm", desc);
            got = widen(bits, nx);
            free(bits);
        } else {
            got = nan_floats(nx);
            atl_tensor_view gy = view(got, ATL_DTYPE_F32, nd, sx);
            ok = ran(atl_op_layer_norm(kernel, &fx, &vw, &vb, eps, &gy), "layer norm", desc);
        }
        if (ok && have_torch) compare(&ci, kernel, ATL_OP_KERNEL_TORCH, got, torch_y);
        if (ok && have_ref) compare(&ci, kernel, ATL_OP_KERNEL_REFERENCE, got, ref_y);
        free(got);
    }
    free(x), free(w), free(bias), free(xb), free(torch_y), free(ref_y);
}

static void norm_cases(void) {
    static const int64_t chans[4][2] = {{32, 32}, {64, 32}, {96, 32}, {40, 8}};
    static const int64_t positions[] = {1, 63, 65, 300};
    for (int ci = 0; ci < 4; ++ci)
        for (int p = 0; p < 4; ++p)
            for (int n = 1; n <= 2; ++n)
                for (int silu = 0; silu <= 1; ++silu)
                    for (int bf16 = 0; bf16 <= 1; ++bf16)
                        group_norm_case(n, positions[p], chans[ci][0], chans[ci][1], silu, bf16);
    static const int64_t rows[] = {1, 77, 154};
    static const int64_t cs[] = {8, 320, 768, 769};
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c)
            for (int bf16 = 0; bf16 <= 1; ++bf16) layer_norm_case(rows[r], cs[c], bf16);
}

/* ---- Names and error paths ------------------------------------------------------------------- */

/* s must carry code and a message; never a crash. */
static void expect_kernel_code(atl_status* s, atl_code code, const char* what, int kernel) {
    const int right = atl_status_code(s) == code && s && atl_status_message(s)[0] != '\0';
    if (!right) {
        fprintf(stderr, "%s (kernel %d): expected code %d, got %d: %s\n", what, kernel, (int)code,
                (int)atl_status_code(s), atl_status_message(s));
    }
    CHECK(right);
    atl_status_destroy(s);
}

static void error_paths(void) {
    CHECK(atl_op_kernel_from_name("avx512") == ATL_OP_KERNEL_AVX512);
    CHECK(atl_op_kernel_from_name("reference") == ATL_OP_KERNEL_REFERENCE);
    CHECK(strcmp(atl_op_kernel_name(ATL_OP_KERNEL_TORCH), "torch") == 0);
    CHECK(strcmp(atl_op_kernel_name(ATL_OP_KERNEL_AUTO), "auto") == 0);
    CHECK(atl_op_kernel_name(99) == NULL && atl_op_kernel_name(-1) == NULL && atl_op_kernel_from_name("nope") == -1);
    CHECK(atl_op_kernel_from_name(NULL) == -1);
    CHECK(atl_op_kernel_available(ATL_OP_KERNEL_REFERENCE) == 1 && atl_op_kernel_available(ATL_OP_KERNEL_TORCH) == 1);
    CHECK(atl_op_kernel_available(ATL_OP_KERNEL_AUTO) == 1 && atl_op_kernel_available(99) == 0);
    CHECK(atl_op_kernel_available(ATL_OP_KERNEL_AVX512) == ((atl_cpu_features() & ATL_CPU_AVX512F) ? 1 : 0));

    static float buf[4096], out[4096];
    /* Valid operands, for the unknown-kernel calls. */
    const int64_t s_q[3] = {1, 4, 8}, s_x2[2] = {4, 8}, s_w2[2] = {3, 8}, s_y2[2] = {4, 3}, s_c[1] = {8};
    const int64_t s_cx[4] = {1, 5, 5, 4}, s_cw[4] = {2, 4, 3, 3}, s_cy[4] = {1, 3, 3, 2}, s_gx[3] = {1, 4, 8};
    const atl_tensor_view q = view(buf, ATL_DTYPE_F32, 3, s_q), x2 = view(buf, ATL_DTYPE_F32, 2, s_x2),
                          w2 = view(buf, ATL_DTYPE_F32, 2, s_w2), c8 = view(buf, ATL_DTYPE_F32, 1, s_c),
                          cx = view(buf, ATL_DTYPE_F32, 4, s_cx), cw = view(buf, ATL_DTYPE_F32, 4, s_cw),
                          gx = view(buf, ATL_DTYPE_F32, 3, s_gx);
    atl_tensor_view qo = view(out, ATL_DTYPE_F32, 3, s_q), y2 = view(out, ATL_DTYPE_F32, 2, s_y2),
                    cy = view(out, ATL_DTYPE_F32, 4, s_cy), gy = view(out, ATL_DTYPE_F32, 3, s_gx);
    const int unknown[2] = {99, -1};
    for (int u = 0; u < 2; ++u) {
        const int kk = unknown[u];
        expect_kernel_code(atl_op_attention(kk, &q, &q, &q, 2, &qo), ATL_ERR_INVALID_ARGUMENT, "attention, unknown kernel",
                    kk);
        expect_kernel_code(atl_op_linear(kk, &x2, &w2, NULL, &y2), ATL_ERR_INVALID_ARGUMENT, "linear, unknown kernel", kk);
        expect_kernel_code(atl_op_conv2d(kk, &cx, &cw, NULL, 1, 0, &cy), ATL_ERR_INVALID_ARGUMENT, "conv2d, unknown kernel",
                    kk);
        expect_kernel_code(atl_op_group_norm(kk, &gx, 2, &c8, &c8, 1e-5f, 0, &gy), ATL_ERR_INVALID_ARGUMENT,
                    "group norm, unknown kernel", kk);
        expect_kernel_code(atl_op_layer_norm(kk, &gx, &c8, &c8, 1e-5f, &gy), ATL_ERR_INVALID_ARGUMENT,
                    "layer norm, unknown kernel", kk);
    }
    /* The same valid operands run on every kernel (so the failures below are the shapes'). */
    const int all[4] = {ATL_OP_KERNEL_AUTO, ATL_OP_KERNEL_REFERENCE, ATL_OP_KERNEL_AVX512, ATL_OP_KERNEL_TORCH};
    for (int i = 0; i < 4; ++i) {
        const int kk = all[i];
        if (!atl_op_kernel_available(kk)) {
            expect_kernel_code(atl_op_linear(kk, &x2, &w2, NULL, &y2), ATL_ERR_UNSUPPORTED, "linear, unavailable kernel", kk);
            continue;
        }
        memset(buf, 0, sizeof buf);
        CHECK(ran(atl_op_attention(kk, &q, &q, &q, 2, &qo), "attention, valid", ""));
        CHECK(ran(atl_op_linear(kk, &x2, &w2, NULL, &y2), "linear, valid", ""));
        CHECK(ran(atl_op_conv2d(kk, &cx, &cw, NULL, 1, 0, &cy), "conv2d, valid", ""));
        CHECK(ran(atl_op_group_norm(kk, &gx, 2, &c8, &c8, 1e-5f, 1, &gy), "group norm, valid", ""));
        CHECK(ran(atl_op_layer_norm(kk, &gx, &c8, &c8, 1e-5f, &gy), "layer norm, valid", ""));

        /* conv: weight channels (3) != x channels (4). */
        const int64_t s_bad_cw[4] = {2, 3, 3, 3};
        const atl_tensor_view bad_cw = view(buf, ATL_DTYPE_F32, 4, s_bad_cw);
        expect_kernel_code(atl_op_conv2d(kk, &cx, &bad_cw, NULL, 1, 0, &cy), ATL_ERR_SHAPE, "conv2d, channel mismatch", kk);
        /* conv: a 3x3 kernel on a 1x1 input without padding has no output. */
        const int64_t s_tiny[4] = {1, 1, 1, 4};
        const atl_tensor_view tiny = view(buf, ATL_DTYPE_F32, 4, s_tiny);
        expect_kernel_code(atl_op_conv2d(kk, &tiny, &cw, NULL, 1, 0, &cy), ATL_ERR_SHAPE, "conv2d, kernel over the input", kk);
        /* attention: 8 channels do not split into 3 heads; no keys; k and v of different lengths. */
        expect_kernel_code(atl_op_attention(kk, &q, &q, &q, 3, &qo), ATL_ERR_SHAPE, "attention, channels % heads", kk);
        const int64_t s_k0[3] = {1, 0, 8}, s_k3[3] = {1, 3, 8};
        const atl_tensor_view k0 = view(buf, ATL_DTYPE_F32, 3, s_k0), k3 = view(buf, ATL_DTYPE_F32, 3, s_k3);
        expect_kernel_code(atl_op_attention(kk, &q, &k0, &k0, 2, &qo), ATL_ERR_SHAPE, "attention, no keys", kk);
        expect_kernel_code(atl_op_attention(kk, &q, &q, &k3, 2, &qo), ATL_ERR_SHAPE, "attention, k and v differ", kk);
        /* group norm: 8 channels do not split into 3 groups; a weight of the wrong length. */
        expect_kernel_code(atl_op_group_norm(kk, &gx, 3, &c8, &c8, 1e-5f, 0, &gy), ATL_ERR_SHAPE,
                    "group norm, channels % groups", kk);
        const int64_t s_c7[1] = {7};
        const atl_tensor_view c7 = view(buf, ATL_DTYPE_F32, 1, s_c7);
        expect_kernel_code(atl_op_group_norm(kk, &gx, 2, &c7, &c8, 1e-5f, 0, &gy), ATL_ERR_SHAPE, "group norm, weight length",
                    kk);
        /* layer norm: a bias of the wrong length. */
        expect_kernel_code(atl_op_layer_norm(kk, &gx, &c8, &c7, 1e-5f, &gy), ATL_ERR_SHAPE, "layer norm, bias length", kk);
        /* linear: x has 8 features, the weight 7. */
        const int64_t s_w7[2] = {3, 7};
        const atl_tensor_view w7 = view(buf, ATL_DTYPE_F32, 2, s_w7);
        expect_kernel_code(atl_op_linear(kk, &x2, &w7, NULL, &y2), ATL_ERR_SHAPE, "linear, feature mismatch", kk);
        /* An output view of the wrong shape. */
        const int64_t s_y_bad[2] = {4, 5};
        atl_tensor_view y_bad = view(out, ATL_DTYPE_F32, 2, s_y_bad);
        expect_kernel_code(atl_op_linear(kk, &x2, &w2, NULL, &y_bad), ATL_ERR_SHAPE, "linear, output shape", kk);
        /* A NULL view. */
        expect_kernel_code(atl_op_linear(kk, NULL, &w2, NULL, &y2), ATL_ERR_INVALID_ARGUMENT, "linear, NULL x", kk);
    }
}

static double seconds(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void) {
    CHECK(atl_set_num_threads(0) == NULL); /* all cores: the kernels' parallel splits are part of the test */
    has_bf16_dot = (atl_cpu_features() & ATL_CPU_AVX512_BF16) != 0;
    const int candidates[2] = {ATL_OP_KERNEL_REFERENCE, ATL_OP_KERNEL_AVX512};
    for (int i = 0; i < 2; ++i) {
        if (atl_op_kernel_available(candidates[i])) {
            kernels[nkernels++] = candidates[i];
        } else {
            printf("kernel %s: not available on this CPU, not checked\n", atl_op_kernel_name(candidates[i]));
        }
    }
    printf("threads %d, avx512_bf16 %s\n", atl_num_threads(), has_bf16_dot ? "yes" : "no");
    struct {
        const char* name;
        void (*run)(void);
    } parts[] = {{"error paths", error_paths}, {"attention", attention_cases}, {"linear", linear_cases},
                 {"conv2d", conv_cases}, {"norms", norm_cases}};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; ++i) {
        const double t0 = seconds();
        parts[i].run();
        printf("%s: %.2f s\n", parts[i].name, seconds() - t0);
    }
    printf("attention: largest |score| %.1f\n", attention_score_range);
    for (int i = 0; i < nstats; ++i) {
        if (!stats[i].self_tested) fprintf(stderr, "checker self-test never ran for %s\n", stats[i].key);
        CHECK(stats[i].self_tested);
        printf("%-52s %4d cases, max |err| %.3g (%.3g of atol %.0e max|ref| + rtol %.0e%s)\n", stats[i].key,
               stats[i].cases, stats[i].max_abs, stats[i].max_ratio, stats[i].t.atol_scale, stats[i].t.rtol,
               stats[i].slack ? " + slack" : "");
    }
    return test_result("test_op_kernels");
}
