"""Train L-VAE (or any baseline) on 3D Shapes, evaluate it and draw its latent traversals.

3D Shapes (Burgess & Kim 2018): 480,000 RGB 64x64 images, 6 factors (floor, wall and object
hue, scale, shape, orientation). ``3dshapes.h5`` is read from --data-root or downloaded.

Likelihood: Bernoulli, as disentanglement_lib trained its 3D Shapes models (pixels in [0, 1]
read as probabilities), so the metrics compare with that study's. Pixels are not binary, so the
reported R includes the images' entropy, a constant; the learned weights see R minus it
(docs/objective.md), so it does not move L-VAE's β.

    python examples/train_shapes3d.py --preset paper --device cuda
"""

from __future__ import annotations

import argparse
import sys

from learnable_weights.data import Shapes3D
from learnable_weights.training import cli


def load(args: argparse.Namespace) -> cli.LoadedData:
    dataset = Shapes3D(args.data_root)
    return cli.LoadedData(dataset, "shapes3d", "official file", cli.dataset_files(dataset))


RECIPE = cli.Recipe(
    description=__doc__.splitlines()[0],
    load=load,
    channels=3,
    likelihood="bernoulli",
    likelihood_reason="disentanglement_lib's decoder for 3D Shapes; comparable metrics",
)

if __name__ == "__main__":
    sys.exit(cli.main(RECIPE))
