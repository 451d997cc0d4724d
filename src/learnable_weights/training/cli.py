"""The command line of ``examples/train_<dataset>.py``: one parser and one run for every dataset.

A script describes its dataset in a `Recipe` (how to load it, its channels, its likelihood and
why, its own flags) and calls `main`. Everything else is shared: the flags (``--model``,
``--preset quick|paper``, ``--steps``, ``--batch-size``, ``--lr``, ``--latent-dim``, ``--seed``,
``--device``, ``--data-root``, ``--out``, ``--resume``, ``--overwrite``, ``--option NAME=VALUE``,
``--eval none|quick|full``, ``--compile``, ``--amp``, ...), the reference 64x64 networks, the
loop (`learnable_weights.training.train`), the pictures (`learnable_weights.viz`), the metrics
and ``results.json``. Under ``torchrun`` the run is data-parallel.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from learnable_weights import likelihoods, models
from learnable_weights.data.cache import DatasetFormatError
from learnable_weights.data.download import DatasetFileMissingError, DownloadError
from learnable_weights.data.ground_truth import GroundTruthDataset
from learnable_weights.data.procedural_dsprites import ProceduralDSprites
from learnable_weights.nets import reference_networks
from learnable_weights.optim import DEFAULT_WEIGHTING_LR
from learnable_weights.training.batches import BatchSource, LoaderBatches, SamplerBatches
from learnable_weights.training.checkpoint import CheckpointError
from learnable_weights.training.config import PRESETS, EvalMode, TrainConfig
from learnable_weights.training.distributed import DistributedContext
from learnable_weights.training.evaluation import RunEvaluator
from learnable_weights.training.loop import TrainResult, train
from learnable_weights.training.run_dir import (
    RUN_FILE,
    OutputFolderError,
    claim_output_folder,
    environment,
    file_checksums,
    write_json,
)

__all__ = [
    "LoadedData",
    "Recipe",
    "build_parser",
    "dataset_files",
    "main",
    "quiet_download_retries",
]

_IDENTITY = (
    "dataset", "model", "options", "likelihood", "latent_dim", "batch_size", "seed", "world_size",
)  # fmt: skip
"""Settings a resumed run must share with the run it resumes."""
_IDENTITY_DEFAULTS: dict[str, Any] = {"options": {}}
"""What a run folder written before a setting existed holds for it."""


@dataclass(frozen=True)
class LoadedData:
    """A dataset and where it came from.

    Attributes:
        dataset: a `GroundTruthDataset`, or any map-style dataset of images (CelebA).
        name: the dataset's name as `learnable_weights.data.load` knows it.
        source: ``"official file"``, ``"procedural"``, ...: recorded in ``results.json``.
        files: the files read (their SHA-256 goes into ``results.json``).
        note: anything a reader of the results must know (e.g. why the data is procedural).
    """

    dataset: Dataset[Any]
    name: str
    source: str
    files: tuple[Path, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Recipe:
    """What an example script says about its dataset.

    Attributes:
        description: the script's one-line purpose (``--help``).
        load: builds the data from the parsed arguments (``args.data_root`` and the recipe's own
            flags).
        channels: image channels (1 or 3) for the reference networks.
        likelihood: the default reconstruction term, and ``likelihood_reason`` why.
        add_arguments: adds the dataset's own flags to the parser.
    """

    description: str
    load: Callable[[argparse.Namespace], LoadedData]
    channels: int
    likelihood: str
    likelihood_reason: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    extra_results: Callable[[argparse.Namespace], dict[str, Any]] = field(default=lambda args: {})


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def weighting_lr_argument(text: str) -> float | None:
    """``--weighting-lr``: a positive number, or ``network`` for the network's rate (``None``)."""
    if text.strip().lower() == "network":
        return None
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'network' (the network's rate), got {text!r}"
        ) from None


class ModelOptionError(ValueError):
    """``--option`` gave the model an option it does not take, or a bad value."""


