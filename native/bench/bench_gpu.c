/* The GPU benchmark driver: full-size SD1.5 with random weights, no JVM (a GPU machine has none).
 *
 *   bench_gpu LAYOUT.tsv OUT.md [--size PIXELS] [--steps N] [--repeat N]
 *
 * LAYOUT.tsv is benchmarks/gpu/sd15_layout.tsv (RandomCheckpoint --layout-table): the weights are
 * drawn from it here (zero mean, standard deviation 1 / sqrt(fan_in) for weights and 0.02 for
 * embeddings, zeros and ones for biases and norms), from a fixed seed. On cuda:0 when atl_cuda_device_count() > 0, else on the
 * CPU (to try the driver on a small --size). Writes a Markdown report to OUT.md (and stdout):
 *   - UNet step at SIZE, batch 2, in F16, BF16 and F32 (median of --repeat after 2 warm-ups);
 *   - STEPS-step generation at SIZE, batch 1 and 8, F16, end to end (text encoder for prompt and
 *     negative prompt, the guided sampling loop, VAE decode), with each part's time;
 *   - LoRA: a UNet step, batch 8, with one rank-16 LoRA on every transformer Linear, merged vs
 *     unmerged (fused at run time), and 8 different LoRAs (one per sample) vs one for all.
 *   - catalog search: exact inner-product search over 800,000 x 128 in batches of 1,000 queries
 *     (k 5), the GPU Flat index against Atelier's CPU kernels (queries/s; a build with FAISS).
 *   - LoRA training step at SIZE, batch 1: rank 16 on every transformer Linear, forward, backward
 *     and AdamW update (median of --repeat after 2 warm-ups).
 * Times are wall clock around calls that return their result to the host (so the GPU work is
 * finished). */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atelier.h"
#include "bench_util.h"

#define MAX_TENSORS 2048

typedef struct spec {
    char name[200];
    char init[32];
    int ndim;
    int64_t shape[ATL_MAX_DIMS];
    void* data;
} spec;

static spec layout[MAX_TENSORS];
static int nspecs = 0;
static FILE* report = NULL;

static void die(const char* what, atl_status* s) {
    fprintf(stderr, "bench_gpu: %s: %s\n", what, s ? atl_status_message(s) : "failed");
    exit(1);
}

#define CALL(what, call)             \
    do {                             \
        atl_status* s_ = (call);     \
        if (s_ != NULL) die(what, s_); \
    } while (0)

static void out(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char* fmt, ...) {
    va_list a, b;
    va_start(a, fmt);
    va_copy(b, a);
    vprintf(fmt, a);
    vfprintf(report, fmt, b);
    va_end(a);
    va_end(b);
    fflush(stdout);
}

static int64_t numel(const spec* s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; ++d) n *= s->shape[d];
    return n;
}

