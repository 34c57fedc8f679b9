// atl_index: a FAISS index made by faiss::index_factory, with id-filtered search, efSearch /
// nprobe settings and serialisation to memory. FAISS 1.7.3 (Debian), CPU only.
#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/HNSW.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "index/exact_search.hpp"
#include "index/hnsw_search.hpp"
#include "index/id_filter.hpp"
#include "index/omp_threads.hpp"
#include "index/serial.hpp"
#include "index/torch_search.hpp"
#include "index/views.hpp"

using idx_t = faiss::Index::idx_t;

struct atl_index {
    std::unique_ptr<faiss::Index> index;
    std::string description;  // refreshed after every change
    int32_t search_kernel = ATL_SEARCH_KERNEL_AUTO;
    // The flat rows on the device the TORCH search kernel runs on (set with that kernel).
    std::shared_ptr<atl::index::DeviceRows> device_rows;
};

namespace atl::index {
namespace {

faiss::IndexIDMap* as_id_map(faiss::Index* index) { return dynamic_cast<faiss::IndexIDMap*>(index); }
const faiss::IndexIDMap* as_id_map(const faiss::Index* index) {
    return dynamic_cast<const faiss::IndexIDMap*>(index);
}

// The HNSW inside index (itself or below an id map / pre-transform), or NULL.
faiss::IndexHNSW* find_hnsw(faiss::Index* index) {
    while (index != nullptr) {
        if (auto h = dynamic_cast<faiss::IndexHNSW*>(index)) return h;
        if (auto m = as_id_map(index)) index = m->index;
        else if (auto p = dynamic_cast<faiss::IndexPreTransform*>(index)) index = p->index;
        else return nullptr;
    }
    return nullptr;
}

// The metric as atl_metric_name spells it ("inner_product", "l2"), "other" for the rest.
const char* metric_string(faiss::MetricType m) {
    return m == faiss::METRIC_INNER_PRODUCT ? "inner_product" : m == faiss::METRIC_L2 ? "l2" : "other";
}

std::string describe(const faiss::Index* index) {
    if (auto m = as_id_map(index)) {
        bool two = dynamic_cast<const faiss::IndexIDMap2*>(index) != nullptr;
        return std::string(two ? "IDMap2(" : "IDMap(") + describe(m->index) + ")";
    }
    if (auto p = dynamic_cast<const faiss::IndexPreTransform*>(index)) {
        return "PreTransform(" + std::to_string(p->chain.size()) + " transforms, " + describe(p->index) + ")";
    }
    if (auto h = dynamic_cast<const faiss::IndexHNSW*>(index)) {
        return "HNSW(M=" + std::to_string(h->hnsw.nb_neighbors(1)) +
               ", efConstruction=" + std::to_string(h->hnsw.efConstruction) +
               ", efSearch=" + std::to_string(h->hnsw.efSearch) + ", " + metric_string(index->metric_type) + ")";
    }
    if (auto ivf = dynamic_cast<const faiss::IndexIVF*>(index)) {
        std::string kind = dynamic_cast<const faiss::IndexIVFPQ*>(index)     ? "IVFPQ"
                           : dynamic_cast<const faiss::IndexIVFFlat*>(index) ? "IVFFlat"
                                                                             : "IVF";
        return kind + "(nlist=" + std::to_string(ivf->nlist) + ", nprobe=" + std::to_string(ivf->nprobe) + ", " +
               metric_string(index->metric_type) + ")";
    }
    if (dynamic_cast<const faiss::IndexFlat*>(index)) return std::string("Flat(") + metric_string(index->metric_type) + ")";
    return std::string("Index(") + metric_string(index->metric_type) + ")";
}

// Whether add_with_ids works on this index (id maps and IVF store ids; the others number
// their vectors 0, 1, 2, ...).
bool stores_ids(faiss::Index* index) {
    return as_id_map(index) != nullptr || faiss::ivflib::try_extract_index_ivf(index) != nullptr;
}

// Presents an id selector on external ids to the index inside an IndexIDMap, whose ids are
// positions in id_map (what FAISS 1.7.4 calls IDSelectorTranslated; 1.7.3 rejects search
// parameters on IndexIDMap).
struct TranslatedSelector : faiss::IDSelector {
    const std::vector<idx_t>& id_map;
    const faiss::IDSelector& outer;
    TranslatedSelector(const std::vector<idx_t>& m, const faiss::IDSelector& o) : id_map(m), outer(o) {}
    bool is_member(idx_t id) const override {
        return id >= 0 && static_cast<size_t>(id) < id_map.size() && outer.is_member(id_map[id]);
    }
};

// Keeps the k best members of sel among `found` results per query (already sorted by FAISS).
// Returns whether every query got k.
bool keep_members(idx_t n, idx_t found, const float* fd, const idx_t* fi, idx_t k, const faiss::IDSelector& sel,
                  float empty_score, float* distances, idx_t* labels) {
    bool complete = true;
    for (idx_t q = 0; q < n; ++q) {
        idx_t out = 0;
        for (idx_t j = 0; j < found && out < k; ++j) {
            idx_t id = fi[q * found + j];
            if (id >= 0 && sel.is_member(id)) {
                distances[q * k + out] = fd[q * found + j];
                labels[q * k + out] = id;
                ++out;
            }
        }
        if (out < k) complete = false;
        for (; out < k; ++out) {
            distances[q * k + out] = empty_score;
            labels[q * k + out] = -1;
        }
    }
    return complete;
}

// Atelier's vector kernels for an atl_search_kernel, or NULL for FAISS's search (or a CPU
// without the instruction set).
const VectorKernels* kernels_of(int32_t kernel) {
    switch (kernel) {
        case ATL_SEARCH_KERNEL_AUTO: return &best_vector_kernels();
        case ATL_SEARCH_KERNEL_REFERENCE: return vector_kernels(Isa::Reference);
        case ATL_SEARCH_KERNEL_AVX2: return vector_kernels(Isa::Avx2);
        case ATL_SEARCH_KERNEL_AVX512: return vector_kernels(Isa::Avx512);
        default: return nullptr;
    }
}

// The search code chosen for an index: Atelier's CPU kernels, or the flat rows on a device
// (libtorch's GEMM and top-k), or neither (FAISS's search).
struct OwnSearch {
    const VectorKernels* kernels = nullptr;
    DeviceRows* device_rows = nullptr;
};

// Atelier's own search where the index kind allows it (flat storage: exact search, on the CPU
// kernels or the device; HNSW over flat storage: the graph walk); returns false for the others.
bool search_own(const OwnSearch& own, const faiss::Index* index, idx_t n, const float* x, idx_t k, const faiss::IDSelector* sel,
                float* distances, idx_t* labels) {
    bool ip = index->metric_type == faiss::METRIC_INNER_PRODUCT;
    if (!ip && index->metric_type != faiss::METRIC_L2) return false;
    if (auto flat = dynamic_cast<const faiss::IndexFlat*>(index)) {
        const FlatVectors rows{flat->get_xb(), flat->ntotal, flat->d, ip};
        if (own.device_rows != nullptr) {
            own.device_rows->search(rows, x, n, k, sel, distances, labels);
        } else if (own.kernels != nullptr) {
            exact_search(*own.kernels, rows, x, n, k, sel, distances, labels);
        } else {
            return false;
        }
        return true;
    }
    if (auto ivf = dynamic_cast<const faiss::IndexIVFFlat*>(index); ivf != nullptr && own.device_rows != nullptr) {
        return own.device_rows->search_ivf(*ivf, x, n, k, sel, distances, labels);
    }
    if (own.kernels == nullptr) return false;
    const VectorKernels& kern = *own.kernels;
    if (auto h = dynamic_cast<const faiss::IndexHNSW*>(index); h != nullptr && hnsw_search_supports(*h)) {
        hnsw_search(kern, *h, x, n, k, h->hnsw.efSearch, sel, distances, labels);
        return true;
    }
    return false;
}

// Filtered search: inside FAISS where 1.7.3 supports a selector, else by over-fetching.
// own: Atelier's search, used where the index kind allows; empty: FAISS's search.
void search_with(const faiss::Index* index, idx_t n, const float* x, idx_t k, const faiss::IDSelector* sel,
                 const OwnSearch& own, float* distances, idx_t* labels) {
    const bool has_own = own.kernels != nullptr || own.device_rows != nullptr;
    // Through an id map: search the inner index (with the filter translated to its positions),
    // then map positions back to ids. FAISS's own IndexIDMap::search does this unfiltered.
    if (auto m = as_id_map(index); m != nullptr && (has_own || sel != nullptr)) {
        std::unique_ptr<TranslatedSelector> inner;
        if (sel != nullptr) inner = std::make_unique<TranslatedSelector>(m->id_map, *sel);
        search_with(m->index, n, x, k, inner.get(), own, distances, labels);
        for (idx_t i = 0; i < n * k; ++i) {
            if (labels[i] >= 0) labels[i] = m->id_map[labels[i]];
        }
        return;
    }
    if (has_own && search_own(own, index, n, x, k, sel, distances, labels)) return;
    if (sel == nullptr) {
        index->search(n, x, k, distances, labels);
        return;
    }
    if (auto h = dynamic_cast<const faiss::IndexHNSW*>(index)) {
        faiss::SearchParametersHNSW p;
        p.efSearch = h->hnsw.efSearch;  // parameters replace the index's own setting
        p.sel = const_cast<faiss::IDSelector*>(sel);
        index->search(n, x, k, distances, labels, &p);
        return;
    }
    if (auto ivf = dynamic_cast<const faiss::IndexIVF*>(index)) {
        faiss::SearchParametersIVF p;
        p.nprobe = ivf->nprobe;
        p.max_codes = ivf->max_codes;
        p.sel = const_cast<faiss::IDSelector*>(sel);
        index->search(n, x, k, distances, labels, &p);
        return;
    }
    if (dynamic_cast<const faiss::IndexFlat*>(index)) {
        faiss::SearchParameters p;
        p.sel = const_cast<faiss::IDSelector*>(sel);
        index->search(n, x, k, distances, labels, &p);
        return;
    }
    // Any other kind: fetch 4k, 16k, ... and keep the members, until k are found or all seen.
    float empty = index->metric_type == faiss::METRIC_INNER_PRODUCT ? -std::numeric_limits<float>::max()
                                                                    : std::numeric_limits<float>::max();
    idx_t ntotal = std::max<idx_t>(index->ntotal, 1);
    idx_t fetch = std::min(ntotal, 4 * k);
    for (;;) {
        std::vector<float> fd(n * fetch);
        std::vector<idx_t> fi(n * fetch);
        index->search(n, x, fetch, fd.data(), fi.data());
        if (keep_members(n, fetch, fd.data(), fi.data(), k, *sel, empty, distances, labels) || fetch >= ntotal) return;
        fetch = std::min(ntotal, fetch * 4);
    }
}

atl_index* checked(const atl_index* index) {
    require(index != nullptr && index->index != nullptr, ATL_ERR_INVALID_ARGUMENT, "index is NULL");
    return const_cast<atl_index*>(index);
}

}  // namespace
}  // namespace atl::index

