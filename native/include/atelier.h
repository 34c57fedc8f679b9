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

#define ATL_ABI_VERSION 8

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
/* "" in a build without FAISS (no catalog index: its entry points answer ATL_ERR_UNSUPPORTED). */
ATL_API const char* atl_faiss_version(void);
/* Compiler, build type and optional parts (CUDA kernels). Borrowed; static. */
ATL_API const char* atl_build_info(void);

/* Sets the number of intra-op threads used by libtorch, OpenMP and FAISS.
 * n <= 0 means all cores. This libtorch starts with one thread, hence an explicit call. */
ATL_API atl_status* atl_set_num_threads(int32_t n);
ATL_API int32_t atl_num_threads(void);
/* Ends the calling thread's idle intra-op worker threads; its next parallel call starts them
 * again. Call it on a thread that has run parallel work and now waits while others compute
 * (one that loaded a model for a server, say): while more worker threads exist than cores,
 * OpenMP stops spinning between parallel regions in every thread, and each of a network's
 * thousands of regions then waits for its workers to be woken. Nothing to do (and OK) on a
 * thread without workers, inside a parallel region, or in a build whose OpenMP cannot do it. */
ATL_API atl_status* atl_release_threads(void);
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
 * Catalog index: FAISS vector index, id filters and PCA (native/src/index/)
 *
 * Vectors cross as F32 atl_tensor_view [n, d], contiguous, on the CPU; ids as I64 [n].
 * Threads: a search of ONE query runs with one OpenMP thread (FAISS's parallel loops cost
 * far more than they save for a single query on a busy machine: 8-12 ms instead of
 * 0.1-0.3 ms); a batch runs with atl_num_threads() threads. Parallelise single queries
 * across callers instead: atl_index_search on the same index from many threads at once is
 * safe, as long as no thread trains, adds, or changes efSearch / nprobe at the same time.
 * ---------------------------------------------------------------------------------------- */

typedef enum atl_metric {
    ATL_METRIC_INNER_PRODUCT = 0, /* cosine similarity on L2-normalised vectors */
    ATL_METRIC_L2 = 1             /* squared Euclidean distance; smaller is closer */
} atl_metric;

/* "inner_product", "l2"; NULL for an unknown value. Borrowed; static. */
ATL_API const char* atl_metric_name(int32_t metric);
/* The atl_metric named name, or -1. name is caller-owned; not freed. */
ATL_API int32_t atl_metric_from_name(const char* name);

typedef struct atl_index_params {
    const char* factory;          /* FAISS index_factory string: "Flat", "HNSW32", "IVF1024,Flat",
                                     "IVF1024,PQ32", ...; caller-owned; copied. Default "Flat". */
    int32_t dimension;            /* vector length; required (> 0) */
    int32_t metric;               /* atl_metric; default ATL_METRIC_INNER_PRODUCT */
    int32_t device;               /* atl_device; ATL_DEVICE_CUDA: a Flat (optionally id-mapped) or
                                     IVF-Flat index searched on that GPU by the TORCH search kernel,
                                     stored by FAISS on the CPU; ATL_ERR_UNSUPPORTED for other kinds
                                     or a GPU this library's libtorch does not see */
    int32_t device_index;         /* CUDA ordinal; 0 */
    int32_t hnsw_ef_construction; /* HNSW build breadth; default 200 (FAISS's 40 caps recall) */
    int32_t hnsw_ef_search;       /* HNSW search breadth; default 64; 0 keeps FAISS's */
    int32_t ivf_nprobe;           /* IVF lists probed per query; default 8; 0 keeps FAISS's */
    int32_t id_map;               /* 1: wrap in IndexIDMap2 so atl_index_add takes any ids
                                     (Flat and HNSW number vectors 0, 1, 2, ... otherwise) */
} atl_index_params;

typedef struct atl_index atl_index;
typedef struct atl_id_filter atl_id_filter;
typedef struct atl_blob atl_blob;
typedef struct atl_pca atl_pca;

/* Fills p with the defaults above. */
ATL_API void atl_index_params_init(atl_index_params* p);
/* Creates an empty index. *out must be freed with atl_index_destroy. A factory string FAISS
 * does not know returns ATL_ERR_INVALID_ARGUMENT with FAISS's message. */
ATL_API atl_status* atl_index_create(const atl_index_params* params, atl_index** out);
/* Frees index. Accepts NULL. */
ATL_API void atl_index_destroy(atl_index* index);

/* Vector length, number of vectors held, 1 when the index needs no (more) training. */
ATL_API int32_t atl_index_dimension(const atl_index* index);
ATL_API int64_t atl_index_ntotal(const atl_index* index);
ATL_API int32_t atl_index_is_trained(const atl_index* index);
ATL_API int32_t atl_index_metric(const atl_index* index);
/* What FAISS built, with its settings and the metric as atl_metric_name spells it:
 * "Flat(inner_product)", "HNSW(M=32, efConstruction=200, efSearch=64, l2)",
 * "IVFPQ(nlist=1024, nprobe=16, inner_product)", "IDMap2(Flat(l2))",
 * "PreTransform(1 transforms, Flat(l2))". Borrowed; valid until atl_index_destroy(index) or the
 * next call that changes the index (train, add, set_ef_search, set_nprobe). */
ATL_API const char* atl_index_description(const atl_index* index);

/* Trains the index (IVF centroids, PQ codebooks) on vectors [n, d]; a no-op when the index
 * needs no training. vectors is caller-owned; not freed. */
ATL_API atl_status* atl_index_train(atl_index* index, const atl_tensor_view* vectors);
/* Adds vectors [n, d]. ids (I64 [n]) may be NULL: the vectors then get ids ntotal, ntotal+1, ...
 * Indexes that number their vectors themselves (Flat, HNSW without id_map) accept only those
 * ids and return ATL_ERR_INVALID_ARGUMENT for others. Both are caller-owned; not freed. */
ATL_API atl_status* atl_index_add(atl_index* index, const atl_tensor_view* vectors,
                                  const atl_tensor_view* ids);

/* HNSW efSearch / IVF nprobe. ATL_ERR_INVALID_ARGUMENT when the index is of another kind. */
ATL_API atl_status* atl_index_set_ef_search(atl_index* index, int32_t ef_search);
ATL_API atl_status* atl_index_set_nprobe(atl_index* index, int32_t nprobe);
ATL_API int32_t atl_index_ef_search(const atl_index* index); /* -1 when not HNSW */
ATL_API int32_t atl_index_nprobe(const atl_index* index);    /* -1 when not IVF */

