/* The SD networks and the sampling loop on a device against the CPU, on the sd15-tiny fixture:
 * text encoder hidden states, UNet eps, VAE decode and the final latents of every sampler (noise
 * drawn from the seed, so the CPU-drawn noise reaches the device as in a real run), each within a
 * bound of max|ref| against the CPU's F32 result on Atelier's kernels.
 *
 * With a CUDA GPU (atl_cuda_device_count() > 0) the device networks run on cuda:0 in F32, F16 and
 * BF16. Without one the same comparisons run on the CPU with libtorch's ops (kernels TORCH) in F32
 * and BF16: the test always runs, and where a GPU is present it is the check that the CUDA path
 * computes what the CPU does. Catalog search likewise: a GPU Flat index (or, without a GPU, the
 * TORCH search kernel on the CPU) against Atelier's CPU exact search, in a build with FAISS; and
 * two LoRA training steps (F32), whose losses and updated adapters must agree.
 * Fixtures: $ATL_FIXTURES or ATL_FIXTURES_DIR (../shared/fixtures). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "safetensors_file.h"
#include "test_util.h"

/* Bounds on max|dev - ref| / max|ref|. F32: the two sides differ in summation order only (seen:
 * below 1e-4). F16 and BF16 round weights and activations to 11 and 8 significand bits (BF16 on
 * the CPU's libtorch ops, seen: 0.010-0.015 for one forward); a sampler's latents carry that through
 * 4-6 steps at guidance 7, which scales the eps difference by 7 (seen: 0.033-0.083 in BF16). F16
 * takes the bounds BF16 would have with its 8x finer rounding, doubled. */
static double bound_for(int32_t dtype, int sampled) {
    if (dtype == ATL_DTYPE_F32) return 1e-3;
    if (dtype == ATL_DTYPE_F16) return sampled ? 3e-2 : 1e-2;
    return sampled ? 0.15 : 4e-2;
}

static const char* dtype_name(int32_t d) { return d == ATL_DTYPE_F32 ? "F32" : d == ATL_DTYPE_F16 ? "F16" : "BF16"; }

static int64_t numel_of(const atl_tensor_view* v) {
    int64_t n = 1;
    for (int d = 0; d < v->ndim; ++d) n *= v->shape[d];
    return n;
}

/* A zeroed F32 CPU buffer shaped like v (contiguous); free with free(view.data). */
static atl_tensor_view alloc_like(const atl_tensor_view* v) {
    atl_tensor_view out = view(calloc((size_t)numel_of(v), sizeof(float)), ATL_DTYPE_F32, v->ndim, v->shape);
    return out;
}

/* Compares n floats; prints and checks max|a - b| / max|b| <= bound. */
static void compare(const char* what, const char* dtype, const float* a, const float* b, int64_t n, double bound) {
    double diff = 0, scale = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; ++i) {
        if (!isfinite(a[i])) finite = 0;
        const double d = fabs((double)a[i] - b[i]);
        if (d > diff) diff = d;
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    const double rel = scale > 0 ? diff / scale : diff;
    printf("%-28s %-5s max|diff| / max|ref| = %.3g (bound %.3g)\n", what, dtype, rel, bound);
    CHECK(finite);
    CHECK(rel <= bound);
}

typedef struct networks {
    atl_text_encoder* text;
    atl_unet* unet;
    atl_vae* vae;
} networks;

static int create(networks* n, atl_weights* const w[3], int32_t device, int32_t dtype, int32_t kernels) {
    memset(n, 0, sizeof *n);
    atl_text_encoder_params tp;
    atl_text_encoder_params_init(&tp);
    tp.num_heads = 2; /* the fixture's text model */
    tp.compute_dtype = dtype, tp.kernels = kernels, tp.device = device;
    atl_unet_params up;
    atl_unet_params_init(&up);
    up.num_heads = 4;
    up.compute_dtype = dtype, up.kernels = kernels, up.device = device;
    atl_vae_params vp;
    atl_vae_params_init(&vp);
    vp.compute_dtype = dtype, vp.kernels = kernels, vp.device = device;
    int before = failures;
    OK(atl_text_encoder_create(w[0], &tp, &n->text));
    OK(atl_unet_create(w[1], &up, &n->unet));
    OK(atl_vae_create(w[2], &vp, &n->vae));
    return failures == before;
}