using namespace atl::index;

extern "C" {

const char* atl_faiss_version(void) {
    static const std::string version = std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) +
                                       "." + std::to_string(FAISS_VERSION_PATCH);
    return version.c_str();
}

const char* atl_metric_name(int32_t metric) {
    switch (metric) {
        case ATL_METRIC_INNER_PRODUCT: return "inner_product";
        case ATL_METRIC_L2: return "l2";
        default: return nullptr;
    }
}

int32_t atl_metric_from_name(const char* name) {
    if (name == nullptr) return -1;
    for (int32_t m : {ATL_METRIC_INNER_PRODUCT, ATL_METRIC_L2}) {
        if (std::strcmp(name, atl_metric_name(m)) == 0) return m;
    }
    return -1;
}

void atl_index_params_init(atl_index_params* p) {
    if (p == nullptr) return;
    std::memset(p, 0, sizeof(*p));
    p->factory = "Flat";
    p->dimension = 0;
    p->metric = ATL_METRIC_INNER_PRODUCT;
    p->device = ATL_DEVICE_CPU;
    p->device_index = 0;
    p->hnsw_ef_construction = 200;  // measured at 800k vectors: 40 stalls at recall@5 0.968
    p->hnsw_ef_search = 64;         // measured: recall@5 0.999 at 800k with efConstruction 200
    p->ivf_nprobe = 8;
    p->id_map = 0;
}