/* Which code answers atl_index_search. Atelier's kernels (SIMD inner products with a vectorised
 * top-k filter; exact search by a register-blocked kernel over packed rows; its own walk of the HNSW graph with prefetching)
 * serve Flat and HNSW-over-Flat indexes, id-mapped or not; other kinds always use FAISS.
 * FAISS's own search is kept as the baseline the benchmarks and parity tests compare with.
 * TORCH searches Flat indexes exactly, and IVF-Flat indexes as FAISS does at their nprobe (the
 * rows of unprobed lists masked out of an exact search), with libtorch's GEMM and top-k on the
 * index's device, the rows copied there once (and again after adds): the default of a GPU index,
 * and on a CPU index the same code on the CPU. The kernel is not saved with the index. */
typedef enum atl_search_kernel {
    ATL_SEARCH_KERNEL_AUTO = 0,      /* Atelier's, with the best instruction set of this CPU (default) */
    ATL_SEARCH_KERNEL_FAISS = 1,     /* FAISS 1.7.3's own search */
    ATL_SEARCH_KERNEL_REFERENCE = 2, /* Atelier's, plain loops (the parity reference) */
    ATL_SEARCH_KERNEL_AVX2 = 3,      /* Atelier's, AVX2 + FMA */
    ATL_SEARCH_KERNEL_AVX512 = 4,    /* Atelier's, AVX-512F */
    ATL_SEARCH_KERNEL_TORCH = 5      /* libtorch's GEMM and top-k on the index's device (Flat, IVF-Flat) */
} atl_search_kernel;

/* "auto", "faiss", "reference", "avx2", "avx512", "torch"; NULL for an unknown value. Borrowed; static. */
ATL_API const char* atl_search_kernel_name(int32_t kernel);
/* The atl_search_kernel named name, or -1. name is caller-owned; not freed. */
ATL_API int32_t atl_search_kernel_from_name(const char* name);
/* 1 when this CPU runs kernel, else 0. */
ATL_API int32_t atl_search_kernel_available(int32_t kernel);
/* Chooses the search code of index (not saved with it). ATL_ERR_UNSUPPORTED when the CPU lacks
 * the instruction set. Same threading rule as efSearch: not while searches run. */
ATL_API atl_status* atl_index_set_search_kernel(atl_index* index, int32_t kernel);
ATL_API int32_t atl_index_search_kernel(const atl_index* index); /* -1 for NULL */

/* A set of allowed ids, built once and reused by any number of searches. Held as a bitmap
 * when the largest id is small enough (at most 64 bits per allowed id), as a hash set
 * otherwise. ids (I64 [m], m may be 0) is caller-owned; copied. *out must be freed with
 * atl_id_filter_destroy. */
ATL_API atl_status* atl_id_filter_create(const atl_tensor_view* ids, atl_id_filter** out);
ATL_API void atl_id_filter_destroy(atl_id_filter* filter);
ATL_API int64_t atl_id_filter_count(const atl_id_filter* filter);

/* The k best vectors for each query [nq, d]: out_scores F32 [nq, k] (inner product: larger is
 * better; L2: smaller is better), out_ids I64 [nq, k], best first. Slots beyond the vectors
 * found hold id -1. filter may be NULL (all ids); otherwise only its ids are returned. Flat,
 * HNSW, IVF and id-mapped indexes filter inside FAISS (SearchParameters::sel, FAISS 1.7.3);
 * other kinds search 4k, 16k, ... results and filter them until k are found or all were seen.
 * HNSW with a very selective filter may find fewer than k (its search breadth is efSearch).
 * queries and filter are caller-owned; not freed; the outputs are caller-owned and written. */
ATL_API atl_status* atl_index_search(const atl_index* index, const atl_tensor_view* queries,
                                     int64_t k, const atl_id_filter* filter,
                                     atl_tensor_view* out_scores, atl_tensor_view* out_ids);

/* Bytes written by the library, read by the caller. The data pointer is borrowed; valid until
 * atl_blob_destroy(blob). */
ATL_API const void* atl_blob_data(const atl_blob* blob);
ATL_API int64_t atl_blob_size(const atl_blob* blob);
ATL_API void atl_blob_destroy(atl_blob* blob);

/* Serialises index in FAISS's own format (faiss::write_index). *out must be freed with
 * atl_blob_destroy. The caller writes the file (atomically, with its own checksum). */
ATL_API atl_status* atl_index_write(const atl_index* index, atl_blob** out);
/* Reads an index written by atl_index_write from size bytes at data (caller-owned; not freed;
 * nothing refers to it after the call). A truncated, extended or malformed buffer returns
 * ATL_ERR_FORMAT. *out must be freed with atl_index_destroy. */
ATL_API atl_status* atl_index_read(const void* data, int64_t size, atl_index** out);

/* PCA (faiss::PCAMatrix): d_in -> d_out, eigen_power 0 = no whitening, -0.5 = full whitening.
 * *out must be freed with atl_pca_destroy. */
ATL_API atl_status* atl_pca_create(int32_t d_in, int32_t d_out, float eigen_power, atl_pca** out);
ATL_API void atl_pca_destroy(atl_pca* pca);
ATL_API int32_t atl_pca_d_in(const atl_pca* pca);
ATL_API int32_t atl_pca_d_out(const atl_pca* pca);
ATL_API int32_t atl_pca_is_trained(const atl_pca* pca);
/* Trains on vectors F32 [n, d_in] (n >= d_out). vectors is caller-owned; not freed. */
ATL_API atl_status* atl_pca_train(atl_pca* pca, const atl_tensor_view* vectors);
/* out F32 [n, d_out] = PCA(in F32 [n, d_in]); with l2_normalize != 0 each output row is then
 * scaled to unit length (rows of zeros stay zero), so that inner product is cosine. Safe from
 * many threads at once. Both are caller-owned; not freed. */
ATL_API atl_status* atl_pca_apply(const atl_pca* pca, const atl_tensor_view* in,
                                  atl_tensor_view* out, int32_t l2_normalize);
/* Serialises / reads as atl_index_write / atl_index_read (faiss::write_VectorTransform). */
ATL_API atl_status* atl_pca_write(const atl_pca* pca, atl_blob** out);
ATL_API atl_status* atl_pca_read(const void* data, int64_t size, atl_pca** out);

/* Scales each row of vectors F32 [n, d] to unit L2 length in place (rows of zeros stay zero).
 * vectors is caller-owned; not freed; written. */
ATL_API atl_status* atl_l2_normalize(atl_tensor_view* vectors);

