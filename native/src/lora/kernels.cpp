// Dispatch and the block loop of the fused LoRA linear (kernels.hpp).
#include "lora/kernels.hpp"

#include <ATen/Parallel.h>

#include <algorithm>

#include "core/status.hpp"
#include "core/tensor_view.hpp"
#include "lora/kernels_cuda.hpp"

namespace atl::lora {

namespace {

// Rows per block: a block of y (256 x 640 F32 = 640 KiB at most for SD1.5's widest attention)
// stays in the 1 MiB L2 between the GEMM and the low-rank update.
constexpr int64_t kBlockRows = 256;
// Rows per parallel task of the low-rank update.
constexpr int64_t kTaskRows = 32;

bool has(uint32_t bits) { return (atl_cpu_features() & bits) == bits; }

using ProjectFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, int64_t, float*);
using ExpandFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t);

ProjectFn project_of(Kernel k) {
    switch (k) {
        case Kernel::Avx2: return avx2::project;
        case Kernel::Avx512: return avx512::project;
        default: return ref::project;
    }
}
ExpandFn expand_of(Kernel k) {
    switch (k) {
        case Kernel::Avx2: return avx2::expand_add;
        case Kernel::Avx512: return avx512::expand_add;
        default: return ref::expand_add;
    }
}

// Scale folded into B^T once per call: Q [r, out] = s * B^T (F32, contiguous).
torch::Tensor scaled_bt(const LowRank& t) {
    return t.b.to(torch::kFloat).t().mul(t.scale).contiguous();
}

// Plain scalar y = x W^T + bias + sum of terms, F32 with double accumulation (the reference).
torch::Tensor forward_reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                                const std::vector<RowSegment>& segments) {
    torch::Tensor xf = x.to(torch::kFloat).contiguous(), wf = w.to(torch::kFloat).contiguous();
    const int64_t n = xf.size(0), in = xf.size(1), out = wf.size(0);
    torch::Tensor y = torch::empty({n, out}, torch::kFloat);
    const float* xp = xf.data_ptr<float>();
    const float* wp = wf.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    torch::Tensor bf = bias.defined() ? bias.to(torch::kFloat).contiguous() : torch::Tensor();
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t o = 0; o < out; ++o) {
            double acc = bf.defined() ? bf.data_ptr<float>()[o] : 0.0;
            for (int64_t c = 0; c < in; ++c) acc += static_cast<double>(xp[i * in + c]) * wp[o * in + c];
            yp[i * out + o] = static_cast<float>(acc);
        }
    }
    for (const RowSegment& s : segments) {
        for (const LowRank& term : s.terms) {
            torch::Tensor a = term.a.to(torch::kFloat).contiguous(), q = scaled_bt(term);
            const int64_t r = a.size(0), rows = s.end - s.begin;
            std::vector<float> t(static_cast<size_t>(rows * r));
            ref::project(xp + s.begin * in, in, rows, in, a.data_ptr<float>(), r, t.data());
            ref::expand_add(t.data(), rows, r, q.data_ptr<float>(), out, yp + s.begin * out, out);
        }
    }
    return y;
}

