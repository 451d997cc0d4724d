"""Train L-VAE (or any baseline) on Falcor3D, evaluate it and draw its latent traversals.

Falcor3D (Nie et al., ICML 2020): 233,280 RGB images of one object under varied lighting and camera position, 7 factors. The official 128x128 release (Falcor3D_down128.zip or its folder) is
read from --data-root or downloaded, and downsampled once to 64x64 for the reference networks.

Likelihood: Bernoulli, the decoder disentanglement_lib uses for every ground-truth dataset; no
reference code for this dataset calls for another. Pixels are not binary, so the reported R
includes the images' entropy, a constant; the learned weights see R minus it
(docs/objective.md), so it does not move L-VAE's β.

    python examples/train_falcor3d.py --preset paper --device cuda
"""

from __future__ import annotations

import argparse
import sys

from learnable_weights.data import Falcor3D
from learnable_weights.training import cli


def load(args: argparse.Namespace) -> cli.LoadedData:
    dataset = Falcor3D(args.data_root, resolution=64)
    return cli.LoadedData(dataset, "falcor3d", "official release", cli.dataset_files(dataset))


RECIPE = cli.Recipe(
    description=__doc__.splitlines()[0],
    load=load,
    channels=3,
    likelihood="bernoulli",
    likelihood_reason="disentanglement_lib's decoder for ground-truth datasets",
)

if __name__ == "__main__":
    sys.exit(cli.main(RECIPE))
