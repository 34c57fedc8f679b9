/* Samplers through the C API with analytic eps models:
 *  - eps = 0 (the denoiser returns x): every deterministic k-sampler leaves noise * sigma_max
 *    unchanged; DDIM scales it by sqrt(ac[0] / ac[t_last]) (the steps telescope).
 *  - data N(0, 1): D(x, sigma) = x / (1 + sigma^2), i.e. eps(x_in, t) = x_in * sigma / sqrt(1 + sigma^2).
 *    The probability-flow ODE maps x(sigma_max) to x(sigma_max) / sqrt(1 + sigma_max^2); Euler follows
 *    its own recurrence exactly; ancestral/SDE samplers end with unit variance.
 * Plus names, defaults, bad input, seeds, the initial noise (equal to torch.randn from the seed)
 * and cancellation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "test_util.h"

static int64_t numel(const atl_tensor_view* v) {
    int64_t n = 1;
    for (int i = 0; i < v->ndim; ++i) n *= v->shape[i];
    return n;
}

/* The SD1.5 schedule, as the library builds it for alphas_cumprod = NULL. */
static double ac[1000];
static double log_sigma[1000];

static void make_schedule(void) {
    double prod = 1.0;
    for (int i = 0; i < 1000; ++i) {
        double b = sqrt(0.00085) + (sqrt(0.012) - sqrt(0.00085)) * i / 999.0;
        prod *= 1.0 - b * b;
        ac[i] = (float)prod;
        log_sigma[i] = log(sqrt((1 - ac[i]) / ac[i]));
    }
}

static double t_to_sigma(double t) {
    int lo = (int)floor(t), hi = (int)ceil(t);
    double w = t - lo;
    return exp((1 - w) * log_sigma[lo] + w * log_sigma[hi]);
}

static int32_t eps_zero(void* user, const atl_tensor_view* x, const atl_tensor_view* t, atl_tensor_view* out) {
    (void)x;
    (void)t;
    (*(int*)user)++;
    memset(out->data, 0, (size_t)numel(out) * sizeof(float));
    return 0;
}

static int32_t eps_gaussian(void* user, const atl_tensor_view* x, const atl_tensor_view* t, atl_tensor_view* out) {
    (*(int*)user)++;
    int64_t per = numel(x) / x->shape[0];
    for (int64_t j = 0; j < x->shape[0]; ++j) {
        double sigma = t_to_sigma(((const float*)t->data)[j]);
        double k = sigma / sqrt(1 + sigma * sigma);
        for (int64_t i = 0; i < per; ++i) {
            ((float*)out->data)[j * per + i] = (float)(((const float*)x->data)[j * per + i] * k);
        }
    }
    return 0;
}

static int32_t eps_fails(void* user, const atl_tensor_view* x, const atl_tensor_view* t, atl_tensor_view* out) {
    (void)user, (void)x, (void)t, (void)out;
    return 7;
}

typedef struct {
    int calls;
    int cancel_at;
    int64_t last_done, last_total;
} progress_state;

static int32_t on_step(void* user, int64_t done, int64_t total) {
    progress_state* s = (progress_state*)user;
    s->calls++;
    if (done != s->calls) failures++, fprintf(stderr, "progress out of order: %lld\n", (long long)done);
    s->last_done = done;
    s->last_total = total;
    return s->cancel_at > 0 && done >= s->cancel_at;
}

#define C 4
#define H 8
#define W 8
#define N (C * H * W)

static atl_sample_params params(int sampler, int steps, uint64_t seed, int batch) {
    atl_sample_params p;
    atl_sample_params_init(&p);
    p.sampler = sampler;
    p.steps = steps;
    p.seed = seed;
    p.width = W * 8;
    p.height = H * 8;
    p.batch = batch;
    return p;
}