static void destroy(networks* n) {
    atl_text_encoder_destroy(n->text);
    atl_unet_destroy(n->unet);
    atl_vae_destroy(n->vae);
}

/* Every output the comparisons need, from one set of networks. */
typedef struct outputs {
    atl_tensor_view hidden, eps, decoded;
    atl_tensor_view latents[7];
} outputs;

static const int kSteps[7] = {4, 6, 6, 6, 6, 6, 6};

static void run(const networks* n, const st_file* cases, outputs* o) {
    const atl_tensor_view* ids = st_find(cases, "text.input_ids");
    const atl_tensor_view* x = st_find(cases, "unet.x");
    const atl_tensor_view* t64 = st_find(cases, "unet.t");
    const atl_tensor_view* ctx = st_find(cases, "unet.context");
    const atl_tensor_view* z = st_find(cases, "vae.latents");
    const atl_tensor_view* decoded = st_find(cases, "vae.decoded");
    int64_t hidden_shape[3] = {ids->shape[0], ids->shape[1], ctx->shape[2]};
    o->hidden = view(calloc((size_t)(hidden_shape[0] * hidden_shape[1] * hidden_shape[2]), sizeof(float)),
                     ATL_DTYPE_F32, 3, hidden_shape);
    OK(atl_text_encoder_forward(n->text, ids, 1, &o->hidden));

    float t[2];
    for (int i = 0; i < 2; ++i) t[i] = (float)((const int64_t*)t64->data)[i];
    int64_t two = 2;
    atl_tensor_view tv = view(t, ATL_DTYPE_F32, 1, &two);
    o->eps = alloc_like(x);
    OK(atl_unet_forward(n->unet, x, &tv, ctx, &o->eps));

    o->decoded = alloc_like(decoded);
    OK(atl_vae_decode(n->vae, z, 0.18215f, &o->decoded));

    /* cond: the context's first row, uncond: its second (both [1, 77, d]). */
    atl_tensor_view cond = *ctx, uncond = *ctx;
    cond.shape[0] = uncond.shape[0] = 1;
    uncond.data = (float*)ctx->data + ctx->strides[0];
    for (int s = 0; s < 7; ++s) {
        atl_sample_params p;
        atl_sample_params_init(&p);
        p.sampler = s;
        p.steps = kSteps[s];
        p.cfg = 7.0f;
        p.seed = 1234;
        p.width = p.height = 64;
        int64_t shape[4] = {1, 4, 8, 8};
        o->latents[s] = view(calloc(256, sizeof(float)), ATL_DTYPE_F32, 4, shape);
        OK(atl_generate(n->unet, NULL, &p, &cond, &uncond, NULL, NULL, &o->latents[s]));
    }
}

static void release(outputs* o) {
    free(o->hidden.data), free(o->eps.data), free(o->decoded.data);
    for (int s = 0; s < 7; ++s) free(o->latents[s].data);
}

/* Inner-product search of 200 queries over 20,000 unit rows of 128 (k 5, then with a filter of
 * every third row): the device's ids equal the CPU's (random floats: no ties) and scores agree. */
