// atl_pca: faiss::PCAMatrix (d_in -> d_out), applied to queries and catalog vectors alike,
// plus row L2 normalisation so that inner product is cosine similarity.
#include <faiss/VectorTransform.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <memory>
#include <string>

#include "core/status.hpp"
#include "index/omp_threads.hpp"
#include "index/serial.hpp"
#include "index/views.hpp"

struct atl_pca {
    std::unique_ptr<faiss::PCAMatrix> pca;
};

using namespace atl::index;

namespace {

const faiss::PCAMatrix& checked(const atl_pca* pca) {
    atl::require(pca != nullptr && pca->pca != nullptr, ATL_ERR_INVALID_ARGUMENT, "pca is NULL");
    return *pca->pca;
}

}  // namespace

extern "C" {

atl_status* atl_pca_create(int32_t d_in, int32_t d_out, float eigen_power, atl_pca** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    atl::require(d_in > 0 && d_out > 0 && d_out <= d_in, ATL_ERR_INVALID_ARGUMENT,
                 "PCA needs 0 < d_out <= d_in, got " + std::to_string(d_in) + " -> " + std::to_string(d_out));
    auto p = std::make_unique<atl_pca>();
    p->pca = std::make_unique<faiss::PCAMatrix>(d_in, d_out, eigen_power, false);
    *out = p.release();
    ATL_CATCH
}

void atl_pca_destroy(atl_pca* pca) { delete pca; }

int32_t atl_pca_d_in(const atl_pca* pca) { return pca && pca->pca ? pca->pca->d_in : 0; }

int32_t atl_pca_d_out(const atl_pca* pca) { return pca && pca->pca ? pca->pca->d_out : 0; }

int32_t atl_pca_is_trained(const atl_pca* pca) { return pca && pca->pca && pca->pca->is_trained ? 1 : 0; }

atl_status* atl_pca_train(atl_pca* pca, const atl_tensor_view* vectors) {
    ATL_TRY
    const auto& p = checked(pca);
    auto m = f32_matrix(vectors, p.d_in, "vectors");
    atl::require(m.rows >= p.d_out, ATL_ERR_INVALID_ARGUMENT,
                 "PCA to " + std::to_string(p.d_out) + " dimensions needs at least that many vectors, got " +
                     std::to_string(m.rows));
    OmpThreads threads(atl_num_threads());
    pca->pca->train(m.rows, m.data);
    ATL_CATCH
}

atl_status* atl_pca_apply(const atl_pca* pca, const atl_tensor_view* in, atl_tensor_view* out, int32_t l2_normalize) {
    ATL_TRY
    const auto& p = checked(pca);
    atl::require(p.is_trained, ATL_ERR_INVALID_ARGUMENT, "PCA is not trained");
    auto m = f32_matrix(in, p.d_in, "in");
    float* y = f32_output(out, m.rows, p.d_out, "out");
    if (m.rows == 0) return nullptr;
    OmpThreads threads(m.rows == 1 ? 1 : atl_num_threads());
    p.apply_noalloc(m.rows, m.data, y);
    if (l2_normalize) faiss::fvec_renorm_L2(p.d_out, m.rows, y);
    ATL_CATCH
}

atl_status* atl_pca_write(const atl_pca* pca, atl_blob** out) {
    ATL_TRY
    const auto& p = checked(pca);
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = write_blob([&](faiss::IOWriter* w) { faiss::write_VectorTransform(&p, w); });
    ATL_CATCH
}

atl_status* atl_pca_read(const void* data, int64_t size, atl_pca** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    auto vt = read_buffer<faiss::VectorTransform>(data, size, "PCA data",
                                                  [](faiss::IOReader* r) { return faiss::read_VectorTransform(r); });
    auto* as_pca = dynamic_cast<faiss::PCAMatrix*>(vt.get());
    atl::require(as_pca != nullptr, ATL_ERR_FORMAT, "PCA data holds another kind of FAISS transform");
    vt.release();
    auto p = std::make_unique<atl_pca>();
    p->pca.reset(as_pca);
    *out = p.release();
    ATL_CATCH
}

atl_status* atl_l2_normalize(atl_tensor_view* vectors) {
    ATL_TRY
    auto m = f32_matrix(vectors, -1, "vectors");
    if (m.rows == 0 || m.cols == 0) return nullptr;
    OmpThreads threads(m.rows == 1 ? 1 : atl_num_threads());
    faiss::fvec_renorm_L2(m.cols, m.rows, m.data);
    ATL_CATCH
}

}  // extern "C"
