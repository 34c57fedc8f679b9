"""Trains the project's embedded default model: a small Stable-Diffusion-architecture checkpoint
(CLIP text encoder, UNet, VAE in the LDM single-file layout) on garments that Atelier generates
itself (`atelier synth training-set`), with a BPE vocabulary learned from their captions. Nothing
here comes from elsewhere: no weights, no data, no tokenizer files.

    scripts/default-model/make.sh            # generates the data, then runs this
    python3 train.py --data DIR --out models/default [--vae-steps N --unet-steps N]

Output (all written through temp files and renames): model.safetensors (fp16 weights, fp32
alphas_cumprod), model.yaml (LDM config), tokenizer/{vocab.json,merges.txt}, reference.safetensors
(inputs and outputs of each network on the exported weights, for Atelier's parity test),
training-log.json and preview.png.
"""
import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import bpe
import ldm
import safetensors_io

# The default model's architecture: SD1.5's structure at a size that trains on 2 CPU cores.
ARCH = {
    "image_size": 64,
    "unet": dict(model_channels=64, channel_mult=[1, 2, 2], num_res_blocks=1, attention_resolutions=[2, 4],
                 num_head_channels=32, transformer_depth=1, context_dim=64),
    "vae": dict(ch=32, ch_mult=[1, 1, 2, 2], num_res_blocks=1),
    "text": dict(width=64, layers=3, heads=2, intermediate=256),
}
EXTRA_WORDS = ["a", "an", "the", "photo", "of", "in", "with", "and", "garment", "clothes"]


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def schedule(steps=1000, start=0.00085, end=0.012):
    # SD1.x "scaled linear" betas: linear in sqrt(beta).
    betas = torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def load_data(folder):
    rows = [json.loads(line) for line in open(os.path.join(folder, "metadata.jsonl"), encoding="utf-8") if line.strip()]
    images = np.stack([np.asarray(Image.open(os.path.join(folder, r["file"])).convert("RGB")) for r in rows])
    return rows, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # uint8 [N,3,H,W]


def caption_variant(row, rng):
    # Mostly the full caption; often just the category, so that "jacket" alone means any style.
    r = rng.random()
    if r < 0.10:
        return ""
    if r < 0.35:
        return row["category"]
    if r < 0.45:
        return f'{row["color"]} {row["category"]}'
    if r < 0.55:
        return f'{row["pattern"]} {row["category"]}'
    return f'{row["color"]} {row["pattern"]} {row["category"]}'


def to_unit(images_u8):
    return images_u8.float() / 127.5 - 1.0


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def colour_transform(images, power):
    """A 3x3 linear map of RGB that multiplies each principal colour direction of the data by
    (its variance / the luminance direction's) ** power. The colours of these garments have one
    direction (luminance) with 15 to 50 times the variance of the other two (chroma), and a small
    VAE learns low-variance directions last: trained on RGB it reconstructs luminance well long
    before it learns any hue (the first default model came out in sepia). Training in the
    transformed space (power -0.25: chroma weighs 2 to 2.7 times more) lets it learn colour early.
    The map is linear without offset, so it folds exactly into conv_in and conv_out afterwards
    (fold_colour_transform): the shipped VAE takes and gives plain RGB."""
    px = to_unit(images[:2000]).permute(0, 2, 3, 1).reshape(-1, 3).double()
    centred = px - px.mean(0)
    eigenvalues, vectors = torch.linalg.eigh(centred.T @ centred / px.shape[0])
    scale = (eigenvalues / eigenvalues[-1]).pow(power)
    return (vectors @ torch.diag(scale) @ vectors.T).float()


def apply_colour(a, x):
    return torch.einsum("ij,bjhw->bihw", a, x)


def fold_colour_transform(vae, a):
    """Makes vae, trained on apply_colour(a, rgb), take and produce RGB itself: the encoder's
    first conv reads a @ rgb, the decoder's last conv writes a^-1 @ its output."""
    inverse = torch.linalg.inv(a.double()).float()
    with torch.no_grad():
        w = vae.encoder.conv_in.weight  # [out, 3, k, k]: conv(a @ x) = (w . a)(x)
        w.copy_(torch.einsum("ojhw,ji->oihw", w, a))
        w = vae.decoder.conv_out.weight  # [3, in, k, k]
        w.copy_(torch.einsum("ij,jchw->ichw", inverse, w))
        b = vae.decoder.conv_out.bias
        b.copy_(inverse @ b)