atl_status* atl_index_create(const atl_index_params* params, atl_index** out) {
    ATL_TRY
    atl::require(params != nullptr && out != nullptr, ATL_ERR_INVALID_ARGUMENT, "params or out is NULL");
    atl::require(params->dimension > 0, ATL_ERR_INVALID_ARGUMENT, "index dimension must be positive");
    atl::require(params->device == ATL_DEVICE_CPU || params->device == ATL_DEVICE_CUDA, ATL_ERR_INVALID_ARGUMENT,
                 "unknown device " + std::to_string(params->device));
    atl::require(params->metric == ATL_METRIC_INNER_PRODUCT || params->metric == ATL_METRIC_L2,
                 ATL_ERR_INVALID_ARGUMENT, "unknown metric " + std::to_string(params->metric));
    const char* factory = params->factory != nullptr && params->factory[0] != '\0' ? params->factory : "Flat";
    faiss::MetricType metric = params->metric == ATL_METRIC_L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    std::unique_ptr<faiss::Index> made;
    try {
        made.reset(faiss::index_factory(params->dimension, factory, metric));
    } catch (const std::exception& e) {
        atl::fail(ATL_ERR_INVALID_ARGUMENT, std::string("FAISS factory string \"") + factory + "\": " + e.what());
    }
    if (auto h = find_hnsw(made.get())) {
        atl::require(params->hnsw_ef_construction > 0, ATL_ERR_INVALID_ARGUMENT, "hnsw_ef_construction must be positive");
        h->hnsw.efConstruction = params->hnsw_ef_construction;
        if (params->hnsw_ef_search > 0) h->hnsw.efSearch = params->hnsw_ef_search;
    }
    if (auto ivf = faiss::ivflib::try_extract_index_ivf(made.get())) {
        if (params->ivf_nprobe > 0) ivf->nprobe = std::min<size_t>(params->ivf_nprobe, ivf->nlist);
    }
    if (params->id_map && as_id_map(made.get()) == nullptr) {
        auto wrapped = std::make_unique<faiss::IndexIDMap2>(made.get());
        made.release();
        wrapped->own_fields = true;
        made = std::move(wrapped);
    }
    auto index = std::make_unique<atl_index>();
    if (params->device == ATL_DEVICE_CUDA) {
        // FAISS here has no GPU build: a GPU index is flat storage searched on the GPU by
        // libtorch's GEMM and top-k (the TORCH search kernel), built and stored by FAISS on the CPU.
        const faiss::Index* inner = as_id_map(made.get()) ? as_id_map(made.get())->index : made.get();
        atl::require(dynamic_cast<const faiss::IndexFlat*>(inner) != nullptr ||
                         dynamic_cast<const faiss::IndexIVFFlat*>(inner) != nullptr,
                     ATL_ERR_UNSUPPORTED,
                     std::string("GPU index: \"") + factory + "\" is neither a Flat nor an IVF-Flat index; on a GPU "
                     "Atelier searches those two (no GPU FAISS in this build)");
        index->device_rows = std::make_shared<DeviceRows>(params->device, params->device_index);
        index->search_kernel = ATL_SEARCH_KERNEL_TORCH;
    }
    index->description = describe(made.get());
    index->index = std::move(made);
    *out = index.release();
    ATL_CATCH
}

