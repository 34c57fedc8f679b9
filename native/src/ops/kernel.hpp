// Which implementation the SD networks' operations run on (atl_op_kernel in atelier.h), and the
// choice in force on this thread while a network's forward runs.
#pragma once

#include <torch/torch.h>

#include <cstdint>

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
// The compute_dtype field of a network's params (ATL_DTYPE_F32 or ATL_DTYPE_BF16) as a scalar
// type; ATL_ERR_INVALID_ARGUMENT otherwise.
c10::ScalarType compute_param(int32_t dtype, const char* network);
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