/* xorshift64* and the sum of two uniforms on [-1/2, 1/2] (variance 1/6), scaled to variance 1:
 * random weights need the scale, not a Gaussian's shape, and a billion draws must be quick. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static inline float unit_normal(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    const uint64_t r = rng * 2685821657736338717ULL;
    const float a = (float)(r >> 40) * (1.0f / 16777216.0f), b = (float)((r >> 16) & 0xffffff) * (1.0f / 16777216.0f);
    return (a + b - 1.0f) * 2.4494897f;
}

static void read_layout(const char* path) {
    FILE* f = fopen(path, "r");
    if (!f) die(path, NULL);
    char line[512];
    while (fgets(line, sizeof line, f) && nspecs < MAX_TENSORS) {
        spec* s = &layout[nspecs];
        char dims[128];
        if (sscanf(line, "%199s %31s %127s", s->name, s->init, dims) != 3) continue;
        s->ndim = 0;
        for (char* tok = strtok(dims, ","); tok && s->ndim < ATL_MAX_DIMS; tok = strtok(NULL, ",")) {
            s->shape[s->ndim++] = atoll(tok);
        }
        ++nspecs;
    }
    fclose(f);
}

static void draw_weights(void) {
    for (int i = 0; i < nspecs; ++i) {
        spec* s = &layout[i];
        const int64_t n = numel(s);
        if (strcmp(s->init, "ARANGE") == 0) {
            int64_t* p = malloc((size_t)n * sizeof(int64_t));
            for (int64_t j = 0; j < n; ++j) p[j] = j % s->shape[s->ndim - 1];
            s->data = p;
            continue;
        }
        float* p = malloc((size_t)n * sizeof(float));
        if (!p) die("out of memory drawing the weights", NULL);
        const float std = strcmp(s->init, "WEIGHT") == 0 ? 1.0f / sqrtf((float)(n / s->shape[0]))
                          : strcmp(s->init, "EMBEDDING") == 0 ? 0.02f
                                                              : 0.0f;
        const float fill = strcmp(s->init, "ONE") == 0 ? 1.0f : 0.0f;
        for (int64_t j = 0; j < n; ++j) p[j] = std > 0 ? unit_normal() * std : fill;
        s->data = p;
    }
}

/* The network's tensors (prefix stripped) as a weight set over the drawn host buffers. */
static atl_weights* weights_for(const char* prefix) {
    atl_weights* w = NULL;
    CALL("weights", atl_weights_create(&w));
    const size_t n = strlen(prefix);
    for (int i = 0; i < nspecs; ++i) {
        if (strncmp(layout[i].name, prefix, n) != 0) continue;
        const int32_t dtype = strcmp(layout[i].init, "ARANGE") == 0 ? ATL_DTYPE_I64 : ATL_DTYPE_F32;
        atl_tensor_view v = view(layout[i].data, dtype, layout[i].ndim, layout[i].shape);
        CALL(layout[i].name, atl_weights_add(w, layout[i].name + n, &v));
    }
    return w;
}

static const char* dtype_name(int32_t d) { return d == ATL_DTYPE_F32 ? "F32" : d == ATL_DTYPE_F16 ? "F16" : "BF16"; }

typedef struct setup {
    int32_t device;
    int size, steps, repeat;
    atl_weights *unet_w, *vae_w, *text_w;
} setup;

static atl_unet* make_unet(const setup* st, int32_t dtype) {
    atl_unet_params p;
    atl_unet_params_init(&p);
    p.compute_dtype = dtype, p.device = st->device;
    atl_unet* u = NULL;
    const double t0 = now();
    CALL("unet create", atl_unet_create(st->unet_w, &p, &u));
    out("| UNet create, %s | %.2f s |\n", dtype_name(dtype), now() - t0);
    return u;
}

/* Median seconds of `repeat` calls of run(ctx, i), i = 0, 1, ..., after two warm-ups (i -2, -1). */
static double median_seconds(int repeat, void (*run)(void* ctx, int i), void* ctx) {
    double times[64];
    const int n = repeat < 64 ? repeat : 64;
    for (int i = -2; i < n; ++i) {
        const double t0 = now();
        run(ctx, i);
        if (i >= 0) times[i] = now() - t0;
    }
    qsort(times, (size_t)n, sizeof(double), compare_doubles);
    return times[n / 2];
}

typedef struct unet_call {
    atl_unet* u;
    atl_tensor_view x, t, c, e;
} unet_call;

static void run_unet(void* ctx, int i) {
    unet_call* k = ctx;
    (void)i;
    CALL("unet forward", atl_unet_forward(k->u, &k->x, &k->t, &k->c, &k->e));
}

/* The layer name (checkpoint name without the UNet prefix and ".weight") into layer[cap] when sp is
 * the weight of a Linear in one of the UNet's transformer blocks (kohya's usual LoRA targets); else 0. */
static int transformer_linear(const spec* sp, char* layer, size_t cap) {
    const char* prefix = "model.diffusion_model.";
    const size_t np = strlen(prefix);
    if (strncmp(sp->name, prefix, np) != 0 || sp->ndim != 2 || !strstr(sp->name, "transformer_blocks")) return 0;
    snprintf(layer, cap, "%.*s", (int)(strlen(sp->name) - np - strlen(".weight")), sp->name + np);
    return 1;
}

