// The fused LoRA forward on Atelier's packed GEMM (AVX-512, F32), by whichever route costs fewer
// multiply-adds for one sample's rows (RowSegment::route_rows, the same for every run of rows):
//   merged on the fly   out * in * r           (per run of rows that share the same adapters:
//                                                packing (W + s B A)^T, one GEMM; wins with many rows)
//   low-rank update     rows * r * (in + out)  (y = x W^T for all rows in ONE GEMM, then per run
//                                                t = x A^T and y += t (s B^T))
// W itself is never modified. The low-rank update keeps the base GEMM whole however many
// different adapters the rows use: a batch of samples with as many LoRAs runs its big product
// as one, as a batch with one LoRA does.
#include <ATen/Parallel.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/kernels.hpp"
#include "lora/packed_gemm.hpp"
#include "ops/weight_pack.hpp"

namespace atl::lora::avx512 {

namespace {

constexpr int64_t kProjectRows = 32;  // rows per parallel task of t = x A^T

// y [rows, m] = x [rows, k] Wop + bias + (x D^T) Q, D [R, k], Q [R, m], by the route that is
// cheaper for route_rows rows (the two round differently). The operator Wop comes packed: `base`
// is the shared packing (made on first use), `pack` packs a fresh copy to merge into.
bool merge_on_the_fly(int64_t route_rows, int64_t k, int64_t m) { return route_rows * (k + m) > k * m; }

constexpr int64_t kUpdateRows = 64;  // rows per task of the low-rank updates

// One term of a run of rows: A [r, k] in F32 and B^T packed (the term's kept packing, or one
// made for this call).
struct PreparedTerm {
    const LowRank* term;
    torch::Tensor a;
    float scale;
    const PackedRight* bt = nullptr;
    std::unique_ptr<PackedRight> own;
};

// y [rows, m] += s (x A^T) B^T for every term of every span, in ONE parallel region: a batch of
// samples with many LoRAs has many short runs of rows, and a parallel region per run and term
// cost more in thread wake-ups than the updates themselves. Each task owns a block of rows (its
// terms in list order), so a row's sum does not depend on how the rows were split.
void add_low_rank_updates(const float* x, int64_t k, int64_t m, const std::vector<Span>& spans,
                          const torch::Tensor& w, float* y) {
    std::vector<std::vector<PreparedTerm>> prepared(spans.size());
    std::vector<PreparedTerm*> to_pack;
    struct Task {
        size_t span;
        int64_t begin, end;
    };
    std::vector<Task> tasks;
    for (size_t s = 0; s < spans.size(); ++s) {
        if (!spans[s].terms || spans[s].end == spans[s].begin) continue;
        for (const LowRank& term : *spans[s].terms) {
            check_term(term, w);
            prepared[s].push_back({&term, term.a.to(torch::kFloat).contiguous(), static_cast<float>(term.scale), nullptr, {}});
        }
        for (PreparedTerm& p : prepared[s]) {
            if (p.term->b_pack) {
                p.bt = &p.term->b_pack->packed(p.term->b_source, torch::kFloat);  // kept: made once
            } else {
                to_pack.push_back(&p);
            }
        }
        for (int64_t i = spans[s].begin; i < spans[s].end; i += kUpdateRows) {
            tasks.push_back({s, i, std::min(i + kUpdateRows, spans[s].end)});
        }
    }
    at::parallel_for(0, static_cast<int64_t>(to_pack.size()), 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            PreparedTerm& p = *to_pack[i];
            const torch::Tensor b = p.term->b.to(torch::kFloat).contiguous();
            p.own = std::make_unique<PackedRight>(p.a.size(0), m);
            pack_transposed(b.data_ptr<float>(), p.a.size(0), *p.own);
            p.bt = p.own.get();
        }
    });
    at::parallel_for(0, static_cast<int64_t>(tasks.size()), 1, [&](int64_t i0, int64_t i1) {
        std::vector<float> t;
        for (int64_t i = i0; i < i1; ++i) {
            const Task& task = tasks[i];
            const int64_t rows = task.end - task.begin;
            for (const PreparedTerm& p : prepared[task.span]) {
                const int64_t r = p.a.size(0);
                t.resize(static_cast<size_t>(rows * r));
                project(x + task.begin * k, k, rows, k, p.a.data_ptr<float>(), r, t.data());
                for (float& v : t) v *= p.scale;
                const DepthPart part{t.data(), r, p.bt};
                gemm(&part, 1, rows, nullptr, y + task.begin * m, m, /*accumulate=*/true);
            }
        }
    });
}