// The fused path: per block of rows, one GEMM (BLAS / oneDNN through libtorch) into that block of
// y, then the hand-written low-rank update of the same rows while they are in cache.
torch::Tensor forward_fused(Kernel k, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                            const std::vector<RowSegment>& segments) {
    const bool bf16 = k == Kernel::Avx512Bf16;
    const c10::ScalarType dt = bf16 ? torch::kBFloat16 : torch::kFloat;
    torch::Tensor xc = x.to(dt).contiguous(), wt = w.to(dt).t();
    torch::Tensor b = bias.defined() ? bias.to(dt) : torch::Tensor();
    const int64_t n = xc.size(0), in = xc.size(1), out = w.size(0);
    torch::Tensor y = torch::empty({n, out}, dt);

    // Per segment and term: A in the kernel's dtype and Q = s B^T in F32, prepared once.
    struct Prepared {
        int64_t begin, end;
        torch::Tensor a, q;
    };
    std::vector<Prepared> prep;
    for (const RowSegment& s : segments) {
        for (const LowRank& term : s.terms) {
            check_term(term, w);
            prep.push_back({s.begin, s.end, term.a.to(dt).contiguous(), scaled_bt(term)});
        }
    }
    ProjectFn project = project_of(k);
    ExpandFn expand = expand_of(k);
    for (int64_t r0 = 0; r0 < n; r0 += kBlockRows) {
        const int64_t r1 = std::min(n, r0 + kBlockRows);
        torch::Tensor yb = y.narrow(0, r0, r1 - r0), xb = xc.narrow(0, r0, r1 - r0);
        if (b.defined()) {
            torch::addmm_out(yb, b, xb, wt);
        } else {
            torch::mm_out(yb, xb, wt);
        }
        for (const Prepared& p : prep) {
            const int64_t lo = std::max(r0, p.begin), hi = std::min(r1, p.end);
            if (lo >= hi) continue;
            const int64_t r = p.a.size(0);
            const float* q = p.q.data_ptr<float>();
            at::parallel_for(lo, hi, kTaskRows, [&](int64_t a0, int64_t a1) {
                std::vector<float> t(static_cast<size_t>((a1 - a0) * r));
                if (bf16) {
                    avx512::project_bf16(xc.data_ptr<c10::BFloat16>() + a0 * in, in, a1 - a0, in,
                                         p.a.data_ptr<c10::BFloat16>(), r, t.data());
                    avx512::expand_add_bf16(t.data(), a1 - a0, r, q, out, y.data_ptr<c10::BFloat16>() + a0 * out,
                                            out);
                } else {
                    project(xc.data_ptr<float>() + a0 * in, in, a1 - a0, in, p.a.data_ptr<float>(), r, t.data());
                    expand(t.data(), a1 - a0, r, q, out, y.data_ptr<float>() + a0 * out, out);
                }
            });
        }
    }
    return y;
}

// Three separate libtorch ops per term, as an unfused implementation would run them.
torch::Tensor forward_unfused(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                              const std::vector<RowSegment>& segments) {
    torch::Tensor y = torch::linear(x, w, bias);
    for (const RowSegment& s : segments) {
        torch::Tensor xs = x.narrow(0, s.begin, s.end - s.begin);
        for (const LowRank& term : s.terms) {
            torch::Tensor t = torch::mm(xs, term.a.to(x.scalar_type()).t());
            torch::Tensor d = torch::mm(t, term.b.to(x.scalar_type()).t()).mul_(term.scale);
            y.narrow(0, s.begin, s.end - s.begin).add_(d);
        }
    }
    return y;
}

// W' = W + sum s B A, then one GEMM (only meaningful with one segment covering every row).
torch::Tensor forward_merged(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                             const std::vector<RowSegment>& segments) {
    torch::Tensor merged = w.to(torch::kFloat).clone();
    for (const RowSegment& s : segments) {
        require(s.begin == 0 && s.end == x.size(0), ATL_ERR_INVALID_ARGUMENT,
                "lora kernel: merged cannot give samples different adapters");
        for (const LowRank& term : s.terms) {
            merged.addmm_(term.b.to(torch::kFloat), term.a.to(torch::kFloat), 1.0, term.scale);
        }
    }
    return torch::linear(x, merged.to(x.scalar_type()), bias);
}

torch::Tensor forward_f64(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                          const std::vector<RowSegment>& segments) {
    auto d = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kDouble) : t; };
    torch::Tensor xd = d(x);
    torch::Tensor y = torch::linear(xd, d(w), d(bias));
    for (const RowSegment& s : segments) {
        torch::Tensor xs = xd.narrow(0, s.begin, s.end - s.begin);
        for (const LowRank& term : s.terms) {
            y.narrow(0, s.begin, s.end - s.begin).add_(torch::linear(torch::linear(xs, d(term.a)), d(term.b)) * term.scale);
        }
    }
    return y;
}

void check_cuda(const std::string& error) { require(error.empty(), ATL_ERR_BACKEND, "lora kernel " + error); }

// The CUDA kernels' element type for activations of dtype t: F16 and BF16 as they are, else F32.
cuda::Element cuda_element(c10::ScalarType t) {
    return t == torch::kHalf ? cuda::Element::F16 : t == torch::kBFloat16 ? cuda::Element::BF16 : cuda::Element::F32;
}

c10::ScalarType dtype_of(cuda::Element e) {
    return e == cuda::Element::F16 ? torch::kHalf : e == cuda::Element::BF16 ? torch::kBFloat16 : torch::kFloat;
}

// Row `row` of a contiguous matrix.
void* row_of(const torch::Tensor& t, int64_t row) {
    return static_cast<char*>(t.data_ptr()) + row * t.size(1) * t.element_size();
}

