"""Time to render all 737,280 procedural dSprites images from their factors.

Renders the whole grid in blocks with `render_dsprites` (goal of issue 3: at most 60 s on a
2-core CPU), and, for a ratio measured in the same run, a straightforward reference: the same
geometry rasterised one image at a time with NumPy over the whole 64x64 canvas, timed on a
sample and extrapolated. Prints wall and CPU time, images per second and the speed-up; the load
average at the start says whether other processes shared the machine.

    python benchmarks/procedural_dsprites_speed.py [--device cpu] [--threads 2] [--block 16384]
        [--dtype float32|uint8]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import numpy.typing as npt
import torch

from learnable_weights.data.procedural_dsprites import (
    ELLIPSE_SEMI_AXES,
    HEART,
    SQUARE_HALF_SIDE,
    ProceduralDSprites,
    render_dsprites,
)


def reference_render_one(classes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """One image, whole canvas, float64 NumPy; the heart via its polar radius (as the library)."""
    shape, scale_k, angle_k, x_k, y_k = (int(c) for c in classes)
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float64) + 0.5
    scale = 0.5 + 0.1 * scale_k
    theta = angle_k * 2.0 * np.pi / 39.0
    dx = cols - (16.0 + x_k * 32.0 / 31.0)
    dy = rows - (16.0 + y_k * 32.0 / 31.0)
    u = (np.cos(theta) * dx - np.sin(theta) * dy) / scale
    v = (np.sin(theta) * dx + np.cos(theta) * dy) / scale
    if shape == 0:
        inside: npt.NDArray[np.bool_] = np.maximum(np.abs(u), np.abs(v)) <= SQUARE_HALF_SIDE
        return inside
    if shape == 1:
        inside = (u / ELLIPSE_SEMI_AXES[0]) ** 2 + (v / ELLIPSE_SEMI_AXES[1]) ** 2 <= 1.0
        return inside
    t = np.linspace(0.0, 2.0 * np.pi, 4096, endpoint=False)
    x = HEART.x_scale * 16.0 * np.sin(t) ** 3
    y = -HEART.y_scale * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    order = np.argsort(np.arctan2(y, x))
    angle = np.arctan2(v - HEART.y_offset, u)
    radius = np.interp(angle, np.arctan2(y, x)[order], np.hypot(x, y)[order], period=2 * np.pi)
    inside = np.hypot(u, v - HEART.y_offset) <= radius
    return inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--block", type=int, default=16384, help="images per render call")
    parser.add_argument("--dtype", choices=["float32", "uint8"], default="float32")
    parser.add_argument("--reference-sample", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    data = ProceduralDSprites()
    count = len(data)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {device}, images as {args.dtype}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    render_dsprites(torch.zeros(8, 5, dtype=torch.int64, device=device))  # warm-up
    checksum = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, count, args.block):
        indices = torch.arange(start, min(start + args.block, count), device=device)
        factors = torch.from_numpy(data.index_to_factors(indices.cpu().numpy())).to(device)
        checksum += float(render_dsprites(factors, dtype=dtype).sum(dtype=torch.float64))
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"rendered {count} images in {wall:.1f} s wall ({cpu:.1f} s CPU): "
        f"{count / wall:,.0f} images/s; goal <= 60 s on a 2-core CPU; "
        f"mean foreground {checksum / count:.1f} px"
    )

    sample = data.sample_factors(args.reference_sample, np.random.RandomState(0))
    reference_time = time.perf_counter()
    for classes in sample:
        reference_render_one(classes)
    per_image = (time.perf_counter() - reference_time) / len(sample)
    print(
        f"reference (NumPy, one image at a time): {1 / per_image:,.0f} images/s, "
        f"{per_image * count:.0f} s extrapolated; speed-up {per_image * count / wall:.1f}x"
    )


if __name__ == "__main__":
    main()
