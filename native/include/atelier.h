/*
 * atelier.h: the only C interface of libatelier.
 *
 * Conventions (see README.md, "The native boundary"):
 *  - Every symbol starts with atl_ / ATL_. No C++ types cross this header.
 *  - Every fallible function returns atl_status*: NULL means success; otherwise the
 *    status must be freed with atl_status_destroy. No C++ exception crosses this
 *    boundary and the library never calls exit() or abort().
 *  - Every native object is an opaque handle created by atl_<x>_create and freed by
 *    atl_<x>_destroy, which accepts NULL.
 *  - Ownership is stated in fixed phrases on every pointer:
 *      "must be freed with atl_x_destroy"  the caller owns the returned object;
 *      "borrowed; valid until ..."         the library owns it, the caller must not free it;
 *      "caller-owned; not freed"           the library reads or writes it during the call only,
 *                                          unless the function says it keeps a reference.
 *  - Tensors cross as atl_tensor_view: a pointer to existing memory plus dtype, shape and
 *    strides. Nothing is copied at the boundary.
 *
 * Bump ATL_ABI_VERSION on any change to a signature, struct layout or enum value.
 */
#ifndef ATELIER_H
#define ATELIER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATL_ABI_VERSION 1

#define ATL_API __attribute__((visibility("default")))

/* ------------------------------------------------------------------------------------------
 * Status
 * ---------------------------------------------------------------------------------------- */

typedef enum atl_code {
    ATL_OK = 0,
    ATL_ERR_INVALID_ARGUMENT = 1, /* a bad argument: NULL handle, out-of-range value */
    ATL_ERR_IO = 2,               /* a file could not be read or written */
    ATL_ERR_FORMAT = 3,           /* a file or buffer is malformed */
    ATL_ERR_SHAPE = 4,            /* tensor shapes or dtypes do not fit together */
    ATL_ERR_BACKEND = 5,          /* libtorch or FAISS raised an error; message is theirs */
    ATL_ERR_CANCELLED = 6,        /* a progress callback asked to stop */
    ATL_ERR_OUT_OF_MEMORY = 7,
    ATL_ERR_UNSUPPORTED = 8,      /* not available in this build (e.g. CUDA) */
    ATL_ERR_INTERNAL = 9          /* a bug in libatelier */
} atl_code;

typedef struct atl_status atl_status;

/* The code of s; ATL_OK when s is NULL. */
ATL_API atl_code atl_status_code(const atl_status* s);
/* The message of s; "" when s is NULL. Borrowed; valid until atl_status_destroy(s). */
ATL_API const char* atl_status_message(const atl_status* s);
/* Frees s. Accepts NULL. */
ATL_API void atl_status_destroy(atl_status* s);

/* ------------------------------------------------------------------------------------------
 * Library information and settings
 * ---------------------------------------------------------------------------------------- */

/* ATL_ABI_VERSION as compiled into the library; bindings compare it at load. */
ATL_API uint32_t atl_abi_version(void);
/* Version strings. Borrowed; static, valid for the life of the process. */
ATL_API const char* atl_version(void);
ATL_API const char* atl_torch_version(void);
ATL_API const char* atl_faiss_version(void);
/* Compiler, build type and optional parts (CUDA kernels). Borrowed; static. */
ATL_API const char* atl_build_info(void);

/* Sets the number of intra-op threads used by libtorch, OpenMP and FAISS.
 * n <= 0 means all cores. This libtorch starts with one thread, hence an explicit call. */
ATL_API atl_status* atl_set_num_threads(int32_t n);
ATL_API int32_t atl_num_threads(void);
/* Logical cores the process may run on. */
ATL_API int32_t atl_num_cores(void);

typedef enum atl_cpu_feature {
    ATL_CPU_AVX2 = 1,
    ATL_CPU_FMA = 2,
    ATL_CPU_AVX512F = 4,
    ATL_CPU_AVX512_BF16 = 8,
    ATL_CPU_AMX_BF16 = 16
} atl_cpu_feature;

