"""The shell scripts parse, and the GPU checks run every step they name (without a GPU, the CUDA
steps fail and are reported, the tests marked cuda skip)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("scripts/*.sh"), *ROOT.glob("benchmarks/*.sh"), ROOT / ".ci" / "run"])


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(p.relative_to(ROOT)) for p in SCRIPTS])
def test_script_parses(script: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_gpu_checks_report_each_step_and_fail_without_a_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script's own run is the check")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # Stand-ins that fail at once, so that no step does real work here.
    stub = fake_bin / "python-stub"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$*" == *"-m pytest"* ]]; then exec ' + sys.executable + ' "$@"; fi\n'
        'echo "stub: $*"; exit 3\n'
    )
    stub.chmod(0o755)
    results = tmp_path / "results"
    completed = subprocess.run(
        ["bash", "benchmarks/gpu_checks.sh", str(results)],
        cwd=ROOT,
        env={"PATH": f"{fake_bin}:/usr/bin:/bin", "PYTHON": str(stub), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode != 0
    logs = {path.stem for path in results.glob("*.txt")}
    steps = {"environment", "cuda_tests", "step_overhead", "procedural_render", "metric_speed",
             "throughput", "train_paper"}  # fmt: skip
    assert steps | {"summary"} <= logs
    summary = (results / "summary.txt").read_text()
    failing_steps = ("environment", "step_overhead", "procedural_render", "metric_speed",
                     "throughput", "train_paper")  # fmt: skip
    for failing in failing_steps:
        assert failing in summary
    assert "cuda_tests" not in summary  # the cuda tests skip without a GPU: that step passes


def test_gpu_checks_run_only_the_named_steps(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    stub = fake_bin / "python-stub"
    stub.write_text('#!/usr/bin/env bash\necho "stub: $*"; exit 0\n')
    stub.chmod(0o755)
    results = tmp_path / "results"
    completed = subprocess.run(
        ["bash", "benchmarks/gpu_checks.sh", str(results)],
        cwd=ROOT,
        env={
            "PATH": f"{fake_bin}:/usr/bin:/bin",
            "PYTHON": str(stub),
            "HOME": str(tmp_path),
            "GPU_CHECKS_ONLY": "throughput train_paper",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert {path.stem for path in results.glob("*.txt")} == {"throughput", "train_paper", "summary"}
    assert "--preset paper --steps 2000" in (results / "train_paper.txt").read_text()