/* ------------------------------------------------------------------------------------------
 * Operations of the SD networks on Atelier's own kernels (native/src/ops/)
 *
 * The networks run their attention, convolutions, Linear layers and normalisations on Atelier's
 * kernels in inference (ATL_OP_KERNEL_AUTO on an AVX-512 CPU), and on libtorch ops wherever a
 * gradient flows (training) or the CPU lacks AVX-512. The kernels field of the network params
 * picks one for the whole network (benchmarks compare them in one process); the functions below
 * run one operation with a chosen kernel (tests against libtorch and the reference).
 * ---------------------------------------------------------------------------------------- */

typedef enum atl_op_kernel {
    ATL_OP_KERNEL_AUTO = 0,      /* AVX512 where the CPU has it, else TORCH */
    ATL_OP_KERNEL_REFERENCE = 1, /* plain scalar C++, double accumulation: slow, for checking */
    ATL_OP_KERNEL_AVX512 = 2,    /* Atelier's AVX-512 kernels */
    ATL_OP_KERNEL_TORCH = 3      /* libtorch ops (oneDNN, OpenBLAS) */
} atl_op_kernel;

/* "auto", "reference", "avx512", "torch"; NULL for an unknown value. Borrowed; static. */
ATL_API const char* atl_op_kernel_name(int32_t kernel);
/* The atl_op_kernel named name, or -1. name is caller-owned; not freed. */
ATL_API int32_t atl_op_kernel_from_name(const char* name);
/* 1 when kernel can run on this CPU, else 0. */
ATL_API int32_t atl_op_kernel_available(int32_t kernel);

/* out = softmax(q k^T / sqrt(d)) v for each of heads heads (d = channels / heads).
 * q: [b, lq, channels], k and v: [b, lk, channels], out: [b, lq, channels]; F32 or BF16, lk >= 1.
 * The kernels compute in F32, except the AVX512 kernel on an avx512_bf16 CPU with a BF16 q: its
 * two products then take BF16 operands (q, k, v and the softmax's probabilities rounded) and sum
 * in F32. All caller-owned; out is written. */
ATL_API atl_status* atl_op_attention(int32_t kernel, const atl_tensor_view* q, const atl_tensor_view* k,
                                     const atl_tensor_view* v, int32_t heads, atl_tensor_view* out);
/* y = x W^T + bias. x: [n, in], weight: [out, in], bias: [out] or NULL, y: [n, out]. x F32;
 * weight F32 or BF16 (a BF16 weight on an avx512_bf16 CPU makes the AVX512 kernel round x to
 * BF16 and sum in F32). All caller-owned; y is written. */
ATL_API atl_status* atl_op_linear(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                  const atl_tensor_view* bias, atl_tensor_view* y);
/* y = conv2d(x, weight, stride, padding) + bias on channels-last activations: x [n, h, w, in],
 * weight [out, in, k, k], bias [out] or NULL, y [n, oh, ow, out] with oh = (h + 2 padding - k) /
 * stride + 1 (likewise ow). x F32; weight F32 or BF16 (as for atl_op_linear). All caller-owned;
 * y is written. */
ATL_API atl_status* atl_op_conv2d(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                  const atl_tensor_view* bias, int32_t stride, int32_t padding, atl_tensor_view* y);
/* GroupNorm of channels-last x [n, ..., c] over groups of c / groups channels (torch.nn.GroupNorm
 * on the channels-first view), then y = norm * weight + bias, then SiLU when silu != 0.
 * weight, bias F32 [c]; x and y F32 or BF16, same shape. All caller-owned; y is written. */
ATL_API atl_status* atl_op_group_norm(int32_t kernel, const atl_tensor_view* x, int32_t groups,
                                      const atl_tensor_view* weight, const atl_tensor_view* bias, float eps,
                                      int32_t silu, atl_tensor_view* y);
/* LayerNorm of x [..., c] over c (torch.nn.LayerNorm). weight, bias F32 [c]; x and y F32 or BF16.
 * All caller-owned; y is written. */
ATL_API atl_status* atl_op_layer_norm(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                      const atl_tensor_view* bias, float eps, atl_tensor_view* y);

/* Profiles: time and floating-point operations of the networks per operation class, recorded on
 * the thread that started the profile (forward calls, the native sampling loop). */
typedef enum atl_profile_network {
    ATL_PROFILE_TEXT_ENCODER = 0,
    ATL_PROFILE_UNET = 1,
    ATL_PROFILE_VAE = 2
} atl_profile_network;
#define ATL_PROFILE_NETWORKS 3

typedef enum atl_op_class {
    ATL_OP_CONVOLUTION = 0,
    ATL_OP_LINEAR = 1,
    ATL_OP_ATTENTION = 2,   /* q k^T, softmax, P v */
    ATL_OP_NORMALISATION = 3, /* GroupNorm, LayerNorm (with a fused activation) */
    ATL_OP_ELEMENTWISE = 4, /* activations, residual adds, GEGLU, embeddings */
    ATL_OP_LAYOUT = 5,      /* copies that only move data: permutes, concatenation, upsampling */
    ATL_OP_OTHER = 6        /* the rest of the network's time (read-only: derived) */
} atl_op_class;
#define ATL_OP_CLASSES 7

/* "text_encoder", "unet", "vae" / "convolution", "linear", ...; NULL when unknown. Borrowed; static. */
ATL_API const char* atl_profile_network_name(int32_t network);
ATL_API const char* atl_op_class_name(int32_t op_class);

typedef struct atl_profile atl_profile;

typedef struct atl_profile_entry {
    int32_t network;  /* atl_profile_network */
    int32_t op_class; /* atl_op_class */
    int64_t calls;    /* operations (for ATL_OP_OTHER: forward calls of the network) */
    double seconds;
    double flops;     /* counted for convolutions, Linear layers and attention; 0 otherwise */
} atl_profile_entry;

/* *out must be freed with atl_profile_destroy. */
ATL_API atl_status* atl_profile_create(atl_profile** out);
/* Frees p; stops it first if it is recording on the calling thread. Accepts NULL. */
ATL_API void atl_profile_destroy(atl_profile* p);
/* Records the networks' work on the calling thread into p until atl_profile_stop on this thread
 * (a profile records on one thread at a time; starting another one replaces it). p: borrowed;
 * must outlive the recording. */
ATL_API atl_status* atl_profile_start(atl_profile* p);
ATL_API void atl_profile_stop(void);
/* Writes up to capacity entries (one per network and class with any time, networks in order;
 * ATL_OP_OTHER is the network's forward time not in any class) and returns how many there are.
 * out is caller-owned; may be NULL when capacity is 0. */
