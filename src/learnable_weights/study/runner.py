"""One run of a sweep: train a registry model on a ground-truth dataset, evaluate it, write its file.

Every run of a sweep uses the same `Budget` (dataset, steps, optimizer settings, evaluation
sizes): only the model, its options and the seed differ, so the tables compare like with like.
A run that was interrupted resumes from its own latest checkpoint (``runs/<run_id>/checkpoints``);
a finished run is never redone, because its result file exists. Each file also records what the
run's options resolved to in the library that trained it (`run_configuration`: the networks, the
weighting with every default spelled out, the weights' learning rate), and a sweep refuses to reuse
a file that this version of the library would configure otherwise (`ConfigurationMismatchError`),
so a changed default never slips a stale run into a table. While a process trains a run it
holds an exclusive lock on ``runs/<run_id>/.lock`` (POSIX ``flock``), so two sweeps over one
folder (a second shell, a second machine on a shared file system that supports ``flock``) never
train the same run at once: the second skips it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from learnable_weights import data, models
from learnable_weights._version import __version__
from learnable_weights.data.device_sampler import Storage
from learnable_weights.data.ground_truth import GroundTruthDataset
from learnable_weights.nets import reference_networks
from learnable_weights.optim import DEFAULT_WEIGHTING_LR, iter_learnable_losses
from learnable_weights.study.plan import RunSpec
from learnable_weights.study.results import (
    load_results,
    result_path,
    write_result,
    write_text_atomic,
)
from learnable_weights.study.reuse import (
    adopt_final_checkpoint,
    find_trained_run,
    same_first_record,
)
from learnable_weights.training import SamplerBatches, TrainConfig, train
from learnable_weights.training.checkpoint import (
    checkpoint_step,
    latest_checkpoint,
    load_checkpoint,
)
from learnable_weights.training.run_dir import environment
from learnable_weights.vae import LVAE

__all__ = [
    "ERROR_FILE",
    "EVALUATIONS",
    "TRAINED_IN_FILE",
    "TRAINING_OPTIONS",
    "Budget",
    "ConfigurationMismatchError",
    "RunsFailedError",
    "TrainedRun",
    "check_configurations",
    "check_options",
    "load_run",
    "reconstruction_errors",
    "run_configuration",
    "run_lock",
    "run_one",
    "run_sweep",
]

EvalName = Literal["smoke", "pilot", "quick", "study-fast-dci", "study"]

EVALUATIONS: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        # MIG and DCI at the study's point counts (DCI with its fast random-forest importances,
        # which order models as the exact mode does at a fraction of the time), and FactorVAE.
        "pilot": {
            "mig": {"num_train": 10000},
            "dci": {"num_train": 10000, "num_test": 5000, "mode": "fast"},
            "factor_vae": {},
        },
        # Two metrics on a few hundred points: for tests of the harness, not for conclusions.
        "smoke": {
            "mig": {"num_train": 300},
            "dci": {"num_train": 300, "num_test": 150, "mode": "fast"},
        },
        # Every metric at small sizes, for a first look.
        "quick": {
            "mig": {"num_train": 2000},
            "dci": {"num_train": 2000, "num_test": 1000, "mode": "fast"},
            "factor_vae": {"num_train": 500, "num_eval": 250, "num_variance_estimate": 2000},
            "beta_vae": {"num_train": 500, "num_eval": 250},
            "sap": {"num_train": 2000, "num_test": 1000},
            "modularity_explicitness": {"num_train": 2000, "num_test": 1000},
        },
        # Every metric at the study's settings, DCI with its fast importances: the claim's
        # tables (the exact DCI fit alone takes 12 to 14 minutes on one CPU thread).
        "study-fast-dci": {
            "beta_vae": {},
            "factor_vae": {},
            "mig": {},
            "dci": {"mode": "fast"},
            "sap": {},
            "modularity_explicitness": {},
        },
        # Every metric at disentanglement_lib's unsupervised-study settings.
        "study": {
            "beta_vae": {},
            "factor_vae": {},
            "mig": {},
            "dci": {},
            "sap": {},
            "modularity_explicitness": {},
        },
    }
)
"""Named evaluation settings: metric -> overrides of `learnable_weights.metrics.STUDY_SETTINGS`."""

TRAINING_OPTIONS = frozenset({"weighting_lr"})
"""Run options that go to the optimizer rather than to `learnable_weights.models.build`."""


@dataclass(frozen=True)
class Budget:
    """What every run of a sweep shares.

    Args:
        dataset: a `learnable_weights.data.load` name.
        steps: optimizer steps per run.
        lr: Adam's learning rate.
        batch_size: images per step.
        latent_dim: latent dimensions of the reference networks.
        weighting_lr: the learned weights' own learning rate (default
            `learnable_weights.optim.DEFAULT_WEIGHTING_LR`; ``None``: ``lr``); a run option
            ``weighting_lr`` overrides it.
        evaluation: a name of `EVALUATIONS`.
        recon_points: images (drawn with seed 0) on which the reconstruction errors are measured.
        eval_seed: the metrics' seed (disentanglement_lib's ``evaluation.random_seed``).
        eval_steps: earlier steps at which each run is also scored, the same way. Training has
            no schedule that depends on ``steps``, so a run's scores at step ``s`` are those of a
            run with a budget of ``s`` steps: one sweep measures several budgets.
    """

    dataset: str = "procedural-dsprites"
    steps: int = 4000
    lr: float = 5e-4
    batch_size: int = 64
    latent_dim: int = 10
    weighting_lr: float | None = DEFAULT_WEIGHTING_LR
    evaluation: EvalName = "pilot"
    recon_points: int = 5000
    eval_seed: int = 0
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    eval_steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_steps", tuple(sorted(set(self.eval_steps))))
        if any(not 0 < step < self.steps for step in self.eval_steps):
            raise ValueError(
                f"eval_steps must lie between 0 and steps ({self.steps}), got {self.eval_steps}"
            )
        if self.evaluation not in EVALUATIONS:
            raise ValueError(
                f"unknown evaluation {self.evaluation!r}; choose one of {sorted(EVALUATIONS)}"
            )
        if self.steps < 1 or self.batch_size < 1 or self.latent_dim < 1:
            raise ValueError("steps, batch_size and latent_dim must be positive")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (stored in every result file and compared on resume)."""
        values = dataclasses.asdict(self)
        values["dataset_options"] = dict(self.dataset_options)
        values["eval_steps"] = list(self.eval_steps)
        if not self.eval_steps:  # as files written before the field was added hold it
            del values["eval_steps"]
        return values