def train_vae(vae, images, steps, crop_steps, batch, seed, history, colour=None):
    """Mostly on random 32x32 crops (the networks are convolutional; a quarter of the cost), then
    on whole images so the middle attention sees the full 8x8 latent grid. With colour (a 3x3
    map, colour_transform), inputs and targets are in that colour space."""
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 1e-3, 100)
        idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
        x = to_unit(images[idx])
        if step < crop_steps:
            size = images.shape[-1] // 2
            oy, ox = (int(v) * 8 for v in torch.randint(0, size // 8 + 1, (2,), generator=gen))
            x = x[:, :, oy:oy + size, ox:ox + size]
        if colour is not None:
            x = apply_colour(colour, x)
        mean, logvar = vae.encode(x)
        z = mean + torch.randn(mean.shape, generator=gen) * (0.5 * logvar).exp()
        rec = vae.decode(z)
        rec_loss = (rec - x).abs().mean() + F.mse_loss(rec, x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = rec_loss + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step, "rec": round(rec_loss.item(), 5), "kl": round(kl.item(), 4),
                        "crop": step < crop_steps})
        if step % 50 == 0 or step == steps - 1:
            log(f"vae {step}/{steps} rec {rec_loss.item():.4f} kl {kl.item():.2f} ({time.time() - t0:.0f} s)")


def encode_all(vae, images, batch=256):
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            m, lv = vae.encode(to_unit(images[i:i + batch]))
            means.append(m)
            stds.append((0.5 * lv).exp())
    return torch.cat(means), torch.cat(stds)


def train_unet(unet, text, tok, rows, means, stds, scale, acp, steps, batch, seed, history):
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 5e-4, 200)
        idx = torch.randint(0, means.shape[0], (batch,), generator=gen)
        x0 = (means[idx] + stds[idx] * torch.randn(means[idx].shape, generator=gen)) * scale
        ids = torch.tensor([tok.ids(caption_variant(rows[i], rng)) for i in idx.tolist()])
        t = torch.randint(0, acp.shape[0], (batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        a = acp[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        pred = unet(xt, t, text(ids))
        # Min-SNR-5 weighting (Hang et al. 2023) for epsilon prediction: min(snr, 5) / snr.
        snr = acp[t] / (1 - acp[t])
        w = torch.clamp(snr, max=5.0) / snr
        loss = (w * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        history.append({"step": step, "loss": round(loss.item(), 5)})
        if step % 50 == 0 or step == steps - 1:
            recent = [h["loss"] for h in history[-50:]]
            log(f"unet {step}/{steps} loss {sum(recent) / len(recent):.4f} ({time.time() - t0:.0f} s)")
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)


@torch.no_grad()
def sample(unet, text, vae, tok, scale, acp, prompts, seed, steps=25, cfg=5.0):
    """DDIM (eta 0) with classifier-free guidance: a quick preview, not Atelier's sampler."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((len(prompts), 4, 8, 8), generator=gen)
    cond = text(torch.tensor([tok.ids(p) for p in prompts]))
    uncond = text(torch.tensor([tok.ids("")] * len(prompts)))
    ts = torch.linspace(acp.shape[0] - 1, 0, steps).round().long()
    for i, t in enumerate(ts):
        tt = torch.full((len(prompts),), int(t))
        e = unet(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([uncond, cond]))
        eu, ec = e.chunk(2)
        eps = eu + cfg * (ec - eu)
        a = acp[t]
        a_prev = acp[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    img = vae.decode(x / scale).clamp(-1, 1)
    return ((img + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def save_grid(rows_of_images, path):
    h = len(rows_of_images)
    w = max(len(r) for r in rows_of_images)
    size = rows_of_images[0][0].shape[0]
    grid = np.full((h * size, w * size, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows_of_images):
        for j, im in enumerate(row):
            grid[i * size:(i + 1) * size, j * size:(j + 1) * size] = im
    Image.fromarray(grid).resize((w * size * 2, h * size * 2), Image.NEAREST).save(path + ".tmp.png")
    os.replace(path + ".tmp.png", path)


def yaml_config(scale, vocab_size):
    u, v, t = ARCH["unet"], ARCH["vae"], ARCH["text"]
    return f"""# Atelier's embedded default: SD1.x architecture, trained by scripts/default-model/train.py
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    image_size: {ARCH["image_size"] // 8}
    channels: 4
    conditioning_key: crossattn
    scale_factor: {scale:.6f}
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        in_channels: 4
        out_channels: 4
        model_channels: {u["model_channels"]}
        attention_resolutions: {u["attention_resolutions"]}
        num_res_blocks: {u["num_res_blocks"]}
        channel_mult: {u["channel_mult"]}
        num_head_channels: {u["num_head_channels"]}
        use_spatial_transformer: True
        transformer_depth: {u["transformer_depth"]}
        context_dim: {u["context_dim"]}
        legacy: False
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: {ARCH["image_size"]}
          in_channels: 3
          out_ch: 3
          ch: {v["ch"]}
          ch_mult: {v["ch_mult"]}
          num_res_blocks: {v["num_res_blocks"]}
          attn_resolutions: []
          dropout: 0.0
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
      params:
        hidden_size: {t["width"]}
        num_hidden_layers: {t["layers"]}
        num_attention_heads: {t["heads"]}
        intermediate_size: {t["intermediate"]}
        hidden_act: quick_gelu
        max_position_embeddings: 77
        vocab_size: {vocab_size}
"""


def write_text(path, text):
    with open(str(path) + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(str(path) + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by `atelier synth training-set`")
    ap.add_argument("--out", required=True, help="output folder (models/default)")
    ap.add_argument("--work", default=None, help="folder for intermediate state (default OUT/../.default-model-work)")
    ap.add_argument("--vae-steps", type=int, default=3000, help="VAE updates in all")
    ap.add_argument("--vae-crop-steps", type=int, default=2700, help="of which on 32x32 crops")
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-colour-power", type=float, default=-0.25,
                    help="train the VAE in a colour space that weighs chroma up (colour_transform; 0: plain RGB)")
    ap.add_argument("--unet-steps", type=int, default=2400)
    ap.add_argument("--unet-batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.parent / ".default-model-work"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    rows, images = load_data(args.data)
    log(f"{len(rows)} training images {tuple(images.shape[1:])} from {args.data}")
    counts = {}
    for r in rows:
        for w in r["caption"].split() + [r["category"], r["color"], r["pattern"]]:
            counts[w] = counts.get(w, 0) + 1
    for w in EXTRA_WORDS:
        counts.setdefault(w, 1)
    vocab, merges = bpe.learn(counts)
    bpe.write(vocab, merges, str(out / "tokenizer"))
    tok = bpe.Tokenizer(vocab)
    log(f"BPE vocabulary: {len(vocab)} tokens, {len(merges)} merges")

    a = ARCH
    unet = ldm.UNet(4, 4, a["unet"]["model_channels"], a["unet"]["channel_mult"], a["unet"]["num_res_blocks"],
                    a["unet"]["attention_resolutions"], a["unet"]["context_dim"],
                    num_head_channels=a["unet"]["num_head_channels"], transformer_depth=a["unet"]["transformer_depth"])
    vae = ldm.AutoencoderKL(a["vae"]["ch"], a["vae"]["ch_mult"], a["vae"]["num_res_blocks"])
    text = ldm.ClipTextModel(len(vocab), a["text"]["width"], a["text"]["layers"], a["text"]["heads"],
                             a["text"]["intermediate"])
    acp = schedule()
    history = {"vae": [], "unet": []}

    vae_state = work / f"vae-{args.vae_steps}-{args.vae_crop_steps}-{args.vae_colour_power}-{args.seed}.pt"
    vae_history = vae_state.with_suffix(".json")
    if vae_state.exists():
        vae.load_state_dict(torch.load(vae_state))
        if vae_history.exists():
            history["vae"] = json.loads(vae_history.read_text())
        log(f"reusing {vae_state}")
    else:
        colour = colour_transform(images, args.vae_colour_power) if args.vae_colour_power else None
        train_vae(vae, images, args.vae_steps, args.vae_crop_steps, args.vae_batch, args.seed, history["vae"], colour)
        if colour is not None:
            fold_colour_transform(vae, colour)
        write_text(vae_history, json.dumps(history["vae"]))
        torch.save(vae.state_dict(), str(vae_state) + ".tmp")
        os.replace(str(vae_state) + ".tmp", vae_state)
    vae.eval()
    with torch.no_grad():
        originals = to_unit(images[:64])
        rec = vae.decode(vae.encode(originals)[0]).clamp(-1, 1)
        chroma = lambda x: (((x + 1) / 2).amax(1) - ((x + 1) / 2).amin(1)).mean().item()
        check = {"l1": round((rec - originals).abs().mean().item(), 4), "chroma_in": round(chroma(originals), 4),
                 "chroma_out": round(chroma(rec), 4)}
    history["vae_check"] = check
    log(f"VAE on 64 training images: L1 {check['l1']}, chroma (max - min of RGB) {check['chroma_in']} in, "
        f"{check['chroma_out']} reconstructed")
    # The VAE is frozen from here on, in fp16 as it will be shipped, so the UNet learns its latents.
    vae.load_state_dict({k: v.half().float() for k, v in vae.state_dict().items()})
    for p in vae.parameters():
        p.requires_grad_(False)
    means, stds = encode_all(vae, images)
    scale = 1.0 / means.std().item()
    log(f"latents: std {means.std().item():.4f} -> scale_factor {scale:.5f}")

    train_unet(unet, text, tok, rows, means, stds, scale, acp, args.unet_steps, args.unet_batch, args.seed,
               history["unet"])
    unet.eval()
    text.eval()

    # Export: weights in fp16 (the file must stay small), everything else from those exact values.
    model = ldm.Checkpoint(unet, vae, text)
    state = {k: v.half() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    state["alphas_cumprod"] = acp
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()
                           if k != "alphas_cumprod"})
    meta = {"made_by": "atelier scripts/default-model/train.py", "seed": args.seed,
            "vae_steps": args.vae_steps, "vae_crop_steps": args.vae_crop_steps, "vae_colour_power": args.vae_colour_power, "unet_steps": args.unet_steps, "training_images": len(rows)}
    safetensors_io.save(state, str(out / "model.safetensors"), meta)
    write_text(out / "model.yaml", yaml_config(scale, len(vocab)))

    # Reference outputs of each network on the exported weights (fp32 compute).
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        first = rows[0]
        prompts = [first["category"], f'{first["color"]} {first["pattern"]} {first["category"]}', ""]
        ids = torch.tensor([tok.ids(p) for p in prompts])
        hidden = text(ids)
        x = torch.randn((2, 4, 8, 8), generator=gen)
        t = torch.tensor([10, 700])
        eps = unet(x, t, hidden[:2])
        latents = torch.randn((1, 4, 8, 8), generator=gen)
        decoded = vae.decode(latents / scale)
        image = to_unit(images[:1])
        mean, logvar = vae.encode(image)
    safetensors_io.save({"text.input_ids": ids, "text.hidden": hidden, "unet.x": x, "unet.t": t,
                         "unet.context": hidden[:2], "unet.eps": eps, "vae.latents": latents, "vae.decoded": decoded,
                         "vae.image": image, "vae.posterior_mean": mean, "vae.posterior_logvar": logvar},
                        str(out / "reference.safetensors"),
                        {"prompts": json.dumps(prompts), "scale_factor": f"{scale:.6f}",
                         "made_by": "atelier scripts/default-model/train.py"})

    categories = sorted({r["category"] for r in rows})
    styles = sorted({(r["color"], r["pattern"]) for r in rows})
    pick = random.Random(1)
    preview_prompts = [[categories[0]] * 8,
                       [f"{c} {p} {categories[0]}" for c, p in pick.sample(styles, min(8, len(styles)))],
                       categories[:8]]
    grid = []
    for i, ps in enumerate(preview_prompts):
        try:
            grid.append(list(sample(unet, text, vae, tok, scale, acp, ps, seed=100 + i)))
        except ValueError as e:
            log(f"preview row skipped: {e}")
    with torch.no_grad():
        rec = vae.decode(means[:8]).clamp(-1, 1)
    grid.append(list(images[:8].permute(0, 2, 3, 1).numpy()))
    grid.append(list(((rec + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()))
    save_grid(grid, str(out / "preview.png"))
    write_text(out / "training-log.json", json.dumps({"arch": ARCH, "args": vars(args), "scale_factor": scale,
                                                     "seconds": round(time.time() - started),
                                                     "history": history}, indent=None))
    size = (out / "model.safetensors").stat().st_size
    log(f"done in {time.time() - started:.0f} s; model.safetensors {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
