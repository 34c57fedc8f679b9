#!/usr/bin/python3
"""PyTorch eager baseline for the SD1.5 benchmark (issue 3): our own compact implementation of
the LDM UNet, the VAE decoder and the CLIP text model, with the math of the CompVis code
(ldm/modules/diffusionmodules/openaimodel.py, model.py, attention.py; transformers' CLIPTextModel),
including attention that materialises the full softmax matrix (einsum, softmax, einsum).

Loads a single-file LDM-layout .safetensors under the LDM names, parsing the header with json
(no safetensors package). Prints one `torch ...` line per measurement, key=value, for compare.sh.

  baseline.py MODEL unet  [--size 512] [--dtype fp32|bf16] [--steps 3] [--threads N]
  baseline.py MODEL e2e   [--size 512] [--dtype fp32|bf16] [--steps 20] [--threads N]
  baseline.py MODEL vae   [--size 512] [--dtype fp32|bf16] [--steps 3] [--threads N]   (VAE decode of one latent)
  baseline.py MODEL unet --profile TRACE.json ...   (one extra profiled step; see profile_summary.py)
  baseline.py MODEL parity --cases CASES.safetensors --heads 4 --text-heads 2
"""
import argparse
import json
import math
import mmap
import os
import resource
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
UNET, VAE, TEXT = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model."