void atl_index_destroy(atl_index* index) { delete index; }

int32_t atl_index_dimension(const atl_index* index) { return index && index->index ? index->index->d : 0; }

int64_t atl_index_ntotal(const atl_index* index) { return index && index->index ? index->index->ntotal : 0; }

int32_t atl_index_is_trained(const atl_index* index) {
    return index && index->index && index->index->is_trained ? 1 : 0;
}

int32_t atl_index_metric(const atl_index* index) {
    if (!index || !index->index) return -1;
    return index->index->metric_type == faiss::METRIC_L2 ? ATL_METRIC_L2 : ATL_METRIC_INNER_PRODUCT;
}

const char* atl_index_description(const atl_index* index) {
    return index && index->index ? index->description.c_str() : "";
}

atl_status* atl_index_train(atl_index* index, const atl_tensor_view* vectors) {
    ATL_TRY
    auto* ix = checked(index);
    auto m = f32_matrix(vectors, ix->index->d, "vectors");
    if (ix->index->is_trained) return nullptr;
    atl::require(m.rows > 0, ATL_ERR_INVALID_ARGUMENT, "training needs at least one vector");
    OmpThreads threads(atl_num_threads());
    ix->index->train(m.rows, m.data);
    ix->description = describe(ix->index.get());
    ATL_CATCH
}

