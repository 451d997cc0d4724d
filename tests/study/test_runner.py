"""A sweep end to end at toy sizes: runs, result files, resume without rework, tables, figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from learnable_weights.study import Budget, plan_runs, result_path, run_sweep
from learnable_weights.study import runner as runner_module

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
    # the second call finds both files and trains nothing
    lines.clear()
    modified = [result_path(tmp_path, r).stat().st_mtime_ns for r in runs]
    run_sweep(runs, BUDGET, tmp_path, log=lines.append)
    assert lines == ["2 runs: 2 already have result files, 0 to run"]
    assert [result_path(tmp_path, r).stat().st_mtime_ns for r in runs] == modified


def test_reconstruction_errors_by_hand() -> None:
    class Identity(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = torch.nn.Flatten()
            self.decoder = torch.nn.Unflatten(1, (1, 2, 2))

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            flat = self.encoder(x)
            return flat, flat

    class FourPixels:
        def sample(self, n: int, random_state: object) -> tuple[None, torch.Tensor]:
            return None, torch.full((n, 1, 2, 2), 0.0)  # logits 0 -> p = 0.5 everywhere

    errors = runner_module.reconstruction_errors(
        Identity(),
        FourPixels(),
        6,
        torch.device("cpu"),
        batch_size=4,  # type: ignore[arg-type]
    )
    assert errors["recon_bce"] == pytest.approx(4 * 0.6931471805599453)  # 4 pixels × ln 2
    assert errors["recon_sse"] == pytest.approx(4 * 0.25)


def test_budget_and_script_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown evaluation"):
        Budget(evaluation="everything")  # type: ignore[arg-type]
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
        "--latent-dim", "3", "--evaluation", "smoke", "--storage", "render",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    assert "| `vae` | 1 |" in table and "| `beta-vae` | 1 |" in table
    assert (tmp_path / "results.csv").read_text().startswith("label,score,mean,std,seeds,rank")
    assert (tmp_path / "beta.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tables_only = subprocess.run(
        [*command, "--tables-only"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert tables_only.returncode == 0 and "| `vae` | 1 |" in tables_only.stdout