/* Median seconds of `repeat` UNet forwards of batch b (after two warm-ups). */
static double unet_step(const setup* st, atl_unet* u, int b) {
    const int64_t h = st->size / 8;
    int64_t xs[4] = {b, 4, h, h}, ts[1] = {b}, cs[3] = {b, 77, 768};
    float* x = calloc((size_t)(b * 4 * h * h), sizeof(float));
    float* e = calloc((size_t)(b * 4 * h * h), sizeof(float));
    float* t = calloc((size_t)b, sizeof(float));
    float* c = calloc((size_t)(b * 77 * 768), sizeof(float));
    for (int64_t i = 0; i < b * 4 * h * h; ++i) x[i] = unit_normal();
    for (int64_t i = 0; i < b * 77 * 768; ++i) c[i] = unit_normal();
    for (int i = 0; i < b; ++i) t[i] = 500.0f;
    unet_call call = {u, view(x, ATL_DTYPE_F32, 4, xs), view(t, ATL_DTYPE_F32, 1, ts), view(c, ATL_DTYPE_F32, 3, cs),
                      view(e, ATL_DTYPE_F32, 4, xs)};
    const double seconds = median_seconds(st->repeat, run_unet, &call);
    free(x), free(e), free(t), free(c);
    return seconds;
}

static void end_to_end(const setup* st, int batch) {
    atl_text_encoder_params tp;
    atl_text_encoder_params_init(&tp);
    tp.compute_dtype = ATL_DTYPE_F16, tp.device = st->device;
    atl_vae_params vp;
    atl_vae_params_init(&vp);
    vp.compute_dtype = ATL_DTYPE_F16, vp.device = st->device;
    atl_text_encoder* te = NULL;
    atl_vae* vae = NULL;
    atl_unet* u = NULL;
    if (st->device == ATL_DEVICE_CPU) tp.compute_dtype = vp.compute_dtype = ATL_DTYPE_BF16;
    CALL("text encoder create", atl_text_encoder_create(st->text_w, &tp, &te));
    CALL("vae create", atl_vae_create(st->vae_w, &vp, &vae));
    atl_unet_params up;
    atl_unet_params_init(&up);
    up.compute_dtype = tp.compute_dtype, up.device = st->device;
    CALL("unet create", atl_unet_create(st->unet_w, &up, &u));

    /* A tokenised prompt and an empty negative prompt: BOS, some ids, EOS padding. */
    int64_t ids[2][77];
    for (int r = 0; r < 2; ++r) {
        for (int i = 0; i < 77; ++i) ids[r][i] = 49407;
        ids[r][0] = 49406;
    }
    for (int i = 1; i < 8; ++i) ids[0][i] = 1000 + 37 * i;
    int64_t is[2] = {2, 77}, hs[3] = {2, 77, 768}, one[3] = {1, 77, 768};
    float* hidden = calloc(2 * 77 * 768, sizeof(float));
    const int64_t h = st->size / 8;
    int64_t ls[4] = {batch, 4, h, h}, ims[4] = {batch, 3, st->size, st->size};
    float* latents = calloc((size_t)(batch * 4 * h * h), sizeof(float));
    float* image = calloc((size_t)(batch * 3 * st->size * st->size), sizeof(float));
    atl_tensor_view iv = view(ids, ATL_DTYPE_I64, 2, is), hv = view(hidden, ATL_DTYPE_F32, 3, hs);
    atl_tensor_view cond = view(hidden, ATL_DTYPE_F32, 3, one), uncond = view(hidden + 77 * 768, ATL_DTYPE_F32, 3, one);
    atl_tensor_view lv = view(latents, ATL_DTYPE_F32, 4, ls), imv = view(image, ATL_DTYPE_F32, 4, ims);
    atl_sample_params p;
    atl_sample_params_init(&p);
    p.sampler = ATL_SAMPLER_EULER_A, p.steps = st->steps, p.width = p.height = st->size, p.batch = batch;
    for (int run = 0; run < 2; ++run) { /* the first run warms up (kernels, allocator) */
        const double t0 = now();
        CALL("text encoder", atl_text_encoder_forward(te, &iv, 1, &hv));
        const double t1 = now();
        CALL("generate", atl_generate(u, NULL, &p, &cond, &uncond, NULL, NULL, &lv));
        const double t2 = now();
        CALL("vae decode", atl_vae_decode(vae, &lv, 0.18215f, &imv));
        const double t3 = now();
        if (run == 1) {
            out("| %d-step %dx%d generation, batch %d, %s, end to end | %.3f s (text %.3f, UNet loop %.3f, VAE %.3f); %.2f images/s |\n",
                st->steps, st->size, st->size, batch, dtype_name(up.compute_dtype), t3 - t0, t1 - t0, t2 - t1, t3 - t2,
                batch / (t3 - t0));
        }
    }
    free(hidden), free(latents), free(image);
    atl_text_encoder_destroy(te);
    atl_vae_destroy(vae);
    atl_unet_destroy(u);
}

