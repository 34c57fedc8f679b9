#!/usr/bin/python3
"""PyTorch eager baseline for the SD1.5 benchmark: the LDM UNet, the VAE decoder and the CLIP text
model of scripts/default-model/ldm.py (the repository's one PyTorch implementation of them, with
the math of the CompVis code and transformers' CLIPTextModel), including attention that
materialises the full softmax matrix (matmul, softmax, matmul).

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


# ---------------- the networks: scripts/default-model/ldm.py ----------------

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "default-model"))
import ldm  # noqa: E402  (the one PyTorch implementation of the LDM networks in this repository)


class VaeDecode(nn.Module):
    """AutoencoderKL.decode of latents divided by the scale factor; the decoder half only, so that
    the encoder's weights are neither loaded nor counted in the memory measured."""

    def __init__(self, ch, mult, nres, z=4):
        super().__init__()
        self.decoder = ldm.Decoder(3, ch, mult, nres, z)
        self.post_quant_conv = nn.Conv2d(z, z, 1)

    def forward(self, latents, scale_factor=0.18215):
        return self.decoder(self.post_quant_conv(latents / scale_factor))


# ---------------- LoRA training step ----------------

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
    for st in [m for m in unet.modules() if isinstance(m, ldm.SpatialTransformer)]:
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
    model = ldm.UNet(sd["input_blocks.0.0.weight"].shape[1], sd["out.2.weight"].shape[0], mc, mult, nres,
                     [2 ** level for level in attn], ctx, num_heads=heads, transformer_depth=depth)
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    return model.eval()


def vae_from(tensors):
    sd = {k: v.float() for k, v in strip(tensors, VAE).items() if k.startswith(("decoder.", "post_quant_conv."))}
    ch = sd["decoder.conv_out.weight"].shape[1]
    nlev = len({k.split(".")[2] for k in sd if k.startswith("decoder.up.")})
    mult = tuple(sd[f"decoder.up.{i}.block.0.conv1.weight"].shape[0] // ch for i in range(nlev))
    nres = len({k.split(".")[4] for k in sd if k.startswith("decoder.up.0.block.")}) - 1
    model = VaeDecode(ch, mult, nres, z=sd["decoder.conv_in.weight"].shape[1])
    model.load_state_dict(sd)
    return model.eval()


def text_from(tensors, heads):
    sd = {k: v.float() if v.is_floating_point() else v for k, v in strip(tensors, TEXT).items()}
    vocab, w = sd["embeddings.token_embedding.weight"].shape
    positions = sd["embeddings.position_embedding.weight"].shape[0]
    # The stored position ids are not read: some checkpoints hold them rounded (fp16) or not at all.
    sd["embeddings.position_ids"] = torch.arange(positions)[None]
    layers = len({k.split(".")[2] for k in sd if k.startswith("encoder.layers.")})
    model = ldm.ClipTextModel(vocab, w, layers, heads, sd["encoder.layers.0.mlp.fc1.weight"].shape[0], positions)
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
