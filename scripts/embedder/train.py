"""Trains the embedded default's image embedder: torchvision's MobileNetV3-Large, architecture
unchanged, on garments that Atelier draws itself (`atelier synth training-set`), with three
classification heads sharing the network's last Linear: garment type, pattern and primary colour.

    scripts/embedder/make.sh                 # draws the data, then runs this
    python3 train.py --data DIR --val DIR --out models/default/embedder [--steps N]

The heads are one `classifier.3` of 9 + 5 + 11 outputs (`mobilenet_v3_large(num_classes=25)`), so
the file is a plain torchvision state dict; which output means what is in the file's metadata
(`atelier.heads`), as is the preprocessing the weights expect (`atelier.transform`: resize the
short side to 128, centre crop 128, ImageNet mean and std).

Output (through temp files and renames): mobilenet_v3_large.safetensors (fp16 weights, I64
num_batches_tracked), reference.safetensors (inputs, pooled features, pre-logits and logits of the
exported weights computed by torchvision, for Atelier's parity test) and training-log.json.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "default-model"))
import safetensors_io  # noqa: E402

# Caption words in the order of the synth enums (GarmentType, GarmentPattern, GarmentColour).
HEADS = {
    "type": ["jacket", "coat", "shirt", "tshirt", "hoodie", "dress", "skirt", "trousers", "shorts"],
    "pattern": ["plain", "striped", "checked", "dotted", "colorblock"],
    "color": ["red", "burgundy", "pink", "mustard", "cream", "olive", "green", "blue", "navy", "grey", "black"],
}
SIZE = 128
# Weights of the cosine (metric) losses of type, pattern and colour beside the classifier's.
# Type weighs most, so that in a small catalog an item of the same type outranks one that only
# shares pattern and colour (with 1.0, 0.7, 0.3 a 120-item catalog found the type 70 % of the time).
METRIC_WEIGHTS = (1.0, 0.5, 0.15)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load(folder, heads):
    rows = [json.loads(line) for line in open(os.path.join(folder, "metadata.jsonl"), encoding="utf-8") if line.strip()]
    images = np.stack([np.asarray(Image.open(os.path.join(folder, r["file"])).convert("RGB")) for r in rows])
    if images.shape[1:3] != (SIZE, SIZE):
        raise SystemExit(f"{folder}: images must be {SIZE}x{SIZE}, got {images.shape[1:3]}")
    labels = torch.tensor([[heads["type"].index(r["category"]), heads["pattern"].index(r["pattern"]),
                            heads["color"].index(r["color"])] for r in rows])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels  # uint8 [N,3,H,W], [N,3]


def garment_box(img):
    """(top, left, height, width) of the pixels that differ from the background (the corner's colour)."""
    mask = (img - img[:, :1, :1]).abs().amax(0) > 0.08
    rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
    if len(rows) == 0:
        return 0, 0, img.shape[1], img.shape[2]
    top, bottom, left, right = rows[0].item(), rows[-1].item(), cols[0].item(), cols[-1].item()
    return top, left, bottom - top + 1, right - left + 1


def box_crop(img):
    """What Atelier does with a catalog's bounding box: crop to it, resize the short side to SIZE,
    centre-crop SIZE x SIZE (DeepFashion In-shop catalogs give boxes; the garment then fills the frame)."""
    top, left, h, w = garment_box(img)
    img = TF.resize(img[:, top:top + h, left:left + w], SIZE, antialias=True)
    return TF.center_crop(img, [SIZE, SIZE])


def augment(batch, g):
    """Bounding-box crops or random crops, flips, small rotations, lighting, blur and 64 px round
    trips (what generated images look like after the 64 -> 128 resize), each drawn from g. Hue is
    left alone: colour is a label."""
    out = []
    for img in batch.float().div(255):
        u = torch.rand(13, generator=g).tolist()
        background = img[:, 0, 0].tolist()
        if u[12] < 0.4:
            img = box_crop(img)
        else:
            scale = 0.65 + 0.35 * u[0]
            aspect = math.exp((u[1] - 0.5) * math.log(4 / 3))
            h = min(SIZE, int(round(SIZE * math.sqrt(scale / aspect))))
            w = min(SIZE, int(round(SIZE * math.sqrt(scale * aspect))))
            top, left = int(u[2] * (SIZE - h)), int(u[3] * (SIZE - w))
            img = TF.resized_crop(img, top, left, h, w, [SIZE, SIZE], antialias=True)
        if u[4] < 0.5:
            img = TF.hflip(img)
        img = TF.rotate(img, (u[5] - 0.5) * 20, interpolation=TF.InterpolationMode.BILINEAR, fill=background)
        img = TF.adjust_brightness(img, 0.8 + 0.4 * u[6])
        img = TF.adjust_contrast(img, 0.8 + 0.4 * u[7])
        img = TF.adjust_saturation(img, 0.8 + 0.4 * u[8])
        if u[9] < 0.4:
            img = TF.gaussian_blur(img, [5, 5], [0.3 + 1.2 * u[10]])
        if u[11] < 0.4:
            small = TF.resize(img, [64, 64], antialias=True)
            img = TF.resize(small, [SIZE, SIZE], antialias=True)
        out.append(img.clamp(0, 1))
    return (torch.stack(out) - MEAN) / STD


def normalise(batch):
    return (batch.float().div(255) - MEAN) / STD


def outputs(model, x):
    """torchvision's forward split where Atelier reads it: pooled [n,960], pre-logits [n,1280], logits
    (the classifier's dropout sits between the last two and is the identity in eval mode)."""
    pooled = torch.flatten(model.avgpool(model.features(x)), 1)
    pre = model.classifier[1](model.classifier[0](pooled))
    return pooled, pre, model.classifier[3](model.classifier[2](pre))


class CosineHeads(torch.nn.Module):
    """Training-only heads on the L2-normalised pooled features (CosFace: Wang et al. 2018, scale s,
    additive margin m): they shape the cosine geometry that catalog search and wardrobe similarity
    use, type most, then pattern, then colour. Not exported: the file keeps torchvision's layout."""

    def __init__(self, dim, sizes, scale=16.0, margin=0.2):
        super().__init__()
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(n, dim) * 0.01) for n in sizes])
        self.scale, self.margin = scale, margin

    def forward(self, pooled, labels):
        f = F.normalize(pooled, dim=1)
        losses = []
        for k, w in enumerate(self.weights):
            cos = f @ F.normalize(w, dim=1).T
            cos = cos - self.margin * F.one_hot(labels[:, k], w.shape[0])
            losses.append(F.cross_entropy(self.scale * cos, labels[:, k]))
        return losses