/* A rank-r LoRA on every 2-D weight of the UNet's transformer blocks, drawn with scale s. */
static atl_lora* make_lora(int rank, float s, float** buffers, int* nbuf) {
    atl_weights* w = NULL;
    CALL("lora weights", atl_weights_create(&w));
    for (int i = 0; i < nspecs; ++i) {
        const spec* sp = &layout[i];
        char layer[200], name[240];
        if (!transformer_linear(sp, layer, sizeof layer)) continue;
        const int64_t outf = sp->shape[0], inf = sp->shape[1];
        float* down = malloc((size_t)(rank * inf) * sizeof(float));
        float* up = malloc((size_t)(outf * rank) * sizeof(float));
        for (int64_t j = 0; j < rank * inf; ++j) down[j] = unit_normal() * s;
        for (int64_t j = 0; j < outf * rank; ++j) up[j] = unit_normal() * s;
        buffers[(*nbuf)++] = down, buffers[(*nbuf)++] = up;
        int64_t ds[2] = {rank, inf}, us[2] = {outf, rank};
        atl_tensor_view dv = view(down, ATL_DTYPE_F32, 2, ds), uv = view(up, ATL_DTYPE_F32, 2, us);
        snprintf(name, sizeof name, "%s.lora_down.weight", layer);
        CALL(name, atl_weights_add(w, name, &dv));
        snprintf(name, sizeof name, "%s.lora_up.weight", layer);
        CALL(name, atl_weights_add(w, name, &uv));
    }
    atl_lora* lora = NULL;
    CALL("lora create", atl_lora_create(w, &lora));
    atl_weights_destroy(w);
    return lora;
}

static void lora_section(const setup* st) {
    const int32_t dtype = st->device == ATL_DEVICE_CUDA ? ATL_DTYPE_F16 : ATL_DTYPE_BF16;
    atl_unet* u = make_unet(st, dtype);
    static float* buffers[8 * 512];
    int nbuf = 0;
    atl_lora* loras[8];
    for (int i = 0; i < 8; ++i) loras[i] = make_lora(16, 0.05f, buffers, &nbuf);
    const int b = 8;
    const double base = unet_step(st, u, b);
    CALL("merge", atl_unet_apply_lora(u, loras[0], 1.0f, ATL_LORA_MERGED, NULL));
    const double merged = unet_step(st, u, b);
    CALL("clear", atl_unet_clear_lora(u));
    int32_t slot = 0;
    CALL("unmerged", atl_unet_apply_lora(u, loras[0], 1.0f, ATL_LORA_UNMERGED, &slot));
    const double fused = unet_step(st, u, b);
    for (int i = 1; i < 8; ++i) CALL("slot", atl_unet_apply_lora(u, loras[i], 1.0f, ATL_LORA_UNMERGED, &slot));
    int32_t slots[8];
    for (int i = 0; i < 8; ++i) slots[i] = i;
    int64_t ss[1] = {8};
    atl_tensor_view sv = view(slots, ATL_DTYPE_I32, 1, ss);
    CALL("select", atl_unet_select_lora(u, &sv));
    const double eight = unet_step(st, u, b);
    for (int i = 0; i < 8; ++i) slots[i] = 0;
    CALL("select", atl_unet_select_lora(u, &sv));
    const double one = unet_step(st, u, b);
    out("| UNet step %dx%d batch %d, %s, no LoRA | %.4f s |\n", st->size, st->size, b, dtype_name(dtype), base);
    out("| ... one rank-16 LoRA merged into the weights | %.4f s |\n", merged);
    out("| ... the same LoRA unmerged (computed at run time) | %.4f s (%.2fx merged) |\n", fused, fused / merged);
    out("| ... 8 LoRAs loaded, all samples on one | %.4f s |\n", one);
    out("| ... 8 LoRAs loaded, a different one per sample | %.4f s (throughput %.2fx of one LoRA) |\n", eight, one / eight);
    for (int i = 0; i < 8; ++i) atl_lora_destroy(loras[i]);
    for (int i = 0; i < nbuf; ++i) free(buffers[i]);
    atl_unet_destroy(u);
}

