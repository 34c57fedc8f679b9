// C entry points of the LoRA section of atelier.h: parsed adapter sets, applying them to the SD
// networks (merged or unmerged, per-sample selection) and the fused kernels on their own.
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>

#include "core/finite.hpp"
#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "core/weights.hpp"
#include "lora/adapter.hpp"
#include "lora/kernels.hpp"
#include "sd/handles.hpp"

struct atl_lora {
    struct Entry {
        std::string layer;
        torch::Tensor down, up;  // as stored (views of the caller's memory until applied)
        double alpha = 0;        // rank when the file has none
    };
    std::vector<Entry> entries;
    std::shared_ptr<const atl::TensorMap> tensors;  // keeps the views' owner alive
};

namespace {

constexpr const char* kDown = ".lora_down.weight";
constexpr const char* kUp = ".lora_up.weight";
constexpr const char* kAlpha = ".alpha";

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string join(const std::vector<std::string>& lines) {
    std::ostringstream o;
    for (size_t i = 0; i < lines.size(); ++i) o << (i ? "; " : "") << lines[i];
    return o.str();
}

// Checks every adapter against the network's layers first, then applies all of them: a LoRA that
// does not fit changes nothing.
int32_t apply_lora(std::vector<atl::lora::LayerRef> layers, const atl_lora* lora, float multiplier, int32_t mode,
              const std::function<int32_t()>& next_slot, const char* network) {
    atl::require(lora != nullptr, ATL_ERR_INVALID_ARGUMENT, "lora handle is NULL");
    atl::require(mode == ATL_LORA_MERGED || mode == ATL_LORA_UNMERGED, ATL_ERR_INVALID_ARGUMENT,
                 "lora: mode must be ATL_LORA_MERGED or ATL_LORA_UNMERGED, got " + std::to_string(mode));
    atl::require(std::isfinite(multiplier), ATL_ERR_INVALID_ARGUMENT, "lora: multiplier must be finite");
    std::map<std::string, atl::lora::LayerRef> by_name;
    for (const auto& l : layers) by_name.emplace(l.name, l);
    std::vector<std::string> unknown, shapes;
    struct Planned {
        atl::lora::LayerRef layer;
        atl::lora::Adapter adapter;
    };
    std::vector<Planned> plan;
    for (const atl_lora::Entry& e : lora->entries) {
        auto it = by_name.find(e.layer);
        if (it == by_name.end()) {
            unknown.push_back(e.layer);
            continue;
        }
        const atl::lora::LayerRef& layer = it->second;
        const torch::Tensor& w = *layer.weight;
        torch::Tensor down = e.down, up = e.up;
        const int64_t r = down.size(0);
        const int64_t out = w.size(0), in = w.size(1);
        bool ok = up.size(0) == out && up.size(1) == r;
        if (layer.conv) {
            const int64_t kh = w.size(2), kw = w.size(3);
            if (down.dim() == 2 && kh == 1 && kw == 1) down = down.reshape({r, down.size(1), 1, 1});
            if (up.dim() == 2) up = up.reshape({up.size(0), up.size(1), 1, 1});
            ok = ok && down.dim() == 4 && down.size(1) == in && down.size(2) == kh && down.size(3) == kw &&
                 up.dim() == 4 && up.size(2) == 1 && up.size(3) == 1;
        } else {
            if (down.dim() == 4 && down.size(2) == 1 && down.size(3) == 1) down = down.reshape({r, down.size(1)});
            if (up.dim() == 4 && up.size(2) == 1 && up.size(3) == 1) up = up.reshape({up.size(0), up.size(1)});
            ok = ok && down.dim() == 2 && down.size(1) == in && up.dim() == 2;
        }
        if (!ok) {
            shapes.push_back(e.layer + ": down " + atl::shape_string(e.down.sizes()) + " and up " +
                             atl::shape_string(e.up.sizes()) + " do not fit the layer's weight " +
                             atl::shape_string(w.sizes()));
            continue;
        }
        atl::lora::Adapter a;
        // Own copies in the compute dtype: the network must not depend on the file staying mapped.
        a.down = down.to(layer.compute, false, true).contiguous();
        a.up = up.to(layer.compute, false, true).contiguous();
        a.scale = static_cast<double>(multiplier) * e.alpha / static_cast<double>(r);
        plan.push_back({layer, a});
    }
    if (!shapes.empty() || !unknown.empty()) {
        std::string msg = std::string(network) + ": the LoRA does not fit this network (another architecture?): ";
        if (!unknown.empty()) {
            msg += std::to_string(unknown.size()) + " layer(s) not in the network: " + join(unknown);
            if (!shapes.empty()) msg += "; ";
        }
        if (!shapes.empty()) msg += std::to_string(shapes.size()) + " shape mismatch(es): " + join(shapes);
        atl::fail(shapes.empty() ? ATL_ERR_FORMAT : ATL_ERR_SHAPE, msg);
    }
    for (Planned& p : plan) {  // a network on a GPU keeps its adapters there too
        const torch::Device device = p.layer.weight->device();
        p.adapter.down = p.adapter.down.to(device);
        p.adapter.up = p.adapter.up.to(device);
    }
    if (mode == ATL_LORA_MERGED) {
        for (const Planned& p : plan) atl::lora::merge(p.layer, p.adapter);
        return -1;
    }
    const int32_t slot = next_slot();
    for (Planned& p : plan) {
        p.adapter.slot = slot;
        p.layer.lora->adapters.push_back(p.adapter);
    }
    return slot;
}

std::vector<int32_t> read_slots(const atl_tensor_view* view, int32_t count) {
    torch::Tensor t = atl::wrap(view, "slots");
    atl::require(t.dim() == 1 && (t.scalar_type() == torch::kInt || t.scalar_type() == torch::kLong), ATL_ERR_SHAPE,
                 "lora: slots must be I32 or I64 [b], got " + atl::shape_string(t.sizes()));
    torch::Tensor l = t.to(torch::kLong).contiguous();
    std::vector<int32_t> out;
    for (int64_t i = 0; i < l.size(0); ++i) {
        const int64_t s = l.data_ptr<int64_t>()[i];
        atl::require(s >= -1 && s < count, ATL_ERR_INVALID_ARGUMENT,
                     "lora: slot " + std::to_string(s) + " of sample " + std::to_string(i) +
                         " is neither -1 nor an applied unmerged LoRA (0.." + std::to_string(count - 1) + ")");
        out.push_back(static_cast<int32_t>(s));
    }
    return out;
}

void require_made(int32_t slot, int32_t made, const char* network) {
    atl::require(slot >= 0 && slot < made, ATL_ERR_INVALID_ARGUMENT,
                 std::string(network) + ": slot " + std::to_string(slot) +
                     " is not one an unmerged apply returned since the last clear (0.." + std::to_string(made - 1) + ")");
}

int32_t slot_count(const std::vector<atl::lora::LayerRef>& layers) {
    int32_t n = 0;
    for (const auto& l : layers) {
        for (const auto& a : l.lora->adapters) n = std::max(n, a.slot + 1);
    }
    return n;
}

}  // namespace