ATL_API int32_t atl_profile_read(const atl_profile* p, atl_profile_entry* out, int32_t capacity);
/* The floating-point operations per second that a GEMM reaches on this machine now, with the
 * current thread count: the fastest of Atelier's GEMM and libtorch's matmul (OpenBLAS; oneDNN in
 * BF16) on a product of 2048 x 1024 x 1024 in dtype (F32 or BF16), each repeated for about
 * seconds / 2; the peak that profiles report a share of. */
ATL_API atl_status* atl_measure_peak_flops(int32_t dtype, double seconds, double* out_flops);

/* ------------------------------------------------------------------------------------------
 * Stable Diffusion 1.x networks: CLIP text encoder, UNet, VAE
 *
 * Each network is created from an atl_weights holding ONLY its own tensors, named without the
 * checkpoint prefix (a single-file LDM checkpoint keeps them under
 * "cond_stage_model.transformer.text_model.", "model.diffusion_model." and "first_stage_model.";
 * the caller strips the prefix). The architecture is read from the tensor shapes: an
 * architecture field left at 0 is inferred; a non-zero one must agree with the weights.
 * Head counts cannot be read from shapes and come from the params (SD1.5 defaults).
 * Missing, unexpected or mis-shaped tensors, and tensors holding NaN or infinite values, give
 * ONE status with ATL_ERR_FORMAT listing them.
 *
 * compute_dtype: ATL_DTYPE_F32 or ATL_DTYPE_BF16 (and ATL_DTYPE_F16 on CUDA). With F32 weights
 * and F32 compute on the CPU the mapped weights are used without a copy; otherwise each weight is
 * converted once at create. Norms are computed in F32 in every mode on the CPU.
 * device, device_index: where the weights live and the forward runs. ATL_DEVICE_CUDA copies every
 * weight to that GPU once at create, converted there to the compute dtype, and runs libtorch's
 * CUDA ops (kernels must be AUTO or TORCH); ATL_ERR_UNSUPPORTED when this library's libtorch has
 * no CUDA or the device is absent. Forward inputs and outputs are always F32 (I64 token ids),
 * contiguous or strided views on the CPU or on the network's device: inputs are copied to the
 * device once per call and results copied back into the caller's view.
 * A network may be used by one thread at a time.
 * ---------------------------------------------------------------------------------------- */

#define ATL_SD_MAX_LEVELS 8

typedef struct atl_text_encoder atl_text_encoder;

typedef struct atl_text_encoder_params {
    int32_t compute_dtype;  /* ATL_DTYPE_F32 (default), ATL_DTYPE_BF16; ATL_DTYPE_F16 on CUDA */
    int32_t num_heads;      /* attention heads; 12 for SD1.5 (default) */
    /* Architecture: 0 = infer from the weights (SD1.5: 49408, 768, 12, 3072, 77). */
    int32_t vocab_size;
    int32_t width;          /* hidden size */
    int32_t layers;
    int32_t intermediate;   /* MLP size */
    int32_t max_positions;  /* tokens per chunk, 77 */
    int32_t kernels;        /* atl_op_kernel: ATL_OP_KERNEL_AUTO (default) */
    int32_t device;         /* atl_device: ATL_DEVICE_CPU (default) or ATL_DEVICE_CUDA */
    int32_t device_index;   /* CUDA ordinal; 0 */
} atl_text_encoder_params;

ATL_API void atl_text_encoder_params_init(atl_text_encoder_params* p);
/* *out must be freed with atl_text_encoder_destroy. w and p are caller-owned; not freed: the
 * encoder keeps its own reference to the tensors of w (see atl_weights_add for the memory). */
ATL_API atl_status* atl_text_encoder_create(const atl_weights* w, const atl_text_encoder_params* p,
                                            atl_text_encoder** out);
ATL_API void atl_text_encoder_destroy(atl_text_encoder* te);
/* The full configuration, inferred fields filled in. out is caller-owned. */
ATL_API atl_status* atl_text_encoder_config(const atl_text_encoder* te, atl_text_encoder_params* out);
/* input_ids: I64 [n, L] with L = max_positions, or L = c * max_positions for c chunks that are
 * encoded separately and concatenated along the sequence (long prompts, as A1111 does).
 * clip_skip >= 1: the output of layer clip_skip from the end (1 = last layer), then the final
 * layer norm. out: F32 [n, L, width], caller-owned. */
ATL_API atl_status* atl_text_encoder_forward(atl_text_encoder* te, const atl_tensor_view* input_ids,
                                             int32_t clip_skip, atl_tensor_view* out);

typedef struct atl_unet atl_unet;

typedef struct atl_unet_params {
    int32_t compute_dtype;      /* ATL_DTYPE_F32 (default), ATL_DTYPE_BF16; ATL_DTYPE_F16 on CUDA */
    int32_t num_heads;          /* heads per attention layer when num_head_channels <= 0; 8 for SD1.5 */
    int32_t num_head_channels;  /* > 0: heads = channels / num_head_channels instead; -1 default */
    /* Architecture: 0 = infer from the weights (SD1.5: 4, 4, 320, 2, 768, 1, 4 levels). */
    int32_t in_channels;
    int32_t out_channels;
    int32_t model_channels;
    int32_t num_res_blocks;
    int32_t context_dim;
    int32_t transformer_depth;
    int32_t num_levels;                           /* 0: infer channel_mult and attention_levels too */
    int32_t channel_mult[ATL_SD_MAX_LEVELS];      /* SD1.5: 1, 2, 4, 4 */
    int32_t attention_levels[ATL_SD_MAX_LEVELS];  /* 1 where the level has attention; SD1.5: 1, 1, 1, 0
                                                   * (LDM attention_resolutions 4,2,1 = levels 0,1,2) */
    int32_t kernels;                              /* atl_op_kernel: ATL_OP_KERNEL_AUTO (default) */
    int32_t device;         /* atl_device: ATL_DEVICE_CPU (default) or ATL_DEVICE_CUDA */
    int32_t device_index;   /* CUDA ordinal; 0 */
} atl_unet_params;

ATL_API void atl_unet_params_init(atl_unet_params* p);
/* *out must be freed with atl_unet_destroy. w and p are caller-owned; not freed. */
ATL_API atl_status* atl_unet_create(const atl_weights* w, const atl_unet_params* p, atl_unet** out);
ATL_API void atl_unet_destroy(atl_unet* u);
ATL_API atl_status* atl_unet_config(const atl_unet* u, atl_unet_params* out);
/* eps = UNet(x, t, context). x: F32 [b, in_channels, h, w] with h, w multiples of
 * 2^(num_levels-1); t: F32 [b] continuous timesteps; context: F32 [b, L, context_dim].
 * out: F32 [b, out_channels, h, w], caller-owned. */
