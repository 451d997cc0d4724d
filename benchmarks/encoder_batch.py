"""The reference encoder's cost per image and its codes' bits against the batch size.

What ``evaluate.CPU_CACHE_BATCH`` (the code cache's observations per encoder call on a CPU) is
chosen by. The reference 64x64 encoder (``learnable_weights.nets.ReferenceEncoder``, untrained,
``torch.manual_seed(0)``, eval mode, inference mode) encodes ``--images`` procedural dSprites
images drawn at random, in batches of each size; per size the script prints

- the CPU time per image of the calling thread with one torch thread (``time.thread_time``, best
  of ``--repeats``): the work itself, which other jobs on a shared machine barely change;
- whether the codes equal, bit for bit, those of the same images encoded 16 at a time (the
  reference's sampled-set call size).

    python benchmarks/encoder_batch.py
    python benchmarks/encoder_batch.py --sizes 1 7 16 64 256 --images 1024
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from learnable_weights.data import ProceduralDSprites
from learnable_weights.nets import ReferenceEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 7, 16, 32, 64, 128, 512, 2048])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    encoder = ReferenceEncoder(1, latent_dim=10).eval()
    dataset = ProceduralDSprites()
    indices = np.random.RandomState(0).randint(0, len(dataset), args.images)
    images = dataset.observations_at(indices)

    def codes(batch: int) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([encoder(images[i : i + batch]) for i in range(0, len(images), batch)])

    reference = codes(16)
    print(f"{args.images} images, torch {torch.__version__}, 1 thread")
    print(f"{'batch':>6} {'CPU us/image':>13}  codes equal to batch 16")
    for batch in args.sizes:
        best = float("inf")
        for _ in range(args.repeats):
            start = time.thread_time()
            result = codes(batch)
            best = min(best, (time.thread_time() - start) / len(images) * 1e6)
        print(f"{batch:>6} {best:13.1f}  {torch.equal(result, reference)}")


if __name__ == "__main__":
    main()
