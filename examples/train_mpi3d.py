"""Train L-VAE (or any baseline) on MPI3D, evaluate it and draw its latent traversals.

MPI3D (Gondal et al., NeurIPS 2019): RGB 64x64 images of a robot arm moving an object, 7
factors. --variant picks the release: complex (default; 460,800 images of real, complicated
shapes), toy, realistic or real (1,036,800 images each). The npz is read from --data-root or
downloaded.

Likelihood: Bernoulli, as the MPI3D authors trained their models with disentanglement_lib, so
the metrics compare with theirs. Pixels are not binary, so the reported R includes the images'
entropy, a constant; the learned weights see R minus it (docs/objective.md), so it does not move
L-VAE's β.

    python examples/train_mpi3d.py --variant toy --preset paper --device cuda
"""

from __future__ import annotations

import argparse
import sys

from learnable_weights.data import MPI3D
from learnable_weights.data.mpi3d import MPI3D_VARIANTS
from learnable_weights.training import cli


def load(args: argparse.Namespace) -> cli.LoadedData:
    dataset = MPI3D(args.data_root, variant=args.variant, factor_sizes=args.factor_sizes)
    source = "official file" if args.factor_sizes is None else "reduced file (--factor-sizes)"
    return cli.LoadedData(dataset, f"mpi3d-{args.variant}", source, cli.dataset_files(dataset))


def factor_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(size) for size in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes like 4,4,2,3,3,40,40; got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", choices=MPI3D_VARIANTS, default="complex")
    parser.add_argument(
        "--factor-sizes", type=factor_sizes, help="the factor grid of a reduced (test) file"
    )


RECIPE = cli.Recipe(
    description=__doc__.splitlines()[0],
    load=load,
    channels=3,
    likelihood="bernoulli",
    likelihood_reason="disentanglement_lib's decoder, which the MPI3D study used",
    add_arguments=add_arguments,
)

if __name__ == "__main__":
    sys.exit(cli.main(RECIPE))