// Per run of rows: every term stacked (A [R, in], Q = s B^T [R, out]) and one fused launch on device 0.
// x and W in x's 16-bit dtype (F32 otherwise), y likewise.
torch::Tensor forward_cuda(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                           const std::vector<RowSegment>& segments) {
    require(kernel_available(Kernel::Cuda), ATL_ERR_UNSUPPORTED,
            "lora kernel cuda: this build or machine has no CUDA device");
    const cuda::Element e = cuda_element(x.scalar_type());
    torch::Tensor xc = x.to(dtype_of(e)).contiguous(), wc = w.to(dtype_of(e)).contiguous();
    torch::Tensor bc = bias.defined() ? bias.to(torch::kFloat).contiguous() : torch::Tensor();
    const int64_t n = xc.size(0), in = xc.size(1), out = wc.size(0);
    torch::Tensor y = torch::empty({n, out}, xc.options());
    auto run = [&](int64_t begin, int64_t end, const std::vector<LowRank>& terms) {
        std::vector<torch::Tensor> as, qs;
        for (const LowRank& t : terms) {
            check_term(t, w);
            as.push_back(t.a.to(torch::kFloat));
            qs.push_back(t.b.to(torch::kFloat).t().mul(t.scale));
        }
        torch::Tensor a = as.empty() ? torch::empty({0, in}) : torch::cat(as, 0).contiguous();
        torch::Tensor q = qs.empty() ? torch::empty({0, out}) : torch::cat(qs, 0).contiguous();
        check_cuda(cuda::forward(e, row_of(xc, begin), wc.data_ptr(), bc.defined() ? bc.data_ptr<float>() : nullptr,
                                 a.data_ptr<float>(), q.data_ptr<float>(), end - begin, in, out, a.size(0),
                                 row_of(y, begin)));
    };
    static const std::vector<LowRank> none;
    for (const Span& span : cover(n, segments)) {
        if (span.end > span.begin) run(span.begin, span.end, span.terms ? *span.terms : none);
    }
    return y;
}

}  // namespace

void check_term(const LowRank& term, const torch::Tensor& w) {
    require(term.a.dim() == 2 && term.a.size(1) == w.size(1) && term.b.dim() == 2 && term.b.size(0) == w.size(0) &&
                term.b.size(1) == term.a.size(0),
            ATL_ERR_SHAPE,
            "lora kernel: A " + shape_string(term.a.sizes()) + " and B " + shape_string(term.b.sizes()) +
                " do not fit W " + shape_string(w.sizes()));
}

std::vector<Span> cover(int64_t n, const std::vector<RowSegment>& segments) {
    std::vector<const RowSegment*> order;
    for (const RowSegment& s : segments) order.push_back(&s);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    std::vector<Span> spans;
    int64_t at = 0;
    for (const RowSegment* s : order) {
        require(s->begin >= at && s->end >= s->begin && s->end <= n, ATL_ERR_INTERNAL,
                "lora kernel: row segments overlap or leave the input");
        if (s->begin > at) spans.push_back({at, s->begin, nullptr});
        spans.push_back({s->begin, s->end, s->terms.empty() ? nullptr : &s->terms, s->route_rows});
        at = s->end;
    }
    if (at < n) spans.push_back({at, n, nullptr});
    return spans;
}

bool kernel_available(Kernel k) {
    switch (k) {
        case Kernel::Auto: case Kernel::Reference: case Kernel::Unfused: case Kernel::Merged: case Kernel::TorchF64:
            return true;
        case Kernel::Avx2: return has(ATL_CPU_AVX2 | ATL_CPU_FMA);
        case Kernel::Avx512: return has(ATL_CPU_AVX512F);
        case Kernel::Avx512Bf16: return has(ATL_CPU_AVX512F | ATL_CPU_AVX512_BF16);
        case Kernel::Cuda: {
            static const bool present = cuda::device_count() > 0;
            return present;
        }
    }
    return false;
}

Kernel resolve(Kernel k, c10::ScalarType dtype) {
    if (k != Kernel::Auto) {
        require(kernel_available(k), ATL_ERR_UNSUPPORTED,
                std::string("lora kernel ") + atl_lora_kernel_name(static_cast<int32_t>(k)) +
                    " is not available on this machine or build");
        return k;
    }
    if (dtype == torch::kBFloat16) return kernel_available(Kernel::Avx512Bf16) ? Kernel::Avx512Bf16 : Kernel::Unfused;
    if (dtype != torch::kFloat) return Kernel::Unfused;
    if (kernel_available(Kernel::Avx512)) return Kernel::Avx512;
    if (kernel_available(Kernel::Avx2)) return Kernel::Avx2;
    return Kernel::Reference;
}