/* Bit set of atl_cpu_feature that both the CPU and the OS support. */
ATL_API uint32_t atl_cpu_features(void);
/* Number of CUDA devices usable through libtorch; 0 when CUDA is absent. */
ATL_API int32_t atl_cuda_device_count(void);

/* ------------------------------------------------------------------------------------------
 * Tensor views
 * ---------------------------------------------------------------------------------------- */

typedef enum atl_dtype {
    ATL_DTYPE_F64 = 0,
    ATL_DTYPE_F32 = 1,
    ATL_DTYPE_F16 = 2,
    ATL_DTYPE_BF16 = 3,
    ATL_DTYPE_I64 = 4,
    ATL_DTYPE_I32 = 5,
    ATL_DTYPE_I16 = 6,
    ATL_DTYPE_I8 = 7,
    ATL_DTYPE_U8 = 8,
    ATL_DTYPE_BOOL = 9
} atl_dtype;

typedef enum atl_device {
    ATL_DEVICE_CPU = 0,
    ATL_DEVICE_CUDA = 1
} atl_device;

#define ATL_MAX_DIMS 8

/* A view of existing memory. The library never frees `data`.
 * shape[0..ndim) and strides[0..ndim) count elements, not bytes. */
typedef struct atl_tensor_view {
    void* data;           /* caller-owned; not freed */
    int32_t dtype;        /* atl_dtype */
    int32_t ndim;         /* 0..ATL_MAX_DIMS */
    int32_t device;       /* atl_device */
    int32_t device_index; /* CUDA ordinal; 0 on CPU */
    int64_t shape[ATL_MAX_DIMS];
    int64_t strides[ATL_MAX_DIMS];
} atl_tensor_view;

/* Bytes per element of dtype; 0 for an unknown dtype. */
ATL_API int32_t atl_dtype_size(int32_t dtype);
/* "F32", "BF16", ... as in safetensors headers; NULL for an unknown dtype. Borrowed; static. */
ATL_API const char* atl_dtype_name(int32_t dtype);

/* ------------------------------------------------------------------------------------------
 * Progress and cancellation
 * ---------------------------------------------------------------------------------------- */

/* Called by long operations after each unit of work (a denoising step, a batch).
 * Return 0 to go on, anything else to cancel: the operation then stops between units
 * and returns a status with ATL_ERR_CANCELLED. Called on the thread that made the call. */
typedef int32_t (*atl_progress_fn)(void* user_data, int64_t done, int64_t total);

typedef struct atl_progress {
    atl_progress_fn fn; /* may be NULL: no reports */
    void* user_data;    /* caller-owned; passed back to fn unchanged */
} atl_progress;

/* ------------------------------------------------------------------------------------------
 * Diagnostics: small calls through the whole boundary, used by tests and benchmarks
 * ---------------------------------------------------------------------------------------- */

/* Does nothing; measures the bare cost of a downcall. */
ATL_API void atl_noop(void);
/* Wraps v as a libtorch tensor without copying and writes the tensor's data address. */
ATL_API atl_status* atl_tensor_address(const atl_tensor_view* v, uint64_t* out_address);
/* Sum of all elements of v, computed by libtorch in double. */
ATL_API atl_status* atl_tensor_sum(const atl_tensor_view* v, double* out_sum);
/* out = a @ b through libtorch (2-D, F32). A shape mismatch returns ATL_ERR_BACKEND with
 * libtorch's message. out is caller-owned and must have shape [a.rows, b.cols]. */
ATL_API atl_status* atl_tensor_matmul(const atl_tensor_view* a, const atl_tensor_view* b,
                                      atl_tensor_view* out);
/* Runs `steps` empty units of work, reporting each one to progress. */
ATL_API atl_status* atl_run_steps(int64_t steps, const atl_progress* progress);

/* ------------------------------------------------------------------------------------------
 * Weights: named tensors handed over without a copy
 * ---------------------------------------------------------------------------------------- */

typedef struct atl_weights atl_weights;