class ConfigurationMismatchError(ValueError):
    """Result files of a sweep were made by a library that configured their runs otherwise (a
    default, the networks or a weighting changed since): mixing them with new runs would be wrong.
    ``stale``: ``run_id -> the fields that differ``."""

    def __init__(self, stale: Mapping[str, Sequence[str]]) -> None:
        self.stale = {run_id: list(fields) for run_id, fields in stale.items()}
        listed = "; ".join(f"{run_id} ({', '.join(f)})" for run_id, f in self.stale.items())
        super().__init__(
            f"{len(self.stale)} result file(s) were made with another configuration than this "
            f"library gives their options now: {listed}. A default or the networks changed since "
            "they ran. Give the sweep another --out, spell the old setting out as options (and "
            "rename the runs' folders to match), or delete those files to rerun them."
        )


def run_configuration(
    run: RunSpec, budget: Budget, dataset: GroundTruthDataset | None = None
) -> dict[str, Any]:
    """What ``run``'s model and options resolve to in this version of the library (``dataset``:
    the budget's, when already loaded).

    Returns ``{"model": repr(model), "weighting_state": {...}, "weighting_lr": float | None}``:
    the networks, likelihood and weighting with every default spelled out, the weighting's state
    before training (e.g. the initial log-variances), and the learning rate the learned weights
    train at (``None`` for a model without learned weights).
    Two runs with equal options and budgets are comparable only if these agree too.
    """
    if dataset is None:
        dataset = _load_dataset(budget.dataset, budget.dataset_options)
    model = _build_model(run.model, run.options_dict(), dataset, budget.latent_dim)
    return _configuration(model, _weighting_lr(run, budget))


