// C entry points of the SD networks (atelier.h, "Stable Diffusion 1.x networks").
// Gradients are off here, not in the classes: training will call the classes with autograd.
#include <cmath>
#include <cstring>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "core/weights.hpp"
#include "sd/handles.hpp"

namespace {

template <typename T>
void require_handle(const T* h, const char* what) {
    atl::require(h != nullptr, ATL_ERR_INVALID_ARGUMENT, std::string(what) + " handle is NULL");
}

void require_args(bool ok, const char* what) { atl::require(ok, ATL_ERR_INVALID_ARGUMENT, what); }

}  // namespace

extern "C" {

// ---- text encoder

void atl_text_encoder_params_init(atl_text_encoder_params* p) {
    if (!p) return;
    std::memset(p, 0, sizeof(*p));
    p->compute_dtype = ATL_DTYPE_F32;
    p->num_heads = 12;  // SD1.x: CLIP ViT-L/14 text model
}

atl_status* atl_text_encoder_create(const atl_weights* w, const atl_text_encoder_params* p, atl_text_encoder** out) {
    ATL_TRY
    require_args(w != nullptr && p != nullptr && out != nullptr, "text encoder: weights, params and out must not be NULL");
    *out = nullptr;
    auto h = std::make_unique<atl_text_encoder>();
    h->impl = std::make_unique<atl::sd::TextEncoder>(w->tensors, *p);
    *out = h.release();
    ATL_CATCH
}

void atl_text_encoder_destroy(atl_text_encoder* te) { delete te; }

atl_status* atl_text_encoder_config(const atl_text_encoder* te, atl_text_encoder_params* out) {
    ATL_TRY
    require_handle(te, "text encoder");
    require_args(out != nullptr, "text encoder: out is NULL");
    *out = te->impl->config();
    ATL_CATCH
}

atl_status* atl_text_encoder_forward(atl_text_encoder* te, const atl_tensor_view* input_ids, int32_t clip_skip,
                                     atl_tensor_view* out) {
    ATL_TRY
    require_handle(te, "text encoder");
    torch::InferenceMode guard;
    torch::Tensor hidden = te->impl->forward(atl::wrap(input_ids, "input_ids"), clip_skip);
    atl::write_into(out, hidden, "text encoder output");
    ATL_CATCH
}

// ---- UNet

void atl_unet_params_init(atl_unet_params* p) {
    if (!p) return;
    std::memset(p, 0, sizeof(*p));
    p->compute_dtype = ATL_DTYPE_F32;
    p->num_heads = 8;  // SD1.x v1-inference.yaml
    p->num_head_channels = -1;
}

atl_status* atl_unet_create(const atl_weights* w, const atl_unet_params* p, atl_unet** out) {
    ATL_TRY
    require_args(w != nullptr && p != nullptr && out != nullptr, "unet: weights, params and out must not be NULL");
    *out = nullptr;
    auto h = std::make_unique<atl_unet>();
    h->impl = std::make_unique<atl::sd::UNet>(w->tensors, *p);
    *out = h.release();
    ATL_CATCH
}

void atl_unet_destroy(atl_unet* u) { delete u; }

atl_status* atl_unet_config(const atl_unet* u, atl_unet_params* out) {
    ATL_TRY
    require_handle(u, "unet");
    require_args(out != nullptr, "unet: out is NULL");
    *out = u->impl->config();
    ATL_CATCH
}

atl_status* atl_unet_forward(atl_unet* u, const atl_tensor_view* x, const atl_tensor_view* t,
                             const atl_tensor_view* context, atl_tensor_view* out) {
    ATL_TRY
    require_handle(u, "unet");
    torch::InferenceMode guard;
    torch::Tensor eps = u->impl->forward(atl::wrap(x, "x"), atl::wrap(t, "t"), atl::wrap(context, "context"));
    atl::write_into(out, eps, "unet output");
    ATL_CATCH
}

// ---- VAE

void atl_vae_params_init(atl_vae_params* p) {
    if (!p) return;
    std::memset(p, 0, sizeof(*p));
    p->compute_dtype = ATL_DTYPE_F32;
}

atl_status* atl_vae_create(const atl_weights* w, const atl_vae_params* p, atl_vae** out) {
    ATL_TRY
    require_args(w != nullptr && p != nullptr && out != nullptr, "vae: weights, params and out must not be NULL");
    *out = nullptr;
    auto h = std::make_unique<atl_vae>();
    h->impl = std::make_unique<atl::sd::Vae>(w->tensors, *p);
    *out = h.release();
    ATL_CATCH
}

void atl_vae_destroy(atl_vae* v) { delete v; }

atl_status* atl_vae_config(const atl_vae* v, atl_vae_params* out) {
    ATL_TRY
    require_handle(v, "vae");
    require_args(out != nullptr, "vae: out is NULL");
    *out = v->impl->config();
    ATL_CATCH
}

atl_status* atl_vae_decode(atl_vae* v, const atl_tensor_view* latents, float scale_factor, atl_tensor_view* out) {
    ATL_TRY
    require_handle(v, "vae");
    require_args(std::isfinite(scale_factor) && scale_factor > 0, "vae: scale_factor must be a positive number");
    torch::InferenceMode guard;
    torch::Tensor z = atl::wrap(latents, "latents");
    torch::Tensor image = v->impl->decode(scale_factor == 1.0f ? z : z.to(torch::kFloat) / scale_factor);
    atl::write_into(out, image, "vae decode output");
    ATL_CATCH
}

atl_status* atl_vae_encode(atl_vae* v, const atl_tensor_view* image, atl_tensor_view* mean_out,
                           atl_tensor_view* logvar_out) {
    ATL_TRY
    require_handle(v, "vae");
    torch::InferenceMode guard;
    auto [mean, logvar] = v->impl->encode(atl::wrap(image, "image"));
    atl::write_into(mean_out, mean, "vae encode mean");
    atl::write_into(logvar_out, logvar, "vae encode logvar");
    ATL_CATCH
}

}  // extern "C"