extern "C" {

const char* atl_lora_mode_name(int32_t mode) {
    switch (mode) {
        case ATL_LORA_MERGED: return "merged";
        case ATL_LORA_UNMERGED: return "unmerged";
        default: return nullptr;
    }
}

int32_t atl_lora_mode_from_name(const char* name) {
    if (!name) return -1;
    for (int32_t m = 0; m <= ATL_LORA_UNMERGED; ++m) {
        if (std::strcmp(name, atl_lora_mode_name(m)) == 0) return m;
    }
    return -1;
}

atl_status* atl_lora_create(const atl_weights* w, atl_lora** out) {
    ATL_TRY
    atl::require(w != nullptr && out != nullptr, ATL_ERR_INVALID_ARGUMENT, "lora: weights and out must not be NULL");
    *out = nullptr;
    auto h = std::make_unique<atl_lora>();
    h->tensors = w->tensors;
    std::map<std::string, atl_lora::Entry> by_layer;
    std::vector<std::string> problems;
    for (const auto& [name, t] : *w->tensors) {
        const char* suffix = ends_with(name, kDown) ? kDown : ends_with(name, kUp) ? kUp : ends_with(name, kAlpha) ? kAlpha : nullptr;
        if (!suffix) {
            problems.push_back("unexpected tensor " + name);
            continue;
        }
        const std::string layer = name.substr(0, name.size() - std::strlen(suffix));
        atl_lora::Entry& e = by_layer[layer];
        e.layer = layer;
        if (suffix == kAlpha) {
            if (t.numel() != 1) {
                problems.push_back(name + ": alpha must be a scalar, got " + atl::shape_string(t.sizes()));
            } else {
                e.alpha = t.to(torch::kDouble).reshape({}).item<double>();
                if (!std::isfinite(e.alpha)) problems.push_back(name + ": alpha is NaN or infinite");
            }
        } else if (t.dim() != 2 && t.dim() != 4) {
            problems.push_back(name + ": must be 2-D or 4-D, got " + atl::shape_string(t.sizes()));
        } else {
            // One pass over the file's values: NaN or infinity would reach every image it touches.
            if (const int64_t bad = atl::count_non_finite(t); bad != 0) {
                problems.push_back(name + ": " + std::to_string(bad) + " of " + std::to_string(t.numel()) +
                                   " values are NaN or infinite");
            }
            (suffix == kDown ? e.down : e.up) = t;
        }
    }
    for (auto& [layer, e] : by_layer) {
        if (!e.down.defined() || !e.up.defined()) {
            problems.push_back(layer + ": needs both lora_down and lora_up");
            continue;
        }
        if (e.down.size(0) != e.up.size(1) || e.down.size(0) < 1) {
            problems.push_back(layer + ": rank of down " + atl::shape_string(e.down.sizes()) + " and up " +
                               atl::shape_string(e.up.sizes()) + " disagree");
            continue;
        }
        if (e.alpha == 0) e.alpha = static_cast<double>(e.down.size(0));  // kohya: alpha defaults to rank
        h->entries.push_back(e);
    }
    atl::require(problems.empty(), ATL_ERR_FORMAT, "lora: " + join(problems));
    *out = h.release();
    ATL_CATCH
}

void atl_lora_destroy(atl_lora* lora) { delete lora; }

int64_t atl_lora_count(const atl_lora* lora) { return lora ? static_cast<int64_t>(lora->entries.size()) : 0; }

atl_status* atl_unet_apply_lora(atl_unet* u, const atl_lora* lora, float multiplier, int32_t mode,
                                int32_t* out_slot) {
    ATL_TRY
    atl::require(u != nullptr, ATL_ERR_INVALID_ARGUMENT, "unet handle is NULL");
    torch::NoGradGuard no_grad;
    const int32_t slot = apply_lora(u->impl->lora_layers(), lora, multiplier, mode, [&] { return u->impl->lora_slots().next(); }, "unet");
    if (out_slot) *out_slot = slot;
    ATL_CATCH
}

atl_status* atl_text_encoder_apply_lora(atl_text_encoder* te, const atl_lora* lora, float multiplier, int32_t mode,
                                        int32_t* out_slot) {
    ATL_TRY
    atl::require(te != nullptr, ATL_ERR_INVALID_ARGUMENT, "text encoder handle is NULL");
    torch::NoGradGuard no_grad;
    const int32_t slot = apply_lora(te->impl->lora_layers(), lora, multiplier, mode,
                               [&] { return te->impl->lora_slots().next(); }, "text encoder");
    if (out_slot) *out_slot = slot;
    ATL_CATCH
}

atl_status* atl_unet_apply_lora_to_slot(atl_unet* u, const atl_lora* lora, float multiplier, int32_t slot) {
    ATL_TRY
    atl::require(u != nullptr, ATL_ERR_INVALID_ARGUMENT, "unet handle is NULL");
    require_made(slot, u->impl->lora_slots().made(), "unet");
    torch::NoGradGuard no_grad;
    apply_lora(u->impl->lora_layers(), lora, multiplier, ATL_LORA_UNMERGED, [slot] { return slot; }, "unet");
    ATL_CATCH
}

atl_status* atl_text_encoder_apply_lora_to_slot(atl_text_encoder* te, const atl_lora* lora, float multiplier,
                                                int32_t slot) {
    ATL_TRY
    atl::require(te != nullptr, ATL_ERR_INVALID_ARGUMENT, "text encoder handle is NULL");
    require_made(slot, te->impl->lora_slots().made(), "text encoder");
    torch::NoGradGuard no_grad;
    apply_lora(te->impl->lora_layers(), lora, multiplier, ATL_LORA_UNMERGED, [slot] { return slot; }, "text encoder");
    ATL_CATCH
}

atl_status* atl_unet_remove_lora(atl_unet* u, int32_t slot) {
    ATL_TRY
    atl::require(u != nullptr, ATL_ERR_INVALID_ARGUMENT, "unet handle is NULL");
    require_made(slot, u->impl->lora_slots().made(), "unet");
    for (const auto& l : u->impl->lora_layers()) atl::lora::remove(l, slot);
    ATL_CATCH
}

atl_status* atl_text_encoder_remove_lora(atl_text_encoder* te, int32_t slot) {
    ATL_TRY
    atl::require(te != nullptr, ATL_ERR_INVALID_ARGUMENT, "text encoder handle is NULL");
    require_made(slot, te->impl->lora_slots().made(), "text encoder");
    for (const auto& l : te->impl->lora_layers()) atl::lora::remove(l, slot);
    ATL_CATCH
}

atl_status* atl_unet_clear_lora(atl_unet* u) {
    ATL_TRY
    atl::require(u != nullptr, ATL_ERR_INVALID_ARGUMENT, "unet handle is NULL");
    for (const auto& l : u->impl->lora_layers()) atl::lora::clear(l);
    u->impl->lora_slots().reset();
    ATL_CATCH
}

atl_status* atl_text_encoder_clear_lora(atl_text_encoder* te) {
    ATL_TRY
    atl::require(te != nullptr, ATL_ERR_INVALID_ARGUMENT, "text encoder handle is NULL");
    for (const auto& l : te->impl->lora_layers()) atl::lora::clear(l);
    te->impl->lora_slots().reset();
    ATL_CATCH
}

atl_status* atl_unet_select_lora(atl_unet* u, const atl_tensor_view* slots) {
    ATL_TRY
    atl::require(u != nullptr, ATL_ERR_INVALID_ARGUMENT, "unet handle is NULL");
    u->impl->lora_slots().select(slots ? read_slots(slots, slot_count(u->impl->lora_layers())) : std::vector<int32_t>{});
    ATL_CATCH
}

atl_status* atl_text_encoder_select_lora(atl_text_encoder* te, const atl_tensor_view* slots) {
    ATL_TRY
    atl::require(te != nullptr, ATL_ERR_INVALID_ARGUMENT, "text encoder handle is NULL");
    te->impl->lora_slots().select(slots ? read_slots(slots, slot_count(te->impl->lora_layers())) : std::vector<int32_t>{});
    ATL_CATCH
}

const char* atl_lora_kernel_name(int32_t kernel) {
    static const char* names[] = {"auto", "reference", "avx2", "avx512", "avx512_bf16", "unfused", "merged", "torch_f64", "cuda"};
    return kernel >= 0 && kernel <= ATL_LORA_KERNEL_CUDA ? names[kernel] : nullptr;
}

int32_t atl_lora_kernel_from_name(const char* name) {
    if (!name) return -1;
    for (int32_t k = 0; k <= ATL_LORA_KERNEL_CUDA; ++k) {
        if (std::strcmp(name, atl_lora_kernel_name(k)) == 0) return k;
    }
    return -1;
}

int32_t atl_lora_kernel_available(int32_t kernel) {
    if (kernel < 0 || kernel > ATL_LORA_KERNEL_CUDA) return 0;
    return atl::lora::kernel_available(static_cast<atl::lora::Kernel>(kernel)) ? 1 : 0;
}

atl_status* atl_lora_linear_forward(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                    const atl_tensor_view* bias, const atl_tensor_view* a, const atl_tensor_view* b,
                                    float scale, const atl_tensor_view* index, atl_tensor_view* y) {
    ATL_TRY
    atl::require(kernel >= 0 && kernel <= ATL_LORA_KERNEL_CUDA, ATL_ERR_INVALID_ARGUMENT,
                 "lora kernel: unknown kernel " + std::to_string(kernel));
    torch::NoGradGuard no_grad;
    torch::Tensor xt = atl::wrap(x, "x"), wt = atl::wrap(weight, "weight");
    torch::Tensor bt = bias ? atl::wrap(bias, "bias") : torch::Tensor();
    torch::Tensor at = atl::wrap(a, "a"), btt = atl::wrap(b, "b");
    if (at.dim() == 2) at = at.unsqueeze(0);
    if (btt.dim() == 2) btt = btt.unsqueeze(0);
    atl::require(at.dim() == 3 && btt.dim() == 3 && at.size(0) == btt.size(0), ATL_ERR_SHAPE,
                 "lora kernel: a must be [r, in] or [m, r, in] and b [out, r] or [m, out, r] with the same m");
    const int64_t m = at.size(0);
    std::vector<atl::lora::RowSegment> segments;
    torch::Tensor x2;
    if (!index) {
        atl::require(xt.dim() == 2 || xt.dim() == 3, ATL_ERR_SHAPE, "lora kernel: x must be 2-D or 3-D");
        x2 = xt.reshape({-1, xt.size(-1)});
        segments.push_back({0, x2.size(0), {{at[0], btt[0], scale, nullptr, {}}}});
    } else {
        torch::Tensor idx = atl::wrap(index, "index").to(torch::kLong).contiguous();
        atl::require(xt.dim() == 3 && idx.dim() == 1 && idx.size(0) == xt.size(0), ATL_ERR_SHAPE,
                     "lora kernel: with an index, x must be [b, L, in] and index I64 [b]");
        const int64_t rows = xt.size(1);
        x2 = xt.reshape({-1, xt.size(2)});
        for (int64_t i = 0; i < idx.size(0); ++i) {
            const int64_t k = idx.data_ptr<int64_t>()[i];
            atl::require(k >= -1 && k < m, ATL_ERR_INVALID_ARGUMENT, "lora kernel: index out of range");
            atl::lora::RowSegment s{i * rows, (i + 1) * rows, {}};
            if (k >= 0) s.terms.push_back({at[k], btt[k], scale, nullptr, {}});
            segments.push_back(std::move(s));
        }
    }
    torch::Tensor out = atl::lora::forward(static_cast<atl::lora::Kernel>(kernel), x2, wt, bt, segments);
    std::vector<int64_t> shape(xt.sizes().begin(), xt.sizes().end());
    shape.back() = wt.size(0);
    atl::write_into(y, out.reshape(shape), "lora kernel y");
    ATL_CATCH
}

atl_status* atl_lora_linear_backward(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                     const atl_tensor_view* a, const atl_tensor_view* b, float scale,
                                     const atl_tensor_view* dy, atl_tensor_view* dx, atl_tensor_view* da,
                                     atl_tensor_view* db) {
    ATL_TRY
    atl::require(kernel >= 0 && kernel <= ATL_LORA_KERNEL_CUDA, ATL_ERR_INVALID_ARGUMENT,
                 "lora kernel: unknown kernel " + std::to_string(kernel));
    atl::lora::Grads g = atl::lora::backward(static_cast<atl::lora::Kernel>(kernel), atl::wrap(x, "x"),
                                             atl::wrap(weight, "weight"), {atl::wrap(a, "a"), atl::wrap(b, "b"), scale, nullptr, {}},
                                             atl::wrap(dy, "dy"));
    atl::write_into(dx, g.dx, "lora backward dx");
    atl::write_into(da, g.da, "lora backward da");
    atl::write_into(db, g.db, "lora backward db");
    ATL_CATCH
}

}  // extern "C"
