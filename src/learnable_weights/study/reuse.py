"""Evaluating a run trained in another sweep instead of training it again.

Two sweeps that train the same model under the same training budget and differ only in how they
score it (another evaluation, more reconstruction points, another metric seed) train identical
runs: on the CPU the loop is deterministic for a given seed, so the second sweep's training
would repeat the first's bit for bit. `find_trained_run` finds such a run in other sweep folders
(same model, seed, resolved configuration, dataset, steps, learning rate, batch size and latent
size, its final checkpoint kept), the runner replays the first logged interval of training to
check that this library still trains it the same way (`same_first_record`), and
`adopt_final_checkpoint` gives the run its own copy of that checkpoint without the other sweep's
evaluations, so that the run is scored with this sweep's evaluation only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from learnable_weights.training.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "TRAINING_BUDGET_FIELDS",
    "adopt_final_checkpoint",
    "find_trained_run",
    "same_first_record",
]

TRAINING_BUDGET_FIELDS = ("dataset", "dataset_options", "steps", "lr", "batch_size", "latent_dim")
"""The fields of a budget that decide what a run trains; the others decide how it is scored. The
weights' learning rate is compared through the run's configuration, which holds the rate the run
used (``None`` for a model without learned weights, whose runs do not depend on it)."""

_TRAJECTORY_KEYS = ("step", "beta", "kl", "recon_loss")


def find_trained_run(
    model: str,
    seed: int,
    budget: Mapping[str, Any],
    configuration: Mapping[str, Any],
    sources: Sequence[Path],
) -> Path | None:
    """The folder (``<sweep>/runs/<run_id>``) of a finished run in one of the sweep folders
    ``sources`` that trained what a run of ``model``, ``seed``, ``budget`` (`Budget.as_dict`) and
    ``configuration`` (`run_configuration`) would train, or ``None``.

    A run qualifies when its result file names the same model and seed, holds the same
    configuration and the same `TRAINING_BUDGET_FIELDS`, neither budget scores earlier steps
    (``eval_steps``: those need checkpoints a finished run no longer keeps), and its checkpoint of
    the final step is kept. Folders are searched in the order given, runs in name order.
    """
    if budget.get("eval_steps"):
        return None
    wanted = json.loads(json.dumps(dict(configuration)))  # the form a file round-trips to
    training = json.loads(json.dumps({key: budget.get(key) for key in TRAINING_BUDGET_FIELDS}))
    for source in sources:
        for result_file in sorted(Path(source, "runs").glob("*/result.json")):
            try:
                record = json.loads(result_file.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            other = record.get("budget", {})
            if (
                record.get("model") == model
                and record.get("seed") == seed
                and record.get("configuration") == wanted
                and not other.get("eval_steps")
                and all(other.get(key) == value for key, value in training.items())
                and checkpoint_path(result_file.parent / "checkpoints", other["steps"]).is_file()
            ):
                return result_file.parent
    return None


def same_first_record(record: Mapping[str, Any], first_logged: Mapping[str, Any]) -> bool:
    """Whether ``first_logged`` (the first record a replay of a run logs) equals the first entry
    of the trajectory in the run's result file ``record``, exactly: same step, β, KL and
    reconstruction term after the same round trip through JSON."""
    trajectory = record.get("trajectory") or [{}]
    kept = {key: trajectory[0].get(key) for key in _TRAJECTORY_KEYS}
    replayed = json.loads(json.dumps({key: first_logged.get(key) for key in _TRAJECTORY_KEYS}))
    return bool(kept == replayed)


def adopt_final_checkpoint(source_run: Path, run_dir: Path, steps: int) -> Path:
    """Writes ``source_run``'s checkpoint of step ``steps`` into ``run_dir/checkpoints``
    (atomically), without the evaluations it holds, and returns the new file. Training resumed
    from it has nothing left to do, so the run is scored by its own sweep's evaluation."""
    state = load_checkpoint(checkpoint_path(source_run / "checkpoints", steps))
    state["evaluations"] = []
    return save_checkpoint(state, run_dir / "checkpoints", steps, keep=1)
