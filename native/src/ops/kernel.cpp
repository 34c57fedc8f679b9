#include "ops/kernel.hpp"

#include "core/status.hpp"

namespace atl::ops {

namespace {
thread_local Kernel tl_kernel = Kernel::Auto;
}

bool kernel_available(Kernel k) {
    switch (k) {
        case Kernel::Auto:
        case Kernel::Reference:
        case Kernel::Torch: return true;
        case Kernel::Avx512: return (atl_cpu_features() & ATL_CPU_AVX512F) != 0;
    }
    return false;
}

Kernel kernel_param(int32_t value, const char* network) {
    require(value >= ATL_OP_KERNEL_AUTO && value <= ATL_OP_KERNEL_TORCH, ATL_ERR_INVALID_ARGUMENT,
            std::string(network) + ": unknown kernels value " + std::to_string(value));
    return static_cast<Kernel>(value);
}

c10::ScalarType compute_param(int32_t dtype, const char* network) {
    require(dtype == ATL_DTYPE_F32 || dtype == ATL_DTYPE_BF16, ATL_ERR_INVALID_ARGUMENT,
            std::string(network) + ": compute_dtype must be F32 or BF16");
    return dtype == ATL_DTYPE_BF16 ? c10::kBFloat16 : c10::kFloat;
}

Kernel resolve(Kernel k) {
    if (k != Kernel::Auto) return k;
    return kernel_available(Kernel::Avx512) ? Kernel::Avx512 : Kernel::Torch;
}

KernelScope::KernelScope(Kernel k) : previous_(tl_kernel) { tl_kernel = k; }
KernelScope::~KernelScope() { tl_kernel = previous_; }
Kernel current_kernel() { return tl_kernel; }

c10::ScalarType activation_dtype(c10::ScalarType compute) {
    return resolve(tl_kernel) != Kernel::Torch && !torch::GradMode::is_enabled() ? torch::kFloat : compute;
}

bool own_kernels_apply(const torch::Tensor& x) {
    if (resolve(tl_kernel) == Kernel::Torch) return false;
    if (torch::GradMode::is_enabled() && x.requires_grad()) return false;
    return x.device().is_cpu() && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16);
}

}  // namespace atl::ops