static void compare_search(int gpu) {
    if (atl_faiss_version()[0] == 0) {
        printf("search: not compared (this libatelier was built without FAISS)\n");
        return;
    }
    enum { N = 20000, D = 128, NQ = 200, K = 5 };
    float* x = malloc(sizeof(float) * N * D);
    float* q = malloc(sizeof(float) * NQ * D);
    uint64_t r = 42;
    for (int64_t i = 0; i < (int64_t)N * D; ++i) r = r * 6364136223846793005ULL + 1, x[i] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
    for (int64_t i = 0; i < (int64_t)NQ * D; ++i) r = r * 6364136223846793005ULL + 1, q[i] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
    atl_tensor_view xv = view_rows(x, ATL_DTYPE_F32, 2, N, D), qv = view_rows(q, ATL_DTYPE_F32, 2, NQ, D);
    OK(atl_l2_normalize(&xv));
    OK(atl_l2_normalize(&qv));
    atl_index *cpu = NULL, *dev = NULL;
    atl_index_params p;
    atl_index_params_init(&p);
    p.dimension = D;
    OK(atl_index_create(&p, &cpu));
    p.device = gpu ? ATL_DEVICE_CUDA : ATL_DEVICE_CPU;
    OK(atl_index_create(&p, &dev));
    if (cpu == NULL || dev == NULL) return;
    if (!gpu) OK(atl_index_set_search_kernel(dev, ATL_SEARCH_KERNEL_TORCH));
    CHECK(atl_index_search_kernel(dev) == ATL_SEARCH_KERNEL_TORCH);
    OK(atl_index_add(cpu, &xv, NULL));
    OK(atl_index_add(dev, &xv, NULL));
    int64_t* allowed = malloc(sizeof(int64_t) * (N / 3));
    for (int i = 0; i < N / 3; ++i) allowed[i] = 3 * i;
    atl_tensor_view av = view_rows(allowed, ATL_DTYPE_I64, 1, N / 3, 0);
    atl_id_filter* filter = NULL;
    OK(atl_id_filter_create(&av, &filter));
    for (int f = 0; f < 2; ++f) {
        float ws[NQ * K], gs[NQ * K];
        int64_t wi[NQ * K], gi[NQ * K];
        atl_tensor_view wsv = view_rows(ws, ATL_DTYPE_F32, 2, NQ, K), wiv = view_rows(wi, ATL_DTYPE_I64, 2, NQ, K);
        atl_tensor_view gsv = view_rows(gs, ATL_DTYPE_F32, 2, NQ, K), giv = view_rows(gi, ATL_DTYPE_I64, 2, NQ, K);
        OK(atl_index_search(cpu, &qv, K, f ? filter : NULL, &wsv, &wiv));
        OK(atl_index_search(dev, &qv, K, f ? filter : NULL, &gsv, &giv));
        int ids = 0;
        for (int i = 0; i < NQ * K; ++i) ids += gi[i] != wi[i];
        printf("search %s%s: %d of %d ids differ\n", gpu ? "cuda:0" : "torch on the cpu", f ? ", filtered" : "", ids, NQ * K);
        CHECK(ids == 0);
        compare(f ? "search scores, filtered" : "search scores", "F32", gs, ws, NQ * K, 1e-4);
    }
    atl_id_filter_destroy(filter);
    atl_index_destroy(cpu);
    atl_index_destroy(dev);
    free(x), free(q), free(allowed);
}

/* Two training steps (accumulate, AdamW update) of rank-4 adapters on the UNet's first attention
 * projections; the loss of each step and the adapters after them. */
static void train(const networks* n, const st_file* cases, float losses[2], float* params, int64_t size) {
    const char* names[4] = {"input_blocks.1.1.transformer_blocks.0.attn1.to_q", "input_blocks.1.1.transformer_blocks.0.attn1.to_k",
                            "input_blocks.1.1.transformer_blocks.0.attn2.to_v", "input_blocks.1.1.proj_in"};
    atl_lora_module_spec specs[4];
    for (int i = 0; i < 4; ++i) specs[i] = (atl_lora_module_spec){names[i], ATL_LORA_UNET, 4, 4.0f};
    atl_lora_train_params tp;
    atl_lora_train_params_init(&tp);
    tp.seed = 7;
    tp.kernel = ATL_LORA_KERNEL_UNFUSED;
    /* Adam's first steps move every parameter by about lr whatever its gradient's size, so a
     * near-zero gradient's rounding noise would decide the direction: with eps 1 the update is
     * proportional to the gradient and the comparison measures the gradients themselves. */
    tp.eps = 1.0f;
    static double acp[1000];
    int64_t steps = 1000;
    atl_tensor_view av = view(acp, ATL_DTYPE_F64, 1, &steps);
    OK(atl_noise_schedule(0.00085, 0.012, 1000, &av));
    atl_lora_trainer* trainer = NULL;
    OK(atl_lora_trainer_create(n->unet, NULL, specs, 4, &av, &tp, &trainer));
    if (trainer == NULL) return;
    const atl_tensor_view* ctx = st_find(cases, "unet.context");
    atl_tensor_view cond = *ctx;
    cond.shape[0] = 1;
    for (int s = 0; s < 2; ++s) {
        OK(atl_lora_trainer_accumulate(trainer, st_find(cases, "vae.latents"), &cond, NULL, s, 1.0f, &losses[s]));
        OK(atl_lora_trainer_update(trainer, s + 1, 1e-2f, 0.0f));
    }
    CHECK(atl_lora_trainer_state_size(trainer, ATL_LORA_UNET) == size);
    atl_tensor_view pv = view_rows(params, ATL_DTYPE_F32, 1, size, 0);
    OK(atl_lora_trainer_state_get(trainer, ATL_LORA_UNET, ATL_LORA_STATE_PARAMETERS, &pv));
    atl_lora_trainer_destroy(trainer);
}