atl_status* atl_index_add(atl_index* index, const atl_tensor_view* vectors, const atl_tensor_view* ids) {
    ATL_TRY
    auto* ix = checked(index);
    auto m = f32_matrix(vectors, ix->index->d, "vectors");
    atl::require(ix->index->is_trained, ATL_ERR_INVALID_ARGUMENT, "index must be trained before adding vectors");
    if (m.rows == 0) return nullptr;
    idx_t base = ix->index->ntotal;
    std::vector<idx_t> sequential;
    const idx_t* given = nullptr;
    if (ids != nullptr) given = i64_vector(ids, m.rows, "ids").data;
    OmpThreads threads(atl_num_threads());
    if (stores_ids(ix->index.get())) {
        if (given == nullptr) {
            sequential.resize(m.rows);
            for (idx_t i = 0; i < m.rows; ++i) sequential[i] = base + i;
            given = sequential.data();
        }
        for (idx_t i = 0; i < m.rows; ++i) {
            atl::require(given[i] >= 0, ATL_ERR_INVALID_ARGUMENT, "ids must not be negative");
        }
        ix->index->add_with_ids(m.rows, m.data, given);
    } else {
        if (given != nullptr) {
            for (idx_t i = 0; i < m.rows; ++i) {
                atl::require(given[i] == base + i, ATL_ERR_INVALID_ARGUMENT,
                             "this index numbers its vectors itself (next id " + std::to_string(base) +
                                 "): create it with id_map = 1 to add other ids");
            }
        }
        ix->index->add(m.rows, m.data);
    }
    ATL_CATCH
}

atl_status* atl_index_set_ef_search(atl_index* index, int32_t ef_search) {
    ATL_TRY
    auto* ix = checked(index);
    auto h = find_hnsw(ix->index.get());
    atl::require(h != nullptr, ATL_ERR_INVALID_ARGUMENT, "efSearch: not an HNSW index: " + ix->description);
    atl::require(ef_search > 0, ATL_ERR_INVALID_ARGUMENT, "efSearch must be positive");
    h->hnsw.efSearch = ef_search;
    ix->description = describe(ix->index.get());
    ATL_CATCH
}

atl_status* atl_index_set_nprobe(atl_index* index, int32_t nprobe) {
    ATL_TRY
    auto* ix = checked(index);
    auto ivf = faiss::ivflib::try_extract_index_ivf(ix->index.get());
    atl::require(ivf != nullptr, ATL_ERR_INVALID_ARGUMENT, "nprobe: not an IVF index: " + ix->description);
    atl::require(nprobe > 0, ATL_ERR_INVALID_ARGUMENT, "nprobe must be positive");
    ivf->nprobe = std::min<size_t>(nprobe, ivf->nlist);
    ix->description = describe(ix->index.get());
    ATL_CATCH
}

const char* atl_search_kernel_name(int32_t kernel) {
    switch (kernel) {
        case ATL_SEARCH_KERNEL_AUTO: return "auto";
        case ATL_SEARCH_KERNEL_FAISS: return "faiss";
        case ATL_SEARCH_KERNEL_REFERENCE: return "reference";
        case ATL_SEARCH_KERNEL_AVX2: return "avx2";
        case ATL_SEARCH_KERNEL_AVX512: return "avx512";
        case ATL_SEARCH_KERNEL_TORCH: return "torch";
        default: return nullptr;
    }
}

int32_t atl_search_kernel_from_name(const char* name) {
    if (name == nullptr) return -1;
    for (int32_t k = ATL_SEARCH_KERNEL_AUTO; k <= ATL_SEARCH_KERNEL_TORCH; ++k) {
        if (std::strcmp(name, atl_search_kernel_name(k)) == 0) return k;
    }
    return -1;
}

