// C entry points of the operations section of atelier.h: kernel names, single operations on a
// chosen kernel, profiles and the peak measurement.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>

#include "core/cpu_allocator.hpp"
#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/packed_gemm.hpp"
#include "ops/attention.hpp"
#include "ops/conv.hpp"
#include "ops/linear.hpp"
#include "ops/norm.hpp"
#include "ops/kernel.hpp"
#include "ops/profile.hpp"

namespace {

// Also installs the networks' caching CPU allocator: an operation called alone allocates as it
// does inside a network.
atl::ops::Kernel kernel_arg(int32_t kernel) {
    atl::use_caching_cpu_allocator();
    atl::require(kernel >= ATL_OP_KERNEL_AUTO && kernel <= ATL_OP_KERNEL_TORCH, ATL_ERR_INVALID_ARGUMENT,
                 "unknown op kernel " + std::to_string(kernel));
    auto k = static_cast<atl::ops::Kernel>(kernel);
    atl::require(atl::ops::kernel_available(k), ATL_ERR_UNSUPPORTED,
                 std::string("op kernel ") + atl_op_kernel_name(kernel) + " cannot run on this CPU");
    return k;
}

thread_local atl_profile* tl_started = nullptr;

template <typename Fn>
double seconds_of(Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

extern "C" {

const char* atl_op_kernel_name(int32_t kernel) {
    static const char* names[] = {"auto", "reference", "avx512", "torch"};
    return kernel >= 0 && kernel <= ATL_OP_KERNEL_TORCH ? names[kernel] : nullptr;
}

int32_t atl_op_kernel_from_name(const char* name) {
    if (!name) return -1;
    for (int32_t k = 0; k <= ATL_OP_KERNEL_TORCH; ++k) {
        if (std::strcmp(name, atl_op_kernel_name(k)) == 0) return k;
    }
    return -1;
}

int32_t atl_op_kernel_available(int32_t kernel) {
    if (kernel < 0 || kernel > ATL_OP_KERNEL_TORCH) return 0;
    return atl::ops::kernel_available(static_cast<atl::ops::Kernel>(kernel)) ? 1 : 0;
}

atl_status* atl_op_attention(int32_t kernel, const atl_tensor_view* q, const atl_tensor_view* k,
                             const atl_tensor_view* v, int32_t heads, atl_tensor_view* out) {
    ATL_TRY
    const atl::ops::Kernel kind = kernel_arg(kernel);
    torch::InferenceMode guard;
    const torch::Tensor tq = atl::wrap(q, "q");
    torch::Tensor o = atl::ops::attention(kind, tq, atl::wrap(k, "k"), atl::wrap(v, "v"), heads, tq.scalar_type());
    atl::write_into(out, o, "attention output");
    ATL_CATCH
}

atl_status* atl_op_linear(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                          const atl_tensor_view* bias, atl_tensor_view* y) {
    ATL_TRY
    const atl::ops::Kernel kind = kernel_arg(kernel);
    // The weight is wrapped outside inference mode, as the networks' weights are made: the AVX512
    // kernel's WeightPack reads its version counter, which inference tensors do not have.
    const torch::Tensor w = atl::wrap(weight, "weight");
    torch::InferenceMode guard;
    torch::Tensor b = bias ? atl::wrap(bias, "bias") : torch::Tensor();
    atl::write_into(y, atl::ops::linear(kind, atl::wrap(x, "x"), w, b, w.scalar_type()), "linear output");
    ATL_CATCH
}

atl_status* atl_op_conv2d(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                          const atl_tensor_view* bias, int32_t stride, int32_t padding, atl_tensor_view* y) {
    ATL_TRY
    const atl::ops::Kernel kind = kernel_arg(kernel);
    const torch::Tensor w = atl::wrap(weight, "weight");  // outside inference mode, as in atl_op_linear
    torch::InferenceMode guard;
    torch::Tensor b = bias ? atl::wrap(bias, "bias") : torch::Tensor();
    atl::write_into(y, atl::ops::conv2d_nhwc(kind, atl::wrap(x, "x"), w, b, {stride, padding}, w.scalar_type()), "conv2d output");
    ATL_CATCH
}

atl_status* atl_op_group_norm(int32_t kernel, const atl_tensor_view* x, int32_t groups, const atl_tensor_view* weight,
                              const atl_tensor_view* bias, float eps, int32_t silu, atl_tensor_view* y) {
    ATL_TRY
    const atl::ops::Kernel kind = kernel_arg(kernel);
    torch::InferenceMode guard;
    atl::write_into(y,
                    atl::ops::group_norm_nhwc(kind, atl::wrap(x, "x"), groups, atl::wrap(weight, "weight"),
                                              atl::wrap(bias, "bias"), eps, silu != 0),
                    "group norm output");
    ATL_CATCH
}

atl_status* atl_op_layer_norm(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                              const atl_tensor_view* bias, float eps, atl_tensor_view* y) {
    ATL_TRY
    const atl::ops::Kernel kind = kernel_arg(kernel);
    torch::InferenceMode guard;
    atl::write_into(y, atl::ops::layer_norm(kind, atl::wrap(x, "x"), atl::wrap(weight, "weight"), atl::wrap(bias, "bias"), eps),
                    "layer norm output");
    ATL_CATCH
}

const char* atl_profile_network_name(int32_t network) {
    static const char* names[] = {"text_encoder", "unet", "vae"};
    return network >= 0 && network < ATL_PROFILE_NETWORKS ? names[network] : nullptr;
}

const char* atl_op_class_name(int32_t op_class) {
    static const char* names[] = {"convolution", "linear", "attention", "normalisation", "elementwise", "layout",
                                  "other"};
    return op_class >= 0 && op_class < ATL_OP_CLASSES ? names[op_class] : nullptr;
}

atl_status* atl_profile_create(atl_profile** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "profile: out is NULL");
    *out = new atl_profile();
    ATL_CATCH
}

void atl_profile_destroy(atl_profile* p) {
    if (p && tl_started == p) atl_profile_stop();
    delete p;
}

atl_status* atl_profile_start(atl_profile* p) {
    ATL_TRY
    atl::require(p != nullptr, ATL_ERR_INVALID_ARGUMENT, "profile handle is NULL");
    tl_started = p;
    atl::ops::profile_on_this_thread(p);
    ATL_CATCH
}

void atl_profile_stop(void) {
    tl_started = nullptr;
    atl::ops::profile_on_this_thread(nullptr);
}

int32_t atl_profile_read(const atl_profile* p, atl_profile_entry* out, int32_t capacity) {
    if (!p) return 0;
    int32_t n = 0;
    auto emit = [&](int32_t net, int32_t cls, int64_t calls, double seconds, double flops) {
        if (n < capacity && out) out[n] = atl_profile_entry{net, cls, calls, seconds, flops};
        ++n;
    };
    for (int32_t net = 0; net < ATL_PROFILE_NETWORKS; ++net) {
        double in_classes = 0;
        for (int32_t cls = 0; cls < ATL_OP_OTHER; ++cls) {
            const atl_profile::Cell& c = p->cells[net][cls];
            if (c.calls == 0) continue;
            emit(net, cls, c.calls, c.seconds, c.flops);
            in_classes += c.seconds;
        }
        if (p->network_calls[net] > 0) {
            emit(net, ATL_OP_OTHER, p->network_calls[net], std::max(0.0, p->network_seconds[net] - in_classes), 0);
        }
    }
    return n;
}

atl_status* atl_measure_peak_flops(int32_t dtype, double seconds, double* out_flops) {
    ATL_TRY
    atl::require(out_flops != nullptr, ATL_ERR_INVALID_ARGUMENT, "peak: out_flops is NULL");
    atl::require(dtype == ATL_DTYPE_F32 || dtype == ATL_DTYPE_BF16, ATL_ERR_INVALID_ARGUMENT,
                 "peak: dtype must be F32 or BF16");
    atl::require(seconds > 0 && seconds <= 60, ATL_ERR_INVALID_ARGUMENT, "peak: seconds must be in (0, 60]");
    torch::InferenceMode guard;
    const int64_t n = 2048, k = 1024, m = 1024;
    const double flops = 2.0 * n * k * m;
    torch::Tensor a = torch::randn({n, k}), w = torch::randn({m, k}), c = torch::empty({n, m});
    // Candidates: Atelier's GEMM (F32, or BF16 pairs on avx512_bf16 CPUs) and libtorch's matmul
    // (OpenBLAS, oneDNN for BF16); the peak is the fastest of them.
    std::vector<std::function<void()>> runs;
    const bool bf16 = dtype == ATL_DTYPE_BF16;
    if ((atl_cpu_features() & ATL_CPU_AVX512F) && (!bf16 || (atl_cpu_features() & ATL_CPU_AVX512_BF16))) {
        atl::ops::WeightPack forms;
        const auto compute = bf16 ? torch::kBFloat16 : torch::kFloat;
        const atl::lora::avx512::PackedRight* p = &forms.packed(w, compute);
        runs.push_back([&, forms, p] {
            atl::lora::avx512::DepthPart part{a.data_ptr<float>(), k, p};
            atl::lora::avx512::gemm(&part, 1, n, nullptr, c.data_ptr<float>(), m);
        });
    }
    const auto type = bf16 ? torch::kBFloat16 : torch::kFloat;
    torch::Tensor at = a.to(type), wt = w.to(type);
    runs.push_back([&] { torch::matmul(at, wt.t()); });
    double best = 0;
    for (auto& run : runs) {
        run();  // warm-up
        double spent = 0;
        while (spent < seconds / static_cast<double>(runs.size())) {
            const double s = seconds_of(run);
            spent += s;
            best = std::max(best, flops / s);
        }
    }
    *out_flops = best;
    ATL_CATCH
}

}  // extern "C"
