// The fused LoRA forward on Atelier's packed GEMM (AVX-512, F32). Per run of rows that share the same
// adapters, the low-rank term goes inside the GEMM (packed_gemm.hpp) by whichever route costs fewer
// multiply-adds:
//   merged on the fly   out * in * r           (packing (W + s B A)^T; wins with many rows)
//   extended depth      rows * r * (in + out)  (t = x A^T, then [x | t] times [W^T ; s B^T])
// so y is written once, by one GEMM, and W itself is never modified.
#include <ATen/Parallel.h>

#include <algorithm>
#include <memory>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/kernels.hpp"
#include "lora/packed_gemm.hpp"

namespace atl::lora::avx512 {

namespace {

constexpr int64_t kProjectRows = 32;  // rows per parallel task of t = x A^T

// y [rows, m] = x [rows, k] Wop + bias + (x D^T) Q, D [R, k], Q [R, m], by the route that is
// cheaper for route_rows rows (the two round differently). The operator Wop comes packed: `base`
// is the shared packing (made on first use), `pack` packs a fresh copy to merge into.
template <typename Base, typename Pack>
void product_with_low_rank(const float* x, int64_t rows, int64_t route_rows, int64_t k, int64_t m, Base&& base,
                           Pack&& pack, const torch::Tensor& d, const torch::Tensor& q, const float* bias, float* y) {
    const int64_t r = d.size(0);
    if (route_rows * (k + m) > k * m) {
        PackedRight merged(k, m);
        pack(merged);
        torch::Tensor dt = d.t().contiguous();
        add_product(dt.data_ptr<float>(), r, q.data_ptr<float>(), merged);
        DepthPart part{x, k, &merged};
        gemm(&part, 1, rows, bias, y, m);
        return;
    }
    torch::Tensor t = torch::empty({rows, r}, torch::kFloat);
    float* tp = t.data_ptr<float>();
    const float* dp = d.data_ptr<float>();
    at::parallel_for(0, rows, kProjectRows, [&](int64_t i0, int64_t i1) {
        project(x + i0 * k, k, i1 - i0, k, dp, r, tp + i0 * r);
    });
    PackedRight ext(r, m);
    pack_rows(q.data_ptr<float>(), ext);
    const DepthPart parts[2] = {{x, k, base()}, {tp, r, &ext}};
    gemm(parts, 2, rows, bias, y, m);
}

}  // namespace

torch::Tensor forward_packed(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                             const std::vector<RowSegment>& segments) {
    torch::Tensor xc = x.to(torch::kFloat).contiguous(), wc = w.to(torch::kFloat).contiguous();
    torch::Tensor bc = bias.defined() ? bias.to(torch::kFloat).contiguous() : torch::Tensor();
    const int64_t n = xc.size(0), in = xc.size(1), out = wc.size(0);
    torch::Tensor y = torch::empty({n, out}, torch::kFloat);
    const float* xp = xc.data_ptr<float>();
    const float* bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
    float* yp = y.data_ptr<float>();

    auto pack = [&](PackedRight& p) { pack_transposed(wc.data_ptr<float>(), in, p); };
    std::unique_ptr<PackedRight> base;  // W^T, packed the first time a span needs it
    auto base_pack = [&]() -> const PackedRight* {
        if (!base) {
            base = std::make_unique<PackedRight>(in, out);
            pack(*base);
        }
        return base.get();
    };
    for (const Span& span : cover(n, segments)) {
        const int64_t rows = span.end - span.begin;
        if (rows == 0) continue;
        const float* xs = xp + span.begin * in;
        float* ys = yp + span.begin * out;
        if (!span.terms) {
            DepthPart part{xs, in, base_pack()};
            gemm(&part, 1, rows, bp, ys, out);
            continue;
        }
        // Every term of the span stacked: A [R, in] and Q = s B^T [R, out].
        std::vector<torch::Tensor> as, qs;
        for (const LowRank& term : *span.terms) {
            check_term(term, w);
            as.push_back(term.a.to(torch::kFloat));
            qs.push_back(term.b.to(torch::kFloat).t().mul(term.scale));
        }
        product_with_low_rank(xs, rows, span.route_rows > 0 ? span.route_rows : rows, in, out, base_pack, pack,
                              torch::cat(as, 0).contiguous(),
                              torch::cat(qs, 0).contiguous(), bp, ys);
    }
    return y;
}

torch::Tensor input_grad_packed(const torch::Tensor& dy, const torch::Tensor& w, const LowRank& term) {
    torch::Tensor g = dy.to(torch::kFloat).contiguous(), wc = w.to(torch::kFloat).contiguous();
    const int64_t n = g.size(0), out = wc.size(0), in = wc.size(1);
    check_term(term, w);
    torch::Tensor dx = torch::empty({n, in}, torch::kFloat);
    // dx = dy W + (dy B) (s A): the forward's product with W read as [out][in] rows, D = B^T, Q = s A.
    auto pack = [&](PackedRight& p) { pack_rows(wc.data_ptr<float>(), p); };
    std::unique_ptr<PackedRight> base;
    auto base_pack = [&]() -> const PackedRight* {
        base = std::make_unique<PackedRight>(out, in);
        pack(*base);
        return base.get();
    };
    product_with_low_rank(g.data_ptr<float>(), n, n, out, in, base_pack, pack,
                          term.b.to(torch::kFloat).t().contiguous(), term.a.to(torch::kFloat).mul(term.scale).contiguous(),
                          nullptr, dx.data_ptr<float>());
    return dx;
}

}  // namespace atl::lora::avx512
