#include "sd/weight_loader.hpp"

#include <sstream>

#include "core/finite.hpp"
#include "core/status.hpp"
#include "core/tensor_view.hpp"

namespace atl::sd {

namespace {
constexpr size_t kMaxListed = 20;
}

WeightLoader::WeightLoader(std::shared_ptr<const TensorMap> tensors, std::string component, c10::ScalarType compute,
                           torch::Device device)
    : tensors_(std::move(tensors)), component_(std::move(component)), compute_(compute), device_(device) {
    require(tensors_ != nullptr, ATL_ERR_INVALID_ARGUMENT, component_ + ": weights are NULL");
    require(compute_ == torch::kFloat || compute_ == torch::kBFloat16 || (compute_ == torch::kHalf && !device_.is_cpu()),
            ATL_ERR_INVALID_ARGUMENT, component_ + ": compute dtype must be F32 or BF16 (or F16 off the CPU)");
}

bool WeightLoader::has(const std::string& name) const { return tensors_->count(name) != 0; }

bool WeightLoader::has_prefix(const std::string& prefix) const {
    auto it = tensors_->lower_bound(prefix);
    return it != tensors_->end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

int64_t WeightLoader::dim(const std::string& name, int64_t d) {
    auto it = tensors_->find(name);
    if (it == tensors_->end()) {
        problem("missing " + name);
        return -1;
    }
    if (it->second.dim() <= d) {
        problem(name + ": has shape " + shape_string(it->second.sizes()) + ", expected at least " +
                std::to_string(d + 1) + " dimensions");
        return -1;
    }
    return it->second.size(d);
}

torch::Tensor WeightLoader::take_stored(const std::string& name, std::vector<int64_t> shape) {
    auto it = tensors_->find(name);
    const bool stored =
        device_.is_cpu() && it != tensors_->end() && c10::isFloatingType(it->second.scalar_type());
    return take_as(name, std::move(shape), stored ? it->second.scalar_type() : compute_, false);
}

torch::Tensor WeightLoader::take(const std::string& name, std::vector<int64_t> shape, bool keep_f32) {
    return take_as(name, std::move(shape), keep_f32 ? torch::kFloat : compute_);
}

torch::Tensor WeightLoader::take_as(const std::string& name, std::vector<int64_t> shape, c10::ScalarType target,
                                    bool scan_values) {
    consumed_.insert(name);
    auto it = tensors_->find(name);
    if (it == tensors_->end()) {
        problem("missing " + name + " " + shape_string(shape));
        return torch::zeros(shape, torch::TensorOptions().dtype(target));
    }
    const torch::Tensor& t = it->second;
    if (t.sizes() != c10::IntArrayRef(shape)) {
        problem(name + ": shape " + shape_string(t.sizes()) + ", expected " + shape_string(shape));
        return torch::zeros(shape, torch::TensorOptions().dtype(target));
    }
    if (!c10::isFloatingType(t.scalar_type())) {
        problem(name + ": dtype " + std::string(c10::toString(t.scalar_type())) + " is not a float type");
        return torch::zeros(shape, torch::TensorOptions().dtype(target));
    }
    // NaN or infinity in a weight makes every image black (or NaN latents): refuse the file.
    if (const int64_t bad = scan_values ? count_non_finite(t) : 0; bad != 0) {
        problem(name + ": " + std::to_string(bad) + " of " + std::to_string(t.numel()) +
                " values are NaN or infinite");
    }
    if (!device_.is_cpu()) return t.to(device_, target).contiguous();
    if (t.scalar_type() == target && t.is_contiguous()) return t;  // the mapped bytes, no copy
    // One conversion at creation; .to() allocates new memory, so the read-only mapping is never written.
    return t.to(target).contiguous();
}

void WeightLoader::check() const {
    if (problems_.empty()) return;
    std::ostringstream s;
    s << component_ << ": " << problems_.size() << " problem(s) with the weights: ";
    for (size_t i = 0; i < problems_.size() && i < kMaxListed; ++i) s << (i ? "; " : "") << problems_[i];
    if (problems_.size() > kMaxListed) s << "; and " << (problems_.size() - kMaxListed) << " more";
    fail(ATL_ERR_FORMAT, s.str());
}

void WeightLoader::finish() {
    for (const auto& [name, tensor] : *tensors_) {
        if (consumed_.count(name) == 0) problem("unexpected " + name + " " + shape_string(tensor.sizes()));
    }
    check();
}

}  // namespace atl::sd
