// Which implementation the SD networks' operations run on (atl_op_kernel in atelier.h), and the
// choice in force on this thread while a network's forward runs.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "atelier.h"

namespace atl::ops {

enum class Kernel : int32_t {
    Auto = ATL_OP_KERNEL_AUTO,
    Reference = ATL_OP_KERNEL_REFERENCE,
    Avx512 = ATL_OP_KERNEL_AVX512,
    Torch = ATL_OP_KERNEL_TORCH,
};

bool kernel_available(Kernel k);
// The kernels field of a network's params as a Kernel; ATL_ERR_INVALID_ARGUMENT when unknown.
Kernel kernel_param(int32_t value, const char* network);
// Where and in what a network computes: its params' compute_dtype, kernels, device and
// device_index fields, checked together. A CUDA network runs libtorch's ops (kernels Auto
// becomes Torch; Atelier's CPU kernels are refused) and may compute in F16; the CPU takes F32 or
// BF16. ATL_ERR_INVALID_ARGUMENT for a bad combination, ATL_ERR_UNSUPPORTED when the device is
// CUDA and this library's libtorch sees no such GPU; messages name the network.
struct Placement {
    c10::ScalarType compute;
    Kernel kernels;
    torch::Device device;
};
Placement placement_param(int32_t compute_dtype, int32_t kernels, int32_t device, int32_t device_index,
                          const char* network);
// CUDA device `index` as libtorch sees it; ATL_ERR_UNSUPPORTED naming `what` ("unet", "GPU
// index") when this library's libtorch has no such GPU (no CUDA build, or no device).
torch::Device cuda_device(int32_t index, const std::string& what);
// Auto resolved: Avx512 on CPUs that have it, else Torch.
Kernel resolve(Kernel k);

// The kernels of the forward calls made on this thread while the scope is alive (a network sets
// its own for the duration of its forward). Without a scope: Auto.
class KernelScope {
public:
    explicit KernelScope(Kernel k);
    ~KernelScope();
    KernelScope(const KernelScope&) = delete;
    KernelScope& operator=(const KernelScope&) = delete;

private:
    Kernel previous_;
};
Kernel current_kernel();

// True when the current kernels are Atelier's own (AVX-512, or the plain reference chosen for a
// whole network to check it) and apply to the input x: an F32 or BF16 CPU
// tensor that needs no gradient (training differentiates through libtorch ops wherever a gradient
// flows; the frozen layers before the first adapter run on Atelier's kernels).
bool own_kernels_apply(const torch::Tensor& x);

// The dtype of the activations between layers for a network computing in `compute`: F32 when
// Atelier's kernels run (BF16 weights feed the GEMM as BF16; norms, attention and everything
// between stay in F32), else `compute` (libtorch ops, training).
c10::ScalarType activation_dtype(c10::ScalarType compute);

// True when t is the only tensor on its memory (one handle, no views, nothing else holding the
// storage): an op that was handed t may then write its result there.
inline bool sole_owner(const torch::Tensor& t) {
    return t.defined() && t.use_count() == 1 && t.storage().use_count() == 1 && !t.requires_grad();
}

}  // namespace atl::ops