torch::Tensor forward(Kernel k, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                      const std::vector<RowSegment>& segments, const avx512::PackedRight* packed_weight) {
    require(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), ATL_ERR_SHAPE,
            "lora kernel: x " + shape_string(x.sizes()) + " does not fit W " + shape_string(weight.sizes()));
    // Tensors on a GPU take libtorch's ops there: every other kernel reads CPU memory (the CUDA
    // kernel copies CPU inputs to its device itself).
    const bool on_cpu = x.device().is_cpu();
    const Kernel kk = !on_cpu && k == Kernel::Auto ? Kernel::Unfused : resolve(k, x.scalar_type());
    require(on_cpu || kk == Kernel::Unfused || kk == Kernel::Merged || kk == Kernel::TorchF64, ATL_ERR_UNSUPPORTED,
            std::string("lora kernel ") + atl_lora_kernel_name(static_cast<int32_t>(kk)) +
                " takes CPU tensors; on " + x.device().str() + " use auto, unfused or merged");
    switch (kk) {
        case Kernel::Reference: return forward_reference(x, weight, bias, segments).to(x.scalar_type());
        case Kernel::Unfused: return forward_unfused(x, weight, bias, segments);
        case Kernel::Merged: return forward_merged(x, weight, bias, segments);
        case Kernel::TorchF64: return forward_f64(x, weight, bias, segments);
        case Kernel::Avx512Bf16: return forward_fused(kk, x, weight, bias, segments);
        case Kernel::Avx512: {
            torch::Tensor y = avx512::forward_packed(x, weight, bias, segments, packed_weight);
            return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
        }
        case Kernel::Avx2: {
            torch::Tensor y = forward_fused(kk, x, weight, bias, segments);
            return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
        }
        case Kernel::Cuda: return forward_cuda(x, weight, bias, segments).to(x.scalar_type());
        default: break;
    }
    fail(ATL_ERR_INTERNAL, "lora kernel: unhandled kernel");
}

