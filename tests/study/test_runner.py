"""A sweep end to end at toy sizes: runs, result files, resume without rework, tables, figure."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from learnable_weights.likelihoods import (
    BernoulliLikelihood,
    CalibratedGaussianLikelihood,
    Likelihood,
)
from learnable_weights.study import (
    Budget,
    ConfigurationMismatchError,
    RunsFailedError,
    RunSpec,
    check_options,
    plan_runs,
    result_path,
    run_configuration,
    run_lock,
    run_sweep,
    scores_at_step,
    write_result,
)
from learnable_weights.study import runner as runner_module
from learnable_weights.study.runner import ERROR_FILE

ROOT = Path(__file__).resolve().parents[2]
BUDGET = Budget(steps=3, batch_size=8, latent_dim=4, evaluation="smoke", recon_points=40)


@pytest.mark.slow
def test_sweep_writes_results_and_resumes_without_rework(tmp_path: Path) -> None:
    runs = plan_runs(["vae", "l-vae"], [0], grids={"l-vae": {"bias_penalty": [0.1]}})
    lines: list[str] = []
    # storage="render": batches rendered as drawn, so no run renders the whole grid first
    records = run_sweep(runs, BUDGET, tmp_path, log=lines.append, storage="render")
    assert sorted(records) == sorted(r.run_id for r in runs)
    record = json.loads(result_path(tmp_path, runs[1]).read_text())
    assert record["options"] == {"bias_penalty": 0.1}
    assert record["budget"]["steps"] == 3
    assert set(record["scores"]) >= {"mig", "dci", "recon_bce", "recon_sse", "kl", "beta"}
    assert record["trajectory"][-1]["step"] == 3
    assert record["dataset_source"] == "procedural"
    assert set(record["versions"]) == {"learnable_weights", "torch", "git_commit"}
    # the second call finds both files and trains nothing
    lines.clear()
    modified = [result_path(tmp_path, r).stat().st_mtime_ns for r in runs]
    run_sweep(runs, BUDGET, tmp_path, log=lines.append)
    assert lines == ["2 runs: 2 already have result files, 0 to run"]
    assert [result_path(tmp_path, r).stat().st_mtime_ns for r in runs] == modified


def test_run_configuration_spells_out_the_defaults_and_the_weights_rate() -> None:
    default, stronger = plan_runs(["l-vae"], [0], grids={"l-vae": {"bias_penalty": [0.25, 1.0]}})
    configuration = run_configuration(default, BUDGET)
    assert "bias_penalty=0.25" in configuration["model"]  # the default, spelled out
    assert "Conv2d" in configuration["model"]  # the networks are part of it
    assert configuration["weighting_state"] == {"loss.log_variances": [0.0, 0.0]}
    assert configuration["weighting_lr"] == 0.05  # the library's rate for the weights
    assert run_configuration(default, dataclasses.replace(BUDGET, weighting_lr=None))[
        "weighting_lr"
    ] == pytest.approx(BUDGET.lr)  # None: the network's rate
    assert run_configuration(stronger, BUDGET)["model"] != configuration["model"]
    vae = plan_runs(["vae"], [0])[0]
    assert run_configuration(vae, BUDGET)["weighting_lr"] is None  # no learned weights


def test_a_file_made_with_another_configuration_is_refused_before_training(
    tmp_path: Path,
) -> None:
    runs = plan_runs(["l-vae", "vae"], [0])
    other = plan_runs(["l-vae"], [0], grids={"l-vae": {"bias_penalty": [0.5]}})[0]
    # as a library whose l-vae default was λ = 0.5 would have written the l-vae file
    write_result(tmp_path, runs[0], BUDGET.as_dict(), {"mig": 0.1},
                 extra={"configuration": run_configuration(other, BUDGET)})  # fmt: skip
    write_result(tmp_path, runs[1], BUDGET.as_dict(), {"mig": 0.2})  # older file: no record
    lines: list[str] = []
    with pytest.raises(ConfigurationMismatchError, match=r"l-vae__seed0 \(model\)") as error:
        run_sweep(runs, BUDGET, tmp_path, log=lines.append)
    assert error.value.stale == {"l-vae__seed0": ["model"]} and lines == []  # nothing trained
    write_result(tmp_path, runs[0], BUDGET.as_dict(), {"mig": 0.1},
                 extra={"configuration": run_configuration(runs[0], BUDGET)})  # fmt: skip
    run_sweep(runs, BUDGET, tmp_path, log=lines.append)
    assert lines == ["2 runs: 2 already have result files, 0 to run"]
    # a library that trained the weights at another rate by default made another run too
    changed = {**run_configuration(runs[0], BUDGET), "weighting_lr": 0.5}
    write_result(tmp_path, runs[0], BUDGET.as_dict(), {"mig": 0.1},
                 extra={"configuration": changed})  # fmt: skip
    with pytest.raises(ConfigurationMismatchError, match=r"\(weighting_lr\)"):
        run_sweep(runs, BUDGET, tmp_path)


@pytest.mark.slow
def test_a_runs_scores_at_an_eval_step_are_those_of_a_run_of_that_budget(tmp_path: Path) -> None:
    """The claim that lets one sweep measure several budgets: nothing in training depends on the
    total step count, so scoring at step 2 of a 4-step run equals a 2-step run, bit for bit."""
    runs = plan_runs(["l-vae"], [0])
    long = dataclasses.replace(BUDGET, steps=4, eval_steps=(2,))
    short = dataclasses.replace(BUDGET, steps=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_sweep(runs, long, tmp_path / "long", log=lambda _: None, storage="render")
        run_sweep(runs, short, tmp_path / "short", log=lambda _: None, storage="render")
    finally:
        torch.set_num_threads(threads)
    long_record = json.loads(result_path(tmp_path / "long", runs[0]).read_text())
    short_record = json.loads(result_path(tmp_path / "short", runs[0]).read_text())
    assert [m["step"] for m in long_record["milestones"]] == [2]
    assert long_record["milestones"][0]["scores"] == short_record["scores"]
    assert long_record["scores"] != short_record["scores"]
    assert "milestones" not in short_record and "eval_steps" not in short_record["budget"]
    (at_two,) = scores_at_step([long_record], 2)
    assert at_two["scores"] == short_record["scores"]


def test_pending_runs_start_seed_by_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    def fake_run_one(run: RunSpec, *args: object, **kwargs: object) -> Path:
        started.append(run.run_id)
        return tmp_path

    monkeypatch.setattr(runner_module, "run_one", fake_run_one)
    runs = plan_runs(["vae", "beta-vae"], [3, 1])
    run_sweep(runs, BUDGET, tmp_path, log=lambda _: None)
    assert started == ["vae__seed3", "beta-vae__seed3", "vae__seed1", "beta-vae__seed1"]


def test_a_run_another_process_is_training_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sweeps over one folder never train one run at once: the lock decides (flock locks
    belong to an open file, so a second open in this process stands in for a second process)."""
    started: list[str] = []

    def fake_run_one(run: RunSpec, *args: object, **kwargs: object) -> Path:
        started.append(run.run_id)
        return tmp_path

    monkeypatch.setattr(runner_module, "run_one", fake_run_one)
    runs = plan_runs(["vae", "beta-vae"], [0])
    lines: list[str] = []
    with run_lock(result_path(tmp_path, runs[0]).parent) as held:
        assert held
        with run_lock(result_path(tmp_path, runs[0]).parent) as held_twice:
            assert not held_twice
        run_sweep(runs, BUDGET, tmp_path, log=lines.append)
    assert started == ["beta-vae__seed0"]
    assert "vae__seed0: skipped, another process is training it" in "\n".join(lines)
    started.clear()
    run_sweep(runs, BUDGET, tmp_path, log=lines.append)  # released: now it runs
    assert started == ["vae__seed0", "beta-vae__seed0"]


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped mid-training (here its optimizer raises at the third step, after the
    checkpoint of step 2) resumes from that checkpoint when the sweep runs again, says so, and
    ends with exactly the scores and trajectory of a run that never stopped (CPU, one process)."""
    budget = dataclasses.replace(BUDGET, steps=4)  # a checkpoint after every step
    [run] = plan_runs(["l-vae"], [0])
    run_sweep([run], budget, tmp_path / "whole", log=lambda _: None, storage="render")

    adam_step = torch.optim.Adam.step
    calls = 0

    def step_that_stops_at_the_third(self: torch.optim.Adam, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("stopped here")
        return adam_step(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", step_that_stops_at_the_third)
        with pytest.raises(RunsFailedError):
            run_sweep([run], budget, tmp_path / "stopped", log=lambda _: None, storage="render")
    assert calls == 3
    lines: list[str] = []
    run_sweep([run], budget, tmp_path / "stopped", log=lines.append, storage="render")
    assert lines == [
        "1 run: 0 already have result files, 1 to run (1 resume from a checkpoint)",
        f"[1/1] {run.run_id}, resuming from step 2",
    ]
    whole = json.loads(result_path(tmp_path / "whole", run).read_text())
    resumed = json.loads(result_path(tmp_path / "stopped", run).read_text())
    assert resumed["scores"] == whole["scores"]
    assert resumed["trajectory"] == whole["trajectory"]
    assert [record["step"] for record in resumed["trajectory"]] == [1, 2, 3, 4]


def test_a_failing_run_does_not_stop_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in the ablation: one run's error (a KL of −1e-8) ended a 54-run sweep. Now the other
    runs go on, the traceback is kept beside the run, and the error comes at the end."""
    started: list[str] = []

    def fake_run_one(run: RunSpec, *args: object, **kwargs: object) -> Path:
        started.append(run.run_id)
        if run.model == "vae" and run.seed == 0:
            raise FloatingPointError("diverged at step 7")
        return tmp_path

    monkeypatch.setattr(runner_module, "run_one", fake_run_one)
    runs = plan_runs(["vae", "beta-vae"], [0, 1])
    lines: list[str] = []
    with pytest.raises(RunsFailedError, match=r"1 run\(s\) failed: vae__seed0") as caught:
        run_sweep(runs, BUDGET, tmp_path, log=lines.append)
    assert started == ["vae__seed0", "beta-vae__seed0", "vae__seed1", "beta-vae__seed1"]
    assert caught.value.failed == ["vae__seed0"]
    error_file = result_path(tmp_path, runs[0]).parent / ERROR_FILE
    assert "FloatingPointError: diverged at step 7" in error_file.read_text()
    assert any("vae__seed0: failed: FloatingPointError: diverged at step 7" in x for x in lines)
    monkeypatch.setattr(runner_module, "run_one", lambda *a, **k: tmp_path)  # the cause fixed
    run_sweep(runs, BUDGET, tmp_path, log=lambda _: None)
    assert not error_file.exists()