def head_losses(logits, labels, sizes, smoothing):
    losses, start = [], 0
    for k, n in enumerate(sizes):
        losses.append(F.cross_entropy(logits[:, start:start + n], labels[:, k], label_smoothing=smoothing))
        start += n
    return losses


@torch.no_grad()
def evaluate(model, images, labels, sizes, blur=False, boxes=False):
    """Head accuracies, and precision@5 of type and pattern by cosine over pooled features; on the
    images as they are, after a 64 px round trip (blur) or cropped to the garment's box (boxes)."""
    model.eval()
    pooled, logits = [], []
    for i in range(0, len(images), 128):
        x = images[i:i + 128].float().div(255)
        if blur:  # a 64 px round trip, as a generated image takes
            x = TF.resize(TF.resize(x, [64, 64], antialias=True), [SIZE, SIZE], antialias=True)
        if boxes:
            x = torch.stack([box_crop(img) for img in x])
        p, _, l = outputs(model, (x - MEAN) / STD)
        pooled.append(p)
        logits.append(l)
    pooled, logits = torch.cat(pooled), torch.cat(logits)
    result, start = {}, 0
    for k, (name, n) in enumerate(zip(HEADS, sizes)):
        result[f"accuracy_{name}"] = (logits[:, start:start + n].argmax(1) == labels[:, k]).float().mean().item()
        start += n
    f = F.normalize(pooled, dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(-2)
    top = sim.topk(5, dim=1).indices
    for k, name in ((0, "type"), (1, "pattern")):
        result[f"precision5_{name}"] = (labels[top, k] == labels[:, k:k + 1]).float().mean().item()
    model.train()
    return result


def load_exported(out, sizes):
    """The exported fp16 weights as an F32 torchvision model in eval mode."""
    state, _ = safetensors_io.load(os.path.join(out, "mobilenet_v3_large.safetensors"))
    model = torchvision.models.mobilenet_v3_large(num_classes=sum(sizes))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


@torch.no_grad()
def write_reference(model, val_images, out):
    """Two inputs (a validation image, and another after a 64 px round trip) and torchvision's outputs."""
    model.eval()
    x = normalise(val_images[:2])
    x[1] = normalise(TF.resize(TF.resize(val_images[1:2], [64, 64], antialias=True), [SIZE, SIZE], antialias=True))[0]
    pooled, pre, logits = outputs(model, x)
    safetensors_io.save({"input": x, "pooled": pooled, "prelogits": pre, "logits": logits},
                        os.path.join(out, "reference.safetensors"),
                        {"atelier.note": "torchvision %s on mobilenet_v3_large.safetensors in F32, eval mode"
                                         % torchvision.__version__})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference-only", action="store_true",
                    help="only rewrite reference.safetensors from the exported weights in --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.time()

    heads = HEADS
    sizes = [len(v) for v in heads.values()]
    val_images, val_labels = load(args.val, heads)
    if args.reference_only:
        write_reference(load_exported(args.out, sizes), val_images, args.out)
        return
    images, labels = load(args.data, heads)
    log(f"data: {len(images)} training, {len(val_images)} validation images; heads {sizes}")

    model = torchvision.models.mobilenet_v3_large(num_classes=sum(sizes))
    cosine = CosineHeads(model.classifier[0].in_features, sizes)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1] + list(cosine.parameters())
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.02}, {"params": no_decay, "weight_decay": 0}], lr=args.lr)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup)
                                              * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    g = torch.Generator().manual_seed(args.seed + 1)
    order, pos = torch.randperm(len(images), generator=g), 0
    curve, evals = [], []
    model.train()
    for step in range(1, args.steps + 1):
        if pos + args.batch > len(order):
            order, pos = torch.randperm(len(images), generator=g), 0
        idx = order[pos:pos + args.batch]
        pos += args.batch
        pooled, _, logits = outputs(model, augment(images[idx], g))
        losses = head_losses(logits, labels[idx], sizes, 0.1)
        metric = cosine(pooled, labels[idx])
        loss = sum(losses) + sum(w * l for w, l in zip(METRIC_WEIGHTS, metric))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0:
            curve.append({"step": step, "loss": round(loss.item(), 5), **{n: round(l.item(), 5) for n, l in zip(heads, losses)},
                          **{"cosine_" + n: round(l.item(), 5) for n, l in zip(heads, metric)}})
            log(f"step {step}/{args.steps} loss {loss.item():.4f} " + " ".join(f"{n} {l.item():.3f}" for n, l in zip(heads, losses))
                + " cosine " + " ".join(f"{n} {l.item():.3f}" for n, l in zip(heads, metric)))
        if step % 500 == 0 or step == args.steps:
            e = {"step": step, **evaluate(model, val_images, val_labels, sizes)}
            evals.append(e)
            log(f"validation {e}")

    model.eval()
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    os.makedirs(args.out, exist_ok=True)
    metadata = {
        "format": "pt",
        "atelier.architecture": "torchvision mobilenet_v3_large(num_classes=%d)" % sum(sizes),
        "atelier.heads": json.dumps(heads, separators=(",", ":")),
        "atelier.transform": json.dumps({"resize": SIZE, "crop": SIZE, "mean": MEAN.flatten().tolist(),
                                         "std": STD.flatten().tolist()}, separators=(",", ":")),
        "atelier.training": "scripts/embedder/train.py seed %d, %d steps of %d" % (args.seed, args.steps, args.batch),
    }
    safetensors_io.save(state, os.path.join(args.out, "mobilenet_v3_large.safetensors"), metadata)

    # The exported (fp16-rounded) weights, back in F32, give the reference outputs.
    model = load_exported(args.out, sizes)
    final = {**evaluate(model, val_images, val_labels, sizes),
             **{k + "_64px": v for k, v in evaluate(model, val_images, val_labels, sizes, blur=True).items()},
             **{k + "_box": v for k, v in evaluate(model, val_images, val_labels, sizes, boxes=True).items()}}
    log(f"exported weights on validation: {final}")
    write_reference(model, val_images, args.out)
    log_path = os.path.join(args.out, "training-log.json")
    with open(log_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"args": vars(args), "heads": heads, "torch": torch.__version__, "torchvision": torchvision.__version__,
                   "seconds": round(time.time() - started), "curve": curve, "validation": evals, "final": final},
                  f, indent=1)
    os.replace(log_path + ".tmp", log_path)
    log(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
