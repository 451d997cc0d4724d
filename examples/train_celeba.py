"""Train L-VAE (or any baseline) on CelebA and draw its latent traversals (no metrics).

CelebA (Liu et al., ICCV 2015), aligned and cropped: 162,770 training photos, centre-cropped to
148 and resized to 64x64. It has no ground-truth factors, so there are no disentanglement
metrics (--eval is ignored); the pictures show what the latents capture. The files are read from
--data-root or downloaded (non-commercial research use only: see the CelebA licence). Images
are decoded by DataLoader workers (--workers).

Likelihood: "gaussian", the reference codes' sum of squared errors of sigmoid outputs, which
1Konny's β-VAE, ControlVAE and DynamicVAE use for CelebA (``reconstruction_loss`` in
github.com/1Konny/Beta-VAE ``solver.py``, copied by the other two): photos
are not binary, and their β values and KL set points were tuned with it.

    python examples/train_celeba.py --preset paper --device cuda --workers 8
"""

from __future__ import annotations

import argparse
import sys

from learnable_weights.data import CelebA
from learnable_weights.training import cli


def load(args: argparse.Namespace) -> cli.LoadedData:
    dataset = CelebA(args.data_root, split="train")
    return cli.LoadedData(dataset, "celeba", "official files", cli.dataset_files(dataset))


RECIPE = cli.Recipe(
    description=__doc__.splitlines()[0],
    load=load,
    channels=3,
    likelihood="gaussian",
    likelihood_reason="the reference codes' sum of squared errors for CelebA",
)

if __name__ == "__main__":
    sys.exit(cli.main(RECIPE))