ATL_API atl_status* atl_unet_forward(atl_unet* u, const atl_tensor_view* x, const atl_tensor_view* t,
                                     const atl_tensor_view* context, atl_tensor_view* out);

typedef struct atl_vae atl_vae;

typedef struct atl_vae_params {
    int32_t compute_dtype;  /* ATL_DTYPE_F32 (default), ATL_DTYPE_BF16; ATL_DTYPE_F16 on CUDA */
    /* Architecture: 0 = infer from the weights (SD1.5: 3, 3, 128, 4, 4, 2, 4 levels). */
    int32_t in_channels;
    int32_t out_channels;
    int32_t ch;
    int32_t z_channels;
    int32_t embed_dim;  /* latent channels */
    int32_t num_res_blocks;
    int32_t num_levels;                    /* 0: infer ch_mult too */
    int32_t ch_mult[ATL_SD_MAX_LEVELS];    /* SD1.5: 1, 2, 4, 4 */
    int32_t kernels;                       /* atl_op_kernel: ATL_OP_KERNEL_AUTO (default) */
    int32_t device;         /* atl_device: ATL_DEVICE_CPU (default) or ATL_DEVICE_CUDA */
    int32_t device_index;   /* CUDA ordinal; 0 */
} atl_vae_params;

ATL_API void atl_vae_params_init(atl_vae_params* p);
/* *out must be freed with atl_vae_destroy. w and p are caller-owned; not freed. */
ATL_API atl_status* atl_vae_create(const atl_weights* w, const atl_vae_params* p, atl_vae** out);
ATL_API void atl_vae_destroy(atl_vae* v);
ATL_API atl_status* atl_vae_config(const atl_vae* v, atl_vae_params* out);
/* image = decoder(post_quant_conv(latents / scale_factor)). Pass the model's scale_factor
 * (0.18215 for SD1.x) to decode diffusion latents, or 1 for raw first-stage latents.
 * latents: F32 [b, embed_dim, h, w]; out: F32 [b, out_channels, h*f, w*f], f = 2^(num_levels-1),
 * caller-owned. */
ATL_API atl_status* atl_vae_decode(atl_vae* v, const atl_tensor_view* latents, float scale_factor,
                                   atl_tensor_view* out);
/* The posterior of the encoder: moments = quant_conv(encoder(image)) split in two along the
 * channels, logvar clamped to [-30, 20] (LDM DiagonalGaussianDistribution). Unscaled: diffusion
 * latents are mean * scale_factor. image: F32 [b, in_channels, H, W], H, W multiples of f;
 * mean_out, logvar_out: F32 [b, embed_dim, H/f, W/f], caller-owned. */
ATL_API atl_status* atl_vae_encode(atl_vae* v, const atl_tensor_view* image, atl_tensor_view* mean_out,
                                   atl_tensor_view* logvar_out);

/* ------------------------------------------------------------------------------------------
 * Sampling: schedules, samplers and the denoising loop (native/src/sample/)
 *
 * A1111 / k-diffusion semantics. An eps-prediction model is wrapped as k-diffusion's
 * CompVisDenoiser: sigmas = sqrt((1 - alphas_cumprod) / alphas_cumprod) from the model's
 * alphas_cumprod, continuous timesteps from sigma by log-sigma interpolation, model input
 * x / sqrt(sigma^2 + 1), denoised = x - sigma * eps. k-samplers start from noise * sigmas[0];
 * DDIM (CompVis DDIMSampler) starts from the unit noise itself.
 *
 * Seeds: batch element j uses seed + j (A1111: a batch of size b holds seeds seed..seed+b-1;
 * batch count n is n calls with seed + i*b). Its unit-Gaussian noise [c, h, w] is
 * torch.randn((c, h, w), generator=torch.Generator().manual_seed(seed + j)) on the CPU, as
 * A1111 draws it with its "CPU" random number source. Ancestral noise (euler_a, ddim with
 * eta > 0) continues from the same per-element generator. dpmpp_sde_karras draws its noise
 * from a Brownian tree per element, seeded from seed + j (see native/src/sample/noise.hpp).
 * ---------------------------------------------------------------------------------------- */

typedef enum atl_sampler {
    ATL_SAMPLER_DDIM = 0,
    ATL_SAMPLER_EULER = 1,
    ATL_SAMPLER_EULER_A = 2,
    ATL_SAMPLER_HEUN = 3,
    ATL_SAMPLER_DPMPP_2M = 4,
    ATL_SAMPLER_DPMPP_2M_KARRAS = 5, /* DPM++ 2M on the Karras schedule */
    ATL_SAMPLER_DPMPP_SDE_KARRAS = 6 /* DPM++ SDE on the Karras schedule */
} atl_sampler;

/* "ddim", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_sde_karras";
 * NULL for an unknown value. Borrowed; static. */
ATL_API const char* atl_sampler_name(int32_t sampler);
/* The atl_sampler named name, or -1. name is caller-owned; not freed. */
ATL_API int32_t atl_sampler_from_name(const char* name);

typedef enum atl_schedule {
    ATL_SCHEDULE_DEFAULT = 0, /* k-diffusion get_sigmas: timesteps linspace(T-1, 0, n), then 0 */
    ATL_SCHEDULE_KARRAS = 1   /* Karras et al. 2022, rho 7, between the model's sigma_min/max */
} atl_schedule;

/* "default", "karras"; NULL for an unknown value. Borrowed; static. */
ATL_API const char* atl_schedule_name(int32_t schedule);
/* The atl_schedule named name, or -1. name is caller-owned; not freed. */
ATL_API int32_t atl_schedule_from_name(const char* name);

typedef struct atl_sample_params {
    int32_t sampler;  /* atl_sampler; default ATL_SAMPLER_EULER_A */
    int32_t schedule; /* atl_schedule; default ATL_SCHEDULE_DEFAULT. The *_karras samplers
                         always use Karras; DDIM accepts only the default (its own timesteps) */
    int32_t steps;    /* >= 1; default 20 */
    float cfg;        /* classifier-free guidance scale, finite; default 7 */
    float eta;        /* < 0: the sampler's default (ddim 0, euler_a and dpmpp_sde 1); default -1 */
    uint64_t seed;    /* element j of the batch uses seed + j; default 0 */
    int32_t width;    /* image pixels, multiple of 8, >= 8; default 512 */
    int32_t height;   /* image pixels, multiple of 8, >= 8; default 512 */
    int32_t batch;    /* images per call, >= 1; default 1 */
} atl_sample_params;

/* Fills p with the defaults above. */
ATL_API void atl_sample_params_init(atl_sample_params* p);

