// The libtorch API differences between the versions Atelier builds against (Debian's 1.13 on the
// CPU machines, pip's 2.x with CUDA on GPU machines), guarded here and nowhere else.
#pragma once

#include <torch/version.h>

// at::scaled_dot_product_attention (libtorch 2.0+): fused attention (flash or memory-efficient
// kernels on CUDA), used for attention off the CPU.
#define ATL_HAS_SDPA (TORCH_VERSION_MAJOR >= 2)

// c10::Allocator::allocate lost its const in libtorch 2.3 (and copy_data became a pure virtual
// in 2.x: an allocator defines it in every version, without `override`).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define ATL_ALLOCATOR_ALLOCATE_CONST
#else
#define ATL_ALLOCATOR_ALLOCATE_CONST const
#endif
