"""Fidelity of procedural dSprites: mean IoU per shape against the real frames of dsprites.gif.

The 320 frames of the official dsprites.gif (tests/data, Apache-2.0) are exact dSprites images
with known latent classes (tests/data/gif_frames.py). Each is rendered from its classes by
`render_dsprites` and compared pixel by pixel; the script prints, per shape, the mean IoU over all
its frames, over the upright frames (orientation 0: scale and position traversals) and over the
rotated ones, the lowest IoU, and the share of frames reproduced exactly. Goals of issue 3: at
least 0.95 for square and ellipse, 0.90 for heart.

    python benchmarks/procedural_dsprites_fidelity.py [--supersample 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from learnable_weights.data.procedural_dsprites import render_dsprites

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
from gif_frames import SHAPE_CLASSES, load_gif_frames

GOALS = {"square": 0.95, "ellipse": 0.95, "heart": 0.90}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supersample", type=int, default=1)
    args = parser.parse_args()
    frames, latents = load_gif_frames()
    rendered = render_dsprites(torch.from_numpy(latents[:, 1:]), supersample=args.supersample)
    ours = rendered[:, 0].numpy().astype(bool)
    real = frames.astype(bool)
    iou = (ours & real).sum(axis=(1, 2)) / (ours | real).sum(axis=(1, 2))
    exact = (ours == real).all(axis=(1, 2))
    upright = latents[:, 3] == 0
    print(f"supersample {args.supersample}; {len(frames)} real frames from dsprites.gif")
    print("| shape | frames | mean IoU | upright | rotated | min | exact | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for name, k in SHAPE_CLASSES.items():
        mine = latents[:, 1] == k
        print(
            f"| {name} | {int(mine.sum())} | {iou[mine].mean():.4f} | "
            f"{iou[mine & upright].mean():.4f} | {iou[mine & ~upright].mean():.4f} | "
            f"{iou[mine].min():.3f} | {exact[mine].mean():.0%} | >= {GOALS[name]:.2f} "
            f"{'met' if iou[mine].mean() >= GOALS[name] else 'NOT met'} |"
        )
    print(f"all frames: mean IoU {np.mean(iou):.4f}")


if __name__ == "__main__":
    main()
