"""examples/multitask.py runs end to end for a few steps, trains the learned weights, and its
weights start where uncertainty weighting puts them (w_i = 1 / (2 L_i))."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "multitask.py"


@pytest.fixture(scope="module")
def multitask() -> ModuleType:
    spec = importlib.util.spec_from_file_location("multitask_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


Data = tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]
"""Training inputs and targets, then test inputs and targets (``make_tasks`` twice)."""


@pytest.fixture(scope="module")
def data(multitask: ModuleType) -> Data:
    generator = torch.Generator().manual_seed(0)
    return (*multitask.make_tasks(512, generator), *multitask.make_tasks(256, generator))


def test_main_runs_three_ways_and_prints_the_table(
    multitask: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = torch.get_num_threads()
    try:
        results = multitask.main(["--steps", "3", "--batch-size", "16"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert [r.label for r in results] == [
        "fixed equal weights",
        "learned, bias_penalty=0 (uncertainty weighting)",
        "learned, default bias_penalty=0.25",
    ]
    for result in results:
        assert result.label in out.split("after 3 steps each")[1]
        assert set(result.errors) == set(multitask.TASKS)
        assert all(math.isfinite(v) and v >= 0 for v in result.errors.values())
        assert 0.0 <= result.errors["kind"] <= 1.0
    assert results[0].weights == dict.fromkeys(multitask.TASKS, 1.0)


def test_the_tasks_losses_differ_by_orders_of_magnitude(multitask: ModuleType, data: Data) -> None:
    """Predicting zero for the regressions and uniform class scores: profile ≈ 32·(9/2 + ...),
    kind = ln 3, gap ≈ (1e-2)² scale."""
    x, targets = data[0], data[1]
    outputs = {
        "profile": torch.zeros_like(targets["profile"]),
        "kind": torch.zeros(len(x), 3),
        "gap": torch.zeros(len(x), 1),
    }
    losses = {k: float(v) for k, v in multitask.task_losses(outputs, targets).items()}
    assert losses["kind"] == pytest.approx(math.log(3))
    assert 50 < losses["profile"] < 500
    assert 1e-5 < losses["gap"] < 1e-3
    counts = torch.bincount(targets["kind"], minlength=3).float() / len(x)
    assert torch.all((counts - 1 / 3).abs() < 0.07)  # balanced classes: 2/3 error is chance


def test_learned_weights_start_at_uncertainty_weighting_and_are_trained(
    multitask: ModuleType, data: Data
) -> None:
    options = {"batch_size": 64, "lr": 3e-3, "weighting_lr": 0.05, "seed": 0, "verbose": False}
    # Zero steps: the weights are where init_log_variances put them, 1 / (2 L_i) of the first
    # batch, so w_i L_i on the test set is near 1/2 for every task.
    start = multitask.train("start", 0.0, data, steps=0, **options)
    for task in multitask.TASKS:
        assert 0.25 < start.weighted_losses[task] < 1.0, task
    assert start.weights["gap"] > start.weights["kind"] > start.weights["profile"]
    # A few steps later they have moved: the criterion's parameters are in the optimizer.
    later = multitask.train("later", 0.0, data, steps=5, **options)
    assert all(later.weights[t] != start.weights[t] for t in multitask.TASKS)


def test_bad_flags_are_refused(multitask: ModuleType) -> None:
    with pytest.raises(SystemExit):
        multitask.main(["--steps", "0"])