int main(void) {
    const char* root = getenv("ATL_FIXTURES") ? getenv("ATL_FIXTURES") : ATL_FIXTURES_DIR;
    char model_path[1024], cases_path[1024];
    snprintf(model_path, sizeof model_path, "%s/sd15-tiny/model/model.safetensors", root);
    snprintf(cases_path, sizeof cases_path, "%s/sd15-tiny/cases.safetensors", root);
    st_file model, cases;
    if (!st_open(&model, model_path) || !st_open(&cases, cases_path)) {
        fprintf(stderr, "test_gpu_parity: %s%s\n", model.error, cases.error);
        return 1;
    }
    atl_weights* w[3] = {st_weights(&model, "cond_stage_model.transformer.text_model."),
                         st_weights(&model, "model.diffusion_model."), st_weights(&model, "first_stage_model.")};
    CHECK(w[0] && w[1] && w[2]);

    const int gpu = atl_cuda_device_count() > 0;
    const int32_t device = gpu ? ATL_DEVICE_CUDA : ATL_DEVICE_CPU;
    const int32_t kernels = gpu ? ATL_OP_KERNEL_AUTO : ATL_OP_KERNEL_TORCH;
    printf("device: %s\n", gpu ? "cuda:0" : "cpu with libtorch's ops (no CUDA device)");

    networks ref;
    outputs want;
    if (!create(&ref, w, ATL_DEVICE_CPU, ATL_DTYPE_F32, ATL_OP_KERNEL_AUTO)) return test_result("test_gpu_parity");
    run(&ref, &cases, &want);
    /* 4 adapters of rank 4 on 32-wide layers (proj_in a 1x1 convolution): 4 x 4 x (32 + 32) values. */
    enum { kTrainSize = 4 * 4 * 64 };
    static float want_params[kTrainSize], got_params[kTrainSize];
    float want_loss[2] = {0, 0}, got_loss[2] = {0, 0};
    train(&ref, &cases, want_loss, want_params, kTrainSize);
    /* The CPU reference itself against the fixture (CompVis code): the baseline is right. */
    compare("cpu unet eps vs fixture", "F32", want.eps.data, st_find(&cases, "unet.eps")->data, numel_of(&want.eps), 1e-4);

    const int32_t dtypes[3] = {ATL_DTYPE_F32, gpu ? ATL_DTYPE_F16 : ATL_DTYPE_BF16, ATL_DTYPE_BF16};
    for (int d = 0; d < (gpu ? 3 : 2); ++d) {
        networks dev;
        outputs got;
        if (!create(&dev, w, device, dtypes[d], kernels)) continue;
        run(&dev, &cases, &got);
        const char* dn = dtype_name(dtypes[d]);
        if (dtypes[d] == ATL_DTYPE_F32) {
            train(&dev, &cases, got_loss, got_params, kTrainSize);
            compare("training losses", dn, got_loss, want_loss, 2, 1e-4);
            compare("trained adapters", dn, got_params, want_params, kTrainSize, 1e-4);
        }
        compare("text encoder hidden", dn, got.hidden.data, want.hidden.data, numel_of(&want.hidden), bound_for(dtypes[d], 0));
        compare("unet eps", dn, got.eps.data, want.eps.data, numel_of(&want.eps), bound_for(dtypes[d], 0));
        compare("vae decode", dn, got.decoded.data, want.decoded.data, numel_of(&want.decoded), bound_for(dtypes[d], 0));
        for (int s = 0; s < 7; ++s) {
            char what[64];
            snprintf(what, sizeof what, "latents %s", atl_sampler_name(s));
            compare(what, dn, got.latents[s].data, want.latents[s].data, 256, bound_for(dtypes[d], 1));
        }
        release(&got);
        destroy(&dev);
    }
    release(&want);
    destroy(&ref);
    compare_search(gpu);
    for (int i = 0; i < 3; ++i) atl_weights_destroy(w[i]);
    st_close(&model);
    st_close(&cases);
    return test_result("test_gpu_parity");
}
