"""Checks ldm.py against the reference outputs of the original implementations (CompVis
latent-diffusion, OpenAI CLIP) in ../shared/fixtures/sd15-tiny: same weights in, same numbers out.
Run before trusting anything train.py makes:  python3 check_parity.py [FIXTURES_DIR]"""
import sys
from pathlib import Path

import torch

import ldm
import safetensors_io


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared/fixtures/sd15-tiny")
    weights, _ = safetensors_io.load(str(root / "model/model.safetensors"))
    cases, _ = safetensors_io.load(str(root / "cases.safetensors"))
    unet = ldm.UNet(4, 4, 32, [1, 2, 2, 2], 2, [4, 2, 1], 32, num_heads=4)
    vae = ldm.AutoencoderKL(32, [1, 2, 2, 2], 1)
    text = ldm.ClipTextModel(49408, 32, 2, 2, 128)
    model = ldm.Checkpoint(unet, vae, text)
    state = {k: v for k, v in weights.items() if k != "alphas_cumprod"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    worst = 0.0
    with torch.no_grad():
        checks = {
            "text.hidden": text(cases["text.input_ids"]),
            "text.hidden_clip_skip2": text(cases["text.input_ids"], clip_skip=2),
            "unet.eps": unet(cases["unet.x"], cases["unet.t"], cases["unet.context"]),
            "vae.decoded": vae.decode(cases["vae.latents"] / 0.18215),
            "vae.posterior_mean": vae.encode(cases["vae.image"])[0],
            "vae.posterior_logvar": vae.encode(cases["vae.image"])[1],
        }
    for name, got in checks.items():
        want = cases[name]
        err = (got - want).abs().max().item()
        scale = want.abs().max().item()
        print(f"{name:24s} max |diff| {err:.2e} (max |ref| {scale:.2e})")
        worst = max(worst, err / max(scale, 1e-6))
    if worst > 1e-4:
        sys.exit(f"parity FAILED: worst relative error {worst:.2e}")
    print("parity OK")


if __name__ == "__main__":
    main()
