"""learnable-weights: learnable loss-term weights for PyTorch (L-VAE, arXiv 2507.02619).

Public names: `LearnableWeightedLoss` (any multi-term loss), `SimplexWeightedLoss` (its weights on
the simplex), `LVAE` (any encoder/decoder),
`VAEOutput`, `parameter_groups`, `NonFiniteLossError`, `NegativeLossTermError`; submodules
`models` (the baselines), `likelihoods`, `weighting`, `optim`, `nets`, `data` and `metrics`.

The names are imported on first use (PEP 562), so that ``import learnable_weights.data`` loads
the data layer without the model layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from learnable_weights._version import __version__

if TYPE_CHECKING:
    from learnable_weights import models
    from learnable_weights._finite import NegativeLossTermError, NonFiniteLossError
    from learnable_weights.optim import parameter_groups
    from learnable_weights.simplex_weighted_loss import SimplexWeightedLoss
    from learnable_weights.vae import LVAE, VAEOutput
    from learnable_weights.weighted_loss import LearnableWeightedLoss

__all__ = [
    "LVAE",
    "LearnableWeightedLoss",
    "NegativeLossTermError",
    "NonFiniteLossError",
    "SimplexWeightedLoss",
    "VAEOutput",
    "__version__",
    "models",
    "parameter_groups",
]

_HOME_OF = {
    "LVAE": "learnable_weights.vae",
    "VAEOutput": "learnable_weights.vae",
    "LearnableWeightedLoss": "learnable_weights.weighted_loss",
    "SimplexWeightedLoss": "learnable_weights.simplex_weighted_loss",
    "parameter_groups": "learnable_weights.optim",
    "NonFiniteLossError": "learnable_weights._finite",
    "NegativeLossTermError": "learnable_weights._finite",
}


def __getattr__(name: str) -> object:
    if name == "models":
        return importlib.import_module("learnable_weights.models")
    if name not in _HOME_OF:
        raise AttributeError(f"module 'learnable_weights' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME_OF[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