Grads backward(Kernel k, const torch::Tensor& x, const torch::Tensor& weight, const LowRank& term,
               const torch::Tensor& dy) {
    const int64_t n = x.size(0), in = x.size(1), out = weight.size(0), r = term.a.size(0);
    require(x.dim() == 2 && weight.dim() == 2 && weight.size(1) == in && term.a.dim() == 2 && term.a.size(1) == in &&
                term.b.dim() == 2 && term.b.size(0) == out && term.b.size(1) == r && dy.dim() == 2 &&
                dy.size(0) == n && dy.size(1) == out,
            ATL_ERR_SHAPE,
            "lora backward: shapes x " + shape_string(x.sizes()) + ", W " + shape_string(weight.sizes()) + ", A " +
                shape_string(term.a.sizes()) + ", B " + shape_string(term.b.sizes()) + ", dy " +
                shape_string(dy.sizes()) + " do not fit together");
    if (k == Kernel::TorchF64) {
        // libtorch autograd on float64 copies: the reference of the hand-written backward.
        torch::AutoGradMode on(true);
        torch::Tensor xd = x.to(torch::kDouble).detach().requires_grad_(true);
        torch::Tensor ad = term.a.to(torch::kDouble).detach().requires_grad_(true);
        torch::Tensor bd = term.b.to(torch::kDouble).detach().requires_grad_(true);
        torch::Tensor wd = weight.to(torch::kDouble);
        torch::Tensor y = torch::linear(xd, wd) + torch::linear(torch::linear(xd, ad), bd) * term.scale;
        y.backward(dy.to(torch::kDouble));
        return {xd.grad(), ad.grad(), bd.grad()};
    }
    if (k == Kernel::Unfused || k == Kernel::Merged) {
        torch::Tensor xf = x.to(torch::kFloat), a = term.a.to(torch::kFloat), b = term.b.to(torch::kFloat);
        torch::Tensor g = dy.to(torch::kFloat);
        torch::Tensor t = torch::mm(xf, a.t()), u = torch::mm(g, b);
        return {torch::mm(g, weight.to(torch::kFloat)) + torch::mm(u, a) * term.scale,
                torch::mm(u.t(), xf) * term.scale, torch::mm(g.t(), t) * term.scale};
    }
    if (k == Kernel::Cuda) {
        require(kernel_available(k), ATL_ERR_UNSUPPORTED, "lora kernel cuda: this build or machine has no CUDA device");
        // x, W, dy and dx in x's 16-bit dtype (F32 otherwise); the adapters and their gradients F32.
        const cuda::Element e = cuda_element(x.scalar_type());
        torch::Tensor xe = x.to(dtype_of(e)).contiguous(), we = weight.to(dtype_of(e)).contiguous();
        torch::Tensor a = term.a.to(torch::kFloat).contiguous(), b = term.b.to(torch::kFloat).contiguous();
        torch::Tensor g = dy.to(dtype_of(e)).contiguous();
        Grads grads{torch::empty({n, in}, xe.options()), torch::empty({r, in}), torch::empty({out, r})};
        check_cuda(cuda::backward(e, xe.data_ptr(), we.data_ptr(), a.data_ptr<float>(), b.data_ptr<float>(),
                                  static_cast<float>(term.scale), g.data_ptr(), n, in, out, r, grads.dx.data_ptr(),
                                  grads.da.data_ptr<float>(), grads.db.data_ptr<float>()));
        return grads;
    }
    Kernel kk = resolve(k == Kernel::Avx512Bf16 ? Kernel::Avx512 : k, torch::kFloat);
    // dL/dx = dy W + s (dy B) A;  dL/dA = s (dy B)^T x;  dL/dB = s dy^T (x A^T).
    torch::Tensor xc = x.to(torch::kFloat).contiguous(), g = dy.to(torch::kFloat).contiguous();
    torch::Tensor a = term.a.to(torch::kFloat).contiguous(), bt = term.b.to(torch::kFloat).t().contiguous();
    torch::Tensor sa = a.mul(term.scale);  // s A [r, in]: the "Q" of the dx update
    torch::Tensor t = torch::empty({n, r}), u = torch::empty({n, r});
    if (kk == Kernel::Avx512) {
        // dx on the packed GEMM with the low-rank term inside; dA and dB are reductions over all n
        // rows into small outputs, which BLAS does well.
        torch::Tensor xf = x.to(torch::kFloat), bf = term.b.to(torch::kFloat);
        torch::Tensor t = torch::mm(xf, a.t()), u = torch::mm(g, bf);
        return {avx512::input_grad_packed(g, weight, term), torch::mm(u.t(), xf).mul_(term.scale),
                torch::mm(g.t(), t).mul_(term.scale)};
    }
    torch::Tensor dx = kk == Kernel::Reference ? torch::zeros({n, in}) : torch::mm(g, weight.to(torch::kFloat));
    ProjectFn project = project_of(kk);
    ExpandFn expand = expand_of(kk);
    if (kk == Kernel::Reference) {
        // dy W in plain loops too.
        torch::Tensor wf = weight.to(torch::kFloat).contiguous();
        ref::expand_add(g.data_ptr<float>(), n, out, wf.data_ptr<float>(), in, dx.data_ptr<float>(), in);
    }
    // One pass over the rows: t = x A^T and u = dy B (both read once), then dx += s u A.
    at::parallel_for(0, n, kTaskRows, [&](int64_t i0, int64_t i1) {
        project(xc.data_ptr<float>() + i0 * in, in, i1 - i0, in, a.data_ptr<float>(), r, t.data_ptr<float>() + i0 * r);
        project(g.data_ptr<float>() + i0 * out, out, i1 - i0, out, bt.data_ptr<float>(), r,
                u.data_ptr<float>() + i0 * r);
        expand(u.data_ptr<float>() + i0 * r, i1 - i0, r, sa.data_ptr<float>(), in, dx.data_ptr<float>() + i0 * in, in);
    });
    torch::Tensor da, db;
    if (kk == Kernel::Reference) {
        da = torch::zeros({r, in});
        db = torch::zeros({out, r});
        torch::Tensor ut = (u.t() * term.scale).contiguous(), gt = (g.t() * term.scale).contiguous();
        // dA = (s u^T) x and dB = (s dy^T) t as row-expansions over the n rows.
        ref::expand_add(ut.data_ptr<float>(), r, n, xc.data_ptr<float>(), in, da.data_ptr<float>(), in);
        ref::expand_add(gt.data_ptr<float>(), out, n, t.data_ptr<float>(), r, db.data_ptr<float>(), r);
    } else {
        // Reductions over all n rows: a GEMM with a small output; BLAS does them well.
        da = torch::mm(u.t(), xc).mul_(term.scale);
        db = torch::mm(g.t(), t).mul_(term.scale);
    }
    return {dx, da, db};
}

}  // namespace atl::lora