/* The noise schedule of an LDM config's "linear" beta schedule (LDM ddpm.py make_beta_schedule):
 * betas = linspace(sqrt(linear_start), sqrt(linear_end), timesteps)^2 and alphas_cumprod =
 * cumprod(1 - betas), both in F64. 0 < linear_start <= linear_end < 1 and timesteps >= 2, else
 * ATL_ERR_INVALID_ARGUMENT. out: F64 (or F32, rounded once at the end) [timesteps], caller-owned. */
ATL_API atl_status* atl_noise_schedule(double linear_start, double linear_end, int32_t timesteps,
                                       atl_tensor_view* out);

/* The sigmas a k-sampler runs through: out F32 [steps + 1], last 0, caller-owned.
 * alphas_cumprod: F32 or F64 [T] (atl_noise_schedule's or a checkpoint's), or NULL for the SD1.x
 * schedule (atl_noise_schedule(0.00085, 0.012, 1000)). Used in F32, as LDM registers it.
 * caller-owned; not freed. */
ATL_API atl_status* atl_sample_sigmas(const atl_tensor_view* alphas_cumprod, int32_t schedule, int32_t steps,
                                      atl_tensor_view* out);

/* An eps-prediction model given by the caller: writes eps F32 [b, c, h, w] into out for the
 * scaled input x F32 [b, c, h, w] at continuous timesteps t F32 [b]. Return 0 on success,
 * anything else to fail the run (ATL_ERR_BACKEND). Views are borrowed; valid during the call. */
typedef int32_t (*atl_eps_fn)(void* user_data, const atl_tensor_view* x, const atl_tensor_view* t,
                              atl_tensor_view* out);

/* Runs the sampler of params on an eps model given as a callback (tests, other backends);
 * guidance, if any, is the callback's business (params.cfg is ignored). noise: F32 unit Gaussian
 * [batch, channels, height/8, width/8], or NULL to draw it from params.seed with `channels` = 4.
 * out_latents: F32 [batch, channels, height/8, width/8], caller-owned. progress is called after
 * every step with (step, steps); a cancel returns ATL_ERR_CANCELLED and leaves out_latents
 * unwritten. Latents that stop being finite (NaN or infinite) after a step return
 * ATL_ERR_INVALID_ARGUMENT naming the step, out_latents unwritten. All pointers are
 * caller-owned; not freed. */
ATL_API atl_status* atl_sample(atl_eps_fn eps_fn, void* eps_user_data, const atl_tensor_view* alphas_cumprod,
                               const atl_sample_params* params, const atl_tensor_view* noise,
                               const atl_progress* progress, atl_tensor_view* out_latents);

/* Text to latents on the UNet, one call per batch, with classifier-free guidance:
 * eps = uncond + cfg * (cond - uncond), both halves in one UNet batch of 2*batch.
 * cond_context, uncond_context: F32 [1 or batch, L, context_dim] with the same L (the text
 * encoder's output for the prompt and the negative prompt); uncond_context may be NULL when
 * cfg == 1 (then only cond is run). alphas_cumprod, noise, progress, out_latents: as for
 * atl_sample, with channels = the UNet's in_channels. All pointers are caller-owned; not freed. */
ATL_API atl_status* atl_generate(atl_unet* unet, const atl_tensor_view* alphas_cumprod,
                                 const atl_sample_params* params, const atl_tensor_view* cond_context,
                                 const atl_tensor_view* uncond_context, const atl_tensor_view* noise,
                                 const atl_progress* progress, atl_tensor_view* out_latents);

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

/* ------------------------------------------------------------------------------------------
 * LoRA: low-rank adapters on the SD networks, merged or computed at run time (native/src/lora/)
 *
 * An atl_lora is one network's part of a LoRA file (UNet or text encoder), already mapped to
 * the network's layer names by the caller (dev.atelier.engine.lora on the Java side): tensors
 * "<layer>.lora_down.weight" [r, in] (conv: [r, in, kh, kw]), "<layer>.lora_up.weight" [out, r]
 * (conv: [out, r, 1, 1]) and optionally "<layer>.alpha" (a scalar; rank when absent), where
 * <layer> is the checkpoint name of a Linear or Conv2d without ".weight" and without the
 * network's prefix ("input_blocks.1.1.proj_in", "encoder.layers.0.mlp.fc1").
 * The term added to a layer is multiplier * alpha / rank * up @ down (kohya networks/lora.py).
 *
 * Merged: W' = W + term, written into a working copy of the weight (never into mapped memory);
 * clearing swaps the loaded weight back, bit for bit. Unmerged: the term is computed at run time
 * by a fused kernel, so one loaded network serves requests that each bring their own LoRA; each
 * unmerged apply returns a slot, and atl_*_select_lora picks per sample which slot applies.
 * ---------------------------------------------------------------------------------------- */

typedef struct atl_lora atl_lora;

typedef enum atl_lora_mode {
    ATL_LORA_MERGED = 0,  /* added into a working copy of the weights */
    ATL_LORA_UNMERGED = 1 /* computed at run time; selectable per sample */
} atl_lora_mode;

/* "merged", "unmerged"; NULL for an unknown value. Borrowed; static. */
ATL_API const char* atl_lora_mode_name(int32_t mode);
/* The atl_lora_mode named name, or -1. name is caller-owned; not freed. */
ATL_API int32_t atl_lora_mode_from_name(const char* name);

/* Reads the adapters out of w (named as above). Every tensor of w must belong to an adapter,
 * every adapter needs both down and up with agreeing ranks, and every value must be finite (no
 * NaN or infinity), else ONE ATL_ERR_FORMAT lists the problems. The tensors are not copied:
 * see atl_weights_add for the memory. w is caller-owned; not freed. *out must be freed with
 * atl_lora_destroy. */
ATL_API atl_status* atl_lora_create(const atl_weights* w, atl_lora** out);
/* Frees lora. Accepts NULL. Networks it was applied to keep what they need. */
ATL_API void atl_lora_destroy(atl_lora* lora);
/* Number of adapters (layers) in lora. */
ATL_API int64_t atl_lora_count(const atl_lora* lora);

/* Applies lora to the network at multiplier. Every adapter must name a Linear or Conv2d of the
 * network with fitting shapes; otherwise nothing is applied and ONE status lists the problems
 * (ATL_ERR_FORMAT for unknown layers, ATL_ERR_SHAPE for shapes: a LoRA for another
 * architecture). mode: atl_lora_mode. For ATL_LORA_UNMERGED, *out_slot (may be NULL) receives
 * the slot of this LoRA (0, 1, 2, ... per network, in apply order); -1 for merged.
 * Several LoRAs may be applied, in either mode. */
