#!/usr/bin/python3
"""Exports baseline.py's PyTorch networks (UNet, VAE decoder, CLIP text model), built from one
single-file LDM .safetensors, to ONNX for the ONNX Runtime side of the SD1.5 benchmark
(OnnxSdBenchmark). torch.onnx only (no onnx package): opset 17, fixed shapes, F32, constant folding.

  export_onnx.py MODEL.safetensors OUTDIR [--size 512] [--batch 2] [--nets unet,vae,text]
                 [--heads 8] [--text-heads 12] [--force]

Each network goes into a folder of its own, holding NAME.onnx:
  OUTDIR/unet-SIZE-bBATCH/   inputs x [B,4,SIZE/8,SIZE/8] f32, t [B] f32, context [B,77,ctx] f32; output eps
  OUTDIR/vae_decoder-SIZE/   input latents [1,4,SIZE/8,SIZE/8] f32; output image [1,3,SIZE,SIZE]
  OUTDIR/text_encoder/       input input_ids [2,77] i64; output hidden [2,77,width]
A protobuf holds at most 2 GB: torch 1.13's exporter (export.cpp) then switches to ONNX's external
data format by itself, writing every initializer over 1 KiB to a file named after the tensor
beside NAME.onnx. The full-size SD1.5 UNet (3.4 GB of F32 weights) is exported that way; one
folder per network keeps two exports' weight files from overwriting each other.

A folder is written as NAME.partial and renamed when complete, with source.json naming the
model file (path, size, mtime) and the settings; an existing folder whose source.json matches is
kept (the export is skipped), any other is replaced.
"""
import argparse
import json
import os
import shutil
import sys
import time
import warnings

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline  # noqa: E402  (the networks and the checkpoint reader live there)

OPSET = 17
# torch 1.13's exporter warns about its own shape inference of constants, and the tracer about the
# VAE attention's int(c); both are harmless for fixed-shape exports.
warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)


class VaeDecodeOnly(nn.Module):
    """VaeDecode with SD1's scale factor fixed, so the graph has one input."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        return self.vae(latents)


def source_stamp(model, **settings):
    st = os.stat(model)
    return {"model": os.path.abspath(model), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "opset": OPSET, **settings}


def export(name, outdir, stamp, force, build, args, input_names, output_names):
    """Exports build() at args into outdir/name/name.onnx unless a matching export is there."""
    final = os.path.join(outdir, name)
    stamp_file = os.path.join(final, "source.json")
    if not force and os.path.isfile(stamp_file):
        with open(stamp_file) as f:
            if json.load(f) == stamp:
                print(f"export {name}: up to date in {final}", flush=True)
                return
    partial = final + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    t0 = time.perf_counter()
    module = build()
    with torch.no_grad():
        torch.onnx.export(module, args, os.path.join(partial, name + ".onnx"), opset_version=OPSET,
                          input_names=input_names, output_names=output_names, do_constant_folding=True)
    del module
    with open(os.path.join(partial, "source.json"), "w") as f:
        json.dump(stamp, f, indent=1)
    files = os.listdir(partial)
    size = sum(os.path.getsize(os.path.join(partial, n)) for n in files)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(partial, final)
    external = len(files) - 2  # besides NAME.onnx and source.json: external data files
    print(f"export {name}: {size / 2 ** 20:.1f} MiB in {final} ({external} external data files) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("outdir")
    ap.add_argument("--size", type=int, default=512, help="image size in pixels (latents are SIZE/8)")
    ap.add_argument("--batch", type=int, default=2, help="UNet batch (2: classifier-free guidance)")
    ap.add_argument("--nets", default="unet,vae,text", help="comma-separated subset of unet,vae,text")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--text-heads", type=int, default=12)
    ap.add_argument("--force", action="store_true", help="export even when a matching export exists")
    a = ap.parse_args()
    nets = [n for n in a.nets.split(",") if n]
    unknown = set(nets) - {"unet", "vae", "text"}
    if unknown:
        ap.error(f"unknown networks {sorted(unknown)} (known: unet, vae, text)")
    if a.size % 8:
        ap.error("--size must be a multiple of 8")
    os.makedirs(a.outdir, exist_ok=True)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    tensors = baseline.read_safetensors(a.model)
    lat = a.size // 8

    if "unet" in nets:
        ctx = tensors[baseline.UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"].shape[1]
        export(f"unet-{a.size}-b{a.batch}", a.outdir,
               source_stamp(a.model, net="unet", size=a.size, batch=a.batch, heads=a.heads), a.force,
               lambda: baseline.unet_from(tensors, a.heads),
               (torch.randn(a.batch, 4, lat, lat), torch.full((a.batch,), 500.0), torch.randn(a.batch, 77, ctx)),
               ["x", "t", "context"], ["eps"])
    if "vae" in nets:
        export(f"vae_decoder-{a.size}", a.outdir, source_stamp(a.model, net="vae", size=a.size), a.force,
               lambda: VaeDecodeOnly(baseline.vae_from(tensors)).eval(), (torch.randn(1, 4, lat, lat),),
               ["latents"], ["image"])
    if "text" in nets:
        vocab = tensors[baseline.TEXT + "embeddings.token_embedding.weight"].shape[0]
        export("text_encoder", a.outdir, source_stamp(a.model, net="text", heads=a.text_heads), a.force,
               lambda: baseline.text_from(tensors, a.text_heads),
               (torch.randint(0, vocab - 2, (2, 77)),), ["input_ids"], ["hidden"])


if __name__ == "__main__":
    main()
