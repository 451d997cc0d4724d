"""Train L-VAE (or any baseline) on dSprites, evaluate it and draw its latent traversals.

The real dSprites file is read from --data-root (default: the dataset cache) or downloaded.
Without the file and without a network, the run falls back to procedural dSprites (rendered by
`learnable_weights.data.ProceduralDSprites`, no download), says so once in a warning and records
it in results.json.

Likelihood: Bernoulli. dSprites images are binary, and every reference code (1Konny's β-VAE,
ControlVAE, DynamicVAE, disentanglement_lib) uses the Bernoulli decoder on them.

    python examples/train_dsprites.py                          # quick preset, about 5 min on CPU
    python examples/train_dsprites.py --preset paper --device cuda
    python examples/train_dsprites.py --model controlvae --out runs/cvae --resume
    torchrun --nproc-per-node 2 examples/train_dsprites.py     # data-parallel
"""

from __future__ import annotations

import argparse
import sys
import warnings

from learnable_weights.data import (
    DatasetFileMissingError,
    DownloadError,
    DSprites,
    ProceduralDataWarning,
    ProceduralDSprites,
)
from learnable_weights.training import cli


def load(args: argparse.Namespace) -> cli.LoadedData:
    if not args.procedural:
        try:
            with cli.quiet_download_retries():
                dataset = DSprites(args.data_root)
            source = "official file" if dataset.source == "real" else "procedural file"
            return cli.LoadedData(dataset, "dsprites", source, files=(dataset.path,))
        except (DownloadError, DatasetFileMissingError) as error:
            reason = f"no dSprites file could be read or downloaded: {error}"
            warnings.warn(
                "training on procedural dSprites (rendered, not the real dataset): "
                f"{str(error).split('. ')[0]}.",
                ProceduralDataWarning,
                stacklevel=1,
            )
            return cli.LoadedData(ProceduralDSprites(), "dsprites", "procedural", note=reason)
    return cli.LoadedData(ProceduralDSprites(), "dsprites", "procedural", note="--procedural")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--procedural", action="store_true", help="train on procedural dSprites (no file)"
    )


RECIPE = cli.Recipe(
    description=__doc__.splitlines()[0],
    load=load,
    channels=1,
    likelihood="bernoulli",
    likelihood_reason="binary images; the Bernoulli decoder of every reference code",
    add_arguments=add_arguments,
)

if __name__ == "__main__":
    sys.exit(cli.main(RECIPE))