ATL_API atl_status* atl_unet_apply_lora(atl_unet* u, const atl_lora* lora, float multiplier, int32_t mode,
                                        int32_t* out_slot);
ATL_API atl_status* atl_text_encoder_apply_lora(atl_text_encoder* te, const atl_lora* lora, float multiplier,
                                                int32_t mode, int32_t* out_slot);
/* Applies lora unmerged into slot, an unmerged apply's slot since the last clear (else
 * ATL_ERR_INVALID_ARGUMENT): a sample that selects slot gets these adapters as well as those
 * already there, so one slot can carry a set of LoRAs with their own multipliers. Checked as
 * atl_unet_apply_lora; nothing is applied on an error. */
ATL_API atl_status* atl_unet_apply_lora_to_slot(atl_unet* u, const atl_lora* lora, float multiplier, int32_t slot);
ATL_API atl_status* atl_text_encoder_apply_lora_to_slot(atl_text_encoder* te, const atl_lora* lora, float multiplier,
                                                        int32_t slot);
/* Removes the unmerged adapters of slot (an unmerged apply's slot since the last clear): samples
 * selecting it get no LoRA. Other slots keep their numbers and adapters; merged LoRAs stay. */
ATL_API atl_status* atl_unet_remove_lora(atl_unet* u, int32_t slot);
ATL_API atl_status* atl_text_encoder_remove_lora(atl_text_encoder* te, int32_t slot);
/* Removes every LoRA (both modes) and the selection: the network computes exactly what it did
 * when created. */
ATL_API atl_status* atl_unet_clear_lora(atl_unet* u);
ATL_API atl_status* atl_text_encoder_clear_lora(atl_text_encoder* te);
/* Per-sample selection of unmerged LoRAs for the following forward calls: slots I32 or I64 [b],
 * sample i gets the LoRA applied with slot slots[i] (-1: none); b must equal the batch of the
 * forward call (text encoder: input_ids rows). NULL: every unmerged LoRA applies to every sample
 * (the state after apply). Merged LoRAs always apply to every sample. slots is caller-owned; copied. */
ATL_API atl_status* atl_unet_select_lora(atl_unet* u, const atl_tensor_view* slots);
ATL_API atl_status* atl_text_encoder_select_lora(atl_text_encoder* te, const atl_tensor_view* slots);

/* The fused kernels on their own (tests, benchmarks, training). */
typedef enum atl_lora_kernel {
    ATL_LORA_KERNEL_AUTO = 0,        /* the best available for the dtype */
    ATL_LORA_KERNEL_REFERENCE = 1,   /* plain scalar C++ */
    ATL_LORA_KERNEL_AVX2 = 2,        /* AVX2 + FMA low-rank part, BLAS GEMM */
    ATL_LORA_KERNEL_AVX512 = 3,      /* AVX-512F: Atelier's GEMM with the low-rank term inside */
    ATL_LORA_KERNEL_AVX512_BF16 = 4, /* BF16 inputs, avx512_bf16 dot products (forward only) */
    ATL_LORA_KERNEL_UNFUSED = 5,     /* three libtorch ops: x W^T, x A^T, t B^T, then add */
    ATL_LORA_KERNEL_MERGED = 6,      /* W + s B A formed first, then one GEMM */
    ATL_LORA_KERNEL_TORCH_F64 = 7,   /* libtorch autograd in float64: the checking reference */
    ATL_LORA_KERNEL_CUDA = 8         /* CUDA (inputs copied to device 0); ATL_ERR_UNSUPPORTED without */
} atl_lora_kernel;

ATL_API const char* atl_lora_kernel_name(int32_t kernel);
ATL_API int32_t atl_lora_kernel_from_name(const char* name);
/* 1 when kernel can run on this machine and build. */
ATL_API int32_t atl_lora_kernel_available(int32_t kernel);

/* y = x W^T + bias + scale * (x A^T) B^T.
 * x: [n, in], or [b, L, in] with index; weight [out, in]; bias [out] or NULL;
 * a: [r, in] or [m, r, in] (m adapters); b: [out, r] or [m, out, r];
 * index: NULL (adapter 0 for every row), or I64 [b]: sample i of x [b, L, in] uses adapter
 * index[i] (-1: none). F32 views (the BF16 kernel rounds its inputs to BF16; the CUDA kernel
 * computes in x's dtype where that is F16 or BF16, weight converted to it, a, b and bias F32, sums
 * in F32). y: shaped as x with out columns, converted to y's dtype. All caller-owned; y is written. */
ATL_API atl_status* atl_lora_linear_forward(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                            const atl_tensor_view* bias, const atl_tensor_view* a,
                                            const atl_tensor_view* b, float scale, const atl_tensor_view* index,
                                            atl_tensor_view* y);
/* Gradients of the forward above (2-D x, one adapter, W frozen) given dy [n, out]:
 * dx [n, in], da [r, in], db [out, r]. F32 (F64 views accepted for the TORCH_F64 kernel; F16 or
 * BF16 x, weight and dy for the CUDA kernel, which then computes dx in that dtype).
 * All caller-owned; dx, da and db are written. */
ATL_API atl_status* atl_lora_linear_backward(int32_t kernel, const atl_tensor_view* x, const atl_tensor_view* weight,
                                             const atl_tensor_view* a, const atl_tensor_view* b, float scale,
                                             const atl_tensor_view* dy, atl_tensor_view* dx, atl_tensor_view* da,
                                             atl_tensor_view* db);

/* ------------------------------------------------------------------------------------------
 * LoRA training (native/src/train/)
 *
 * A trainer attaches trainable low-rank adapters (kohya networks/lora.py LoRAModule:
 * y = W x + alpha/rank * up(down(x)), down Kaiming-uniform, up zero) to named layers of a UNet
 * and optionally a text encoder, and runs the training step on libtorch autograd: noise and
 * timesteps drawn from a generator seeded by (seed, sample_index), the noisy latents of the
 * DDPM forward process, eps = UNet(noisy, t, context), loss = MSE(eps, noise) per sample with
 * optional min-SNR-gamma weighting, backward. The optimizer is AdamW over all adapters of a
 * network held in ONE flat buffer (a handful of large ops per update, not a few per tensor).
 * Learning rates come with each update (the schedule lives with the caller).
 *
 * The trainer shares ownership of the networks: their handles and the trainer may be destroyed
 * in any order (a network destroyed first lives on until the trainer is). While it exists the
 * networks compute WITH its adapters, also in atl_unet_forward / atl_text_encoder_forward
 * (the trained model's outputs), for every sample whatever atl_unet_select_lora selects; a
 * training step ignores that selection (it is for generation batches) and restores it after;
 * atl_lora_trainer_destroy removes them. Adapters are F32; a
 * BF16 network (weights cast once at create, norms in F32) casts them in each forward.
 * One thread at a time.
 * ---------------------------------------------------------------------------------------- */

