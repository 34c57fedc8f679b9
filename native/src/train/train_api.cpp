// C entry points of LoRA training (atelier.h, "LoRA training").
#include <cstring>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "sd/handles.hpp"
#include "train/lora_trainer.hpp"

struct atl_lora_trainer {
    std::unique_ptr<atl::train::LoraTrainer> impl;
};

namespace {

const atl::train::LoraTrainer& get(const atl_lora_trainer* t) {
    atl::require(t != nullptr, ATL_ERR_INVALID_ARGUMENT, "lora trainer handle is NULL");
    return *t->impl;
}

atl::train::LoraTrainer& get(atl_lora_trainer* t) {
    atl::require(t != nullptr, ATL_ERR_INVALID_ARGUMENT, "lora trainer handle is NULL");
    return *t->impl;
}

}  // namespace

extern "C" {

void atl_lora_train_params_init(atl_lora_train_params* p) {
    if (!p) return;
    std::memset(p, 0, sizeof(*p));
    p->beta1 = 0.9f;
    p->beta2 = 0.999f;
    p->eps = 1e-8f;
    p->weight_decay = 0.01f;  // torch.optim.AdamW default
    p->clip_skip = 1;
}

atl_status* atl_lora_trainer_create(atl_unet* unet, atl_text_encoder* text_encoder, const atl_lora_module_spec* modules,
                                    int64_t count, const atl_tensor_view* alphas_cumprod,
                                    const atl_lora_train_params* params, atl_lora_trainer** out) {
    ATL_TRY
    atl::require(unet != nullptr && params != nullptr && out != nullptr && alphas_cumprod != nullptr,
                 ATL_ERR_INVALID_ARGUMENT, "lora trainer: unet, alphas_cumprod, params and out must not be NULL");
    atl::require(count >= 0 && (count == 0 || modules != nullptr), ATL_ERR_INVALID_ARGUMENT,
                 "lora trainer: modules is NULL");
    *out = nullptr;
    std::vector<atl_lora_module_spec> specs(modules, modules + count);
    auto h = std::make_unique<atl_lora_trainer>();
    h->impl = std::make_unique<atl::train::LoraTrainer>(unet->impl, text_encoder ? text_encoder->impl : nullptr, specs,
                                                        atl::wrap(alphas_cumprod, "alphas_cumprod"), *params);
    *out = h.release();
    ATL_CATCH
}

void atl_lora_trainer_destroy(atl_lora_trainer* trainer) { delete trainer; }

int64_t atl_lora_trainer_module_count(const atl_lora_trainer* trainer) {
    return trainer ? static_cast<int64_t>(trainer->impl->modules().size()) : 0;
}

atl_status* atl_lora_trainer_module_shape(const atl_lora_trainer* trainer, int64_t i, int32_t* ndim,
                                          int64_t* down_shape, int64_t* up_shape) {
    ATL_TRY
    const auto& t = get(trainer);
    atl::require(ndim && down_shape && up_shape, ATL_ERR_INVALID_ARGUMENT, "lora trainer: outputs must not be NULL");
    atl::require(i >= 0 && i < static_cast<int64_t>(t.modules().size()), ATL_ERR_INVALID_ARGUMENT,
                 "lora trainer: module index out of range");
    const auto& m = t.modules()[i];
    *ndim = static_cast<int32_t>(m.down_shape.size());
    for (size_t d = 0; d < 4; ++d) {
        down_shape[d] = d < m.down_shape.size() ? m.down_shape[d] : 0;
        up_shape[d] = d < m.up_shape.size() ? m.up_shape[d] : 0;
    }
    ATL_CATCH
}

atl_status* atl_lora_trainer_module_get(const atl_lora_trainer* trainer, int64_t i, atl_tensor_view* down_out,
                                        atl_tensor_view* up_out) {
    ATL_TRY
    const auto& t = get(trainer);
    atl::require(i >= 0 && i < static_cast<int64_t>(t.modules().size()), ATL_ERR_INVALID_ARGUMENT,
                 "lora trainer: module index out of range");
    atl::write_into(down_out, t.down(i), "lora_down");
    atl::write_into(up_out, t.up(i), "lora_up");
    ATL_CATCH
}

atl_status* atl_lora_trainer_accumulate(atl_lora_trainer* trainer, const atl_tensor_view* latents,
                                        const atl_tensor_view* context, const atl_tensor_view* input_ids,
                                        int64_t sample_index, float loss_scale, float* out_loss) {
    ATL_TRY
    auto& t = get(trainer);
    atl::require(latents != nullptr && out_loss != nullptr, ATL_ERR_INVALID_ARGUMENT,
                 "lora trainer: latents and out_loss must not be NULL");
    torch::Tensor ctx = context ? atl::wrap(context, "context") : torch::Tensor();
    torch::Tensor ids = input_ids ? atl::wrap(input_ids, "input_ids") : torch::Tensor();
    *out_loss = t.accumulate(atl::wrap(latents, "latents"), ctx, ids, sample_index, loss_scale);
    ATL_CATCH
}

atl_status* atl_lora_trainer_update(atl_lora_trainer* trainer, int64_t step, float unet_lr, float text_lr) {
    ATL_TRY
    get(trainer).update(step, unet_lr, text_lr);
    ATL_CATCH
}

int64_t atl_lora_trainer_state_size(const atl_lora_trainer* trainer, int32_t network) {
    if (!trainer || (network != ATL_LORA_UNET && network != ATL_LORA_TEXT_ENCODER)) return 0;
    return trainer->impl->state_size(network);
}

atl_status* atl_lora_trainer_state_get(const atl_lora_trainer* trainer, int32_t network, int32_t what,
                                       atl_tensor_view* out) {
    ATL_TRY
    atl::write_into(out, get(trainer).state(network, what), "lora trainer state");
    ATL_CATCH
}

atl_status* atl_lora_trainer_state_set(atl_lora_trainer* trainer, int32_t network, int32_t what,
                                       const atl_tensor_view* in) {
    ATL_TRY
    torch::Tensor v = atl::wrap(in, "state");
    atl::require(v.scalar_type() == torch::kFloat, ATL_ERR_SHAPE, "lora trainer: state must be F32");
    get(trainer).set_state(network, what, v);
    ATL_CATCH
}

}  // extern "C"