template <typename Base, typename Pack>
void product_with_low_rank(const float* x, int64_t rows, int64_t route_rows, int64_t k, int64_t m, Base&& base,
                           Pack&& pack, const torch::Tensor& d, const torch::Tensor& q, const float* bias, float* y) {
    const int64_t r = d.size(0);
    if (merge_on_the_fly(route_rows, k, m)) {
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
                             const std::vector<RowSegment>& segments, const PackedRight* packed_weight) {
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
        if (packed_weight && packed_weight->format() == Format::F32 && packed_weight->depth() == in &&
            packed_weight->out() == out) {
            return packed_weight;
        }
        if (!base) {
            base = std::make_unique<PackedRight>(in, out);
            pack(*base);
        }
        return base.get();
    };
    const std::vector<Span> spans = cover(n, segments);
    // Every term of a span stacked: A [R, in] and Q = s B^T [R, out].
    auto stacked = [&](const Span& span) {
        std::vector<torch::Tensor> as, qs;
        for (const LowRank& term : *span.terms) {
            check_term(term, w);
            as.push_back(term.a.to(torch::kFloat));
            qs.push_back(term.b.to(torch::kFloat).t().mul(term.scale));
        }
        return std::make_pair(torch::cat(as, 0).contiguous(), torch::cat(qs, 0).contiguous());
    };
    int64_t route_rows = n;  // the segments' (all the same), else all rows
    for (const Span& span : spans) {
        if (span.route_rows > 0) route_rows = span.route_rows;
    }
    if (!merge_on_the_fly(route_rows, in, out)) {
        DepthPart part{xp, in, base_pack()};
        gemm(&part, 1, n, bp, yp, out);
        add_low_rank_updates(xp, in, out, spans, w, yp);
        return y;
    }
    auto run_span = [&](const Span& span) {
        const int64_t rows = span.end - span.begin;
        if (rows == 0) return;
        const float* xs = xp + span.begin * in;
        float* ys = yp + span.begin * out;
        if (!span.terms) {
            DepthPart part{xs, in, base_pack()};
            gemm(&part, 1, rows, bp, ys, out);
            return;
        }
        const auto [a, q] = stacked(span);
        product_with_low_rank(xs, rows, route_rows, in, out, base_pack, pack, a, q, bp, ys);
    };
    if (static_cast<int64_t>(spans.size()) < 2 * at::get_num_threads()) {
        for (const Span& span : spans) run_span(span);  // each span's packing and GEMM parallel inside
        return y;
    }
    // Many short spans (a batch of samples with as many LoRAs): one parallel region over them, each
    // span's merge and GEMM inline on its thread, instead of three parallel regions per span (the
    // packing, the merge and the GEMM), whose wake-ups cost more than small spans' work. A span's
    // result is the same either way: the work inside it is split by rows and columns, never depth.
    if (std::any_of(spans.begin(), spans.end(), [](const Span& s) { return !s.terms && s.end > s.begin; })) {
        base_pack();  // made here: base_pack is not safe to call from several threads
    }
    at::parallel_for(0, static_cast<int64_t>(spans.size()), 1, [&](int64_t s0, int64_t s1) {
        for (int64_t s = s0; s < s1; ++s) run_span(spans[s]);
    });
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