typedef struct train_call {
    atl_lora_trainer* trainer;
    atl_tensor_view latents, context;
} train_call;

/* One training step: sample i + 2 (warm-ups are samples 0 and 1), update i + 3. */
static void run_training_step(void* ctx, int i) {
    train_call* k = ctx;
    float loss = 0;
    CALL("accumulate", atl_lora_trainer_accumulate(k->trainer, &k->latents, &k->context, NULL, i + 2, 1.0f, &loss));
    CALL("update", atl_lora_trainer_update(k->trainer, i + 3, 1e-4f, 0.0f));
}

static void training_section(const setup* st) {
    const int32_t dtype = st->device == ATL_DEVICE_CUDA ? ATL_DTYPE_F16 : ATL_DTYPE_BF16;
    atl_unet* u = make_unet(st, dtype);
    static atl_lora_module_spec specs[1024];
    static char names[1024][200];
    int64_t count = 0;
    for (int i = 0; i < nspecs && count < 1024; ++i) {
        if (!transformer_linear(&layout[i], names[count], sizeof names[count])) continue;
        specs[count] = (atl_lora_module_spec){names[count], ATL_LORA_UNET, 16, 16.0f};
        ++count;
    }
    atl_lora_train_params tp;
    atl_lora_train_params_init(&tp);
    tp.kernel = ATL_LORA_KERNEL_UNFUSED;
    static double acp[1000];
    int64_t steps = 1000;
    atl_tensor_view av = view(acp, ATL_DTYPE_F64, 1, &steps);
    CALL("schedule", atl_noise_schedule(0.00085, 0.012, 1000, &av)); /* SD1.x's */
    atl_lora_trainer* trainer = NULL;
    CALL("trainer", atl_lora_trainer_create(u, NULL, specs, count, &av, &tp, &trainer));
    const int64_t h = st->size / 8;
    int64_t ls[4] = {1, 4, h, h}, cs[3] = {1, 77, 768};
    float* latents = malloc(sizeof(float) * (size_t)(4 * h * h));
    float* ctx = malloc(sizeof(float) * 77 * 768);
    for (int64_t i = 0; i < 4 * h * h; ++i) latents[i] = unit_normal();
    for (int64_t i = 0; i < 77 * 768; ++i) ctx[i] = unit_normal();
    train_call call = {trainer, view(latents, ATL_DTYPE_F32, 4, ls), view(ctx, ATL_DTYPE_F32, 3, cs)};
    const double seconds = median_seconds(st->repeat, run_training_step, &call);
    out("| LoRA training step %dx%d batch 1, %s, rank 16 on %lld transformer Linears | %.4f s |\n", st->size, st->size,
        dtype_name(dtype), (long long)count, seconds);
    atl_lora_trainer_destroy(trainer);
    atl_unet_destroy(u);
    free(latents), free(ctx);
}

/* Queries per second of `batches` searches of 1,000 queries (k 5) on index (after one warm-up). */
static double search_rate(atl_index* index, float* q, int batches) {
    enum { NQ = 1000, K = 5 };
    static float s[NQ * K];
    static int64_t ids[NQ * K];
    int64_t qs[2] = {NQ, 128}, os[2] = {NQ, K};
    atl_tensor_view sv = view(s, ATL_DTYPE_F32, 2, os), iv = view(ids, ATL_DTYPE_I64, 2, os);
    double t0 = 0;
    for (int b = -1; b < batches; ++b) {
        if (b == 0) t0 = now();
        atl_tensor_view qv = view(q + (size_t)(b < 0 ? 0 : b) * NQ * 128, ATL_DTYPE_F32, 2, qs);
        CALL("search", atl_index_search(index, &qv, K, NULL, &sv, &iv));
    }
    return batches * NQ / (now() - t0);
}

