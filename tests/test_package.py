"""The package root: its public names, its single-sourced version, and the layering that keeps
the data layer free of the model layer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import learnable_weights
from learnable_weights import _version

ROOT = Path(__file__).resolve().parents[1]
MODEL_LAYER = (
    "learnable_weights.vae",
    "learnable_weights.models",
    "learnable_weights.weighted_loss",
    "learnable_weights.weighting",
    "learnable_weights.likelihoods",
    "learnable_weights.optim",
)


def test_importing_the_data_layer_loads_no_model_module() -> None:
    code = (
        "import json, sys\n"
        "import learnable_weights.data\n"
        "from learnable_weights.data import ProceduralDSprites\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('learnable_weights'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(json.loads(result.stdout))
    assert "learnable_weights.data.procedural_dsprites" in loaded
    assert loaded.isdisjoint(MODEL_LAYER), sorted(loaded & set(MODEL_LAYER))


def test_public_names_resolve_on_first_use() -> None:
    from learnable_weights.optim import parameter_groups
    from learnable_weights.vae import LVAE

    assert learnable_weights.LVAE is LVAE
    assert learnable_weights.parameter_groups is parameter_groups
    assert learnable_weights.models.__name__ == "learnable_weights.models"
    assert set(learnable_weights.__all__) <= set(dir(learnable_weights))
    for name in learnable_weights.__all__:
        assert getattr(learnable_weights, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'LVA'"):
        learnable_weights.LVA  # noqa: B018


def test_version_has_one_source() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    assert learnable_weights.__version__ == _version.__version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]  # no second copy to drift
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    assert module == _version.__name__ and getattr(_version, name) == _version.__version__
