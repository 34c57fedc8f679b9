/* The SD network handles from plain C: destroy accepts NULL, NULL handles are refused, device and
 * compute settings are checked before any weight is read, and a weight set with missing,
 * mis-shaped and unexpected tensors gives ONE ATL_ERR_FORMAT status that lists every problem.
 * The fixture parity tests live on the Java side and in test_gpu_parity.c. */
#include <stdio.h>
#include <string.h>

#include "atelier.h"
#include "test_util.h"

static float zeros[4096];

static float with_nan[4096];

static void add_data(atl_weights* w, const char* name, float* data, int ndim, int64_t d0, int64_t d1) {
    atl_tensor_view v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.dtype = ATL_DTYPE_F32;
    v.ndim = ndim;
    v.shape[0] = d0;
    v.shape[1] = d1;
    v.strides[0] = ndim == 2 ? d1 : 1;
    v.strides[1] = 1;
    atl_status* s = atl_weights_add(w, name, &v);
    CHECK(s == NULL);
    atl_status_destroy(s);
}

static void add(atl_weights* w, const char* name, int ndim, int64_t d0, int64_t d1) {
    add_data(w, name, zeros, ndim, d0, d1);
}

/* Checks that s is a status with code whose message holds text, prints it and frees s. */
static void expect_error(atl_status* s, atl_code code, const char* text) {
    CHECK(atl_status_code(s) == code);
    const char* m = atl_status_message(s);
    CHECK(m != NULL && strstr(m, text) != NULL);
    printf("message: %s\n", m ? m : "(none)");
    atl_status_destroy(s);
}

static void expect_format_error(atl_status* s, const char* text) { expect_error(s, ATL_ERR_FORMAT, text); }

/* Device and compute settings: refused with a message naming the network, before the weights are
 * looked at (w is empty). */
static void check_placement(atl_weights* w) {
    atl_unet_params up;
    atl_unet* u = NULL;
    atl_unet_params_init(&up);
    CHECK(up.device == ATL_DEVICE_CPU && up.device_index == 0);
    up.compute_dtype = ATL_DTYPE_F16;
    expect_error(atl_unet_create(w, &up, &u), ATL_ERR_INVALID_ARGUMENT, "unet: compute_dtype must be F32 or BF16 (F16 runs on CUDA only)");
    atl_unet_params_init(&up);
    up.device = 7;
    expect_error(atl_unet_create(w, &up, &u), ATL_ERR_INVALID_ARGUMENT, "unet: unknown device 7");
    atl_unet_params_init(&up);
    up.device = ATL_DEVICE_CUDA;
    up.kernels = ATL_OP_KERNEL_AVX512;
    expect_error(atl_unet_create(w, &up, &u), ATL_ERR_INVALID_ARGUMENT, "kernels must be auto or torch");
    atl_vae_params vp;
    atl_vae* v = NULL;
    atl_vae_params_init(&vp);
    vp.device = ATL_DEVICE_CUDA;
    vp.device_index = -1;
    expect_error(atl_vae_create(w, &vp, &v), ATL_ERR_INVALID_ARGUMENT, "vae: device_index must be >= 0");
    /* A GPU that is not there: one past the last one this library sees. */
    atl_text_encoder_params tp;
    atl_text_encoder* te = NULL;
    atl_text_encoder_params_init(&tp);
    tp.device = ATL_DEVICE_CUDA;
    tp.device_index = atl_cuda_device_count();
    tp.compute_dtype = ATL_DTYPE_F16;
    expect_error(atl_text_encoder_create(w, &tp, &te), ATL_ERR_UNSUPPORTED, "text encoder: device cuda:");
    CHECK(u == NULL && v == NULL && te == NULL);
}

