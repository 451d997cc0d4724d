"""The study's scripts (studies/ablation.sh, studies/claim.sh, studies/all.sh) are valid
``compare_models.py`` commands, and the ablation's committed result files are runs of its tables.

Each script runs with ``$PYTHON`` a bash stand-in that records its arguments; every recorded
command is then parsed by ``compare_models.py`` itself with ``--list``, which plans the runs and
trains nothing. So a typo in an option, a row whose options no longer resolve, or a renamed option
that would leave committed results behind under old names fails here, not hours into a sweep.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY_SCRIPTS = sorted((ROOT / "studies").glob("*.sh"))
ARG, CALL = "\x1f", "\x1e"


@pytest.mark.parametrize("script", STUDY_SCRIPTS, ids=[p.name for p in STUDY_SCRIPTS])
def test_study_script_parses(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _recorded_commands(tmp_path: Path, script: str, *args: str) -> list[list[str]]:
    """The ``$PYTHON`` command lines ``bash studies/<script> <args>`` runs."""
    log = tmp_path / f"{script}.calls"
    stub = tmp_path / "python-stub"
    stub.write_text(
        f"#!/usr/bin/env bash\nprintf '%s{ARG}' \"$@\" >> '{log}'\nprintf '{CALL}' >> '{log}'\n"
    )
    stub.chmod(0o755)
    completed = subprocess.run(
        ["bash", str(ROOT / "studies" / script), *args],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(stub), "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    calls = log.read_text().split(CALL)[:-1]
    return [call.split(ARG)[:-1] for call in calls]


@pytest.fixture(scope="module")
def compare_models_main() -> Callable[[list[str]], list[str]]:
    """Runs ``compare_models.py``'s ``main`` in this process; returns the lines it prints."""
    spec = importlib.util.spec_from_file_location(
        "compare_models_under_test", ROOT / "examples" / "compare_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def main(argv: list[str]) -> list[str]:
        out = io.StringIO()
        old_argv = sys.argv
        sys.argv = ["compare_models.py", *argv]
        try:
            with contextlib.redirect_stdout(out):
                module.main()
        finally:
            sys.argv = old_argv
        return out.getvalue().split()

    return main


def _listed_runs(
    commands: list[list[str]], main: Callable[[list[str]], list[str]]
) -> dict[str, dict[str, list[str]]]:
    """``{out folder: {table: run ids}}`` of every recorded ``compare_models.py`` command."""
    listed: dict[str, dict[str, list[str]]] = {}
    for command in commands:
        assert command[0] == "examples/compare_models.py", command
        argv = command[1:]
        runs = main([*argv, "--list"])
        assert runs, f"no runs: {argv}"
        out = argv[argv.index("--out") + 1]
        table = argv[argv.index("--table") + 1] if "--table" in argv else "results"
        listed.setdefault(out, {})[table] = runs
    return listed


def test_every_ablation_table_is_a_valid_command_and_every_result_file_one_of_its_runs(
    tmp_path: Path, compare_models_main: Callable[[list[str]], list[str]]
) -> None:
    commands = _recorded_commands(tmp_path, "ablation.sh", "--tables-only")
    assert all(command[-1] == "--tables-only" for command in commands)
    tables = _listed_runs(commands, compare_models_main)["studies/ablation"]
    assert {"candidates", "choice", "first-objective", "lambda", "forms", "mdl"} <= set(tables)
    listed = {run for runs in tables.values() for run in runs}
    committed = {
        path.parent.name for path in (ROOT / "studies/ablation/runs").glob("*/result.json")
    }
    assert committed - listed == set(), "result files that no table of ablation.sh lists"
    # the default rests on these (docs/ablation.md, "The choice"): every one has its result
    assert len(tables["choice"]) == 8 * 3
    assert set(tables["choice"]) <= committed
    assert set(tables["choice"]) <= set(tables["candidates"])


def test_the_candidates_part_stops_after_the_rows_that_choose_the_default(tmp_path: Path) -> None:
    commands = _recorded_commands(tmp_path, "ablation.sh", "--part", "candidates")
    assert [command[command.index("--table") + 1] for command in commands] == [
        "candidates",
        "choice",
    ]


def test_the_claim_is_valid_commands_on_both_datasets(
    tmp_path: Path, compare_models_main: Callable[[list[str]], list[str]]
) -> None:
    commands = _recorded_commands(tmp_path, "claim.sh", "--tables-only")
    listed = _listed_runs(commands, compare_models_main)
    procedural = listed["studies/claim-procedural-dsprites"]
    colour = listed["studies/claim-color-dsprites"]
    claims = {"claim", "claim-sigma-identity"}
    assert set(procedural) == {
        "baselines", "results", "unfitted", "annealed-gamma", "dynamicvae-phases", "constant-beta"
    } | claims  # fmt: skip
    # γ = 100 beside the VAE and the claim's annealed VAE (γ = 1000), all with the fitted schedule
    gamma = procedural["annealed-gamma"]
    assert len(gamma) == 3 * 3 and len(set(gamma) - set(procedural["results"])) == 3
    assert all("capacity_steps=2667" in run for run in gamma if run.startswith("annealed"))
    assert set(colour) == {"baselines", "results", "dynamicvae-phases", "constant-beta"} | claims
    # β-VAE at the β where L-VAE's weights end on each dataset, beside L-VAE and the VAE
    for tables, beta in ((procedural, "1.37"), (colour, "1.77")):
        constant = tables["constant-beta"]
        assert set(constant) - set(tables["results"]) == {
            f"beta-vae_beta={beta}__seed{seed}" for seed in range(3)
        }
        assert {run.split("__")[0] for run in constant} == {"l-vae", "vae", f"beta-vae_beta={beta}"}
    for tables in (procedural, colour):
        # DynamicVAE with its set point at its final value from the start, beside the claim's own
        phases = tables["dynamicvae-phases"]
        assert len(phases) == 2 * 3 and len(set(phases) - set(tables["results"])) == 3
        assert all("window=24" in run and "ramp_steps=4" in run for run in phases)
        # 8 models, the simplex row and σ-VAE's identity link, 3 seeds; the paper's six for the
        # claim's count, once with each σ-VAE
        assert len(tables["results"]) == 10 * 3
        assert len(tables["baselines"]) == 7 * 3
        assert set(tables["baselines"]) <= set(tables["results"])
        for claim in claims:
            assert len(tables[claim]) == 6 * 3 and set(tables[claim]) <= set(tables["results"])
        assert set(tables["claim"]) ^ set(tables["claim-sigma-identity"]) == {
            f"{model}__seed{seed}"
            for model in ("sigma-vae", "sigma-vae_likelihood=sigma-optimal-identity")
            for seed in range(3)
        }
    reusing = [command for command in commands if "--reuse-training" in command]
    assert reusing and all("procedural-dsprites" in command for command in reusing)