typedef struct atl_lora_trainer atl_lora_trainer;

typedef enum atl_lora_network {
    ATL_LORA_UNET = 0,
    ATL_LORA_TEXT_ENCODER = 1
} atl_lora_network;

/* One trained layer. */
typedef struct atl_lora_module_spec {
    const char* name; /* the layer's checkpoint name without prefix or ".weight"
                         ("input_blocks.1.1.proj_in", "encoder.layers.0.mlp.fc1");
                         caller-owned; copied */
    int32_t network;  /* atl_lora_network */
    int32_t rank;     /* >= 1 */
    float alpha;      /* the adapter scales its output by alpha / rank */
} atl_lora_module_spec;

typedef struct atl_lora_train_params {
    uint64_t seed;           /* adapter initialisation, noise and timesteps */
    float beta1;             /* AdamW; default 0.9 */
    float beta2;             /* default 0.999 */
    float eps;               /* default 1e-8 */
    float weight_decay;      /* decoupled (Loshchilov & Hutter); default 0.01 */
    float min_snr_gamma;     /* > 0: loss weight min(SNR, gamma) / SNR (Hang et al. 2023); 0 off */
    float noise_offset;      /* > 0: noise += offset * N(0, 1) per sample and channel; 0 off */
    int32_t clip_skip;       /* text encoder layer from the end (1 = last); default 1 */
    int32_t gradient_checkpointing; /* 1: the UNet's transformer blocks keep no activations and are
                                       recomputed in backward (less memory, slower); default 0 */
    int32_t kernel;          /* the adapted Linears: ATL_LORA_KERNEL_AUTO (default: Atelier's fused
                                forward and backward where they apply, F32 on AVX-512 CPUs) or
                                ATL_LORA_KERNEL_UNFUSED (libtorch ops); others ATL_ERR_INVALID_ARGUMENT */
} atl_lora_train_params;

ATL_API void atl_lora_train_params_init(atl_lora_train_params* p);

/* Attaches adapters for modules[0..count) and creates the optimizer state. unet is required,
 * text_encoder may be NULL (then no module may name it). alphas_cumprod: F32 or F64 [T], the noise
 * schedule (timesteps are drawn from 0..T-1). A name that matches no layer, a duplicate,
 * rank < 1 or a non-finite alpha is ATL_ERR_INVALID_ARGUMENT naming the module. unet,
 * text_encoder: caller-owned; the trainer shares their ownership, so they may be destroyed
 * before it. *out must be freed with atl_lora_trainer_destroy. */
ATL_API atl_status* atl_lora_trainer_create(atl_unet* unet, atl_text_encoder* text_encoder,
                                            const atl_lora_module_spec* modules, int64_t count,
                                            const atl_tensor_view* alphas_cumprod,
                                            const atl_lora_train_params* params, atl_lora_trainer** out);
/* Removes the adapters from the networks and frees trainer. Accepts NULL. */
ATL_API void atl_lora_trainer_destroy(atl_lora_trainer* trainer);

/* Number of modules; shape of module i's tensors (down: [rank, in] or [rank, in, k, k];
 * up: [out, rank] or [out, rank, 1, 1]); ndim 2 or 4. down_shape, up_shape: caller-owned
 * int64_t[4], written. */
ATL_API int64_t atl_lora_trainer_module_count(const atl_lora_trainer* trainer);
ATL_API atl_status* atl_lora_trainer_module_shape(const atl_lora_trainer* trainer, int64_t i,
                                                  int32_t* ndim, int64_t* down_shape, int64_t* up_shape);
/* Copies module i's trained tensors into down_out and up_out (F32, shapes as above; caller-owned). */
ATL_API atl_status* atl_lora_trainer_module_get(const atl_lora_trainer* trainer, int64_t i,
                                                atl_tensor_view* down_out, atl_tensor_view* up_out);

/* One forward and backward pass: adds loss_scale * d(loss)/d(adapters) to the gradients
 * (loss_scale = 1 / accumulation steps) and writes the unscaled loss (mean over the batch).
 * latents: F32 [b, c, h, w], already multiplied by the scale factor. Conditioning: context
 * F32 [b, L, context_dim] (text encoder not trained: hidden states computed once), OR
 * input_ids I64 [b, L] (the text encoder runs with its adapters); the other is NULL.
 * sample_index seeds this pass's noise and timesteps together with params.seed, so that a
 * resumed run draws the same numbers. A non-finite loss is ATL_ERR_BACKEND ("loss is NaN ...")
 * and leaves the gradients unchanged. All views caller-owned; not freed. */
ATL_API atl_status* atl_lora_trainer_accumulate(atl_lora_trainer* trainer, const atl_tensor_view* latents,
                                                const atl_tensor_view* context,
                                                const atl_tensor_view* input_ids, int64_t sample_index,
                                                float loss_scale, float* out_loss);
/* AdamW update with the accumulated gradients, then zeroes them. step: 1-based number of this
 * update (bias correction). Learning rates per network (0 leaves that network unchanged).
 * Non-finite parameters after the update are ATL_ERR_BACKEND; the update is then undone. */
ATL_API atl_status* atl_lora_trainer_update(atl_lora_trainer* trainer, int64_t step, float unet_lr,
                                            float text_lr);

/* The kinds of flat training state. */
typedef enum atl_lora_state {
    ATL_LORA_STATE_PARAMETERS = 0, /* the adapters' weights */
    ATL_LORA_STATE_EXP_AVG = 1,    /* AdamW first moments */
    ATL_LORA_STATE_EXP_AVG_SQ = 2  /* AdamW second moments */
} atl_lora_state;

/* The flat training state of one network, for checkpoints: what is an atl_lora_state;
 * F32 [n] with n = atl_lora_trainer_state_size. get copies into out (caller-owned); set copies
 * from in (caller-owned; not kept). */
ATL_API int64_t atl_lora_trainer_state_size(const atl_lora_trainer* trainer, int32_t network);
ATL_API atl_status* atl_lora_trainer_state_get(const atl_lora_trainer* trainer, int32_t network,
                                               int32_t what, atl_tensor_view* out);
ATL_API atl_status* atl_lora_trainer_state_set(atl_lora_trainer* trainer, int32_t network, int32_t what,
                                               const atl_tensor_view* in);

#ifdef __cplusplus
}
#endif

#endif /* ATELIER_H */
