"""The training loop every example shares: `train`.

One step draws a batch on the device, runs the model (optionally under bfloat16 autocast),
and takes an Adam step over `learnable_weights.parameter_groups` (so the learned weights get no
weight decay). Around the steps the loop keeps running sums on the device and reads them back
every ``log_every`` steps (`learnable_weights.training.logs`), writes checkpoints every
``checkpoint_every`` steps and at the end (`learnable_weights.training.checkpoint`), and calls an
evaluation every ``eval_every`` steps, at the steps of ``eval_at`` and at the end.

A checkpoint holds everything a step depends on: the model (with its weighting's parameters and
its controllers' buffers), the optimizer, and, per rank, the batch source's state, every random
generator's state and the running sums; plus the step, the history and the evaluations. A run
resumed from it takes the same steps as one that never stopped: on the CPU its parameters end
bit for bit equal (tests/training/test_resume.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learnable_weights.optim import parameter_groups
from learnable_weights.training.batches import BatchSource
from learnable_weights.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from learnable_weights.training.config import TrainConfig
from learnable_weights.training.distributed import DistributedContext, share_controller_kl
from learnable_weights.training.logs import (
    JsonLinesLog,
    ProgressBar,
    StepStatistics,
    TensorBoardLog,
)
from learnable_weights.training.rng import capture_rng_state, restore_rng_state
from learnable_weights.vae import LVAE, VAEOutput
from learnable_weights.weighting import LearnedWeighting

__all__ = ["Evaluator", "TrainResult", "train"]

Evaluator = Callable[[LVAE, int], Mapping[str, Any]]
"""Called as ``evaluator(model, step)`` on rank 0 (the unwrapped model); returns JSON-ready
results, e.g. ``{"mig": 0.12, ...}``, recorded with the step."""

CHECKPOINTS = "checkpoints"
LOG_FILE = "log.jsonl"
EVALUATIONS_FILE = "evaluations.jsonl"
TENSORBOARD = "tensorboard"


@dataclass
class TrainResult:
    """What `train` did.

    Attributes:
        model: the trained model (unwrapped from DDP).
        step: the step reached.
        history: every logged record of the run (resumed runs include the earlier ones).
        evaluations: each evaluation's results with its ``step``.
        checkpoint: the final checkpoint (``None`` without ``out_dir``).
        wall_time_s: seconds this call took.
        step_time_s: mean seconds per training step in this call, evaluations and checkpoints
            excluded (``nan`` if no step ran).
        images_per_s: images per second over all ranks in the same time.
    """

    model: LVAE
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None
    wall_time_s: float = 0.0
    step_time_s: float = float("nan")
    images_per_s: float = float("nan")


def train(
    model: LVAE,
    batches: BatchSource,
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    resume: bool | Path = False,
    evaluator: Evaluator | None = None,
    context: DistributedContext | None = None,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Trains ``model`` on ``batches`` for ``config.steps`` steps.

    Args:
        model: an `LVAE` (any encoder, decoder and weighting); moved to the batches' device.
        batches: the batch source, already on the training device and, under DDP, sharded for
            this rank (`learnable_weights.training.batches`).
        config: the settings.
        out_dir: where checkpoints (``checkpoints/``), the JSON-lines log (``log.jsonl``), the
            evaluations (``evaluations.jsonl``) and TensorBoard events (``tensorboard/``, when
            installed) go; ``None`` keeps everything in memory.
        resume: ``True`` continues from the latest checkpoint in ``out_dir/checkpoints``, a path
            from that checkpoint; ``False`` starts afresh (seeding torch, numpy and ``random``
            with ``config.seed`` plus the rank).
        evaluator: called every ``config.eval_every`` steps, at each step of ``config.eval_at``
            and at the end, on rank 0.
        context: the data-parallel context (`DistributedContext.from_environment`); default one
            process.
        progress: show a progress bar (rank 0 only).
        on_step: called with the step number after each step (e.g. to stop a run in a test).

    Raises:
        CheckpointError: ``resume`` names no readable checkpoint, or one of another set-up.
    """
    context = context or DistributedContext(device=batches.device)
    device = batches.device
    started = time.perf_counter()
    model.to(device)
    optimizer = torch.optim.Adam(
        parameter_groups(model, weight_decay=config.weight_decay, weighting_lr=config.weighting_lr),
        lr=config.lr,
        betas=config.betas,
    )
    statistics = StepStatistics()
    history: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []
    step = 0
    checkpoints = None if out_dir is None else out_dir / CHECKPOINTS
    if resume is not False:
        state = _load_resume_state(resume, checkpoints, device)
        step = _restore(state, model, optimizer, batches, statistics, context)
        history, evaluations = list(state["history"]), list(state["evaluations"])
    else:
        _seed_everything(config.seed + context.rank)
    if config.compile:
        model.encoder.compile()
        model.decoder.compile()
    network = context.wrap(model)
    kl_hook = share_controller_kl(model, context)
    writers = _Writers.open(out_dir, history, evaluations, step, context.is_main)
    bar = ProgressBar(config.steps, step, enabled=progress and context.is_main)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp)
    images_per_step = config.batch_size * context.world_size
    final: Path | None = None
    timed_steps, timed_seconds = 0, 0.0
    window_start, window_steps = time.perf_counter(), 0
    model.train()
    try:
        while step < config.steps:
            images = batches.next_batch()
            with autocast:
                out: VAEOutput = network(images)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            statistics.add(out)
            step += 1
            window_steps += 1
            bar.advance()
            last = step == config.steps
            if step % config.log_every == 0 or last:
                record = statistics.record(step, _learned_weights(model))  # synchronises
                seconds = time.perf_counter() - window_start
                timed_steps, timed_seconds = timed_steps + window_steps, timed_seconds + seconds
                record["lr"] = optimizer.param_groups[0]["lr"]
                record["images_per_s"] = window_steps * images_per_step / max(seconds, 1e-12)
                record["time"] = time.time()
                history.append(record)
                writers.record(record)
                bar.show(record)
                window_start, window_steps = time.perf_counter(), 0
            if evaluator is not None and (
                last
                or (config.eval_every and step % config.eval_every == 0)
                or step in config.eval_at
            ):
                pause_start = time.perf_counter()
                if context.is_main:
                    results = {"step": step, **evaluator(model, step)}
                    evaluations.append(results)
                    writers.evaluation(results)
                    bar.write(f"evaluation at step {step}: {_brief(results)}")
                context.barrier()
                window_start += time.perf_counter() - pause_start
            if checkpoints is not None and (
                last or (config.checkpoint_every and step % config.checkpoint_every == 0)
            ):
                pause_start = time.perf_counter()
                final = _save(
                    checkpoints, step, config, model, optimizer, batches, statistics,
                    history, evaluations, context,
                )  # fmt: skip
                window_start += time.perf_counter() - pause_start
            if on_step is not None:
                on_step(step)
    finally:
        bar.close()
        writers.close()
        if kl_hook is not None:
            kl_hook.remove()
    if final is None and checkpoints is not None:
        final = latest_checkpoint(checkpoints)
    step_time = timed_seconds / timed_steps if timed_steps else float("nan")
    return TrainResult(
        model=model,
        step=step,
        history=history,
        evaluations=evaluations,
        checkpoint=final,
        wall_time_s=time.perf_counter() - started,
        step_time_s=step_time,
        images_per_s=images_per_step / step_time if timed_steps else float("nan"),
    )


