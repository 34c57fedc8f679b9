// The C API of the MobileNetV3 embedder (atelier.h, section "Embedder").
#include <memory>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "core/weights.hpp"
#include "embed/mobilenet_v3.hpp"

struct atl_embedder {
    std::unique_ptr<atl::embed::MobileNetV3> net;
    int32_t num_threads = 1;
};

namespace {

// Sets the intra-op thread count for one call and restores it. With libtorch's OpenMP backend
// (Debian's build) at::set_num_threads sets the calling thread's OpenMP team size, so concurrent
// callers do not disturb each other; it also stores the count that threads entering libtorch
// for the first time start with, which is why the previous value is put back.
class ThreadCountScope {
public:
    explicit ThreadCountScope(int32_t n) {
        if (n > 0 && n != at::get_num_threads()) {
            previous_ = at::get_num_threads();
            at::set_num_threads(n);
        }
    }
    ~ThreadCountScope() {
        if (previous_ > 0) {
            try {
                at::set_num_threads(previous_);
            } catch (...) {
            }
        }
    }
    ThreadCountScope(const ThreadCountScope&) = delete;
    ThreadCountScope& operator=(const ThreadCountScope&) = delete;

private:
    int previous_ = 0;
};

void check_output(const atl_tensor_view* v, const char* what) {
    if (v == nullptr) return;
    atl::require(v->dtype == ATL_DTYPE_F32, ATL_ERR_SHAPE, std::string(what) + " must be F32");
}

}  // namespace

extern "C" {

void atl_embedder_params_init(atl_embedder_params* p) {
    if (p == nullptr) return;
    p->fold_batchnorm = 1;
    p->channels_last = 1;
    p->num_threads = 1;
}

atl_status* atl_embedder_create(const atl_weights* w, const atl_embedder_params* params, atl_embedder** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    atl::require(w != nullptr, ATL_ERR_INVALID_ARGUMENT, "weights handle is NULL");
    atl_embedder_params p;
    atl_embedder_params_init(&p);
    if (params != nullptr) p = *params;
    atl::require(p.num_threads >= 0, ATL_ERR_INVALID_ARGUMENT,
                 "num_threads must be >= 0, got " + std::to_string(p.num_threads));
    atl::embed::Options options;
    options.fold_batchnorm = p.fold_batchnorm != 0;
    options.channels_last = p.channels_last != 0;
    c10::InferenceMode guard;
    auto e = std::make_unique<atl_embedder>();
    e->net = std::make_unique<atl::embed::MobileNetV3>(*w->tensors, options);
    e->num_threads = p.num_threads;
    *out = e.release();
    ATL_CATCH
}

void atl_embedder_destroy(atl_embedder* e) { delete e; }

int64_t atl_embedder_pooled_dim(const atl_embedder* e) { return e ? e->net->pooled_dim() : 0; }
int64_t atl_embedder_prelogits_dim(const atl_embedder* e) { return e ? e->net->prelogits_dim() : 0; }
int64_t atl_embedder_num_classes(const atl_embedder* e) { return e ? e->net->num_classes() : 0; }

atl_status* atl_embedder_forward(atl_embedder* e, const atl_tensor_view* input, atl_tensor_view* pooled,
                                 atl_tensor_view* prelogits, atl_tensor_view* logits) {
    ATL_TRY
    atl::require(e != nullptr, ATL_ERR_INVALID_ARGUMENT, "embedder handle is NULL");
    atl::require(input != nullptr, ATL_ERR_INVALID_ARGUMENT, "input is NULL");
    atl::require(pooled || prelogits || logits, ATL_ERR_INVALID_ARGUMENT,
                 "no output given: pass at least one of pooled, prelogits, logits");
    atl::require(input->dtype == ATL_DTYPE_F32, ATL_ERR_SHAPE, "input must be F32");
    check_output(pooled, "pooled");
    check_output(prelogits, "prelogits");
    check_output(logits, "logits");
    torch::Tensor x = atl::wrap(input, "input");
    atl::require(x.dim() == 4 && x.size(1) == 3 && x.size(0) > 0 && x.size(2) > 0 && x.size(3) > 0,
                 ATL_ERR_SHAPE, "input must be [n, 3, H, W] with n, H, W > 0, got " + atl::shape_string(x.sizes()));
    ThreadCountScope threads(e->num_threads);
    c10::InferenceMode guard;
    atl::embed::Outputs out = e->net->forward(x, prelogits != nullptr, logits != nullptr);
    if (pooled) atl::write_into(pooled, out.pooled, "pooled");
    if (prelogits) atl::write_into(prelogits, out.prelogits, "prelogits");
    if (logits) atl::write_into(logits, out.logits, "logits");
    ATL_CATCH
}

}  // extern "C"
