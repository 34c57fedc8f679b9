"""torchvision MobileNetV3-Large in PyTorch eager: images per second at batch 1 (1 thread) and
batch 32 (2 threads), the baseline for benchmarks/embedder/compare.sh.

usage: python3 torchvision_eager.py WEIGHTS.pth [SECONDS per setting]
Prints one line per setting: torch batch=B threads=T images_per_s=X p50_ms=Y runs=N
"""
import sys
import time

import torch
import torchvision


def measure(model, batch, threads, seconds):
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(batch, 3, 224, 224, generator=generator)
    with torch.inference_mode():
        warmup_end = time.perf_counter() + 1.0
        while time.perf_counter() < warmup_end:
            model(x)
        times = []
        start = time.perf_counter()
        while time.perf_counter() < start + seconds or len(times) < 3:
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - start
    times.sort()
    print(f"torch batch={batch} threads={threads} images_per_s={len(times) * batch / total:.1f} "
          f"p50_ms={times[len(times) // 2] * 1e3:.2f} runs={len(times)}", flush=True)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: torchvision_eager.py WEIGHTS.pth [SECONDS]")
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    model = torchvision.models.mobilenet_v3_large()
    model.load_state_dict(torch.load(sys.argv[1], map_location="cpu"))
    model.eval()
    measure(model, 1, 1, seconds)
    measure(model, 32, 2, seconds)


if __name__ == "__main__":
    main()