def _configuration(model: LVAE, weighting_lr: float) -> dict[str, Any]:
    state = {
        name: value.detach().cpu().tolist()
        for name, value in model.weighting.state_dict().items()
        if isinstance(value, torch.Tensor)
    }
    learned = any(True for _ in iter_learnable_losses(model))
    return {
        "model": repr(model),
        "weighting_state": state,
        # a model without learned weights has no such rate: its runs do not depend on it
        "weighting_lr": float(weighting_lr) if learned else None,
    }


def _weighting_lr(run: RunSpec, budget: Budget) -> float:
    value = run.options_dict().get("weighting_lr", budget.weighting_lr)
    return float(budget.lr if value is None else value)


def check_configurations(
    records: Mapping[str, Mapping[str, Any]], runs: Sequence[RunSpec], budget: Budget
) -> None:
    """Raises `ConfigurationMismatchError` if a record of ``records`` (``run_id -> result file``,
    as `load_results` returns) holds a configuration that differs from `run_configuration` of
    its run now. Files written before configurations were recorded are accepted as they are."""
    stale: dict[str, list[str]] = {}
    dataset: GroundTruthDataset | None = None  # loaded once, for the first recorded run
    for run in runs:
        recorded = records.get(run.run_id, {}).get("configuration")
        if recorded is None:
            continue
        if dataset is None:
            dataset = _load_dataset(budget.dataset, budget.dataset_options)
        current = json.loads(json.dumps(run_configuration(run, budget, dataset)))
        differing = sorted(
            k for k in set(current) | set(recorded) if current.get(k) != recorded.get(k)
        )
        if differing:
            stale[run.run_id] = differing
    if stale:
        raise ConfigurationMismatchError(stale)


def run_one(
    run: RunSpec,
    budget: Budget,
    sweep_dir: Path,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    storage: Storage = "auto",
    reuse: Sequence[Path] = (),
) -> Path:
    """Trains, evaluates and writes ``run``'s result file; returns its path.

    Scores: each metric's headline (``mig``, ``dci``, ``factor_vae``, ...), ``recon_bce`` and
    ``recon_sse`` (`reconstruction_errors`), and the last logged ``kl`` and ``beta`` (mean β for
    mdL-VAE). The file also holds the β, KL and reconstruction trajectory of the run, and with
    ``budget.eval_steps`` the same scores at each of those steps (``milestones``).
    ``storage`` is the batch sampler's (`learnable_weights.data.DeviceBatchSampler`); it changes
    the speed, not the batches.

    ``reuse``: sweep folders whose finished runs may stand in for this run's training
    (`learnable_weights.study.reuse`). When one of them trained exactly this run and replaying
    its first logged steps here gives the same record, the run takes a copy of its final
    checkpoint and is only evaluated; the result file then names that run (``trained_in``,
    with its versions and step time). A replay that differs warns and trains the run here.
    """
    started = time.perf_counter()
    device = torch.device(device)
    dataset = _load_dataset(budget.dataset, budget.dataset_options)
    model, config, batches = _training_setup(run, budget, dataset, device, storage)
    configuration = _configuration(model, _weighting_lr(run, budget))
    run_dir = result_path(sweep_dir, run).parent
    trained_in_file = run_dir / TRAINED_IN_FILE
    if latest_checkpoint(run_dir / "checkpoints") is None:
        trained_in_file.unlink(missing_ok=True)  # left by an adoption that did not finish
        if reuse:
            _adopt_training(run, budget, configuration, reuse, run_dir, dataset, device, storage)
    trained_in = json.loads(trained_in_file.read_text()) if trained_in_file.is_file() else None
    resume = latest_checkpoint(run_dir / "checkpoints") is not None

    def score(model: LVAE, step: int) -> dict[str, Any]:
        return {"scores": _evaluate(model, dataset, budget, device)}

    trained = train(
        model, batches, config, out_dir=run_dir, resume=resume, evaluator=score, progress=progress
    )
    by_step = {int(e["step"]): e["scores"] for e in trained.evaluations if "scores" in e}
    if budget.steps not in by_step:  # a checkpoint written before the final evaluation
        by_step[budget.steps] = _evaluate(trained.model, dataset, budget, device)
    logged = {int(record["step"]): record for record in trained.history}

    def with_state(step: int) -> dict[str, float]:
        record = logged[step]
        return {
            **by_step[step],
            "kl": float(record["kl"]),
            "beta": float(np.mean(record["beta"])),
        }

    scores = with_state(budget.steps)
    trajectory = [
        {key: record[key] for key in ("step", "beta", "kl", "recon_loss") if key in record}
        for record in trained.history
    ]
    extra = {
        "configuration": configuration,
        "milestones": [{"step": step, "scores": with_state(step)} for step in budget.eval_steps],
        "trajectory": trajectory,
        "wall_time_s": time.perf_counter() - started,
        "step_time_s": trained.step_time_s if trained_in is None else trained_in["step_time_s"],
        "device": str(device),
        "hardware": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "threads": torch.get_num_threads(),
        # the commit too: a change to the code's numerics (not to what options resolve to, which
        # the configuration records) shows only here
        "versions": {
            "learnable_weights": __version__,
            "torch": torch.__version__,
            "git_commit": environment(device)["git_commit"],
        },
        "dataset_source": getattr(dataset, "source", None),
    }
    if not budget.eval_steps:
        del extra["milestones"]
    if trained_in is not None:
        extra["trained_in"] = trained_in
    return write_result(sweep_dir, run, budget.as_dict(), scores, extra)


