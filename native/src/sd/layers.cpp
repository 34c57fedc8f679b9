#include "sd/layers.hpp"

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/kernels.hpp"
#include "ops/attention.hpp"
#include "ops/conv.hpp"
#include "ops/geglu.hpp"
#include "ops/norm.hpp"
#include "ops/kernel.hpp"
#include "ops/linear.hpp"
#include "ops/profile.hpp"

#include <algorithm>

namespace atl::sd {

namespace {

// Atelier's kernels when they apply to every input given, else libtorch's.
ops::Kernel kernel_for(std::initializer_list<const torch::Tensor*> inputs) {
    for (const torch::Tensor* t : inputs) {
        if (t->defined() && !ops::own_kernels_apply(*t)) return ops::Kernel::Torch;
    }
    return ops::current_kernel();
}

// A run of consecutive samples of a batch that all select some of a layer's adapters, or none.
struct SampleRun {
    int64_t begin, end;
    bool adapters;
};

// The batch's samples in runs, under the current per-sample LoRA selection; one run of every
// sample (adapters: true) when there is no selection, or an adapter applies to every sample.
std::vector<SampleRun> sample_runs(const lora::LoraState& state, int64_t batch) {
    const std::vector<int32_t>* slots = lora::current_sample_slots();
    const bool everyone = std::any_of(state.adapters.begin(), state.adapters.end(),
                                      [](const lora::Adapter& a) { return a.slot == lora::kEverySample; });
    if (!slots || everyone || static_cast<int64_t>(slots->size()) != batch || torch::GradMode::is_enabled()) {
        return {{0, batch, true}};
    }
    std::vector<SampleRun> runs;
    for (int64_t i = 0; i < batch; ++i) {
        const int32_t slot = (*slots)[i];
        const bool uses = std::any_of(state.adapters.begin(), state.adapters.end(),
                                      [&](const lora::Adapter& a) { return a.slot == slot; });
        if (runs.empty() || runs.back().adapters != uses) {
            runs.push_back({i, i + 1, uses});
        } else {
            runs.back().end = i + 1;
        }
    }
    return runs;
}

// The layer's output over the batch's sample runs: base(begin, end) for the samples that select
// none of its adapters, exactly as the layer computes without adapters (its own kernel, bias and
// residual fused), and adapted(begin, end) for the others under their part of the selection, so
// that a sample without LoRAs batched with LoRA samples gets the bits it gets alone.
template <typename Base, typename Adapted>
torch::Tensor by_sample_runs(const lora::LoraState& state, int64_t batch, Base&& base, Adapted&& adapted) {
    const std::vector<SampleRun> runs = sample_runs(state, batch);
    if (runs.size() == 1) return runs[0].adapters ? adapted(0, batch) : base(0, batch);
    const std::vector<int32_t> slots = *lora::current_sample_slots();
    std::vector<torch::Tensor> parts;
    for (const SampleRun& r : runs) {
        if (!r.adapters) {
            parts.push_back(base(r.begin, r.end));
            continue;
        }
        lora::SampleSlotsScope part(std::vector<int32_t>(slots.begin() + r.begin, slots.begin() + r.end));
        parts.push_back(adapted(r.begin, r.end));
    }
    return torch::cat(parts, 0);
}

// t's samples [begin, end), or t itself when undefined.
torch::Tensor samples(const torch::Tensor& t, int64_t begin, int64_t end) {
    return t.defined() ? t.narrow(0, begin, end - begin) : t;
}

}  // namespace

torch::Tensor Linear::apply(const torch::Tensor& x, const torch::Tensor& residual) const {
    ops::OpScope scope(ops::OpClass::Linear, 2.0 * x.numel() * weight.size(0));
    auto base = [&](int64_t begin, int64_t end) {
        const torch::Tensor xs = samples(x, begin, end), rs = samples(residual, begin, end);
        // Atelier's GEMM takes F32 activations (BF16 activations are training's: libtorch).
        const ops::Kernel k = xs.scalar_type() == torch::kFloat ? kernel_for({&xs, &rs}) : ops::Kernel::Torch;
        return ops::linear(k, xs, weight, bias, compute, rs, &forms);
    };
    if (lora.adapters.empty()) return base(0, x.size(0));
    return by_sample_runs(lora, x.size(0), base, [&](int64_t begin, int64_t end) {
        return adapted(samples(x, begin, end), samples(residual, begin, end));
    });
}

torch::Tensor Linear::apply_geglu(const torch::Tensor& x) const {
    if (lora.adapters.empty() && ops::resolve(kernel_for({&x})) == ops::Kernel::Avx512 &&
        ops::linear_geglu_fits(x, weight)) {
        // Counted as a Linear: the gating is a few percent of the projection's time.
        ops::OpScope scope(ops::OpClass::Linear, 2.0 * x.numel() * weight.size(0));
        return ops::linear_geglu(x, weight, bias, compute, forms);
    }
    return geglu(apply(x));
}

torch::Tensor Linear::adapted(const torch::Tensor& x, const torch::Tensor& residual) const {
    // libtorch's ops in the compute dtype (F32 activations meet BF16 weights when a layer with
    // adapters runs inside an inference on Atelier's kernels).
    // The layer's packed weight serves the F32 LoRA kernel's base product (packed once, not per call).
    const lora::avx512::PackedRight* packed =
        compute == torch::kFloat && !torch::GradMode::is_enabled() && ops::kernel_available(ops::Kernel::Avx512)
            ? &forms.packed(weight, compute)
            : nullptr;
    torch::Tensor y = lora::linear(x.to(compute), forms.dense(weight, compute), bias, lora, packed).to(x.scalar_type());
    return residual.defined() ? y + residual : y;
}

torch::Tensor Conv2d::apply(const torch::Tensor& x, const torch::Tensor& sample_bias, torch::Tensor&& residual) const {
    const torch::Tensor given = std::move(residual);  // this frame now holds the caller's only reference
    return apply(x, sample_bias, given, true);
}

torch::Tensor Conv2d::apply(const torch::Tensor& x, const torch::Tensor& sample_bias, const torch::Tensor& residual) const {
    return apply(x, sample_bias, residual, false);
}

torch::Tensor Conv2d::apply(const torch::Tensor& x, const torch::Tensor& sample_bias, const torch::Tensor& residual,
                            bool overwrite_residual) const {
    const int64_t k = weight.size(2), oh = (x.size(1) + 2 * padding - k) / stride + 1,
                  ow = (x.size(2) + 2 * padding - weight.size(3)) / stride + 1;
    ops::OpScope scope(ops::OpClass::Convolution, 2.0 * x.size(0) * oh * ow * weight.numel());
    const ops::ConvSpec spec{stride, padding, bf16_winograd};
    if (lora.adapters.empty()) {
        // The tensors as given: a narrowed view of the residual would share its storage, and the op
        // could no longer write y into the residual's memory.
        return ops::conv2d_nhwc(kernel_for({&x, &sample_bias, &residual}), x, weight, bias, spec, compute, sample_bias,
                                residual, &forms, overwrite_residual);
    }
    auto base = [&](int64_t begin, int64_t end) {
        const torch::Tensor xs = samples(x, begin, end), bs = samples(sample_bias, begin, end),
                            rs = samples(residual, begin, end);
        return ops::conv2d_nhwc(kernel_for({&xs, &bs, &rs}), xs, weight, bias, spec, compute, bs, rs, &forms);
    };
    return by_sample_runs(lora, x.size(0), base, [&](int64_t begin, int64_t end) {
        return adapted(samples(x, begin, end), samples(sample_bias, begin, end), samples(residual, begin, end), oh, ow);
    });
}

torch::Tensor Conv2d::adapted(const torch::Tensor& x, const torch::Tensor& sample_bias, const torch::Tensor& residual,
                              int64_t oh, int64_t ow) const {
    if (!torch::GradMode::is_enabled() && lora::pointwise(weight, stride, padding, lora)) {
        // A 1x1 convolution on channels-last x is a Linear over the pixels: its adapters run on
        // the fused LoRA GEMM as a Linear's do (SD1.x's proj_in and proj_out), where each
        // sample's rows come out as they would alone; libtorch's convolutions below change
        // with the batch, and a sample's image would depend on the requests batched with it.
        const int64_t b = x.size(0), out = weight.size(0);
        const lora::avx512::PackedRight* packed =
            compute == torch::kFloat && ops::kernel_available(ops::Kernel::Avx512) ? &forms.packed(weight, compute)
                                                                                    : nullptr;
        torch::Tensor y = lora::linear(x.to(compute).reshape({b, oh * ow, x.size(3)}),
                                       forms.dense(weight, compute).reshape({out, weight.size(1)}), bias, lora, packed)
                              .reshape({b, oh, ow, out})
                              .to(x.scalar_type());
        if (sample_bias.defined()) y = y + sample_bias.view({b, 1, 1, out}).to(y.scalar_type());
        return residual.defined() ? y + residual : y;
    }
    // LoCon adapters: libtorch's convolutions on the channels-first view.
    torch::Tensor y = lora::conv2d(x.to(compute).permute({0, 3, 1, 2}), forms.dense(weight, compute), bias, stride, padding,
                                   lora)
                          .permute({0, 2, 3, 1})
                          .to(x.scalar_type());
    if (sample_bias.defined()) y = y + sample_bias.view({x.size(0), 1, 1, weight.size(0)}).to(y.scalar_type());
    if (residual.defined()) y = y + residual;
    return y.contiguous();
}

torch::Tensor GroupNorm::apply(const torch::Tensor& x, bool silu) const {
    ops::OpScope scope(ops::OpClass::Normalisation, 0);
    return ops::group_norm_nhwc(kernel_for({&x}), x, groups, weight, bias, eps, silu);
}

torch::Tensor GroupNorm::apply(torch::Tensor&& x, bool silu) const {
    ops::OpScope scope(ops::OpClass::Normalisation, 0);
    const torch::Tensor given = std::move(x);  // this frame now holds the caller's only reference
    return ops::group_norm_nhwc(kernel_for({&given}), given, groups, weight, bias, eps, silu, true);
}

torch::Tensor LayerNorm::apply(const torch::Tensor& x) const {
    ops::OpScope scope(ops::OpClass::Normalisation, 0);
    return ops::layer_norm(kernel_for({&x}), x, weight, bias, eps);
}

torch::Tensor geglu(const torch::Tensor& h) {
    ops::OpScope scope(ops::OpClass::Elementwise, 0);
    return ops::geglu(kernel_for({&h}), h);
}

torch::Tensor to_channels_last(const torch::Tensor& x) {
    ops::OpScope scope(ops::OpClass::Layout, 0);
    return x.permute({0, 2, 3, 1}).contiguous();
}

torch::Tensor to_channels_first(const torch::Tensor& x) {
    ops::OpScope scope(ops::OpClass::Layout, 0);
    return x.permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor upsample_nearest2x(const torch::Tensor& x) {
    ops::OpScope scope(ops::OpClass::Layout, 0);
    const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
    return x.view({b, h, 1, w, 1, c}).expand({b, h, 2, w, 2, c}).reshape({b, 2 * h, 2 * w, c});
}

// Output index j takes input index floor(j * n / out). For out = 2n that is floor(j / 2); for
// out = 2n - 1 it is floor(j / 2) as well for every j < out (j = 2k + 1 gives
// k + (k + n) / (2n - 1) with k + n < 2n - 1), so the result is the 2x upsample without its last
// row or column.
torch::Tensor upsample_nearest_to(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
    const int64_t h = x.size(1), w = x.size(2);
    require((out_h == 2 * h || out_h == 2 * h - 1) && (out_w == 2 * w || out_w == 2 * w - 1), ATL_ERR_SHAPE,
            "upsample: cannot interpolate " + shape_string(x.sizes()) + " to " + std::to_string(out_h) + "x" +
                std::to_string(out_w) + " (each side must be twice the input's or one less)");
    torch::Tensor up = upsample_nearest2x(x);
    if (out_h == 2 * h && out_w == 2 * w) return up;
    ops::OpScope scope(ops::OpClass::Layout, 0);
    return up.narrow(1, 0, out_h).narrow(2, 0, out_w).contiguous();
}

Linear load_linear(WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool bias) {
    Linear l;
    l.name = name;
    l.compute = w.compute();
    l.weight = w.take_stored(name + ".weight", {out, in});
    l.forms.set_name(w.component() + ": " + name + ".weight");
    if (bias) l.bias = w.take(name + ".bias", {out});
    return l;
}

Conv2d load_conv(WeightLoader& w, const std::string& name, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                 int64_t padding) {
    Conv2d c;
    c.name = name;
    c.compute = w.compute();
    c.weight = w.take_stored(name + ".weight", {out, in, kernel, kernel});
    c.forms.set_name(w.component() + ": " + name + ".weight");
    c.bias = w.take(name + ".bias", {out});
    c.stride = stride;
    c.padding = padding;
    return c;
}

GroupNorm load_group_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps) {
    GroupNorm g;
    g.weight = w.take(name + ".weight", {channels}, true);
    g.bias = w.take(name + ".bias", {channels}, true);
    g.eps = eps;
    if (channels % g.groups != 0) {
        w.problem(name + ": " + std::to_string(channels) + " channels do not split into 32 groups");
    }
    return g;
}

LayerNorm load_layer_norm(WeightLoader& w, const std::string& name, int64_t channels, double eps) {
    LayerNorm n;
    n.weight = w.take(name + ".weight", {channels}, true);
    n.bias = w.take(name + ".bias", {channels}, true);
    n.eps = eps;
    return n;
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                        c10::ScalarType compute, const torch::Tensor& mask) {
    return ops::attention(kernel_for({&q, &k, &v}), q, k, v, heads, compute, mask);
}

}  // namespace atl::sd