int main(void) {
    atl_text_encoder_destroy(NULL);
    atl_unet_destroy(NULL);
    atl_vae_destroy(NULL);

    atl_text_encoder_params tp;
    atl_text_encoder_params_init(&tp);
    CHECK(tp.num_heads == 12 && tp.compute_dtype == ATL_DTYPE_F32 && tp.width == 0);
    atl_unet_params up;
    atl_unet_params_init(&up);
    CHECK(up.num_heads == 8 && up.num_head_channels == -1 && up.num_levels == 0);

    {
        atl_weights* empty = NULL;
        CHECK(atl_weights_create(&empty) == NULL);
        check_placement(empty);
        atl_weights_destroy(empty);
    }

    /* NULL handles */
    atl_tensor_view none;
    memset(&none, 0, sizeof none);
    atl_status* s = atl_unet_forward(NULL, &none, &none, &none, &none);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(s);

    /* A broken text encoder: layer 0 has only fc1, final_layer_norm.weight is mis-shaped,
     * final_layer_norm.bias is missing and "bogus" is unexpected. */
    atl_weights* w = NULL;
    CHECK(atl_weights_create(&w) == NULL);
    add(w, "embeddings.token_embedding.weight", 2, 10, 8);
    add(w, "embeddings.position_embedding.weight", 2, 77, 8);
    add(w, "encoder.layers.0.mlp.fc1.weight", 2, 32, 8);
    add(w, "final_layer_norm.weight", 1, 7, 0);
    add(w, "bogus", 1, 3, 0);
    tp.num_heads = 2;
    atl_text_encoder* te = (atl_text_encoder*)0x1;
    s = atl_text_encoder_create(w, &tp, &te);
    CHECK(atl_status_code(s) == ATL_ERR_FORMAT);
    CHECK(te == NULL);
    const char* m = atl_status_message(s);
    CHECK(strstr(m, "missing encoder.layers.0.layer_norm1.weight") != NULL);
    CHECK(strstr(m, "missing final_layer_norm.bias") != NULL);
    CHECK(strstr(m, "final_layer_norm.weight: shape [7], expected [8]") != NULL);
    CHECK(strstr(m, "unexpected bogus") != NULL);
    printf("message: %s\n", m);
    atl_status_destroy(s);
    atl_weights_destroy(w);

    /* NaN and infinity in a weight are problems of the weight set, counted. */
    with_nan[3] = 0.0f / 0.0f;
    with_nan[70] = 1.0f / 0.0f;
    CHECK(atl_weights_create(&w) == NULL);
    add_data(w, "embeddings.token_embedding.weight", with_nan, 2, 10, 8);
    add(w, "embeddings.position_embedding.weight", 2, 77, 8);
    add(w, "encoder.layers.0.mlp.fc1.weight", 2, 32, 8);
    expect_format_error(atl_text_encoder_create(w, &tp, &te),
                        "embeddings.token_embedding.weight: 2 of 80 values are NaN or infinite");
    atl_weights_destroy(w);

    /* A Linear or convolution weight keeps its mapped bytes until the layer first packs it; the
     * NaN is found then, in the forward, naming the weight (a scan at creation would read every
     * page of a mapped checkpoint twice). A one-layer text encoder, width 8, MLP 32. */
    CHECK(atl_weights_create(&w) == NULL);
    add(w, "embeddings.token_embedding.weight", 2, 10, 8);
    add(w, "embeddings.position_embedding.weight", 2, 77, 8);
    {
        static const char* vectors8[] = {"layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight",
                                         "layer_norm2.bias",   "self_attn.q_proj.bias", "self_attn.k_proj.bias",
                                         "self_attn.v_proj.bias", "self_attn.out_proj.bias", "mlp.fc2.bias"};
        static const char* squares[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                        "self_attn.v_proj.weight", "self_attn.out_proj.weight"};
        char name[128];
        for (int i = 0; i < 9; ++i) {
            snprintf(name, sizeof name, "encoder.layers.0.%s", vectors8[i]);
            add(w, name, 1, 8, 0);
        }
        for (int i = 0; i < 4; ++i) {
            snprintf(name, sizeof name, "encoder.layers.0.%s", squares[i]);
            add(w, name, 2, 8, 8);
        }
    }
    add_data(w, "encoder.layers.0.mlp.fc1.weight", with_nan, 2, 32, 8);
    add(w, "encoder.layers.0.mlp.fc1.bias", 1, 32, 0);
    add(w, "encoder.layers.0.mlp.fc2.weight", 2, 8, 32);
    add(w, "final_layer_norm.weight", 1, 8, 0);
    add(w, "final_layer_norm.bias", 1, 8, 0);
    te = NULL;
    OK(atl_text_encoder_create(w, &tp, &te));
    {
        static int64_t ids[77];
        static float hidden[77 * 8];
        atl_tensor_view in, out;
        memset(&in, 0, sizeof in);
        memset(&out, 0, sizeof out);
        in.data = ids, in.dtype = ATL_DTYPE_I64, in.ndim = 2, in.shape[0] = 1, in.shape[1] = 77;
        out.data = hidden, out.dtype = ATL_DTYPE_F32, out.ndim = 3, out.shape[0] = 1, out.shape[1] = 77,
        out.shape[2] = 8;
        expect_format_error(atl_text_encoder_forward(te, &in, 1, &out),
                            "encoder.layers.0.mlp.fc1.weight: 2 of 256 values are NaN or infinite");
        atl_text_encoder_destroy(te);
    }
    atl_weights_destroy(w);

    /* A LoRA with a NaN is refused when it is read, naming the tensor; the same LoRA without
     * it is read. */
    CHECK(atl_weights_create(&w) == NULL);
    add_data(w, "lora_unet_x.lora_down.weight", with_nan, 2, 4, 16);
    add(w, "lora_unet_x.lora_up.weight", 2, 16, 4);
    atl_lora* lora = NULL;
    expect_format_error(atl_lora_create(w, &lora), "lora_unet_x.lora_down.weight: 1 of 64 values are NaN or infinite");
    CHECK(lora == NULL);
    atl_weights_destroy(w);
    CHECK(atl_weights_create(&w) == NULL);
    add(w, "lora_unet_x.lora_down.weight", 2, 4, 16);
    add(w, "lora_unet_x.lora_up.weight", 2, 16, 4);
    OK(atl_lora_create(w, &lora));
    CHECK(lora != NULL && atl_lora_count(lora) == 1);
    atl_lora_destroy(lora);
    atl_weights_destroy(w);

    return test_result("test_sd_networks");
}