def read_safetensors(path):
    """name -> tensor viewing a private (copy-on-write) mapping of the file; nothing is read yet."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES[e["dtype"]]
        start, end = e["data_offsets"]
        count = (end - start) // torch.tensor([], dtype=dtype).element_size()
        t = torch.frombuffer(mm, dtype=dtype, count=count, offset=base + start) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"])
    return out


def strip(tensors, prefix):
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


# ---------------- UNet (openaimodel.py, attention.py) ----------------

class GroupNorm32(nn.GroupNorm):
    # LDM util.py: normalization() computes in float32 and casts back
    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def normalization(c):
    return GroupNorm32(32, c)


class LayerNorm32(nn.LayerNorm):
    # float32 like GroupNorm32: 1.13's CPU autocast leaves norms out and they reject bf16 input with f32 weights
    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def timestep_embedding(t, dim, max_period=10000):
    # LDM util.py timestep_embedding: cat(cos, sin)
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.in_layers = nn.Sequential(normalization(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, cout))
        self.out_layers = nn.Sequential(normalization(cout), nn.SiLU(), nn.Dropout(0), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class CrossAttention(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(0))

    def forward(self, x, context=None):
        context = x if context is None else context
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        b, h = x.shape[0], self.heads

        def split(t):  # b n (h d) -> (b h) n d
            return t.reshape(b, t.shape[1], h, -1).permute(0, 2, 1, 3).reshape(b * h, t.shape[1], -1)

        q, k, v = split(q), split(k), split(v)
        sim = torch.einsum("b i d, b j d -> b i j", q, k) * self.scale
        attn = sim.softmax(dim=-1)
        out = torch.einsum("b i j, b j d -> b i d", attn, v)
        out = out.reshape(b, h, out.shape[1], -1).permute(0, 2, 1, 3).reshape(b, out.shape[1], -1)
        return self.to_out(out)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, 4 * dim), nn.Dropout(0), nn.Linear(4 * dim, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads)
        self.norm1, self.norm2, self.norm3 = LayerNorm32(dim), LayerNorm32(dim), LayerNorm32(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    def __init__(self, c, heads, context_dim, depth):
        super().__init__()
        self.norm = GroupNorm32(32, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, heads, context_dim) for _ in range(depth)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        x_in = x
        x = self.proj_in(self.norm(x))
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # b c h w -> b (h w) c
        for block in self.transformer_blocks:
            x = block(x, context)
        x = x.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.proj_out(x) + x_in


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TimestepEmbedSequential(nn.Sequential):
    def forward(self, x, emb, context):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    def __init__(self, mc=320, mult=(1, 2, 4, 4), attn_levels=(0, 1, 2), nres=2, heads=8, context_dim=768, depth=1,
                 in_ch=4, out_ch=4):
        super().__init__()
        self.mc = mc
        emb = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_ch, mc, 3, padding=1))])
        skips, ch = [mc], mc
        for level, m in enumerate(mult):
            for _ in range(nres):
                layers = [ResBlock(ch, m * mc, emb)]
                ch = m * mc
                if level in attn_levels:
                    layers.append(SpatialTransformer(ch, heads, context_dim, depth))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skips.append(ch)
            if level != len(mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch)))
                skips.append(ch)
        self.middle_block = TimestepEmbedSequential(ResBlock(ch, ch, emb), SpatialTransformer(ch, heads, context_dim, depth),
                                                    ResBlock(ch, ch, emb))
        self.output_blocks = nn.ModuleList()
        for level in reversed(range(len(mult))):
            for i in range(nres + 1):
                layers = [ResBlock(ch + skips.pop(), mult[level] * mc, emb)]
                ch = mult[level] * mc
                if level in attn_levels:
                    layers.append(SpatialTransformer(ch, heads, context_dim, depth))
                if level and i == nres:
                    layers.append(Upsample(ch))
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(normalization(ch), nn.SiLU(), nn.Conv2d(mc, out_ch, 3, padding=1))

    def forward(self, x, t, context):
        emb = self.time_embed(timestep_embedding(t, self.mc))
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.out(h.type(x.dtype))


# ---------------- VAE decoder (model.py Decoder, AutoencoderKL.decode) ----------------

def vae_norm(c):
    return GroupNorm32(32, c, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = vae_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = vae_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        self.cin, self.cout = cin, cout

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.cin != self.cout else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = vae_norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)
        w = torch.bmm(q, k.reshape(b, c, hh * ww)) * (int(c) ** -0.5)
        w = F.softmax(w, dim=2)
        h = torch.bmm(v.reshape(b, c, hh * ww), w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class VaeUp(nn.Module):
    def __init__(self, cin, cout, nblocks, upsample):
        super().__init__()
        self.block = nn.ModuleList([ResnetBlock(cin if i == 0 else cout, cout) for i in range(nblocks)])
        if upsample:
            self.upsample = Upsample(cout)


class Mid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Decoder(nn.Module):
    def __init__(self, ch=128, mult=(1, 2, 4, 4), nres=2, z=4, out_ch=3):
        super().__init__()
        block_in = ch * mult[-1]
        self.conv_in = nn.Conv2d(z, block_in, 3, padding=1)
        self.mid = Mid(block_in)
        ups = []
        for level in reversed(range(len(mult))):
            ups.insert(0, VaeUp(block_in, ch * mult[level], nres + 1, level != 0))
            block_in = ch * mult[level]
        self.up = nn.ModuleList(ups)
        self.norm_out = vae_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(range(len(self.up))):
            for block in self.up[level].block:
                h = block(h)
            if level != 0:
                h = self.up[level].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VaeDecode(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.decoder = Decoder(**kw)
        self.post_quant_conv = nn.Conv2d(kw.get("z", 4), kw.get("z", 4), 1)

    def forward(self, latents, scale_factor=0.18215):
        return self.decoder(self.post_quant_conv(latents / scale_factor))


# ---------------- CLIP text model (transformers CLIPTextModel) ----------------

class ClipAttention(nn.Module):
    def __init__(self, w, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(w, w) for _ in range(4))

    def forward(self, x, mask):
        b, n, w = x.shape
        hd = w // self.heads

        def split(t):
            return t.reshape(b, n, self.heads, hd).transpose(1, 2).reshape(b * self.heads, n, hd)

        q = split(self.q_proj(x) * hd ** -0.5)
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        a = torch.bmm(q, k.transpose(1, 2)) + mask
        out = torch.bmm(a.softmax(dim=-1), v)
        return self.out_proj(out.reshape(b, self.heads, n, hd).transpose(1, 2).reshape(b, n, w))


class ClipMlp(nn.Module):
    def __init__(self, w, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(w, inner), nn.Linear(inner, w)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ClipLayer(nn.Module):
    def __init__(self, w, heads, inner):
        super().__init__()
        self.self_attn, self.layer_norm1 = ClipAttention(w, heads), LayerNorm32(w)
        self.mlp, self.layer_norm2 = ClipMlp(w, inner), LayerNorm32(w)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocab, w, positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, w)
        self.position_embedding = nn.Embedding(positions, w)
        self.register_buffer("position_ids", torch.arange(positions)[None], persistent=False)


class ClipEncoder(nn.Module):
    def __init__(self, w, heads, inner, layers):
        super().__init__()
        self.layers = nn.ModuleList([ClipLayer(w, heads, inner) for _ in range(layers)])


class ClipTextModel(nn.Module):
    def __init__(self, vocab=49408, w=768, positions=77, heads=12, inner=3072, layers=12):
        super().__init__()
        self.embeddings = ClipEmbeddings(vocab, w, positions)
        self.encoder = ClipEncoder(w, heads, inner, layers)
        self.final_layer_norm = LayerNorm32(w)

    def forward(self, ids):
        n = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(self.embeddings.position_ids[:, :n])
        mask = torch.full((n, n), torch.finfo(x.dtype).min).triu(1)[None]
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


# ---------------- LoRA training step (issue 4 benchmark) ----------------

class LoraWrapped(nn.Module):
    """kohya's LoRAModule on a Linear or 1x1 conv: base(x) + up(down(x)) * alpha / rank; down
    Kaiming-uniform, up zero; the base frozen."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        conv = isinstance(base, nn.Conv2d)
        fin = base.in_channels if conv else base.in_features
        fout = base.out_channels if conv else base.out_features
        self.base = base
        self.down = nn.Conv2d(fin, rank, 1, bias=False) if conv else nn.Linear(fin, rank, bias=False)
        self.up = nn.Conv2d(rank, fout, 1, bias=False) if conv else nn.Linear(rank, fout, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + self.up(self.down(x)) * self.scale


def add_lora(unet, rank, alpha):
    """kohya's default UNet targets: every Linear and 1x1 conv inside the SpatialTransformers
    (192 modules in SD1.5). Returns the trainable parameters."""
    for p in unet.parameters():
        p.requires_grad_(False)
    found = []
    for st in [m for m in unet.modules() if isinstance(m, SpatialTransformer)]:
        for parent in st.modules():
            for name, child in parent.named_children():
                if isinstance(child, nn.Linear) or (isinstance(child, nn.Conv2d) and child.kernel_size == (1, 1)):
                    found.append((parent, name, child))
    params = []
    for parent, name, child in found:
        wrapped = LoraWrapped(child, rank, alpha)
        setattr(parent, name, wrapped)
        params += [wrapped.down.weight, wrapped.up.weight]
    return len(found), params


def train_steps(a, unet):
    """Batch-1 LoRA steps as kohya's train_network: noise at a random timestep of LDM's linear
    schedule, eps MSE, backward through the frozen UNet, AdamW on the adapters."""
    n_modules, params = add_lora(unet, a.rank, float(a.rank))
    opt = torch.optim.AdamW(params, lr=1e-4)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    acp = torch.cumprod(1 - betas, 0).float()
    lat = a.size // 8
    latents = torch.randn(1, 4, lat, lat)
    ctx_dim = unet.input_blocks[1][1].transformer_blocks[0].attn2.to_k.base.in_features
    context = torch.randn(1, 77, ctx_dim)
    torch.set_grad_enabled(True)
    unet.train()
    steps = a.steps or 3
    times, losses = [], []
    for i in range(steps + 1):  # the first step also builds oneDNN primitives: not counted
        s = time.perf_counter()
        t = torch.randint(0, 1000, (1,))
        noise = torch.randn_like(latents)
        noisy = acp[t].sqrt() * latents + (1 - acp[t]).sqrt() * noise
        with autocast(a.dtype):
            eps = unet(noisy, t.float(), context)
        loss = F.mse_loss(eps.float(), noise)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - s)
        losses.append(float(loss))
    assert all(math.isfinite(v) for v in losses), "non-finite loss"
    report("train", size=a.size, dtype=a.dtype, batch=1, rank=a.rank, modules=n_modules, threads=a.threads,
           first_s=times[0], step_s=statistics.median(times[1:]), min_s=min(times[1:]), steps=steps,
           peak_rss_mib=memory()["peak"])