int32_t atl_search_kernel_available(int32_t kernel) {
    return kernel == ATL_SEARCH_KERNEL_FAISS || kernel == ATL_SEARCH_KERNEL_TORCH || kernels_of(kernel) != nullptr ? 1 : 0;
}

atl_status* atl_index_set_search_kernel(atl_index* index, int32_t kernel) {
    ATL_TRY
    auto* ix = checked(index);
    atl::require(atl_search_kernel_name(kernel) != nullptr, ATL_ERR_INVALID_ARGUMENT,
                 "unknown search kernel " + std::to_string(kernel));
    atl::require(atl_search_kernel_available(kernel) != 0, ATL_ERR_UNSUPPORTED,
                 std::string("search kernel ") + atl_search_kernel_name(kernel) + ": this CPU lacks its instructions");
    // TORCH keeps the index's device (a GPU index's rows stay there); on a CPU index it searches
    // a copy of the rows on the CPU. Any other kernel searches FAISS's storage on the CPU.
    if (kernel == ATL_SEARCH_KERNEL_TORCH && !ix->device_rows) {
        ix->device_rows = std::make_shared<DeviceRows>(ATL_DEVICE_CPU, 0);
    } else if (kernel != ATL_SEARCH_KERNEL_TORCH) {
        ix->device_rows.reset();
    }
    ix->search_kernel = kernel;
    ATL_CATCH
}

int32_t atl_index_search_kernel(const atl_index* index) { return index ? index->search_kernel : -1; }

int32_t atl_index_ef_search(const atl_index* index) {
    if (!index || !index->index) return -1;
    auto h = find_hnsw(index->index.get());
    return h ? h->hnsw.efSearch : -1;
}

int32_t atl_index_nprobe(const atl_index* index) {
    if (!index || !index->index) return -1;
    auto ivf = faiss::ivflib::try_extract_index_ivf(const_cast<faiss::Index*>(index->index.get()));
    return ivf ? static_cast<int32_t>(ivf->nprobe) : -1;
}

atl_status* atl_index_search(const atl_index* index, const atl_tensor_view* queries, int64_t k,
                             const atl_id_filter* filter, atl_tensor_view* out_scores, atl_tensor_view* out_ids) {
    ATL_TRY
    const auto* ix = checked(index);
    auto q = f32_matrix(queries, ix->index->d, "queries");
    atl::require(k > 0, ATL_ERR_INVALID_ARGUMENT, "k must be positive");
    float* scores = f32_output(out_scores, q.rows, k, "out_scores");
    idx_t* ids = i64_output(out_ids, q.rows, k, "out_ids");
    if (q.rows == 0) return nullptr;
    // One query on several OpenMP threads took 8-12 ms instead of 0.1-0.3 ms (thread start-up and
    // synchronisation dwarf the work), so a single query runs on one thread.
    OmpThreads threads(q.rows == 1 ? 1 : atl_num_threads());
    const faiss::IDSelector* sel = filter != nullptr ? filter->selector.get() : nullptr;
    // TORCH searches flat storage on the device and the other kinds Atelier's CPU kernels can
    // (HNSW over flat storage) with the best of those.
    const OwnSearch own{ix->device_rows ? &best_vector_kernels() : kernels_of(ix->search_kernel), ix->device_rows.get()};
    search_with(ix->index.get(), q.rows, q.data, k, sel, own, scores, ids);
    ATL_CATCH
}

atl_status* atl_index_write(const atl_index* index, atl_blob** out) {
    ATL_TRY
    const auto* ix = checked(index);
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = write_blob([&](faiss::IOWriter* w) { faiss::write_index(ix->index.get(), w); });
    ATL_CATCH
}

atl_status* atl_index_read(const void* data, int64_t size, atl_index** out) {
    ATL_TRY
    atl::require(out != nullptr, ATL_ERR_INVALID_ARGUMENT, "out is NULL");
    auto read = read_buffer<faiss::Index>(data, size, "FAISS index data",
                                          [](faiss::IOReader* r) { return faiss::read_index(r); });
    auto index = std::make_unique<atl_index>();
    index->description = describe(read.get());
    index->index = std::move(read);
    *out = index.release();
    ATL_CATCH
}

}  // extern "C"
