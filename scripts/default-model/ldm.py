"""Stable Diffusion 1.x networks in PyTorch, with the state-dict names of the original LDM
single-file layout, so that what this script trains loads in Atelier's native code as any SD1.5
checkpoint does. Written for the project's default model; checked against the CompVis / OpenAI
reference outputs in ../shared/fixtures/sd15-tiny by check_parity.py.

Names follow ldm/modules/diffusionmodules/openaimodel.py (UNet), .../model.py (VAE) and Hugging
Face's CLIPTextModel (text encoder under cond_stage_model.transformer.text_model).

Also the PyTorch eager baseline of benchmarks/sd/baseline.py, which runs these networks under CPU
autocast in bf16: norms compute in float32 and cast back (LDM util.py's GroupNorm32), and the
UNet casts as openaimodel.py does, so mixed-precision inputs reach every layer in a dtype it takes.
In float32 those casts do nothing.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupNorm32(nn.GroupNorm):
    # LDM util.py normalization(): computes in float32 and casts back.
    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class LayerNorm32(nn.LayerNorm):
    # Float32 as GroupNorm32: torch 1.13's CPU autocast leaves norms out, and they reject bf16 input
    # with float32 weights.
    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def group_norm(channels, eps):
    # Every SD1.x norm splits its channels into 32 groups.
    return GroupNorm32(32, channels, eps=eps)


# ---------------------------------------------------------------- UNet (openaimodel.py)

def timestep_embedding(t, dim, max_period=10000):
    # openaimodel timestep_embedding: [cos, sin] order, no frequency shift.
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    def __init__(self, cin, emb_dim, cout):
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(cin, 1e-5), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))
        self.out_layers = nn.Sequential(group_norm(cout, 1e-5), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb, context):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class CrossAttention(nn.Module):
    def __init__(self, dim, context_dim, heads, head_dim):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x, context):
        b = x.shape[0]
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        q, k, v = (z.reshape(b, z.shape[1], self.heads, -1).transpose(1, 2) for z in (q, k, v))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        out = (w @ v).transpose(1, 2).reshape(b, x.shape[1], -1)
        return self.to_out(out)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim))

    def forward(self, x):
        return self.net(x)


class TransformerBlock(nn.Module):
    def __init__(self, dim, context_dim, heads, head_dim):
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads, head_dim)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, head_dim)
        self.norm1, self.norm2, self.norm3 = LayerNorm32(dim), LayerNorm32(dim), LayerNorm32(dim)

    def forward(self, x, context):
        n = self.norm1(x)
        x = x + self.attn1(n, n)
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    def __init__(self, ch, context_dim, heads, head_dim, depth):
        super().__init__()
        inner = heads * head_dim
        self.norm = group_norm(ch, 1e-6)
        self.proj_in = nn.Conv2d(ch, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [TransformerBlock(inner, context_dim, heads, head_dim) for _ in range(depth)])
        self.proj_out = nn.Conv2d(inner, ch, 1)

    def forward(self, x, emb, context):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x))
        y = y.flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            y = block(y, context)
        y = y.transpose(1, 2).reshape(b, -1, h, w)
        return x + self.proj_out(y)


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x, emb, context):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, emb, context):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Conv(nn.Conv2d):
    def forward(self, x, emb, context):
        return super().forward(x)


class Stage(nn.ModuleList):
    """TimestepEmbedSequential: layers that take (x, emb, context)."""

    def forward(self, x, emb, context):
        for layer in self:
            x = layer(x, emb, context)
        return x


class UNet(nn.Module):
    def __init__(self, in_channels, out_channels, model_channels, channel_mult, num_res_blocks,
                 attention_resolutions, context_dim, num_heads=-1, num_head_channels=-1, transformer_depth=1):
        super().__init__()
        self.model_channels = model_channels
        emb_dim = model_channels * 4

        def attention(ch):
            if num_head_channels != -1:
                heads, head_dim = ch // num_head_channels, num_head_channels
            else:
                heads, head_dim = num_heads, ch // num_heads
            return SpatialTransformer(ch, context_dim, heads, head_dim, transformer_depth)

        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.input_blocks = nn.ModuleList([Stage([Conv(in_channels, model_channels, 3, padding=1)])])
        skips, ch, ds = [model_channels], model_channels, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [ResBlock(ch, emb_dim, mult * model_channels)]
                ch = mult * model_channels
                if ds in attention_resolutions:
                    layers.append(attention(ch))
                self.input_blocks.append(Stage(layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(Stage([Downsample(ch)]))
                skips.append(ch)
                ds *= 2
        self.middle_block = Stage([ResBlock(ch, emb_dim, ch), attention(ch), ResBlock(ch, emb_dim, ch)])
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                layers = [ResBlock(ch + skips.pop(), emb_dim, model_channels * mult)]
                ch = model_channels * mult
                if ds in attention_resolutions:
                    layers.append(attention(ch))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(Stage(layers))
        self.out = nn.Sequential(group_norm(ch, 1e-5), nn.SiLU(), nn.Conv2d(model_channels, out_channels, 3, padding=1))

    def forward(self, x, t, context):
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.out(h.type(x.dtype))


# ---------------------------------------------------------------- VAE (model.py, AutoencoderKL)

class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = group_norm(cin, 1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = group_norm(cout, 1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = group_norm(ch, 1e-6)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(ch, ch, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).flatten(2).transpose(1, 2)
        k = self.k(n).flatten(2)
        v = self.v(n).flatten(2).transpose(1, 2)
        a = torch.softmax(q @ k / math.sqrt(c), dim=-1)
        return x + self.proj_out((a @ v).transpose(1, 2).reshape(b, c, h, w))


class Level(nn.Module):
    pass


class VaeDownsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x):
        # model.py pads right and bottom only, then a stride-2 conv without padding.
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class VaeUpsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(ch, ch), AttnBlock(ch), ResnetBlock(ch, ch)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, in_channels, ch, ch_mult, num_res_blocks, z_channels):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        block_in = ch
        for i, mult in enumerate(ch_mult):
            level = Level()
            level.block = nn.ModuleList()
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(block_in, ch * mult))
                block_in = ch * mult
            if i != len(ch_mult) - 1:
                level.downsample = VaeDownsample(block_in)
            self.down.append(level)
        self.mid = Mid(block_in)
        self.norm_out = group_norm(block_in, 1e-6)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, out_channels, ch, ch_mult, num_res_blocks, z_channels):
        super().__init__()
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = Mid(block_in)
        levels = []
        for i in reversed(range(len(ch_mult))):
            level = Level()
            level.block = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, ch * ch_mult[i]))
                block_in = ch * ch_mult[i]
            if i != 0:
                level.upsample = VaeUpsample(block_in)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(block_in, 1e-6)
        self.conv_out = nn.Conv2d(block_in, out_channels, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, z_channels=4, embed_dim=4):
        super().__init__()
        self.encoder = Encoder(3, ch, ch_mult, num_res_blocks, z_channels)
        self.decoder = Decoder(3, ch, ch_mult, num_res_blocks, z_channels)
        self.quant_conv = nn.Conv2d(2 * z_channels, 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)

    def encode(self, x):
        """Posterior mean and log-variance (DiagonalGaussianDistribution clamps logvar to [-30, 20])."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------- CLIP text encoder (HF CLIPTextModel)

class ClipAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x, mask):
        b, n, w = x.shape
        q, k, v = (p(x).reshape(b, n, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask, dim=-1)
        return self.out_proj((a @ v).transpose(1, 2).reshape(b, n, w))


class ClipMlp(nn.Module):
    def __init__(self, width, intermediate):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, intermediate), nn.Linear(intermediate, width)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ClipLayer(nn.Module):
    def __init__(self, width, heads, intermediate):
        super().__init__()
        self.self_attn = ClipAttention(width, heads)
        self.layer_norm1 = LayerNorm32(width)
        self.mlp = ClipMlp(width, intermediate)
        self.layer_norm2 = LayerNorm32(width)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocab, width, positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(positions, width)
        self.register_buffer("position_ids", torch.arange(positions)[None])


class ClipEncoder(nn.Module):
    def __init__(self, width, heads, layers, intermediate):
        super().__init__()
        self.layers = nn.ModuleList([ClipLayer(width, heads, intermediate) for _ in range(layers)])


class ClipTextModel(nn.Module):
    def __init__(self, vocab, width, layers, heads, intermediate, positions=77):
        super().__init__()
        self.embeddings = ClipEmbeddings(vocab, width, positions)
        self.encoder = ClipEncoder(width, heads, layers, intermediate)
        self.final_layer_norm = LayerNorm32(width)

    def forward(self, ids, clip_skip=1):
        n = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(self.embeddings.position_ids[:, :n])
        mask = torch.full((n, n), float("-inf")).triu(1)  # causal
        layers = self.encoder.layers[: len(self.encoder.layers) - (clip_skip - 1)]
        for layer in layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


class TextWrapper(nn.Module):
    """cond_stage_model.transformer.text_model.*"""

    def __init__(self, text_model):
        super().__init__()
        self.transformer = nn.Module()
        self.transformer.text_model = text_model


class Checkpoint(nn.Module):
    """The LDM single-file layout: model.diffusion_model, first_stage_model, cond_stage_model."""

    def __init__(self, unet, vae, text_model):
        super().__init__()
        self.model = nn.Module()
        self.model.diffusion_model = unet
        self.first_stage_model = vae
        self.cond_stage_model = TextWrapper(text_model)
