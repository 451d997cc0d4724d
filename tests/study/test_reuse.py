"""Runs trained in another sweep are evaluated, not trained again, and score as if trained here."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from learnable_weights.study import (
    Budget,
    RunSpec,
    plan_runs,
    result_path,
    run_configuration,
    run_sweep,
    write_result,
)
from learnable_weights.study.reuse import find_trained_run, same_first_record
from learnable_weights.study.runner import TRAINED_IN_FILE
from learnable_weights.training.checkpoint import (
    checkpoint_path,
    load_checkpoint,
)

ROOT = Path(__file__).resolve().parents[2]
TRAINED = Budget(steps=3, batch_size=8, latent_dim=4, evaluation="smoke", recon_points=40)
# scored otherwise (more reconstruction points, another metric seed), trained the same
RESCORED = dataclasses.replace(TRAINED, recon_points=60, eval_seed=1)


def _record(sweep: Path, run: RunSpec) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(result_path(sweep, run).read_text())
    return record


def _final_state(sweep: Path, run: RunSpec) -> dict[str, Any]:
    return load_checkpoint(checkpoint_path(result_path(sweep, run).parent / "checkpoints", 3))


@pytest.mark.slow
def test_a_reused_run_scores_and_ends_as_a_run_trained_here(tmp_path: Path) -> None:
    runs = plan_runs(["vae", "l-vae"], [0])
    trained, reused, fresh = tmp_path / "trained", tmp_path / "reused", tmp_path / "fresh"
    run_sweep(runs, TRAINED, trained, storage="render", log=lambda line: None)
    lines: list[str] = []
    run_sweep(runs, RESCORED, reused, storage="render", reuse=[trained], log=lines.append)
    run_sweep(runs, RESCORED, fresh, storage="render", log=lambda line: None)
    for run in runs:
        here, there, source = _record(reused, run), _record(fresh, run), _record(trained, run)
        assert here["trained_in"]["run"] == str(result_path(trained, run).parent)
        assert here["trained_in"]["versions"] == source["versions"]
        assert here["step_time_s"] == source["step_time_s"]
        assert "trained_in" not in there
        # scored with this sweep's evaluation, exactly as the run trained here is
        assert here["scores"] == there["scores"] != source["scores"]
        assert here["trajectory"] == there["trajectory"] == source["trajectory"]
        # the same parameters, bit for bit
        ours, theirs = _final_state(reused, run), _final_state(fresh, run)
        assert ours["evaluations"] == []  # the other sweep's scores are not carried over
        assert ours["model"].keys() == theirs["model"].keys()
        assert all(torch.equal(ours["model"][k], theirs["model"][k]) for k in ours["model"])
    assert sum("evaluated the training of" in line for line in lines) == 2

    # a run stopped after taking the checkpoint (here: its result file lost) still names its
    # origin when it finishes without --reuse
    result_path(reused, runs[0]).unlink()
    run_sweep(runs, RESCORED, reused, storage="render", log=lambda line: None)
    assert _record(reused, runs[0])["trained_in"]["run"].endswith(runs[0].run_id)


@pytest.mark.slow
def test_a_replay_that_differs_trains_the_run_here(tmp_path: Path) -> None:
    run = plan_runs(["vae"], [0])[0]
    trained, rescored = tmp_path / "trained", tmp_path / "rescored"
    run_sweep([run], TRAINED, trained, storage="render", log=lambda line: None)
    # as if another version of the code had trained it
    record = _record(trained, run)
    record["trajectory"][0]["kl"] += 1e-3
    result_path(trained, run).write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="trains it otherwise"):
        run_sweep([run], RESCORED, rescored, storage="render", reuse=[trained])
    here = _record(rescored, run)
    assert "trained_in" not in here
    assert not (result_path(rescored, run).parent / TRAINED_IN_FILE).exists()
    assert here["trajectory"][0]["kl"] == pytest.approx(record["trajectory"][0]["kl"] - 1e-3)


def test_only_a_run_with_the_same_training_and_its_final_checkpoint_is_found(
    tmp_path: Path,
) -> None:
    vae, other_seed = plan_runs(["vae"], [0, 1])
    configuration = run_configuration(vae, TRAINED)

    def finished(name: str, run: RunSpec, budget: Budget, checkpoint: bool = True) -> Path:
        sweep = tmp_path / name
        extra = {"configuration": configuration, "trajectory": []}
        folder = write_result(sweep, run, budget.as_dict(), {"mig": 0.0}, extra).parent
        if checkpoint:
            (folder / "checkpoints").mkdir()
            checkpoint_path(folder / "checkpoints", budget.steps).touch()
        return sweep

    def found(*sources: Path, budget: Budget = RESCORED, seed: int = 0) -> Path | None:
        return find_trained_run("vae", seed, budget.as_dict(), configuration, sources)

    same = finished("same", vae, TRAINED)
    assert found(same) == result_path(same, vae).parent
    assert found(same, seed=1) is None
    assert found(finished("seed1", other_seed, TRAINED), seed=1) is not None
    for change in ({"lr": 1e-3}, {"steps": 4}, {"batch_size": 4}, {"latent_dim": 3}):
        assert (
            found(finished(f"other-{change}", vae, dataclasses.replace(TRAINED, **change))) is None
        )
    assert (
        found(finished("colour", vae, dataclasses.replace(TRAINED, dataset="color-dsprites")))
        is None
    )
    assert found(finished("no-checkpoint", vae, TRAINED, checkpoint=False)) is None
    # earlier scored steps need checkpoints a finished run no longer keeps
    assert found(finished("milestones", vae, dataclasses.replace(TRAINED, eval_steps=(1,)))) is None
    assert found(same, budget=dataclasses.replace(RESCORED, eval_steps=(1,))) is None
    # another resolved configuration (a changed default, other networks) is another training
    stale = finished("stale", vae, TRAINED)
    path = result_path(stale, vae)
    path.write_text(json.dumps({**json.loads(path.read_text()), "configuration": {"model": "x"}}))
    assert found(stale) is None
    assert found(stale, same) == result_path(same, vae).parent  # searched in order


def test_the_first_record_must_match_exactly() -> None:
    record = {"trajectory": [{"step": 1, "beta": 1.0, "kl": 2.5, "recon_loss": 300.25}]}
    logged = {"step": 1, "beta": 1.0, "kl": 2.5, "recon_loss": 300.25, "lr": 5e-4, "time": 9.0}
    assert same_first_record(record, logged)
    assert not same_first_record(record, {**logged, "kl": 2.5000000001})
    assert not same_first_record({"trajectory": []}, logged)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert same_first_record(record, {**logged, "beta": [1.0]}) is False


@pytest.mark.slow
def test_compare_models_reuses_the_training_of_the_sweeps_it_is_given(tmp_path: Path) -> None:
    def compare(out: Path, *more: str) -> str:
        command = [
            sys.executable, "examples/compare_models.py", "--out", str(out), "--models", "vae",
            "--seeds", "0", "--steps", "2", "--batch-size", "8", "--latent-dim", "3",
            "--storage", "render", *more,
        ]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    compare(tmp_path / "pilot", "--evaluation", "smoke")
    # the same evaluation keeps this cheap; the scoring is test_a_reused_run_scores_...'s
    output = compare(tmp_path / "copy", "--evaluation", "smoke", "--reuse-training",
                     str(tmp_path / "missing"), str(tmp_path / "pilot"))  # fmt: skip
    assert f"evaluated the training of {tmp_path / 'pilot' / 'runs' / 'vae__seed0'}" in output
    record = json.loads((tmp_path / "copy" / "runs" / "vae__seed0" / "result.json").read_text())
    assert record["trained_in"]["run"] == str(tmp_path / "pilot" / "runs" / "vae__seed0")