# ---------------- building from a checkpoint ----------------

def unet_from(tensors, heads):
    sd = strip(tensors, UNET)
    mc = sd["input_blocks.0.0.weight"].shape[0]
    nlev = 1 + sum(1 for k in sd if k.endswith(".op.weight"))
    nblocks = len({k.split(".")[1] for k in sd if k.startswith("input_blocks.")})
    nres = (nblocks - 1 - (nlev - 1)) // nlev
    mult, attn, idx = [], [], 1
    for level in range(nlev):
        mult.append(sd[f"input_blocks.{idx}.0.in_layers.2.weight"].shape[0] // mc)
        if f"input_blocks.{idx}.1.proj_in.weight" in sd:
            attn.append(level)
        idx += nres + 1
    ctx = sd["input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"].shape[1]
    depth = len({k.split(".")[3] for k in sd if k.startswith("middle_block.1.transformer_blocks.")})
    model = UNetModel(mc, tuple(mult), tuple(attn), nres, heads, ctx, depth)
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    return model.eval()


def vae_from(tensors):
    sd = {k: v.float() for k, v in strip(tensors, VAE).items() if k.startswith(("decoder.", "post_quant_conv."))}
    ch = sd["decoder.conv_out.weight"].shape[1]
    nlev = len({k.split(".")[2] for k in sd if k.startswith("decoder.up.")})
    mult = tuple(sd[f"decoder.up.{i}.block.0.conv1.weight"].shape[0] // ch for i in range(nlev))
    nres = len({k.split(".")[4] for k in sd if k.startswith("decoder.up.0.block.")}) - 1
    model = VaeDecode(ch=ch, mult=mult, nres=nres, z=sd["decoder.conv_in.weight"].shape[1])
    model.load_state_dict(sd)
    return model.eval()


def text_from(tensors, heads):
    sd = {k: v.float() if v.is_floating_point() else v for k, v in strip(tensors, TEXT).items()}
    sd.pop("embeddings.position_ids", None)
    vocab, w = sd["embeddings.token_embedding.weight"].shape
    layers = len({k.split(".")[2] for k in sd if k.startswith("encoder.layers.")})
    model = ClipTextModel(vocab, w, sd["embeddings.position_embedding.weight"].shape[0], heads,
                          sd["encoder.layers.0.mlp.fc1.weight"].shape[0], layers)
    model.load_state_dict(sd)
    return model.eval()


# ---------------- measurement ----------------

def memory():
    """MiB: VmRSS, RssFile, RssAnon now; peak from getrusage (ru_maxrss, KiB on Linux)."""
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssFile", "RssAnon", "VmHWM"):
                status[key] = int(rest.split()[0]) / 1024
    status["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return status


def report(kind, **fields):
    print("torch " + kind + " " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in fields.items()), flush=True)


def autocast(dtype):
    if dtype == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("mode", choices=["unet", "vae", "e2e", "parity", "train"])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--text-heads", type=int, default=12)
    ap.add_argument("--cases")
    ap.add_argument("--rank", type=int, default=4, help="train mode: LoRA rank (alpha = rank)")
    ap.add_argument("--profile", help="unet mode: write a chrome trace of one extra step to this file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)

    t0 = time.perf_counter()
    tensors = read_safetensors(a.model)
    unet = unet_from(tensors, a.heads) if a.mode != "vae" else None
    if a.mode == "parity":
        parity(a, tensors, unet)
        return
    text = vae = None
    if a.mode == "e2e":
        text = text_from(tensors, a.text_heads)
    if a.mode in ("e2e", "vae"):
        vae = vae_from(tensors)
    del tensors  # the modules own copies; the mapping is released with the last view
    load_s = time.perf_counter() - t0
    m = memory()
    file_mib = os.path.getsize(a.model) / 2 ** 20
    report("load", mode=a.mode, dtype=a.dtype, threads=a.threads, load_s=load_s, file_mib=file_mib, rss_mib=m["VmRSS"],
           rss_file_mib=m["RssFile"], rss_anon_mib=m["RssAnon"])

    if a.mode == "train":
        train_steps(a, unet)
        return
    lat = a.size // 8
    if a.mode == "vae":
        vae_decodes(a, vae, lat)
        return
    x = torch.randn(2, 4, lat, lat)
    context = torch.randn(2, 77, unet.input_blocks[1][1].transformer_blocks[0].attn2.to_k.in_features)
    if a.mode == "unet":
        steps = a.steps or 3
        t = torch.full((2,), 500.0)
        times = []
        with autocast(a.dtype):
            for i in range(steps + 1):  # the first call also builds oneDNN primitives: not counted
                s = time.perf_counter()
                eps = unet(x, t, context)
                times.append(time.perf_counter() - s)
                if i == 0:
                    after = memory()
                    report("mem_after_first_step", size=a.size, dtype=a.dtype, rss_mib=after["VmRSS"],
                           rss_file_mib=after["RssFile"], rss_anon_mib=after["RssAnon"])
        assert torch.isfinite(eps.float()).all(), "non-finite UNet output"
        report("unet", size=a.size, dtype=a.dtype, batch=2, threads=a.threads, first_s=times[0],
               step_s=statistics.median(times[1:]), min_s=min(times[1:]), steps=steps, peak_rss_mib=memory()["peak"])
        if a.profile:  # one more step under the profiler, after the report (profile_summary.py reads it)
            with autocast(a.dtype), torch.autograd.profiler.profile() as prof:
                unet(x, t, context)
            prof.export_chrome_trace(a.profile)
        return

    # e2e proxy: text encode (cond + uncond), N UNet steps of batch 2 with CFG and an Euler update
    # on a fixed descending sigma ramp (not a real sampler: the cost is the networks'), VAE decode
    steps = a.steps or 20
    ids = torch.randint(0, 49406, (2, 77))
    with autocast(a.dtype):
        s = time.perf_counter()
        ctx = text(ids)
        text_s = time.perf_counter() - s
        latents = torch.randn(1, 4, lat, lat)
        sigmas = torch.linspace(14.6, 0.03, steps + 1).tolist() + [0.0]
        s = time.perf_counter()
        for i in range(steps):
            x_in = torch.cat([latents, latents]) / math.sqrt(sigmas[i] ** 2 + 1)
            eps = unet(x_in, torch.full((2,), 999.0 * (1 - i / steps)), ctx).float()
            uncond, cond = eps.chunk(2)
            latents = latents + (uncond + 7.5 * (cond - uncond)) * (sigmas[i + 1] - sigmas[i])
        unet_s = time.perf_counter() - s
        s = time.perf_counter()
        image = vae(latents)
        vae_s = time.perf_counter() - s
    assert torch.isfinite(image.float()).all(), "non-finite image"
    report("e2e", size=a.size, dtype=a.dtype, threads=a.threads, steps=steps, text_s=text_s, unet_s=unet_s,
           vae_s=vae_s, total_s=text_s + unet_s + vae_s, peak_rss_mib=memory()["peak"])


def vae_decodes(a, vae, lat):
    """VAE decodes of one [1, 4, lat, lat] latent: one warm-up, then N timed (SdBenchmark's vae mode)."""
    steps = a.steps or 3
    latents = torch.randn(1, 4, lat, lat)
    times = []
    with autocast(a.dtype):
        for _ in range(steps + 1):  # the first call also builds oneDNN primitives: not counted
            s = time.perf_counter()
            image = vae(latents)
            times.append(time.perf_counter() - s)
    assert torch.isfinite(image.float()).all(), "non-finite image"
    report("vae", size=a.size, dtype=a.dtype, batch=1, threads=a.threads, first_s=times[0],
           decode_s=statistics.median(times[1:]), min_s=min(times[1:]), runs=steps, peak_rss_mib=memory()["peak"])


def parity(a, tensors, unet):
    cases = read_safetensors(a.cases)
    eps = unet(cases["unet.x"], cases["unet.t"].float(), cases["unet.context"])
    ref = cases["unet.eps"]
    report("parity", net="unet", max_abs_err=f"{float((eps - ref).abs().max()):.2e}", max_ref=f"{float(ref.abs().max()):.3f}")
    vae = vae_from(tensors)
    dec = vae(cases["vae.latents"])
    ref = cases["vae.decoded"]
    report("parity", net="vae_decode", max_abs_err=f"{float((dec - ref).abs().max()):.2e}", max_ref=f"{float(ref.abs().max()):.3f}")
    text = text_from(tensors, a.text_heads)
    hid = text(cases["text.input_ids"])
    ref = cases["text.hidden"]
    report("parity", net="text", max_abs_err=f"{float((hid - ref).abs().max()):.2e}", max_ref=f"{float(ref.abs().max()):.3f}")


if __name__ == "__main__":
    main()
