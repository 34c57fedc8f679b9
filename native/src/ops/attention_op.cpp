// The tensor-level attention: Atelier's kernels (attention_avx512.cpp, attention_ref.cpp) or
// libtorch's bmm and softmax (differentiable; the only one that takes a mask).
#include <algorithm>
#include <cmath>
#include <vector>

#include "atelier.h"
#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "core/torch_compat.hpp"
#include "ops/attention.hpp"
#include "ops/profile.hpp"

namespace atl::ops {

namespace {

// softmax(q k^T / sqrt(d) + mask) v with libtorch ops, queries in chunks so that one chunk's
// scores stay near 64M elements.
torch::Tensor attention_torch(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t heads,
                              const torch::Tensor& mask) {
    const int64_t b = q.size(0), lq = q.size(1), lk = k.size(1), inner = q.size(2);
    const int64_t d = inner / heads;
#if ATL_HAS_SDPA
    // On a GPU: libtorch's fused attention (flash / memory-efficient kernels, never L x L in
    // memory), the same softmax(q k^T / sqrt(d) + mask) v. The CPU keeps the code below.
    if (!q.device().is_cpu()) {
        auto heads_first = [&](const torch::Tensor& t) { return t.reshape({b, t.size(1), heads, d}).transpose(1, 2); };
        const torch::Tensor qh = heads_first(q), kh = heads_first(k), vh = heads_first(v);
        torch::Tensor out = mask.defined() ? at::scaled_dot_product_attention(qh, kh, vh, mask.to(q.scalar_type()))
                                           : at::scaled_dot_product_attention(qh, kh, vh);
        return out.transpose(1, 2).reshape({b, lq, inner});
    }
#endif
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    // [B, L, H*d] -> [B*H, L, d]
    auto split = [&](const torch::Tensor& t) {
        return t.reshape({b, t.size(1), heads, d}).permute({0, 2, 1, 3}).reshape({b * heads, t.size(1), d});
    };
    // The scale goes on q (L x d) rather than on the scores (L x L): one pass over the smaller tensor.
    torch::Tensor qh = split(q * scale), kt = split(k).transpose(1, 2), vh = split(v);
    const int64_t budget = int64_t{1} << 26;
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(lq, budget / std::max<int64_t>(1, b * heads * lk)));
    std::vector<torch::Tensor> outs;
    for (int64_t start = 0; start < lq; start += chunk) {
        int64_t len = std::min(chunk, lq - start);
        torch::Tensor scores = torch::bmm(qh.narrow(1, start, len), kt);
        if (mask.defined()) scores.add_(mask.narrow(0, start, len).to(scores.scalar_type()));
        // BF16 scores go to ATen's BF16 softmax, which accumulates in F32 (libtorch 1.13: the
        // same bits as softmax(..., kFloat).to(kBFloat16), benchmarks/sd/README.md) without the
        // two conversions of the whole L x L matrix, which cost more than the softmax itself.
        torch::Tensor p = torch::softmax(scores, -1);
        outs.push_back(torch::bmm(p, vh));
    }
    torch::Tensor out = outs.size() == 1 ? outs[0] : torch::cat(outs, 1);
    return out.reshape({b, heads, lq, d}).permute({0, 2, 1, 3}).reshape({b, lq, inner});
}

// F32 with unit stride in the last dimension and rows of equal stride (a view when already so).
torch::Tensor rows_f32(const torch::Tensor& t) {
    torch::Tensor f = t.to(torch::kFloat);
    if (f.stride(2) != 1 || f.stride(0) != f.size(1) * f.stride(1)) f = f.contiguous();
    return f;
}

}  // namespace

torch::Tensor attention(Kernel kernel, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t heads, c10::ScalarType compute, const torch::Tensor& mask) {
    require(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && k.sizes() == v.sizes() && q.size(0) == k.size(0) &&
                q.size(2) == k.size(2) && heads > 0 && q.size(2) % heads == 0 && k.size(1) > 0,
            ATL_ERR_SHAPE,
            "attention: q [b, lq, h*d], k and v [b, lk, h*d] with " + std::to_string(heads) + " heads, got q " +
                shape_string(q.sizes()) + ", k " + shape_string(k.sizes()) + ", v " + shape_string(v.sizes()));
    OpScope scope(OpClass::Attention, 4.0 * q.size(0) * q.size(1) * k.size(1) * q.size(2));
    kernel = resolve(kernel);
    if (kernel == Kernel::Torch || mask.defined()) return attention_torch(q, k, v, heads, mask);
    require(kernel_available(kernel), ATL_ERR_UNSUPPORTED, "attention: this CPU cannot run the AVX-512 kernel");
    torch::Tensor qf = rows_f32(q), kf = rows_f32(k), vf = rows_f32(v);
    torch::Tensor out = torch::empty({q.size(0), q.size(1), q.size(2)}, torch::kFloat);
    AttentionShape s;
    s.batch = q.size(0), s.lq = q.size(1), s.lk = k.size(1), s.heads = heads, s.dim = q.size(2) / heads;
    s.ldq = qf.stride(1), s.ldk = kf.stride(1), s.ldv = vf.stride(1), s.ldo = out.stride(1);
    if (kernel == Kernel::Avx512 && compute == torch::kBFloat16 && (atl_cpu_features() & ATL_CPU_AVX512_BF16)) {
        avx512::attention_bf16(s, qf.data_ptr<float>(), kf.data_ptr<float>(), vf.data_ptr<float>(), out.data_ptr<float>());
    } else if (kernel == Kernel::Avx512) {
        avx512::attention(s, qf.data_ptr<float>(), kf.data_ptr<float>(), vf.data_ptr<float>(), out.data_ptr<float>());
    } else {
        ref::attention(s, qf.data_ptr<float>(), kf.data_ptr<float>(), vf.data_ptr<float>(), out.data_ptr<float>());
    }
    return out.to(q.scalar_type());
}

}  // namespace atl::ops
