"""examples/study_run_pictures.py draws a finished study run from its result file and checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from learnable_weights.study import Budget, plan_runs, result_path, run_sweep

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "study_run_pictures.py"


@pytest.mark.slow
def test_pictures_of_a_finished_run_and_a_clear_error_for_an_unfinished_one(
    tmp_path: Path,
) -> None:
    budget = Budget(steps=3, batch_size=8, latent_dim=4, evaluation="smoke", recon_points=40)
    (run,) = plan_runs(["l-vae"], [0], variants=(), grids={"l-vae": {"weighting_lr": [0.05]}})
    run_sweep([run], budget, tmp_path / "sweep", log=lambda _: None, storage="render")
    run_dir = result_path(tmp_path / "sweep", run).parent
    out = tmp_path / "pictures"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "l-vae_weighting_lr=0.05__seed0 at step 3" in done.stdout
    for name in ("traversal.png", "traversal.gif", "reconstructions.png", "training_curves.png"):
        assert (out / name).stat().st_size > 0, name
    (run_dir / "result.json").unlink()
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "has not finished" in refused.stderr