TRAINED_IN_FILE = "trained_in.json"
"""In a run's folder: which run of another sweep trained it (see `run_one`'s ``reuse``)."""


def _training_setup(
    run: RunSpec,
    budget: Budget,
    dataset: GroundTruthDataset,
    device: torch.device,
    storage: Storage,
) -> tuple[LVAE, TrainConfig, SamplerBatches]:
    """The model (initialised from ``run.seed``), the training settings and the batches of
    ``run``: everything that decides what it trains."""
    torch.manual_seed(run.seed)
    model = _build_model(run.model, run.options_dict(), dataset, budget.latent_dim)
    # Logs and checkpoints fall on every scored step, so each has its β and KL and is kept.
    config = TrainConfig(
        steps=budget.steps,
        batch_size=budget.batch_size,
        lr=budget.lr,
        weighting_lr=_weighting_lr(run, budget),
        seed=run.seed,
        log_every=math.gcd(max(1, budget.steps // 100), *budget.eval_steps),
        checkpoint_every=math.gcd(max(1, budget.steps // 4), *budget.eval_steps),
        keep_checkpoints=1,
        eval_at=budget.eval_steps,
    )
    batches = SamplerBatches(
        dataset, budget.batch_size, device=device, seed=run.seed, storage=storage
    )
    return model, config, batches


def _adopt_training(
    run: RunSpec,
    budget: Budget,
    configuration: Mapping[str, Any],
    sources: Sequence[Path],
    run_dir: Path,
    dataset: GroundTruthDataset,
    device: torch.device,
    storage: Storage,
) -> None:
    """Gives ``run`` the final checkpoint of the run of ``sources`` that trained it, if there
    is one and a replay of its first logged steps here matches (`run_one`'s ``reuse``)."""
    source = find_trained_run(run.model, run.seed, budget.as_dict(), configuration, sources)
    if source is None:
        return
    record = json.loads((source / "result.json").read_text())
    model, config, batches = _training_setup(run, budget, dataset, device, storage)
    replay = train(
        model,
        batches,
        dataclasses.replace(config, steps=config.log_every, eval_at=()),
        progress=False,
    )
    if not same_first_record(record, replay.history[0]):
        warnings.warn(
            f"{run.run_id}: {source} trained the same configuration, but its first "
            f"{config.log_every} steps replayed here log {replay.history[0]} where it logged "
            f"{(record.get('trajectory') or [None])[0]}: this code or machine trains it otherwise, "
            "so the run trains here",
            stacklevel=2,
        )
        return
    trained_in = {
        "run": str(source),
        "versions": record.get("versions"),
        "hardware": record.get("hardware"),
        "threads": record.get("threads"),
        "step_time_s": record.get("step_time_s"),
        "wall_time_s": record.get("wall_time_s"),
    }
    # the note first: a checkpoint is never there without the run it came from
    write_text_atomic(run_dir / TRAINED_IN_FILE, json.dumps(trained_in, indent=2) + "\n")
    adopt_final_checkpoint(source, run_dir, budget.steps)


class TrainedRun(NamedTuple):
    """A finished run of a sweep, as `load_run` rebuilds it."""

    model: LVAE
    """The model with the weights of ``checkpoint``, in training mode, on the CPU."""
    dataset: GroundTruthDataset
    record: dict[str, Any]
    """The run's result file."""
    checkpoint: Path
    state: dict[str, Any]
    """The checkpoint's contents (``step``, ``history``, ...)."""


def load_run(run_dir: Path) -> TrainedRun:
    """Rebuilds the trained model of a finished run (``<sweep>/runs/<run_id>``) from its result
    file (model, options, latent size, dataset) and its latest checkpoint, for pictures or further
    metrics after a sweep.

    Raises:
        FileNotFoundError: the result file or every checkpoint is missing (the run has not
            finished, or the folder is not a run's).
    """
    result_file = run_dir / "result.json"
    if not result_file.is_file():
        raise FileNotFoundError(
            f"{result_file} is missing: the run has not finished (or {run_dir} is not a run)"
        )
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir / 'checkpoints'} holds no checkpoint of the run")
    record = json.loads(result_file.read_text())
    budget = record["budget"]
    dataset = _load_dataset(budget["dataset"], budget.get("dataset_options", {}))
    model = _build_model(record["model"], record["options"], dataset, budget["latent_dim"])
    state = load_checkpoint(checkpoint, map_location="cpu")
    model.load_state_dict(state["model"])
    return TrainedRun(model, dataset, record, checkpoint, state)


def check_options(runs: Sequence[RunSpec], latent_dim: int) -> None:
    """Raises ``ValueError`` naming the first row of ``runs`` whose model does not take its
    options (an unknown or misspelt name, a value out of range, options of another
    parameterization), before anything trains or loads.

    Each distinct row's model is built once around stand-in networks (`torch.nn.Identity`), so
    every check of `learnable_weights.models.build` applies, in milliseconds per row.
    """
    checked: set[str] = set()
    for run in runs:
        if run.label in checked:
            continue
        checked.add(run.label)
        try:
            models.build(
                run.model,
                nn.Identity(),
                nn.Identity(),
                latent_dim=latent_dim,
                **_model_options(run.options_dict()),
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"row {run.label}: {error}") from error


def _load_dataset(name: str, options: Mapping[str, Any]) -> GroundTruthDataset:
    dataset = data.load(name, **options)
    if not isinstance(dataset, GroundTruthDataset):
        raise ValueError(
            f"{name!r} has no ground-truth factors, so its runs cannot be scored; "
            "a sweep needs a dataset with factors"
        )
    return dataset


def _build_model(
    name: str, options: Mapping[str, Any], dataset: GroundTruthDataset, latent_dim: int
) -> LVAE:
    """A run's model on the reference networks; the run's training options are not the model's."""
    channels = int(dataset.observation_shape[0])
    encoder, decoder = reference_networks(channels, latent_dim)
    return models.build(name, encoder, decoder, latent_dim=latent_dim, **_model_options(options))


def _model_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A run's options without its training options: what `models.build` takes."""
    return {k: v for k, v in options.items() if k not in TRAINING_OPTIONS}


def run_sweep(
    runs: Sequence[RunSpec],
    budget: Budget,
    sweep_dir: Path,
    *,
    device: torch.device | str = "cpu",
    jobs: int = 1,
    progress: bool = False,
    storage: Storage = "auto",
    reuse: Sequence[Path] = (),
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Runs every run of ``runs`` that has no result file yet; returns ``run_id -> record`` of all.

    Args:
        runs: the runs (e.g. one shard of a sweep).
        budget: the sweep's budget; existing result files of another budget are refused.
        sweep_dir: the sweep's folder (result files in ``runs/<run_id>/result.json``).
        device: where each run trains and is evaluated.
        jobs: runs trained at once on ``device`` (processes, each with
            ``max(1, cores // jobs)`` threads), for when one run does not fill the device.
        progress: show each run's progress bar (``jobs=1`` only).
        storage: the batch sampler's storage (speed only; see `run_one`).
        reuse: other sweeps' folders whose finished runs stand in for identical training here:
            such a run is only evaluated (`run_one`).
        log: where one line per started and finished run goes.

    Raises:
        ValueError: before training anything, if a row's model does not take its options
            (`check_options`).
        ConfigurationMismatchError: before training anything, if a result file was made with
            another configuration than its run gets now (`check_configurations`).
        RunsFailedError: after every other run, if runs raised (each one's traceback in
            ``runs/<run_id>/error.txt``); it carries the records as well.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    check_options(runs, budget.latent_dim)
    done = load_results(sweep_dir, runs, budget.as_dict())
    check_configurations(done, runs, budget)
    # Seed by seed, so that a sweep stopped early has every variant at its first seeds.
    seed_order = {seed: index for index, seed in enumerate(dict.fromkeys(r.seed for r in runs))}
    pending = sorted(
        (run for run in runs if run.run_id not in done), key=lambda run: seed_order[run.seed]
    )
    resumes = {run.run_id: step for run in pending if (step := _resume_step(sweep_dir, run))}
    resuming = f" ({len(resumes)} resume from a checkpoint)" if resumes else ""
    runs_count = f"{len(runs)} run" + ("" if len(runs) == 1 else "s")
    log(f"{runs_count}: {len(done)} already have result files, {len(pending)} to run{resuming}")
    statuses: dict[str, str] = {}
    if jobs == 1:
        for index, run in enumerate(pending, 1):
            if result_path(sweep_dir, run).is_file():  # finished meanwhile by another process
                continue
            step = _resume_step(sweep_dir, run)
            log(
                f"[{index}/{len(pending)}] {run.run_id}"
                + (f", resuming from step {step:,}" if step else "")
            )
            statuses[run.run_id] = status = _run_job(
                (run, budget, sweep_dir, str(device), storage, progress, tuple(reuse))
            )
            if status != _FINISHED:
                log(f"[{index}/{len(pending)}] {run.run_id}: {status}")
    elif pending:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")
        tasks = [
            (run, budget, sweep_dir, str(device), storage, False, tuple(reuse)) for run in pending
        ]
        # SIGTERM (a scheduler, `kill`) ends the workers with the sweep: the pool's context
        # manager terminates them on the way out, and on Linux each worker also dies with its
        # parent however the parent ends (PR_SET_PDEATHSIG).
        with (
            _exit_on_sigterm(),
            context.Pool(jobs, initializer=_start_worker, initargs=(threads,)) as pool,
        ):
            for index, (run_id, status) in enumerate(pool.imap_unordered(_run_task, tasks), 1):
                statuses[run_id] = status
                step = resumes.get(run_id)
                log(
                    f"[{index}/{len(pending)}] {run_id}: {status}"
                    + (f" (resumed from step {step:,})" if step and status == _FINISHED else "")
                )
    records = load_results(sweep_dir, runs, budget.as_dict())
    failed = sorted(run_id for run_id, status in statuses.items() if status.startswith("failed"))
    if failed:
        raise RunsFailedError(failed, records)
    return records


class RunsFailedError(RuntimeError):
    """Runs of a sweep raised; every other run went on. ``failed``: their ids; ``records``: the
    result files of the sweep as `run_sweep` would have returned them. Each failed run's
    traceback is in ``runs/<run_id>/error.txt``; running the sweep again retries it (from its
    last checkpoint)."""

    def __init__(self, failed: Sequence[str], records: dict[str, dict[str, Any]]) -> None:
        self.failed = list(failed)
        self.records = records
        super().__init__(
            f"{len(self.failed)} run(s) failed: {', '.join(self.failed)}. Each traceback is in "
            f"runs/<run_id>/{ERROR_FILE}; the other runs finished. Fix the cause and run the "
            "sweep again: it retries them from their last checkpoints."
        )


ERROR_FILE = "error.txt"
_FINISHED = "finished"
_BUSY = "skipped, another process is training it (runs/<run_id>/.lock is held)"
_Task = tuple[RunSpec, Budget, Path, str, Storage, bool, tuple[Path, ...]]


def _run_job(task: _Task) -> str:
    """Trains one run unless it has a result file; returns how it went: ``"finished"``, the
    skipped message when another process holds the run, or ``"failed: ..."`` when it raised
    (its traceback then goes to ``runs/<run_id>/error.txt``; the sweep goes on)."""
    run, budget, sweep_dir, device, storage, progress, reuse = task
    path = result_path(sweep_dir, run)
    if path.is_file():  # finished meanwhile by another process
        return _FINISHED
    error_file = path.parent / ERROR_FILE
    with run_lock(path.parent) as held:
        if not held:
            return _BUSY
        if path.is_file():  # finished between the check above and taking the lock
            return _FINISHED
        try:
            run_one(
                run,
                budget,
                sweep_dir,
                device=device,
                progress=progress,
                storage=storage,
                reuse=reuse,
            )
        except Exception as error:  # one run's failure must not stop the sweep
            write_text_atomic(error_file, traceback.format_exc())
            return f"failed: {type(error).__name__}: {error}"[:500]
        error_file.unlink(missing_ok=True)
        trained_in = path.parent / TRAINED_IN_FILE
        if trained_in.is_file():
            return f"{_FINISHED}, evaluated the training of {json.loads(trained_in.read_text())['run']}"
        return _FINISHED


def _resume_step(sweep_dir: Path, run: RunSpec) -> int | None:
    """The step ``run`` would resume from (its latest checkpoint's), or ``None`` to start."""
    latest = latest_checkpoint(result_path(sweep_dir, run).parent / "checkpoints")
    return None if latest is None else checkpoint_step(latest)


def _run_task(task: _Task) -> tuple[str, str]:
    return task[0].run_id, _run_job(task)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[bool]:
    """Holds ``run_dir/.lock`` exclusively for the block; yields ``False`` (and holds nothing)
    when another process holds it. The lock is an advisory ``flock``: the system releases it
    when its holder exits, however it exits, so a killed run never leaves a stale lock. On
    systems without ``fcntl`` (Windows) it always yields ``True``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Turns SIGTERM into `SystemExit` for the block (main thread only), so that ``with``
    blocks unwind; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _evaluate(model: LVAE, dataset: Any, budget: Budget, device: torch.device) -> dict[str, float]:
    """The budget's metrics (headlines) and `reconstruction_errors` of ``model``, in eval mode."""
    from learnable_weights.metrics import evaluate  # the "metrics" extra

    training = model.training
    model.eval()
    try:
        evaluation = evaluate(
            dataset,
            model,
            metrics=tuple(EVALUATIONS[budget.evaluation]),
            seed=budget.eval_seed,
            device=device,
            settings=EVALUATIONS[budget.evaluation],
        )
        errors = reconstruction_errors(model, dataset, budget.recon_points, device)
    finally:
        model.train(training)
    return {**evaluation.headline(), **errors}


@torch.no_grad()
def reconstruction_errors(
    model: LVAE, dataset: Any, points: int, device: torch.device, batch_size: int = 500
) -> dict[str, float]:
    """Reconstruction errors per image of the posterior mean, on ``points`` images (seed 0).

    Returns ``recon_bce``, the Bernoulli cross-entropy of the decoded probabilities in nats
    (the reference codes' reconstruction term for binary data; `Likelihood.probability_logits`
    gives the probabilities of a likelihood that does not decode through a sigmoid), and
    ``recon_sse``, the summed squared error of the data-space reconstruction: both comparable
    across likelihoods, unlike each model's own training term.
    """
    random_state = np.random.RandomState(0)
    _, images = dataset.sample(points, random_state)
    images = torch.as_tensor(images)
    bce, sse = 0.0, 0.0
    for start in range(0, points, batch_size):
        x = images[start : start + batch_size].to(device)
        mu, _ = model.encode(x)
        logits = model.decoder(mu)
        x_hat = model.likelihood.mean(logits)
        probability_logits = model.likelihood.probability_logits(logits)
        bce += float(
            torch.nn.functional.binary_cross_entropy_with_logits(
                probability_logits, x, reduction="sum"
            )
        )
        sse += float((x_hat - x).square().sum())
    return {"recon_bce": bce / points, "recon_sse": sse / points}