@pytest.mark.slow
def test_compare_models_writes_the_tables_of_what_finished_and_exits_1(tmp_path: Path) -> None:
    """With workers (--jobs 2): a run that fails once it runs fails alone. (A row its model
    refuses fails before anything trains: `check_options`.) Here the reconstruction weight starts
    at e^100 / 2 with the bounds off, overflows float32, and the codes turn NaN."""
    failing = "l-vae_init_log_variances=_-100_0_log_variance_bounds=null__seed0"
    command = [
        sys.executable, "examples/compare_models.py", "--out", str(tmp_path), "--models", "vae",
        "--variant", "l-vae", "init_log_variances=[-100,0]", "log_variance_bounds=null",
        "--seeds", "0", "--steps", "2", "--batch-size", "4", "--latent-dim", "3",
        "--evaluation", "smoke", "--storage", "render", "--jobs", "2",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 1, result.stderr
    assert f"1 run(s) failed: {failing}" in result.stderr
    assert (tmp_path / "runs" / "vae__seed0" / "result.json").is_file()
    error_text = (tmp_path / "runs" / failing / ERROR_FILE).read_text()
    assert "NaN or infinite" in error_text
    assert "`vae`" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGTERM and flock: Linux")
def test_sigterm_to_a_parallel_sweep_ends_its_workers(tmp_path: Path) -> None:
    """`kill` (SIGTERM) of compare_models.py --jobs 2 must not leave its workers training:
    orphans would keep the CPU and write into the run folders of the next sweep."""
    command = [
        sys.executable, "examples/compare_models.py", "--out", str(tmp_path), "--models", "vae",
        "--seeds", "0", "1", "--steps", "100000", "--batch-size", "4", "--latent-dim", "3",
        "--evaluation", "smoke", "--storage", "render", "--jobs", "2",
    ]  # fmt: skip
    runs = plan_runs(["vae"], [0, 1])
    folders = [result_path(tmp_path, run).parent for run in runs]

    def held_by_others() -> list[bool]:
        held = []
        for folder in folders:
            if not (folder / ".lock").exists():
                held.append(False)
                continue
            with run_lock(folder) as mine:
                held.append(not mine)
        return held

    sweep = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not all(held_by_others()):
            assert sweep.poll() is None, sweep.stderr.read() if sweep.stderr else ""
            assert time.monotonic() < deadline, "the workers never started their runs"
            time.sleep(0.5)
        sweep.send_signal(signal.SIGTERM)
        assert sweep.wait(timeout=60) != 0
        deadline = time.monotonic() + 60
        while any(held_by_others()):
            assert time.monotonic() < deadline, "a worker outlived the sweep it belonged to"
            time.sleep(0.5)
    finally:
        sweep.kill()
        sweep.wait()


@pytest.mark.slow
def test_a_sweep_runs_on_colour_dsprites(tmp_path: Path) -> None:
    """The claim's RGB set: three-channel networks, random colours, uncached evaluation."""
    runs = plan_runs(["l-vae"], [0])
    budget = dataclasses.replace(BUDGET, steps=2, dataset="color-dsprites")
    run_sweep(runs, budget, tmp_path, log=lambda _: None, storage="render")
    record = json.loads(result_path(tmp_path, runs[0]).read_text())
    assert record["budget"]["dataset"] == "color-dsprites"
    assert record["dataset_source"] == "procedural"
    assert all(math.isfinite(v) for v in record["scores"].values())


class _IdentityAutoencoder(torch.nn.Module):
    """Decodes the image itself: its posterior mean is the flattened image."""

    def __init__(self, likelihood: Likelihood) -> None:
        super().__init__()
        self.encoder = torch.nn.Flatten()
        self.decoder = torch.nn.Unflatten(1, (1, 2, 2))
        self.likelihood = likelihood

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = self.encoder(x)
        return flat, flat


class _FourPixels:
    def __init__(self, value: float) -> None:
        self.value = value

    def sample(self, n: int, random_state: object) -> tuple[None, torch.Tensor]:
        return None, torch.full((n, 1, 2, 2), self.value)


def _errors(likelihood: Likelihood, value: float) -> dict[str, float]:
    model = _IdentityAutoencoder(likelihood)
    return runner_module.reconstruction_errors(
        model,  # type: ignore[arg-type]
        _FourPixels(value),
        6,
        torch.device("cpu"),
        batch_size=4,
    )


def test_reconstruction_errors_by_hand() -> None:
    # images of 0 decoded as logits 0: p = 0.5 everywhere
    errors = _errors(BernoulliLikelihood(), 0.0)
    assert errors["recon_bce"] == pytest.approx(4 * math.log(2))  # 4 pixels × ln 2
    assert errors["recon_sse"] == pytest.approx(4 * 0.25)


def test_reconstruction_errors_of_an_identity_link_score_its_output_as_probabilities() -> None:
    # the Gaussian's mean is the output itself: images of 0.25 come back exact, and their
    # cross-entropy is the targets' entropy H(0.25) per pixel
    errors = _errors(CalibratedGaussianLikelihood(link="identity"), 0.25)
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert errors["recon_bce"] == pytest.approx(4 * entropy, rel=1e-6)
    assert errors["recon_sse"] == 0.0
    # an output of exactly 0 under a target of 0 is clipped to 1e-6, not scored as log 0: each
    # pixel costs -ln(1 - 1e-6) ≈ 1e-6 nats (to float32's resolution of 1 - 1e-6)
    errors = _errors(CalibratedGaussianLikelihood(link="identity"), 0.0)
    assert errors["recon_bce"] == pytest.approx(-4 * math.log1p(-1e-6), rel=0.1)


def test_named_evaluations_override_only_what_their_comments_say() -> None:
    """The claim's evaluation is disentanglement_lib's study settings but for DCI's fast mode, and
    the pilot's metrics are the study's at the study's point counts (DCI fast as well)."""
    from learnable_weights.metrics.evaluate import STUDY_SETTINGS

    for name, metrics in runner_module.EVALUATIONS.items():
        assert set(metrics) <= set(STUDY_SETTINGS), name
        for metric, overrides in metrics.items():
            assert set(overrides) <= set(STUDY_SETTINGS[metric]), (name, metric)
    claim = runner_module.EVALUATIONS["study-fast-dci"]
    assert set(claim) == set(runner_module.EVALUATIONS["study"]) == {
        "beta_vae", "factor_vae", "mig", "dci", "sap", "modularity_explicitness",
    }  # fmt: skip
    assert {m: dict(o) for m, o in claim.items() if o} == {"dci": {"mode": "fast"}}
    pilot = runner_module.EVALUATIONS["pilot"]
    for metric, overrides in pilot.items():
        differing = {k: v for k, v in overrides.items() if STUDY_SETTINGS[metric][k] != v}
        assert differing == ({"mode": "fast"} if metric == "dci" else {}), metric


def test_budget_and_script_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown evaluation"):
        Budget(evaluation="everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eval_steps"):
        Budget(steps=10, eval_steps=(5, 10))
    assert Budget(steps=10, eval_steps=(8, 2, 8)).eval_steps == (2, 8)
    with pytest.raises(ValueError, match="jobs"):
        run_sweep([], BUDGET, tmp_path, jobs=0)
    result = subprocess.run(
        [sys.executable, "examples/compare_models.py", "--out", str(tmp_path), "--shard", "3/2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "i/n" in result.stderr


@pytest.mark.slow
def test_compare_models_script_makes_tables_and_figure(tmp_path: Path) -> None:
    command = [
        sys.executable, "examples/compare_models.py", "--out", str(tmp_path),
        "--models", "vae", "beta-vae", "--seeds", "0", "--steps", "2", "--batch-size", "8",
        "--latent-dim", "3", "--evaluation", "smoke", "--storage", "render", "--eval-steps", "1",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    assert "| `vae` | 1 |" in table and "| `beta-vae` | 1 |" in table
    assert (tmp_path / "results.csv").read_text().startswith("label,score,mean,std,seeds,rank")
    assert (tmp_path / "beta.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 of 2 runs, scored at step 1" in (tmp_path / "results-step1.md").read_text()
    tables_only = subprocess.run(
        [*command, "--tables-only", "--table", "again"], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert tables_only.returncode == 0 and "| `vae` | 1 |" in tables_only.stdout
    assert (tmp_path / "again.md").read_text() == table
    assert (tmp_path / "again-beta.png").is_file() and (tmp_path / "again-step1.md").is_file()
    versus = subprocess.run(
        [*command, "--tables-only", "--table", "again", "--versus", "vae"], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert versus.returncode == 0, versus.stderr[-3000:]
    gaps = (tmp_path / "again-versus.md").read_text()
    # one seed per row: differences, no p-values
    assert gaps.startswith("2 of 2 runs") and "| `beta-vae` | " in gaps and "(–)" in gaps


def test_compare_models_lists_variants_and_refuses_bad_ones(tmp_path: Path) -> None:
    base = [sys.executable, "examples/compare_models.py", "--out", str(tmp_path), "--seeds", "0"]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *extra], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )

    listed = run("--models", "vae", "--variant", "l-vae", "parameterization=simplex",
                 "bias_penalty=2", "--variant", "l-vae", "--list")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [
        "vae__seed0",
        "l-vae_bias_penalty=2_parameterization=simplex__seed0",
        "l-vae__seed0",
    ]
    assert "not a model" in run("--variant", "lvae", "--list").stderr
    assert "one value" in run("--variant", "l-vae", "bias_penalty=1,2", "--list").stderr
    assert "share an identifier" in run("--models", "l-vae", "--variant", "l-vae", "--list").stderr
    assert "file stem" in run("--table", "../x", "--list").stderr
    versus_typo = run("--models", "vae", "--versus", "l-vae", "--list")
    assert versus_typo.returncode == 2 and "its rows: ['vae']" in versus_typo.stderr
    misspelt = run("--variant", "l-vae", "bias_penaly=1", "--list")
    assert misspelt.returncode == 2 and misspelt.stdout == ""
    assert "row l-vae[bias_penaly=1]" in misspelt.stderr and "'bias_penalty'" in misspelt.stderr


def test_a_row_whose_model_refuses_its_options_fails_before_anything_trains(
    tmp_path: Path,
) -> None:
    good = plan_runs(["vae"], [0, 1], variants=[("l-vae", {"bias_penalty": 0.5})])
    check_options(good, latent_dim=4)  # accepted: no error
    bad: list[tuple[str, dict[str, object], str]] = [
        ("l-vae", {"bias_penaly": 1}, "does not take the option(s) ['bias_penaly']"),
        ("l-vae", {"parameterization": "simplex", "uncertainty": "liebel"}, "no option"),
        ("l-vae", {"bias_penalty": -1}, "bias_penalty must be"),
        ("beta-vae", {"gamma": 2}, "does not take"),
    ]
    for model, options, message in bad:
        runs = plan_runs(["vae"], [0], variants=[(model, options)])
        with pytest.raises(ValueError, match=r"row " + re.escape(runs[-1].label)) as error:
            check_options(runs, latent_dim=4)
        assert message in str(error.value)
        budget = Budget(steps=2, batch_size=8, latent_dim=4, evaluation="smoke")
        with pytest.raises(ValueError, match=re.escape(message)):
            run_sweep(runs, budget, tmp_path / "sweep", log=lambda _: None)
        assert not (tmp_path / "sweep").exists()  # the valid row did not train either


def test_compare_models_fits_the_schedules_to_the_steps_unless_an_option_says_otherwise(
    tmp_path: Path,
) -> None:
    listed = subprocess.run(
        [sys.executable, "examples/compare_models.py", "--out", str(tmp_path), "--seeds", "0",
         "--steps", "8000", "--fit-schedules", "--models", "vae", "annealed-vae", "controlvae",
         "dynamicvae", "--option", "controlvae:set_point_period=50", "--variant", "dynamicvae",
         "kp=0.02", "--list"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [
        "vae__seed0",
        "annealed-vae_capacity_steps=2667__seed0",  # 100,000 · 8,000 / 300,000
        "controlvae_set_point_period=50__seed0",  # the explicit option wins
        "dynamicvae_ramp_steps=4_window=24__seed0",
        "dynamicvae_kp=0.02_ramp_steps=4_window=24__seed0",
    ]
