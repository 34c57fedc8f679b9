// Activation (gradient) checkpointing for training (Chen et al. 2016, "Training Deep Nets with
// Sublinear Memory Cost"; the reentrant variant of torch.utils.checkpoint, which the C++ API
// lacks): the forward of a block runs without recording its intermediate tensors; backward runs
// it again with autograd on and differentiates that.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace atl::sd {

// Block must outlive the backward pass and provide
//   torch::Tensor run(const torch::Tensor& x, const torch::Tensor& context) const;
//   std::vector<torch::Tensor> trainable() const;  // the tensors run() uses that require grad,
//                                                  // the same objects in forward and backward
template <typename Block>
struct CheckpointFunction : torch::autograd::Function<CheckpointFunction<Block>> {
    static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const Block* block,
                                                  torch::Tensor x, torch::Tensor context, torch::TensorList params) {
        ctx->saved_data["block"] = reinterpret_cast<int64_t>(block);
        ctx->saved_data["params"] = static_cast<int64_t>(params.size());
        ctx->save_for_backward({x, context});
        return {block->run(x, context)};  // grad mode is off inside Function::forward
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grad_out) {
        const Block* block = reinterpret_cast<const Block*>(ctx->saved_data["block"].toInt());
        auto saved = ctx->get_saved_variables();
        torch::AutoGradMode grad(true);
        torch::Tensor x = saved[0].detach().requires_grad_(saved[0].requires_grad());
        torch::Tensor context = saved[1].detach().requires_grad_(saved[1].requires_grad());
        std::vector<torch::Tensor> params = block->trainable();
        TORCH_CHECK(static_cast<int64_t>(params.size()) == ctx->saved_data["params"].toInt(),
                    "checkpointed block: trainable tensors changed between forward and backward");
        torch::Tensor y = block->run(x, context);
        std::vector<torch::Tensor> inputs;
        if (x.requires_grad()) inputs.push_back(x);
        if (context.requires_grad()) inputs.push_back(context);
        inputs.insert(inputs.end(), params.begin(), params.end());
        std::vector<torch::Tensor> grads =
            torch::autograd::grad({y}, inputs, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                  /*allow_unused=*/true);
        torch::autograd::variable_list out;
        out.emplace_back();  // block pointer
        size_t k = 0;
        out.push_back(x.requires_grad() ? grads[k++] : torch::Tensor());
        out.push_back(context.requires_grad() ? grads[k++] : torch::Tensor());
        for (; k < grads.size(); ++k) out.push_back(grads[k]);
        return out;
    }
};

}  // namespace atl::sd
