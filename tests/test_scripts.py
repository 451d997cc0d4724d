"""The shell scripts parse, the GPU checks run every step they name (without a GPU, the CUDA
steps fail and are reported, the tests marked cuda skip), and installing the metrics' reference
leaves pip nothing to report."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
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


def _run_with_python_stub(
    tmp_path: Path, script: str, stub_body: str, timeout: int = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs ``bash <script> <tmp_path>/results`` with ``$PYTHON`` a bash stand-in whose body is
    ``stub_body``, so that no step does real work."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    stub = fake_bin / "python-stub"
    stub.write_text("#!/usr/bin/env bash\n" + stub_body)
    stub.chmod(0o755)
    return subprocess.run(
        ["bash", script, str(tmp_path / "results")],
        cwd=ROOT,
        env={
            "PATH": f"{fake_bin}:/usr/bin:/bin",
            "PYTHON": str(stub),
            "HOME": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_gpu_checks_report_each_step_and_fail_without_a_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script's own run is the check")
    # Stand-ins that fail at once, so that no step does real work here.
    completed = _run_with_python_stub(
        tmp_path,
        "benchmarks/gpu_checks.sh",
        'if [[ "$*" == *"-m pytest"* ]]; then exec ' + sys.executable + ' "$@"; fi\n'
        'echo "stub: $*"; exit 3\n',
        timeout=300,
    )
    results = tmp_path / "results"
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


def _wheel(
    folder: Path, name: str, version: str, files: dict[str, str], requires: list[str]
) -> None:
    """A minimal pure-Python wheel (PEP 427) named ``name``, offering ``files``."""
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    contents = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    contents[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)


@pytest.mark.slow
def test_installing_the_reference_leaves_pip_nothing_to_report(tmp_path: Path) -> None:
    """scripts/test.sh installs disentanglement_lib without its TensorFlow-era requirements. pip
    reports those as missing ("ERROR: ... disentanglement-lib 1.5 requires ...") whenever a later
    install touches one of its dependencies (scripts/main.sh's extras do), unless the reference
    lives outside the environment pip manages. Offline: stand-in wheels with the same names and
    declared requirements, a fresh virtual environment, no index."""
    wheels = tmp_path / "wheels"
    _wheel(
        wheels,
        "disentanglement_lib",
        "1.5",
        {"disentanglement_lib/__init__.py": ""},
        ["future", "six", "tensorflow-probability==0.7"],
    )
    _wheel(wheels, "absl_py", "2.1.0", {"absl/__init__.py": "", "absl/logging.py": ""}, [])
    _wheel(wheels, "six", "1.17.0", {"six.py": ""}, [])
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    script = (
        'source "$VENV/bin/activate" && source scripts/_env.sh && lw_install_reference && '
        "python -m pip install --quiet --force-reinstall six && "  # a dependency of the reference
        'PYTHONPATH="$LW_REFERENCE_DIR" python -c "import disentanglement_lib, absl.logging, six" && '
        "! python -m pip list | grep -i disentanglement"  # not in site-packages
    )
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "VENV": str(venv),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    assert (venv / "lw-reference" / "disentanglement_lib-1.5.dist-info").is_dir()


def test_gpu_checks_run_only_the_named_steps(tmp_path: Path) -> None:
    completed = _run_with_python_stub(
        tmp_path,
        "benchmarks/gpu_checks.sh",
        'echo "stub: $*"; exit 0\n',
        GPU_CHECKS_ONLY="throughput train_paper",
    )
    results = tmp_path / "results"
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert {path.stem for path in results.glob("*.txt")} == {"throughput", "train_paper", "summary"}
    assert "--preset paper --steps 2000" in (results / "train_paper.txt").read_text()


def test_gpu_study_runs_the_sweep_then_the_tables(tmp_path: Path) -> None:
    completed = _run_with_python_stub(
        tmp_path, "benchmarks/gpu_study.sh", 'echo "stub: $*"; exit 0\n'
    )
    results = tmp_path / "results"
    assert completed.returncode == 0, completed.stdout + completed.stderr
    log = (results / "gpu_study.txt").read_text().splitlines()
    assert len(log) == 2
    # one process per row: 8 models and 2 variants
    assert "--device cuda --jobs 10" in log[0] and "--tables-only" not in log[0]
    claim_models = (
        "--models l-vae mdl-vae vae beta-vae annealed-vae controlvae dynamicvae sigma-vae "
        "--variant l-vae parameterization=simplex bias_penalty=5 "
        "--variant sigma-vae likelihood=sigma-optimal-identity"
    )
    assert claim_models in log[0] and claim_models in log[1]
    assert log[1].endswith("--tables-only")
    assert f"--out {results}/claim-20000" in log[0] and f"--out {results}/claim-20000" in log[1]
