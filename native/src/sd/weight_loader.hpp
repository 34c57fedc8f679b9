// Reads one model component's tensors out of a weight map, checking names and shapes, and
// collects every problem so that a bad file gives ONE error listing them all.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/weights.hpp"

namespace atl::sd {

class WeightLoader {
public:
    // component names the model in messages ("unet"); compute is kFloat or kBFloat16 (or kHalf
    // on CUDA). Tensors come back on device: off the CPU, every one is copied there once.
    WeightLoader(std::shared_ptr<const TensorMap> tensors, std::string component, c10::ScalarType compute,
                 torch::Device device = torch::kCPU);

    c10::ScalarType compute() const { return compute_; }
    const std::string& component() const { return component_; }

    bool has(const std::string& name) const;
    // True when some tensor name starts with prefix.
    bool has_prefix(const std::string& prefix) const;
    // Size of dimension d of name; -1 (and a recorded problem) when the tensor is missing or too small.
    int64_t dim(const std::string& name, int64_t d);

    // The tensor under name, checked against shape and converted ONCE to the compute dtype
    // (or to F32 when keep_f32: norm parameters). With matching dtype the mapped tensor is
    // returned as is, without a copy. A missing or mis-shaped tensor is recorded and zeros of
    // the expected shape come back, so that construction can go on and report everything.
    torch::Tensor take(const std::string& name, std::vector<int64_t> shape, bool keep_f32 = false);
    // The same checks, but on the CPU the tensor comes back in the dtype it is stored in (no
    // conversion; a copy only when it is not contiguous): Linear and convolution weights, which
    // derive the forms they compute in themselves (ops/weight_pack.hpp). On another device, in
    // the compute dtype (converted there once: libtorch's ops use it as is). Their values are not
    // scanned for NaN and infinity here: the layer's WeightPack does that when it first reads them
    // (a scan here would read every page of a mapped file at creation and hold them all at once).
    torch::Tensor take_stored(const std::string& name, std::vector<int64_t> shape);
    // name may be present and is then ignored (buffers such as CLIP's position_ids).
    void allow(const std::string& name) { consumed_.insert(name); }

    void problem(const std::string& message) { problems_.push_back(message); }
    // Throws ATL_ERR_FORMAT when a problem was recorded so far (used before shapes can be trusted).
    void check() const;
    // Adds every tensor that no take()/allow() asked for as unexpected, then check().
    void finish();

private:
    torch::Tensor take_as(const std::string& name, std::vector<int64_t> shape, c10::ScalarType target,
                          bool scan_values = true);

    std::shared_ptr<const TensorMap> tensors_;
    std::string component_;
    c10::ScalarType compute_;
    torch::Device device_;
    std::set<std::string> consumed_;
    std::vector<std::string> problems_;
};

}  // namespace atl::sd