def _brief(results: Mapping[str, Any]) -> str:
    parts = [
        f"{key} {value:.3f}"
        for key, value in results.items()
        if key != "step" and isinstance(value, float)
    ]
    return ", ".join(parts[:8]) or "done"


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global state is what user code draws from
    torch.manual_seed(seed)


def _load_resume_state(
    resume: bool | Path, checkpoints: Path | None, device: torch.device
) -> dict[str, Any]:
    if resume is True:
        if checkpoints is None:
            raise CheckpointError("resume=True needs out_dir, where the checkpoints are")
        path = latest_checkpoint(checkpoints)
        if path is None:
            raise CheckpointError(f"there is no checkpoint to resume from in {checkpoints}")
    else:
        assert isinstance(resume, Path)
        path = resume
    return load_checkpoint(path, map_location=device)


def _restore(
    state: Mapping[str, Any],
    model: LVAE,
    optimizer: torch.optim.Optimizer,
    batches: BatchSource,
    statistics: StepStatistics,
    context: DistributedContext,
) -> int:
    ranks = state["ranks"]
    if len(ranks) != context.world_size:
        raise CheckpointError(
            f"the checkpoint was written by {len(ranks)} process(es) but this run has "
            f"{context.world_size}; resume with the same number of processes"
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        mine = ranks[context.rank]
        batches.load_state_dict(mine["batches"])
        statistics.load_state_dict(_to_device(mine["statistics"], batches.device))
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"the checkpoint does not fit this run ({error}); resume with the same model, "
            "dataset, batch size and seed"
        ) from error
    restore_rng_state(mine["rng"])
    return int(state["step"])


