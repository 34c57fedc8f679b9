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

Placement placement_param(int32_t compute_dtype, int32_t kernels, int32_t device, int32_t device_index,
                          const char* network) {
    const std::string name(network);
    require(device == ATL_DEVICE_CPU || device == ATL_DEVICE_CUDA, ATL_ERR_INVALID_ARGUMENT,
            name + ": unknown device " + std::to_string(device));
    const bool cuda = device == ATL_DEVICE_CUDA;
    require(!cuda || device_index >= 0, ATL_ERR_INVALID_ARGUMENT,
            name + ": device_index must be >= 0, got " + std::to_string(device_index));
    Kernel k = kernel_param(kernels, network);
    require(compute_dtype == ATL_DTYPE_F32 || compute_dtype == ATL_DTYPE_BF16 ||
                (cuda && compute_dtype == ATL_DTYPE_F16),
            ATL_ERR_INVALID_ARGUMENT,
            name + (cuda ? ": compute_dtype must be F32, BF16 or F16" : ": compute_dtype must be F32 or BF16 (F16 runs on CUDA only)"));
    const c10::ScalarType compute = compute_dtype == ATL_DTYPE_BF16 ? c10::kBFloat16
                                    : compute_dtype == ATL_DTYPE_F16 ? c10::kHalf
                                                                     : c10::kFloat;
    if (!cuda) return {compute, k, torch::Device(torch::kCPU)};
    require(k == Kernel::Auto || k == Kernel::Torch, ATL_ERR_INVALID_ARGUMENT,
            name + ": a CUDA network runs libtorch's ops; kernels must be auto or torch");
    return {compute, Kernel::Torch, cuda_device(device_index, name)};
}

torch::Device cuda_device(int32_t index, const std::string& what) {
    const int64_t count = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
    require(index >= 0 && index < count, ATL_ERR_UNSUPPORTED,
            what + ": device cuda:" + std::to_string(index) + " is not available (" + std::to_string(count) +
                " CUDA devices visible to this library's libtorch" +
                (count == 0 ? "; it was built without CUDA or no GPU is present)" : ")"));
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
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
