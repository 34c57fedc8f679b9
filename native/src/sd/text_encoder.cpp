#include "sd/text_encoder.hpp"

#include "ops/profile.hpp"

#include "core/status.hpp"
#include "core/tensor_view.hpp"

#include <optional>

namespace atl::sd {

namespace {

// A non-zero configured value must equal what the weights say.
void agree(WeightLoader& w, const char* field, int32_t configured, int64_t inferred) {
    if (configured != 0 && inferred >= 0 && configured != inferred) {
        w.problem(std::string("config ") + field + "=" + std::to_string(configured) + " but the weights have " +
                  std::to_string(inferred));
    }
}

}  // namespace

TextEncoder::TextEncoder(std::shared_ptr<const TensorMap> weights, const atl_text_encoder_params& params)
    : weights_(weights), config_(params) {
    const ops::Placement place =
        ops::placement_param(params.compute_dtype, params.kernels, params.device, params.device_index, "text encoder");
    compute_ = place.compute;
    kernels_ = place.kernels;
    device_ = place.device;
    WeightLoader w(weights, "text encoder", compute_, device_);

    // Architecture from the shapes (stable-diffusion.cpp detect_from_weights idea).
    const int64_t vocab = w.dim("embeddings.token_embedding.weight", 0);
    const int64_t width = w.dim("embeddings.token_embedding.weight", 1);
    const int64_t positions = w.dim("embeddings.position_embedding.weight", 0);
    const int64_t intermediate = w.dim("encoder.layers.0.mlp.fc1.weight", 0);
    int64_t layers = 0;
    while (w.has_prefix("encoder.layers." + std::to_string(layers) + ".")) ++layers;
    w.check();
    agree(w, "vocab_size", params.vocab_size, vocab);
    agree(w, "width", params.width, width);
    agree(w, "max_positions", params.max_positions, positions);
    agree(w, "intermediate", params.intermediate, intermediate);
    agree(w, "layers", params.layers, layers);
    if (params.num_heads <= 0 || width % params.num_heads != 0) {
        w.problem("num_heads " + std::to_string(params.num_heads) + " does not divide width " +
                  std::to_string(width));
    }
    w.check();
    config_.vocab_size = static_cast<int32_t>(vocab);
    config_.width = static_cast<int32_t>(width);
    config_.max_positions = static_cast<int32_t>(positions);
    config_.intermediate = static_cast<int32_t>(intermediate);
    config_.layers = static_cast<int32_t>(layers);

    token_embedding_ = w.take("embeddings.token_embedding.weight", {vocab, width});
    position_embedding_ = w.take("embeddings.position_embedding.weight", {positions, width});
    w.allow("embeddings.position_ids");  // a buffer some checkpoints carry: arange(max_positions)
    for (int64_t i = 0; i < layers; ++i) {
        const std::string p = "encoder.layers." + std::to_string(i) + ".";
        Layer l;
        l.norm1 = load_layer_norm(w, p + "layer_norm1", width, 1e-5);
        l.norm2 = load_layer_norm(w, p + "layer_norm2", width, 1e-5);
        l.q = load_linear(w, p + "self_attn.q_proj", width, width);
        l.k = load_linear(w, p + "self_attn.k_proj", width, width);
        l.v = load_linear(w, p + "self_attn.v_proj", width, width);
        l.out = load_linear(w, p + "self_attn.out_proj", width, width);
        l.fc1 = load_linear(w, p + "mlp.fc1", width, intermediate);
        l.fc2 = load_linear(w, p + "mlp.fc2", intermediate, width);
        layers_.push_back(std::move(l));
    }
    final_norm_ = load_layer_norm(w, "final_layer_norm", width, 1e-5);
    w.finish();
}

torch::Tensor TextEncoder::encode_chunks(const torch::Tensor& ids, int64_t clip_skip) const {
    const int64_t seq = ids.size(1);
    // HF CLIPTextEmbeddings: token + position embeddings.
    torch::Tensor h = torch::embedding(token_embedding_, ids) + position_embedding_.narrow(0, 0, seq).unsqueeze(0);
    // Causal mask (HF CLIPTextTransformer): a token sees itself and the tokens before it.
    torch::Tensor mask =
        torch::full({seq, seq}, -std::numeric_limits<float>::infinity(), h.options().dtype(torch::kFloat)).triu(1);
    // clip_skip N: hidden_states[-N] of HF = the output of layer (layers - N + 1), counting from 1.
    const int64_t run = static_cast<int64_t>(layers_.size()) - clip_skip + 1;
    for (int64_t i = 0; i < run; ++i) {
        const Layer& l = layers_[i];
        // HF CLIPEncoderLayer: pre-LN attention and MLP, each with a residual.
        torch::Tensor x = l.norm1.apply(h);
        h = h + l.out.apply(attention(l.q.apply(x), l.k.apply(x), l.v.apply(x), config_.num_heads, l.q.compute, mask));
        x = l.fc1.apply(l.norm2.apply(h));
        x = x * torch::sigmoid(1.702 * x);  // quick_gelu (OpenAI CLIP)
        h = h + l.fc2.apply(x);
    }
    return final_norm_.apply(h);
}

torch::Tensor TextEncoder::forward(const torch::Tensor& ids, int64_t clip_skip) const {
    require(ids.dim() == 2 && ids.scalar_type() == torch::kLong, ATL_ERR_SHAPE,
            "text encoder: input_ids must be I64 [n, L], got " + shape_string(ids.sizes()));
    require(clip_skip >= 1 && clip_skip <= config_.layers, ATL_ERR_INVALID_ARGUMENT,
            "text encoder: clip_skip " + std::to_string(clip_skip) + " is outside 1.." +
                std::to_string(config_.layers));
    const int64_t n = ids.size(0), len = ids.size(1), positions = config_.max_positions;
    require(len > 0 && len % positions == 0, ATL_ERR_SHAPE,
            "text encoder: sequence length " + std::to_string(len) + " is not a multiple of " +
                std::to_string(positions));
    if (ids.numel() > 0) {
        const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
        require(lo >= 0 && hi < config_.vocab_size, ATL_ERR_INVALID_ARGUMENT,
                "text encoder: token id outside 0.." + std::to_string(config_.vocab_size - 1));
    }
    const int64_t chunks = len / positions;
    // Chunks of one prompt are encoded as separate rows: each keeps its prompt's LoRA slot.
    std::optional<lora::SampleSlotsScope> slots;
    const std::vector<int32_t>& selection = lora_slots_.selection();
    if (!selection.empty()) {
        require(static_cast<int64_t>(selection.size()) == n, ATL_ERR_SHAPE,
                "text encoder: the LoRA selection has " + std::to_string(selection.size()) +
                    " entries but input_ids has " + std::to_string(n) + " rows");
        std::vector<int32_t> rows;
        for (int32_t s : selection) rows.insert(rows.end(), chunks, s);
        slots.emplace(std::move(rows));
    }
    ops::KernelScope kernels(kernels_);
    ops::NetworkScope network(ops::Network::TextEncoder);
    torch::Tensor h = encode_chunks(ids.to(device_).reshape({n * chunks, positions}), clip_skip);
    return h.reshape({n, len, config_.width}).to(torch::kFloat);
}

std::vector<lora::LayerRef> TextEncoder::lora_layers() {
    std::vector<lora::LayerRef> out;
    for (Layer& l : layers_) {
        for (Linear* x : {&l.q, &l.k, &l.v, &l.out, &l.fc1, &l.fc2}) out.push_back(x->ref());
    }
    return out;
}

}  // namespace atl::sd