/* Runs sampler on eps_fn from the given noise (or the seed when noise is NULL). */
static atl_status* run(atl_eps_fn fn, const atl_sample_params* p, const float* noise, float* out) {
    int calls = 0;
    int64_t shape[4] = {p->batch, C, p->height / 8, p->width / 8};
    atl_tensor_view nv = view((float*)noise, ATL_DTYPE_F32, 4, shape), ov = view(out, ATL_DTYPE_F32, 4, shape);
    return atl_sample(fn, &calls, NULL, p, noise ? &nv : NULL, NULL, &ov);
}

static float max_abs_diff(const float* a, const float* b, int n) {
    float m = 0;
    for (int i = 0; i < n; ++i) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void sigmas(int schedule, int steps, float* out) {
    int64_t shape[1] = {steps + 1};
    atl_tensor_view ov = view(out, ATL_DTYPE_F32, 1, shape);
    atl_status* s = atl_sample_sigmas(NULL, schedule, steps, &ov);
    CHECK(s == NULL);
    atl_status_destroy(s);
}

static void test_names_and_defaults(void) {
    const char* names[] = {"ddim", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_sde_karras"};
    for (int i = 0; i < 7; ++i) {
        CHECK(strcmp(atl_sampler_name(i), names[i]) == 0);
        CHECK(atl_sampler_from_name(names[i]) == i);
    }
    CHECK(atl_sampler_name(7) == NULL && atl_sampler_name(-1) == NULL);
    CHECK(atl_sampler_from_name("Euler a") == -1 && atl_sampler_from_name(NULL) == -1);
    CHECK(atl_schedule_from_name("karras") == ATL_SCHEDULE_KARRAS);
    CHECK(strcmp(atl_schedule_name(ATL_SCHEDULE_DEFAULT), "default") == 0);
    atl_sample_params p;
    atl_sample_params_init(&p);
    CHECK(p.sampler == ATL_SAMPLER_EULER_A && p.steps == 20 && p.cfg == 7.0f && p.eta < 0);
    CHECK(p.width == 512 && p.height == 512 && p.batch == 1 && p.schedule == ATL_SCHEDULE_DEFAULT);
}

static void expect_invalid(atl_sample_params p, const char* fragment) {
    float out[N];
    atl_status* s = run(eps_zero, &p, NULL, out);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    if (strstr(atl_status_message(s), fragment) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", atl_status_message(s), fragment);
        failures++;
    }
    atl_status_destroy(s);
}

static void test_bad_input(void) {
    atl_sample_params p = params(ATL_SAMPLER_EULER, 4, 1, 1);
    p.width = 100;
    expect_invalid(p, "width must be a positive multiple of 8");
    p = params(ATL_SAMPLER_EULER, 4, 1, 1);
    p.height = 0;
    expect_invalid(p, "height");
    p = params(ATL_SAMPLER_EULER, 0, 1, 1);
    expect_invalid(p, "steps must be >= 1");
    p = params(ATL_SAMPLER_EULER, 4, 1, 1);
    p.cfg = NAN;
    expect_invalid(p, "cfg");
    p = params(42, 4, 1, 1);
    expect_invalid(p, "unknown sampler 42; known: ddim, euler");
    p = params(ATL_SAMPLER_DDIM, 4, 1, 1);
    p.schedule = ATL_SCHEDULE_KARRAS;
    expect_invalid(p, "ddim");
    p = params(ATL_SAMPLER_EULER, 4, 1, 0);
    p.batch = 0;
    expect_invalid(p, "batch");

    /* A noise tensor of the wrong shape, a failing callback. */
    p = params(ATL_SAMPLER_EULER, 4, 1, 1);
    float noise[2 * N], out[2 * N];
    int64_t shape[4] = {2, C, H, W};
    atl_tensor_view nv = view(noise, ATL_DTYPE_F32, 4, shape), ov = view(out, ATL_DTYPE_F32, 4, shape);
    int calls = 0;
    atl_status* s = atl_sample(eps_zero, &calls, NULL, &p, &nv, NULL, &ov);
    CHECK(atl_status_code(s) == ATL_ERR_SHAPE);
    atl_status_destroy(s);
    s = run(eps_fails, &p, NULL, out);
    CHECK(atl_status_code(s) == ATL_ERR_BACKEND);
    atl_status_destroy(s);
}

static void test_schedules(void) {
    float s[11];
    sigmas(ATL_SCHEDULE_DEFAULT, 10, s);
    /* SD1.5: sigma_max 14.6146, sigma_min 0.0291675 (torch: ((1 - ac) / ac) ** 0.5 in F32) */
    CHECK(fabsf(s[0] - 14.614642f) < 1e-4f);
    CHECK(s[10] == 0.0f);
    for (int i = 0; i < 10; ++i) CHECK(s[i] > s[i + 1]);
    /* k-diffusion get_sigmas: t = linspace(999, 0, 10), the last positive sigma at t = 0 */
    CHECK(fabsf(s[9] - 0.029167533f) < 1e-6f);
    /* t = 999 * 4/9 = 444: the sigma of timestep 444 */
    CHECK(fabsf(s[5] - (float)t_to_sigma(444.0)) < 1e-4f * s[5]);
    float k[11];
    sigmas(ATL_SCHEDULE_KARRAS, 10, k);
    CHECK(fabsf(k[0] - 14.614642f) < 1e-4f && fabsf(k[9] - 0.029167533f) < 1e-6f && k[10] == 0.0f);
    /* rho = 7: sigma_i^(1/7) is linear in i */
    double a = pow(k[0], 1 / 7.0), b = pow(k[9], 1 / 7.0);
    for (int i = 0; i < 10; ++i) CHECK(fabs(pow(k[i], 1 / 7.0) - (a + (b - a) * i / 9.0)) < 1e-5);
}

static void fill_noise(float* x, int n, unsigned seed) {
    srand(seed);
    for (int i = 0; i < n; ++i) {
        double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = (rand() + 1.0) / (RAND_MAX + 2.0);
        x[i] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

static void test_eps_zero(void) {
    float noise[N], out[N];
    fill_noise(noise, N, 1);
    const float sigma_max = 14.614642f;
    int samplers[] = {ATL_SAMPLER_EULER, ATL_SAMPLER_HEUN, ATL_SAMPLER_DPMPP_2M, ATL_SAMPLER_DPMPP_2M_KARRAS};
    for (int k = 0; k < 4; ++k) {
        atl_sample_params p = params(samplers[k], 7, 1, 1);
        atl_status* s = run(eps_zero, &p, noise, out);
        CHECK(s == NULL);
        atl_status_destroy(s);
        float err = 0;
        for (int i = 0; i < N; ++i) err = fmaxf(err, fabsf(out[i] - noise[i] * sigma_max));
        if (err > 1e-4f * sigma_max * 4) fprintf(stderr, "eps=0 %s: err %g\n", atl_sampler_name(samplers[k]), err);
        CHECK(err <= 1e-4f * sigma_max * 4);
    }
    /* DDIM, 4 steps: timesteps 1, 251, 501, 751; x_prev = sqrt(a_prev / a_t) x telescopes to
     * sqrt(ac[0] / ac[751]) x. */
    atl_sample_params p = params(ATL_SAMPLER_DDIM, 4, 1, 1);
    atl_status* s = run(eps_zero, &p, noise, out);
    CHECK(s == NULL);
    atl_status_destroy(s);
    double f = sqrt(ac[0] / ac[751]);
    float err = 0;
    for (int i = 0; i < N; ++i) err = fmaxf(err, fabsf(out[i] - (float)(noise[i] * f)));
    CHECK(err <= 1e-5f * (float)f * 4);
}

static void test_gaussian_data(void) {
    float noise[N], out[N];
    fill_noise(noise, N, 2);
    const double sigma_max = 14.614642;
    const double exact = sigma_max / sqrt(1 + sigma_max * sigma_max);  /* x(0) / noise */

    /* Euler: x_{i+1} = x_i * (1 + sigma_i / (1 + sigma_i^2) * (sigma_{i+1} - sigma_i)) */
    float sg[9];
    sigmas(ATL_SCHEDULE_DEFAULT, 8, sg);
    double f = sg[0];
    for (int i = 0; i < 8; ++i) f *= 1 + sg[i] / (1 + (double)sg[i] * sg[i]) * (sg[i + 1] - sg[i]);
    atl_sample_params p = params(ATL_SAMPLER_EULER, 8, 1, 1);
    atl_status* s = run(eps_gaussian, &p, noise, out);
    CHECK(s == NULL);
    atl_status_destroy(s);
    float err = 0;
    for (int i = 0; i < N; ++i) err = fmaxf(err, fabsf(out[i] - (float)(noise[i] * f)));
    CHECK(err < 1e-4f);

    /* Higher-order solvers converge to the ODE's solution; Euler only at first order. */
    int samplers[] = {ATL_SAMPLER_EULER, ATL_SAMPLER_HEUN, ATL_SAMPLER_DPMPP_2M_KARRAS, ATL_SAMPLER_DDIM};
    double errs[4];
    for (int k = 0; k < 4; ++k) {
        p = params(samplers[k], 50, 1, 1);
        s = run(eps_gaussian, &p, noise, out);
        CHECK(s == NULL);
        atl_status_destroy(s);
        /* DDIM starts at the unit noise at t = 981; with eps = sqrt(1 - a_t) x each step multiplies x by
         * sqrt(a_prev a_t) + sqrt((1 - a_prev)(1 - a_t)) (ddim.py p_sample_ddim, eta 0). */
        double target = exact;
        if (samplers[k] == ATL_SAMPLER_DDIM) {
            target = 1.0;
            for (int t = 1; t <= 981; t += 20) {
                double a_t = ac[t], a_prev = t == 1 ? ac[0] : ac[t - 20];
                target *= sqrt(a_prev * a_t) + sqrt((1 - a_prev) * (1 - a_t));
            }
        }
        double e = 0;
        for (int i = 0; i < N; ++i) e = fmax(e, fabs(out[i] - noise[i] * target));
        errs[k] = e;
        fprintf(stderr, "gaussian data, 50 steps, %s: max error %.3g\n", atl_sampler_name(samplers[k]), e);
    }
    CHECK(errs[1] < 5e-3 && errs[2] < 5e-3);
    CHECK(errs[1] < errs[0] / 5 && errs[2] < errs[0] / 5);
    CHECK(errs[3] < 1e-4);
}

/* The variance a stochastic sampler leaves on N(0,1) data, from its recurrence on the variance v of x.
 * Euler a (sample_euler_ancestral): x' = x (1 + sigma (down - sigma) / (1 + sigma^2)) + up z.
 * DDIM, eta 1 (p_sample_ddim with pred_x0 = sqrt(a) x, eps = sqrt(1 - a) x):
 * x' = (sqrt(a_prev a) + sqrt((1 - a_prev - s^2)(1 - a))) x + s z. Both lose variance at coarse
 * steps because x0 is replaced by its posterior mean. DPM++ SDE (second order) is expected near 1. */
static double expected_variance(int sampler, int steps) {
    if (sampler == ATL_SAMPLER_EULER_A) {
        float sg[64];
        sigmas(ATL_SCHEDULE_DEFAULT, steps, sg);
        double v = (double)sg[0] * sg[0];
        for (int i = 0; i < steps; ++i) {
            double s0 = sg[i], s1 = sg[i + 1];
            double up = fmin(s1, sqrt(s1 * s1 * (s0 * s0 - s1 * s1) / (s0 * s0)));
            double down = sqrt(s1 * s1 - up * up);
            double k = 1 + s0 * (down - s0) / (1 + s0 * s0);
            v = k * k * v + (s1 > 0 ? up * up : 0);
        }
        return v;
    }
    if (sampler == ATL_SAMPLER_DDIM) {
        int stride = 1000 / steps;
        double v = 1;
        for (int t = 1 + stride * (999 / stride); t >= 1; t -= stride) { /* range(0, 1000, stride) + 1 */
            double a = ac[t], a_prev = t == 1 ? ac[0] : ac[t - stride];
            double s2 = (1 - a_prev) / (1 - a) * (1 - a / a_prev);
            double c = sqrt(a_prev * a) + sqrt((1 - a_prev - s2) * (1 - a));
            v = c * c * v + s2;
        }
        return v;
    }
    return 1.0;
}

/* Stochastic samplers on N(0,1) data end with unit variance, and repeat exactly for a seed. */
static void test_stochastic(void) {
    enum { B = 2, HH = 32, WW = 32, M = B * C * HH * WW };
    static float a[M], b[M], c[M];
    int samplers[] = {ATL_SAMPLER_EULER_A, ATL_SAMPLER_DPMPP_SDE_KARRAS, ATL_SAMPLER_DDIM};
    for (int k = 0; k < 3; ++k) {
        atl_sample_params p = params(samplers[k], 30, 1234, B);
        p.width = WW * 8;
        p.height = HH * 8;
        if (samplers[k] == ATL_SAMPLER_DDIM) p.eta = 1.0f;
        atl_status* s = run(eps_gaussian, &p, NULL, a);
        CHECK(s == NULL);
        atl_status_destroy(s);
        s = run(eps_gaussian, &p, NULL, b);
        CHECK(s == NULL);
        atl_status_destroy(s);
        CHECK(memcmp(a, b, sizeof a) == 0);
        p.seed = 1235;
        s = run(eps_gaussian, &p, NULL, c);
        CHECK(s == NULL);
        atl_status_destroy(s);
        /* Element 1 of seed 1234 is element 0 of seed 1235: an image depends on its own seed only. */
        CHECK(memcmp(a + M / B, c, sizeof(float) * (M / B)) == 0);
        double sum = 0, sq = 0;
        for (int i = 0; i < M; ++i) sum += a[i], sq += (double)a[i] * a[i];
        double mean = sum / M, var = sq / M - mean * mean;
        double expected = expected_variance(samplers[k], 30);
        fprintf(stderr, "%s on N(0,1) data, 30 steps: mean %.4f var %.4f (expected %.4f)\n",
                atl_sampler_name(samplers[k]), mean, var, expected);
        CHECK(fabs(mean) < 0.05 && fabs(var - expected) < 0.05);
    }
}

/* Noise from the seed: element j is torch.randn((4, 8, 8), generator=torch.Generator().manual_seed(seed + j)). */
static void test_seed_noise(void) {
    float out[2 * N];
    /* eps = 0 with Euler returns noise * sigma_max: read the noise back. */
    atl_sample_params p = params(ATL_SAMPLER_EULER, 1, 42, 2);
    atl_status* s = run(eps_zero, &p, NULL, out);
    CHECK(s == NULL);
    atl_status_destroy(s);
    const float ref42[4] = {1.9269152879714966f, 1.4872840642929077f, 0.9007171988487244f, -2.1055209636688232f};
    const float ref43[4] = {-0.016603613272309303f, -0.4667949378490448f, 2.090897560119629f, 0.6149028539657593f};
    for (int i = 0; i < 4; ++i) {
        CHECK(fabsf(out[i] / 14.614642f - ref42[i]) < 1e-5f);
        CHECK(fabsf(out[N + i] / 14.614642f - ref43[i]) < 1e-5f);
    }
}

static void test_progress_and_cancel(void) {
    float noise[N], out[N], before[N];
    fill_noise(noise, N, 3);
    for (int i = 0; i < N; ++i) out[i] = before[i] = 123.0f;
    int64_t shape[4] = {1, C, H, W};
    atl_tensor_view nv = view(noise, ATL_DTYPE_F32, 4, shape), ov = view(out, ATL_DTYPE_F32, 4, shape);
    atl_sample_params p = params(ATL_SAMPLER_HEUN, 6, 1, 1);
    progress_state st = {0, 0, 0, 0};
    atl_progress pr = {on_step, &st};
    int calls = 0;
    atl_status* s = atl_sample(eps_gaussian, &calls, NULL, &p, &nv, &pr, &ov);
    CHECK(s == NULL);
    atl_status_destroy(s);
    CHECK(st.calls == 6 && st.last_done == 6 && st.last_total == 6);
    CHECK(calls == 11); /* Heun: two evaluations per step, one on the last */

    memcpy(out, before, sizeof out);
    progress_state st2 = {0, 2, 0, 0};
    atl_progress pr2 = {on_step, &st2};
    calls = 0;
    s = atl_sample(eps_gaussian, &calls, NULL, &p, &nv, &pr2, &ov);
    CHECK(atl_status_code(s) == ATL_ERR_CANCELLED);
    CHECK(strstr(atl_status_message(s), "after step 2 of 6") != NULL);
    atl_status_destroy(s);
    CHECK(st2.calls == 2 && calls == 4);
    CHECK(max_abs_diff(out, before, N) == 0); /* nothing written */

    /* DDIM with 3 steps runs range(0, 1000, 333) = 4 timesteps and says so. */
    p = params(ATL_SAMPLER_DDIM, 3, 1, 1);
    progress_state st3 = {0, 0, 0, 0};
    atl_progress pr3 = {on_step, &st3};
    s = atl_sample(eps_zero, &calls, NULL, &p, &nv, &pr3, &ov);
    CHECK(s == NULL);
    atl_status_destroy(s);
    CHECK(st3.calls == 4 && st3.last_total == 4);
}

/* eps that turns NaN from its third call on (an overflowing network). */
static int32_t eps_nan_from_third(void* user, const atl_tensor_view* x, const atl_tensor_view* t, atl_tensor_view* out) {
    const int calls = ++(*(int*)user);
    int ignored = 0;
    eps_zero(&ignored, x, t, out);
    if (calls >= 3) ((float*)out->data)[5] = NAN;
    return 0;
}

/* Latents that stop being finite stop the loop at that step with an error, on every sampler,
 * and nothing is written. */
static void test_non_finite_latents(void) {
    float noise[N], out[N], before[N];
    fill_noise(noise, N, 5);
    for (int i = 0; i < N; ++i) out[i] = before[i] = 123.0f;
    int64_t shape[4] = {1, C, H, W};
    atl_tensor_view nv = view(noise, ATL_DTYPE_F32, 4, shape), ov = view(out, ATL_DTYPE_F32, 4, shape);
    const int samplers[] = {ATL_SAMPLER_EULER, ATL_SAMPLER_EULER_A, ATL_SAMPLER_DDIM, ATL_SAMPLER_DPMPP_2M,
                            ATL_SAMPLER_DPMPP_SDE_KARRAS};
    for (int sampler : samplers) {
        atl_sample_params p = params(sampler, 6, 1, 1);
        int calls = 0;
        atl_status* s = atl_sample(eps_nan_from_third, &calls, NULL, &p, &nv, NULL, &ov);
        CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
        const char* m = atl_status_message(s);
        /* DPM++ SDE calls the model twice per step: NaN comes at its second step. */
        const char* step = sampler == ATL_SAMPLER_DPMPP_SDE_KARRAS ? "after step 2 of 6" : "after step 3 of ";
        CHECK(m != NULL && strstr(m, "no longer finite") != NULL && strstr(m, step) != NULL);
        if (m != NULL) printf("%s: %s\n", atl_sampler_name(sampler), m);
        atl_status_destroy(s);
        CHECK(max_abs_diff(out, before, N) == 0);
    }
}

int main(void) {
    make_schedule();
    test_non_finite_latents();
    test_names_and_defaults();
    test_bad_input();
    test_schedules();
    test_eps_zero();
    test_gaussian_data();
    test_stochastic();
    test_seed_noise();
    test_progress_and_cancel();
    atl_status* s = atl_generate(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(s);
    return test_result("test_samplers");
}
