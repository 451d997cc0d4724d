"""Runs the example scripts in this process (no interpreter start-up per run)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from learnable_weights.training import cli

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--steps", "3", "--batch-size", "4", "--latent-dim", "2", "--log-every", "1",
        "--no-progress", "--device", "cpu"]  # fmt: skip
"""A few steps with the reference networks: seconds on a CPU."""


def load_script(name: str) -> ModuleType:
    """``examples/<name>.py`` as a module (its ``__main__`` block does not run)."""
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *argv: str) -> int:
    """``python examples/<name>.py *argv``; returns the exit status."""
    module = load_script(name)
    return cli.main(module.RECIPE, list(argv), prog=f"{name}.py")


def results(out: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((out / "results.json").read_text())
    return value