/* Creates an empty set. *out must be freed with atl_weights_destroy. */
ATL_API atl_status* atl_weights_create(atl_weights** out);
/* Frees w. Accepts NULL. Objects created from w keep what they need alive. */
ATL_API void atl_weights_destroy(atl_weights* w);
/* Adds a tensor under name. The bytes are NOT copied: the caller keeps view->data valid and
 * unchanged until w and every object created from w are destroyed (the Java side keeps the
 * memory-mapped file open for that long). name is caller-owned; it is copied. */
ATL_API atl_status* atl_weights_add(atl_weights* w, const char* name, const atl_tensor_view* view);
/* Number of tensors in w. */
ATL_API int64_t atl_weights_count(const atl_weights* w);
/* Data address of the libtorch tensor held under name: equal to the address handed to
 * atl_weights_add when nothing was copied. */
ATL_API atl_status* atl_weights_address(const atl_weights* w, const char* name, uint64_t* out_address);

/* ------------------------------------------------------------------------------------------
 * Embedder: torchvision's MobileNetV3-Large as an image feature extractor
 * ---------------------------------------------------------------------------------------- */

typedef struct atl_embedder atl_embedder;

typedef struct atl_embedder_params {
    /* 1 (default): fold every BatchNorm (eval mode, eps 0.001) into the preceding convolution's
     * weight and bias once at creation. 0: run BatchNorm as a separate op (for parity checks). */
    int32_t fold_batchnorm;
    /* 1 (default): keep weights and activations in channels-last memory format (oneDNN runs
     * the depthwise and 1x1 convolutions without layout reorders; measured 1.2x faster at
     * batch 1 and 2.7x at batch 32 on one thread with libtorch 1.13). 0: NCHW. */
    int32_t channels_last;
    /* Intra-op threads used by atl_embedder_forward on the calling thread; restored afterwards.
     * Default 1: batch-1 latency is best on one thread. 0: leave the setting made by
     * atl_set_num_threads. */
    int32_t num_threads;
} atl_embedder_params;

/* Fills p with the defaults above. */
ATL_API void atl_embedder_params_init(atl_embedder_params* p);

/* Builds the network from w, whose tensors are named as torchvision's state_dict
 * (features.0.0.weight, features.{1..15}.block.*, features.16.*, classifier.{0,3}.*).
 * Every tensor is checked against the MobileNetV3-Large configuration; a missing tensor or a
 * wrong shape returns ATL_ERR_FORMAT listing every problem. The number of classes is read
 * from classifier.3.weight. w is caller-owned; not freed: the embedder keeps the tensors it
 * needs alive, so w may be destroyed first. params may be NULL (defaults).
 * *out must be freed with atl_embedder_destroy. */
ATL_API atl_status* atl_embedder_create(const atl_weights* w, const atl_embedder_params* params,
                                        atl_embedder** out);
/* Frees e. Accepts NULL. */
ATL_API void atl_embedder_destroy(atl_embedder* e);

/* Feature sizes: pooled (960), pre-logits (1280) and classes (1000 for ImageNet). */
ATL_API int64_t atl_embedder_pooled_dim(const atl_embedder* e);
ATL_API int64_t atl_embedder_prelogits_dim(const atl_embedder* e);
ATL_API int64_t atl_embedder_num_classes(const atl_embedder* e);

/* Runs the network on input, F32 [n, 3, H, W] (normalised as torchvision's transforms leave
 * it; 224x224 for the ImageNet weights). Writes the outputs that are not NULL:
 * pooled [n, 960] (after the global average pool), prelogits [n, 1280] (after classifier.0
 * and Hardswish; Dropout is the identity in eval mode), logits [n, num_classes]. At least one
 * output must be given. All views are caller-owned; not freed. Safe to call from several
 * threads at once on the same embedder. */
ATL_API atl_status* atl_embedder_forward(atl_embedder* e, const atl_tensor_view* input,
                                         atl_tensor_view* pooled, atl_tensor_view* prelogits,
                                         atl_tensor_view* logits);

#ifdef __cplusplus
}
#endif

#endif /* ATELIER_H */