static void search_section(const setup* st) {
    if (atl_faiss_version()[0] == 0) {
        out("| catalog search | not measured: this libatelier was built without FAISS |\n");
        return;
    }
    const int64_t n = 800000, d = 128, nq = 10 * 1000;
    float* x = malloc(sizeof(float) * (size_t)(n * d));
    float* q = malloc(sizeof(float) * (size_t)(nq * d));
    for (int64_t i = 0; i < n * d; ++i) x[i] = unit_normal();
    for (int64_t i = 0; i < nq * d; ++i) q[i] = unit_normal();
    int64_t xs[2] = {n, d}, qs[2] = {nq, d};
    atl_tensor_view xv = view(x, ATL_DTYPE_F32, 2, xs), qv = view(q, ATL_DTYPE_F32, 2, qs);
    CALL("normalize", atl_l2_normalize(&xv));
    CALL("normalize", atl_l2_normalize(&qv));
    atl_index_params p;
    atl_index_params_init(&p);
    p.dimension = (int32_t)d;
    atl_index *cpu = NULL, *dev = NULL;
    CALL("index", atl_index_create(&p, &cpu));
    CALL("add", atl_index_add(cpu, &xv, NULL));
    p.device = st->device;
    CALL("index", atl_index_create(&p, &dev));
    if (st->device == ATL_DEVICE_CPU) CALL("kernel", atl_index_set_search_kernel(dev, ATL_SEARCH_KERNEL_TORCH));
    CALL("add", atl_index_add(dev, &xv, NULL));
    const double on_device = search_rate(dev, q, 10), on_cpu = search_rate(cpu, q, 1);
    out("| exact search 800,000 x 128, batches of 1,000, k 5: %s (libtorch GEMM + top-k) | %.0f queries/s |\n",
        st->device == ATL_DEVICE_CUDA ? "cuda:0" : "cpu", on_device);
    out("| ... Atelier's CPU kernels (%d threads) | %.0f queries/s (device / CPU %.1fx) |\n", atl_num_threads(), on_cpu,
        on_device / on_cpu);
    atl_index_destroy(cpu);
    atl_index_destroy(dev);
    free(x), free(q);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_gpu LAYOUT.tsv OUT.md [--size PIXELS] [--steps N] [--repeat N]\n");
        return 2;
    }
    setup st = {ATL_DEVICE_CPU, 512, 20, 10, NULL, NULL, NULL};
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--size") == 0) st.size = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0) st.steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0) st.repeat = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_gpu: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (st.size < 64 || st.size % 64 != 0 || st.steps < 1 || st.repeat < 1) {
        fprintf(stderr, "bench_gpu: --size must be a multiple of 64, --steps and --repeat >= 1\n");
        return 2;
    }
    report = fopen(argv[2], "w");
    if (!report) die(argv[2], NULL);
    st.device = atl_cuda_device_count() > 0 ? ATL_DEVICE_CUDA : ATL_DEVICE_CPU;
    CALL("threads", atl_set_num_threads(atl_num_cores())); /* the CPU sides use every core */
    out("# bench_gpu: SD1.5 with random weights\n\nlibatelier %s (%s), libtorch %s; device %s\n\n", atl_version(),
        atl_build_info(), atl_torch_version(), st.device == ATL_DEVICE_CUDA ? "cuda:0" : "cpu (no CUDA device)");
    out("| measurement | result |\n|---|---|\n");
    double t0 = now();
    read_layout(argv[1]);
    draw_weights();
    out("| %d tensors drawn on the host | %.1f s |\n", nspecs, now() - t0);
    st.unet_w = weights_for("model.diffusion_model.");
    st.vae_w = weights_for("first_stage_model.");
    st.text_w = weights_for("cond_stage_model.transformer.text_model.");

    const int32_t dtypes[3] = {ATL_DTYPE_F16, ATL_DTYPE_BF16, ATL_DTYPE_F32};
    for (int d = st.device == ATL_DEVICE_CUDA ? 0 : 1; d < 3; ++d) {
        atl_unet* u = make_unet(&st, dtypes[d]);
        out("| UNet step %dx%d, batch 2, %s | %.4f s |\n", st.size, st.size, dtype_name(dtypes[d]), unet_step(&st, u, 2));
        atl_unet_destroy(u);
    }
    end_to_end(&st, 1);
    end_to_end(&st, 8);
    lora_section(&st);
    search_section(&st);
    training_section(&st);
    fclose(report);
    atl_weights_destroy(st.unet_w);
    atl_weights_destroy(st.vae_w);
    atl_weights_destroy(st.text_w);
    for (int i = 0; i < nspecs; ++i) free(layout[i].data);
    return 0;
}