def _save(
    folder: Path,
    step: int,
    config: TrainConfig,
    model: LVAE,
    optimizer: torch.optim.Optimizer,
    batches: BatchSource,
    statistics: StepStatistics,
    history: list[dict[str, Any]],
    evaluations: list[dict[str, Any]],
    context: DistributedContext,
) -> Path | None:
    mine = {
        "batches": batches.state_dict(),
        "rng": capture_rng_state(),
        "statistics": _to_device(statistics.state_dict(), torch.device("cpu")),
    }
    ranks = context.gather(mine)
    path = None
    if context.is_main:
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "ranks": ranks,
            "history": history,
            "evaluations": evaluations,
            "config": config.as_dict(),
        }
        path = save_checkpoint(state, folder, step, config.keep_checkpoints)
    context.barrier()
    return path


def _to_device(state: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in state.items()}


@dataclass
class _Writers:
    """The run's log files (rank 0 only; no-ops elsewhere or without an output folder)."""

    log: JsonLinesLog | None = None
    evaluations_log: JsonLinesLog | None = None
    tensorboard: TensorBoardLog | None = None

    @classmethod
    def open(
        cls,
        out_dir: Path | None,
        history: list[dict[str, Any]],
        evaluations: list[dict[str, Any]],
        step: int,
        is_main: bool,
    ) -> _Writers:
        if out_dir is None or not is_main:
            return cls()
        out_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            JsonLinesLog(out_dir / LOG_FILE, history),
            JsonLinesLog(out_dir / EVALUATIONS_FILE, evaluations),
            TensorBoardLog.create(out_dir / TENSORBOARD, purge_step=step + 1 if step else None),
        )

    def record(self, record: Mapping[str, Any]) -> None:
        if self.log is not None:
            self.log.write(record)
        if self.tensorboard is not None:
            self.tensorboard.write(record)

    def evaluation(self, results: Mapping[str, Any]) -> None:
        if self.evaluations_log is not None:
            self.evaluations_log.write(results)
        if self.tensorboard is not None:
            self.tensorboard.write(results, prefix="eval")

    def close(self) -> None:
        for writer in (self.log, self.evaluations_log, self.tensorboard):
            if writer is not None:
                writer.close()


def _learned_weights(model: LVAE) -> torch.Tensor | None:
    """The learned weights of ``model`` (`LearnedWeighting.learned_weights`), else ``None``."""
    weighting = model.weighting
    return weighting.learned_weights if isinstance(weighting, LearnedWeighting) else None