def _model_option(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"write NAME=VALUE, e.g. bias_penalty=0.1; got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value.strip()  # a string option, e.g. parameterization=simplex
    return name.strip(), parsed


def build_parser(recipe: Recipe, prog: str | None = None) -> argparse.ArgumentParser:
    """The shared flags plus the recipe's own."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=recipe.description,
        epilog=(
            "Presets: "
            + "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items())
            + f". Default likelihood: {recipe.likelihood} ({recipe.likelihood_reason})."
        ),
    )
    add = parser.add_argument
    add("--model", default="l-vae", choices=models.available(), help="default: l-vae")
    add(
        "--option",
        action="append",
        default=[],
        type=_model_option,
        metavar="NAME=VALUE",
        help="an option of the model, e.g. bias_penalty=0.1 or parameterization=simplex "
        "(repeatable; models.build's keyword arguments)",
    )
    add("--preset", default="quick", choices=sorted(PRESETS), help="default: quick")
    add("--steps", type=_positive_int, help="optimizer steps (default: the preset's)")
    add("--batch-size", type=_positive_int, help="images per step and process (preset)")
    add("--lr", type=_positive_float, help="Adam's learning rate (preset)")
    add("--latent-dim", type=_positive_int, help="latent dimensions (preset)")
    add(
        "--weighting-lr",
        type=weighting_lr_argument,
        default=DEFAULT_WEIGHTING_LR,
        metavar="LR",
        help=f"the learned weights' own learning rate (default: {DEFAULT_WEIGHTING_LR}, the "
        "library's; 'network': the network's)",
    )
    add("--likelihood", choices=likelihoods.available(), help="default: the dataset's")
    add("--seed", type=_non_negative_int, default=0, help="default: 0")
    add("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    add("--data-root", type=Path, help="folder of the dataset's files (default: the cache)")
    add("--out", type=Path, help="output folder (default: runs/<dataset>-<model>-seed<seed>)")
    add(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        type=Path,
        metavar="CHECKPOINT",
        help="continue the run in --out from its latest checkpoint (or from CHECKPOINT)",
    )
    add("--overwrite", action="store_true", help="replace the run in --out")
    add("--eval", choices=("none", "quick", "full"), help="metrics to run (preset)")
    add("--eval-every", type=_non_negative_int, default=0, help="0: only at the end")
    add("--log-every", type=_positive_int, help="steps between logged records (preset)")
    add("--checkpoint-every", type=_non_negative_int, help="0: only at the end (preset)")
    add("--keep-checkpoints", type=_positive_int, default=3, help="default: 3")
    add("--compile", action="store_true", help="torch.compile the encoder and decoder")
    add("--amp", action="store_true", help="bfloat16 autocast")
    add(
        "--batches",
        choices=("device", "loader"),
        default="device",
        help="device: the whole dataset on the device (default); loader: a DataLoader",
    )
    add(
        "--workers", type=_non_negative_int, default=2, help="DataLoader workers (--batches loader)"
    )
    add("--no-progress", action="store_true", help="no progress bar")
    if recipe.add_arguments is not None:
        recipe.add_arguments(parser)
    return parser


def main(recipe: Recipe, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parses ``argv`` and runs the training; returns the exit status."""
    parser = build_parser(recipe, prog)
    args = parser.parse_args(argv)
    try:
        run(recipe, args)
    except (
        OutputFolderError, CheckpointError, DatasetFileMissingError, DownloadError,
        DatasetFormatError, ModelOptionError,
    ) as error:  # fmt: skip
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(recipe: Recipe, args: argparse.Namespace) -> dict[str, Any]:
    """Trains, evaluates, draws the pictures and writes ``results.json``; returns the results."""
    started = time.perf_counter()
    preset = PRESETS[args.preset]
    eval_mode: EvalMode = args.eval or preset.eval
    config = TrainConfig(
        steps=args.steps or preset.steps,
        batch_size=args.batch_size or preset.batch_size,
        lr=args.lr or preset.lr,
        weighting_lr=args.weighting_lr,
        seed=args.seed,
        amp=args.amp,
        compile=args.compile,
        log_every=args.log_every or preset.log_every,
        checkpoint_every=(
            preset.checkpoint_every if args.checkpoint_every is None else args.checkpoint_every
        ),
        keep_checkpoints=args.keep_checkpoints,
        eval_every=args.eval_every,
    )
    latent_dim = args.latent_dim or preset.latent_dim
    context = DistributedContext.from_environment(args.device)
    data = recipe.load(args)
    has_factors = isinstance(data.dataset, GroundTruthDataset)
    if not has_factors:
        eval_mode = "none"  # no factors, no disentanglement metrics
    likelihood = args.likelihood or recipe.likelihood
    out = args.out or Path("runs") / f"{data.name}-{args.model}-seed{args.seed}"
    options = dict(args.option)
    identity = {
        "dataset": data.name,
        "model": args.model,
        "options": options,
        "likelihood": likelihood,
        "latent_dim": latent_dim,
        "batch_size": config.batch_size,
        "seed": args.seed,
        "world_size": context.world_size,
    }
    run_info = {**identity, "preset": args.preset, "eval": eval_mode, "config": config.as_dict()}
    torch.manual_seed(args.seed)
    encoder, decoder = reference_networks(recipe.channels, latent_dim)
    try:
        model = models.build(
            args.model, encoder, decoder, latent_dim=latent_dim, likelihood=likelihood, **options
        )
    except (TypeError, ValueError) as error:
        raise ModelOptionError(f"--model {args.model} with --option {options}: {error}") from None
    _claim(out, args, run_info, context)
    batches = _batches(data.dataset, args, config, context)
    evaluator = (
        None if eval_mode == "none" else RunEvaluator(data.dataset, eval_mode, context.device)
    )
    try:
        result = train(
            model,
            batches,
            config,
            out_dir=out,
            resume=args.resume,
            evaluator=evaluator,
            context=context,
            progress=not args.no_progress,
        )
        results: dict[str, Any] = {}
        if context.is_main:
            pictures = _pictures(result, data, out, evaluator, context, args.seed)
            results = _results(recipe, args, data, result, run_info, pictures, context, started)
            write_json(out / "results.json", results)
            print(f"pictures: {out / 'pictures'}")
            print(f"results:  {out / 'results.json'}")
        return results
    finally:
        context.close()


def _claim(
    out: Path, args: argparse.Namespace, run_info: dict[str, Any], context: DistributedContext
) -> None:
    """Rank 0 claims the folder; every rank learns whether it could."""
    problem: str | None = None
    if context.is_main:
        try:
            claim_output_folder(
                out, resume=args.resume is not False, overwrite=args.overwrite, run_info=run_info
            )
            if args.resume is not False:
                _check_same_run(out, run_info)
        except OutputFolderError as error:
            problem = str(error)
    problems = context.gather(problem)
    if problems[0] is not None:
        raise OutputFolderError(problems[0])


def _check_same_run(out: Path, run_info: dict[str, Any]) -> None:
    saved = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    different = [
        f"{key} {saved.get(key)!r} -> {run_info[key]!r}"
        for key in _IDENTITY
        if saved.get(key, _IDENTITY_DEFAULTS.get(key)) != run_info[key]
    ]
    if different:
        raise OutputFolderError(
            f"--resume: the run in {out} was started with other settings ({'; '.join(different)})"
            "; resume with the same ones, or start a new run"
        )


def _batches(
    dataset: Dataset[Any],
    args: argparse.Namespace,
    config: TrainConfig,
    context: DistributedContext,
) -> BatchSource:
    replicas, rank = context.world_size, context.rank
    if isinstance(dataset, GroundTruthDataset) and args.batches == "device":
        # Procedural dSprites on a CPU: rendering each batch (about 10 ms for 64 images) costs
        # about what rendering all 737,280 images up front does (25 s) over a quick run, and
        # starts at once; on a GPU the stored copy is made in seconds and is faster to draw from.
        render = isinstance(dataset, ProceduralDSprites) and context.device.type == "cpu"
        return SamplerBatches(
            dataset, config.batch_size, device=context.device, seed=config.seed,
            storage="render" if render else "auto", num_replicas=replicas, rank=rank,
        )  # fmt: skip
    return LoaderBatches(
        dataset, config.batch_size, device=context.device, seed=config.seed,
        num_workers=args.workers, num_replicas=replicas, rank=rank,
    )  # fmt: skip


def _pictures(
    result: TrainResult,
    data: LoadedData,
    out: Path,
    evaluator: RunEvaluator | None,
    context: DistributedContext,
    seed: int,
) -> dict[str, Path]:
    from learnable_weights import viz  # needs the "examples" extra (matplotlib, pillow)

    metrics = None if evaluator is None else evaluator.latest
    return viz.save_run_pictures(
        result.model, data.dataset, out / "pictures", result.history,
        metrics=metrics, device=context.device, seed=seed,
    )  # fmt: skip


def _results(
    recipe: Recipe,
    args: argparse.Namespace,
    data: LoadedData,
    result: TrainResult,
    run_info: dict[str, Any],
    pictures: dict[str, Path],
    context: DistributedContext,
    started: float,
) -> dict[str, Any]:
    dataset = data.dataset
    described: dict[str, Any] = {
        "name": data.name,
        "source": data.source,
        "sha256": file_checksums(data.files),
        "note": data.note,
        "observations": len(dataset),  # type: ignore[arg-type]
    }
    if isinstance(dataset, GroundTruthDataset):
        described["factor_names"] = list(dataset.factor_names)
        described["factor_sizes"] = list(dataset.factor_sizes)
    last_eval = result.evaluations[-1] if result.evaluations else None
    return {
        **run_info,
        "likelihood_reason": (
            recipe.likelihood_reason if args.likelihood is None else "chosen with --likelihood"
        ),
        "dataset": described,
        **recipe.extra_results(args),
        "environment": environment(context.device),
        "steps": result.step,
        "wall_time_s": time.perf_counter() - started,
        "train_time_s": result.wall_time_s,
        "step_time_s": result.step_time_s,
        "images_per_s": result.images_per_s,
        "final": result.history[-1] if result.history else None,
        "metrics": last_eval,
        "pictures": {name: str(path) for name, path in pictures.items()},
        "checkpoint": None if result.checkpoint is None else str(result.checkpoint),
    }


def dataset_files(dataset: object) -> tuple[Path, ...]:
    """The files a loaded dataset reads, for ``results.json``'s checksums.

    The loaders do not list their files publicly yet, so this looks for the attributes they keep
    (``path``; the NVIDIA releases' archive or label file; CelebA's zip). Folders of images are
    left out (hashing hundreds of thousands of PNGs is not worth it).
    """
    found: list[Path] = []
    source = getattr(dataset, "_source", None)
    for candidate in (
        getattr(dataset, "path", None),
        getattr(source, "origin", None),
        getattr(source, "labels_path", None),
        getattr(dataset, "_archive", None),
    ):
        if isinstance(candidate, Path) and candidate.is_file() and candidate not in found:
            found.append(candidate)
    return tuple(found)


@contextlib.contextmanager
def quiet_download_retries() -> Iterator[None]:
    """Silences the downloader's per-attempt warnings (a caller that falls back when the
    download fails says so once, itself)."""
    logger = logging.getLogger("learnable_weights.data.download")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
