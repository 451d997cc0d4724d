"""Evaluation during and after training: `learnable_weights.metrics.evaluate` at two sizes.

``full`` runs every metric at the unsupervised study's settings (`metrics.STUDY_SETTINGS`;
minutes on a GPU, about 12 minutes on a 2-core CPU with the reference encoder). ``quick``
(`QUICK_SETTINGS`) runs the same metrics on a twentieth to a fifth of the points (about 150,000
encoded observations, most of them BetaVAE's and FactorVAE's), and DCI with its fast
random-forest mode: numbers for watching a run and comparing runs made the same way, not
for comparing with published ones (docs/metrics/index.md says how each setting matters).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch

from learnable_weights.training.config import EvalMode
from learnable_weights.vae import LVAE

__all__ = ["QUICK_SETTINGS", "RunEvaluator"]

QUICK_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "beta_vae": {"num_train": 500, "num_eval": 250},
        "factor_vae": {"num_train": 500, "num_eval": 250, "num_variance_estimate": 2000},
        "mig": {"num_train": 2000},
        "dci": {"num_train": 2000, "num_test": 1000, "mode": "fast"},
        "sap": {"num_train": 2000, "num_test": 1000},
        "modularity_explicitness": {"num_train": 2000, "num_test": 1000},
        "irs": {"num_train": 2000},
    }
)


class RunEvaluator:
    """An `learnable_weights.training.Evaluator` that runs `metrics.evaluate` and keeps the
    latest `metrics.evaluate.Evaluation` (for the pictures' factor labels).

    Args:
        dataset: the ground-truth dataset.
        mode: ``"quick"`` or ``"full"``.
        device: where the encoder runs.
        seed: the metrics' seed.
    """

    def __init__(self, dataset: Any, mode: EvalMode, device: torch.device, seed: int = 0) -> None:
        if mode not in ("quick", "full"):
            raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
        self.dataset, self.mode, self.device, self.seed = dataset, mode, device, seed
        self.latest: Any = None

    def __call__(self, model: LVAE, step: int) -> dict[str, Any]:
        from learnable_weights.metrics import evaluate  # needs the "metrics" extra

        settings = QUICK_SETTINGS if self.mode == "quick" else None
        self.latest = evaluate(
            self.dataset, model, seed=self.seed, device=self.device, settings=settings
        )
        return {"mode": self.mode, **self.latest.headline(), "scalars": self.latest.scalars(),
                "seconds": dict(self.latest.seconds)}  # fmt: skip
