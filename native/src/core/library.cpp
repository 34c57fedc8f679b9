// Library-wide information and settings: versions, threads, CPU features, diagnostics.
#include <cpuid.h>
#include <dlfcn.h>
#include <omp.h>
#include <sched.h>
#include <torch/torch.h>

#include <string>
#include <thread>

#include "lora/kernels_cuda.hpp"
#include "status.hpp"
#include "tensor_view.hpp"

#ifndef ATL_VERSION_STRING
#define ATL_VERSION_STRING "0.0.0"
#endif
#ifndef ATL_BUILD_INFO
#define ATL_BUILD_INFO "unknown build"
#endif

namespace {

const std::string torch_version = TORCH_VERSION;

uint64_t xgetbv0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

// CPUID leaves 1 and 7 (Intel SDM vol. 2A, "CPUID"), gated on the OS saving the
// registers (XCR0) so that a feature reported here can really be used.
uint32_t detect_cpu_features() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    bool osxsave = c & (1u << 27);
    bool fma = c & (1u << 12);
    if (!osxsave) return 0;
    uint64_t xcr0 = xgetbv0();
    bool os_avx = (xcr0 & 0x6) == 0x6;
    bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    bool os_amx = (xcr0 & 0x60000) == 0x60000;
    uint32_t features = 0;
    if (os_avx && fma) features |= ATL_CPU_FMA;
    if (__get_cpuid_max(0, nullptr) < 7) return features;
    __cpuid_count(7, 0, a, b, c, d);
    if (os_avx && (b & (1u << 5))) features |= ATL_CPU_AVX2;
    if (os_avx512 && (b & (1u << 16))) features |= ATL_CPU_AVX512F;
    if (os_amx && (d & (1u << 22))) features |= ATL_CPU_AMX_BF16;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    if (os_avx512 && (a1 & (1u << 5))) features |= ATL_CPU_AVX512_BF16;
    return features;
}

// OpenBLAS keeps its own thread pool beside OpenMP's; set it too when it is the BLAS loaded.
void set_openblas_threads(int n) {
    using setter = void (*)(int);
    if (auto f = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

}  // namespace

extern "C" {

uint32_t atl_abi_version(void) { return ATL_ABI_VERSION; }
const char* atl_version(void) { return ATL_VERSION_STRING; }
const char* atl_torch_version(void) { return torch_version.c_str(); }
const char* atl_build_info(void) { return ATL_BUILD_INFO; }

int32_t atl_num_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
    return static_cast<int32_t>(std::thread::hardware_concurrency());
}

atl_status* atl_set_num_threads(int32_t n) {
    ATL_TRY
    int threads = n <= 0 ? atl_num_cores() : n;
    // at::set_num_threads also tears down and rebuilds libtorch's pthreadpool (which Atelier does
    // not use) on every call: a thread that already has the count skips it.
    if (at::get_num_threads() != threads) at::set_num_threads(threads);
    omp_set_num_threads(threads);
    set_openblas_threads(threads);
    ATL_CATCH
}

int32_t atl_num_threads(void) {
    try {
        return at::get_num_threads();
    } catch (...) {
        return 1;
    }
}

atl_status* atl_release_threads(void) {
    ATL_TRY
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9
    // libgomp's omp_pause_resource_all ends only the calling thread's pool of workers (LLVM's
    // libomp would pause the whole runtime, other threads' regions included: not used there).
    if (omp_get_level() == 0) omp_pause_resource_all(omp_pause_soft);
#endif
    ATL_CATCH
}

uint32_t atl_cpu_features(void) {
    static const uint32_t features = detect_cpu_features();
    return features;
}

int32_t atl_cuda_device_count(void) {
    try {
        // Atelier's own CUDA kernels see the devices through the CUDA runtime (0 in builds without
        // them); a CUDA libtorch may see them too.
        const int own = atl::lora::cuda::device_count();
        if (own > 0) return own;
        return torch::cuda::is_available() ? static_cast<int32_t>(torch::cuda::device_count()) : 0;
    } catch (...) {
        return 0;
    }
}

int32_t atl_dtype_size(int32_t dtype) {
    switch (dtype) {
        case ATL_DTYPE_F64: case ATL_DTYPE_I64: return 8;
        case ATL_DTYPE_F32: case ATL_DTYPE_I32: return 4;
        case ATL_DTYPE_F16: case ATL_DTYPE_BF16: case ATL_DTYPE_I16: return 2;
        case ATL_DTYPE_I8: case ATL_DTYPE_U8: case ATL_DTYPE_BOOL: return 1;
        default: return 0;
    }
}

const char* atl_dtype_name(int32_t dtype) {
    static const char* names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    return dtype >= 0 && dtype <= ATL_DTYPE_BOOL ? names[dtype] : nullptr;
}

void atl_noop(void) {}

atl_status* atl_tensor_address(const atl_tensor_view* v, uint64_t* out_address) {
    ATL_TRY
    atl::require(out_address != nullptr, ATL_ERR_INVALID_ARGUMENT, "out_address is NULL");
    torch::Tensor t = atl::wrap(v, "tensor");
    *out_address = reinterpret_cast<uint64_t>(t.data_ptr());
    ATL_CATCH
}

atl_status* atl_tensor_sum(const atl_tensor_view* v, double* out_sum) {
    ATL_TRY
    atl::require(out_sum != nullptr, ATL_ERR_INVALID_ARGUMENT, "out_sum is NULL");
    *out_sum = atl::wrap(v, "tensor").sum(torch::kFloat64).item<double>();
    ATL_CATCH
}

atl_status* atl_tensor_matmul(const atl_tensor_view* a, const atl_tensor_view* b, atl_tensor_view* out) {
    ATL_TRY
    torch::NoGradGuard no_grad;
    // libtorch checks the shapes itself; its c10::Error becomes ATL_ERR_BACKEND with its message.
    torch::Tensor product = torch::matmul(atl::wrap(a, "a"), atl::wrap(b, "b"));
    atl::write_into(out, product, "out");
    ATL_CATCH
}

atl_status* atl_run_steps(int64_t steps, const atl_progress* progress) {
    ATL_TRY
    atl::require(steps >= 0, ATL_ERR_INVALID_ARGUMENT, "steps must be >= 0, got " + std::to_string(steps));
    for (int64_t i = 1; i <= steps; ++i) {
        if (progress && progress->fn && progress->fn(progress->user_data, i, steps) != 0)
            atl::fail(ATL_ERR_CANCELLED, "cancelled after step " + std::to_string(i) + " of " + std::to_string(steps));
    }
    ATL_CATCH
}

}  // extern "C"
