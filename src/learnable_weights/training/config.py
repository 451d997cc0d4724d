"""What a training run needs to know: `TrainConfig`, and the named presets the examples share.

``quick`` is a look at the whole pipeline that finishes on a 2-core CPU in five to eight minutes,
evaluation included; ``paper`` is the reference setting of the baselines' dSprites runs and
disentanglement_lib's study (latent 10, batch 64, Adam lr 1e-4, 300,000 steps: the
``unsupervised_study_v1`` model configs of github.com/google-research/disentanglement_lib; the
reference 64x64 networks of github.com/1Konny/Beta-VAE).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from learnable_weights.optim import DEFAULT_WEIGHTING_LR

__all__ = ["PRESETS", "EvalMode", "Preset", "TrainConfig"]

EvalMode = Literal["none", "quick", "full"]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (the model and the data are given separately).

    Args:
        steps: optimizer steps to reach (a resumed run continues up to this count).
        batch_size: images per step and per process (under DDP the global batch is
            ``batch_size * world_size``).
        lr: Adam's learning rate. betas: Adam's betas.
        weight_decay: on the network's parameters only (never on the learned weights:
            `learnable_weights.parameter_groups`).
        weighting_lr: the learned weights' own learning rate (default
            `learnable_weights.optim.DEFAULT_WEIGHTING_LR`, 0.05; ``None``: ``lr``).
        seed: seeds the model's initialisation, the batch order and the sampling noise.
        amp: bfloat16 autocast for the forward pass (the loss terms stay float32).
        compile: ``torch.compile`` the encoder and the decoder (in place: checkpoints keep their
            keys).
        log_every: steps between logged records (the only host-device synchronisation).
        checkpoint_every: steps between checkpoints (0: only the final one).
        keep_checkpoints: how many of the most recent checkpoints are kept.
        eval_every: steps between evaluations (0: only at the end, if an evaluation is given).
        eval_at: further steps at which to evaluate (e.g. ``(8000, 16000)`` of a 32,000-step
            run, for scores against the budget from one run); any sequence, stored as a tuple.
    """

    steps: int
    batch_size: int = 64
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    weighting_lr: float | None = DEFAULT_WEIGHTING_LR
    seed: int = 0
    amp: bool = False
    compile: bool = False
    log_every: int = 100
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    eval_every: int = 0
    eval_at: Sequence[int] = ()

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "keep_checkpoints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("checkpoint_every", "eval_every", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if isinstance(self.eval_at, str) or not isinstance(self.eval_at, Iterable):
            raise ValueError(
                f"eval_at is a sequence of steps, e.g. (8000, 16000); got {self.eval_at!r}"
            )
        object.__setattr__(self, "eval_at", tuple(self.eval_at))  # hashable
        for value in self.eval_at:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"eval_at holds steps, positive integers; got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.weighting_lr is not None and not self.weighting_lr > 0:
            raise ValueError(f"weighting_lr must be positive, got {self.weighting_lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        values["eval_at"] = list(self.eval_at)
        return values


@dataclass(frozen=True)
class Preset:
    """Defaults a ``--preset`` gives the command line (every one can be overridden by a flag)."""

    steps: int
    batch_size: int
    lr: float
    latent_dim: int
    eval: EvalMode
    log_every: int
    checkpoint_every: int
    description: str


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        steps=3000,
        batch_size=64,
        lr=1e-3,
        latent_dim=10,
        eval="quick",
        log_every=50,
        checkpoint_every=1000,
        description="a look at the whole pipeline: five to eight minutes on a 2-core CPU",
    ),
    "paper": Preset(
        steps=300_000,
        batch_size=64,
        lr=1e-4,
        latent_dim=10,
        eval="full",
        log_every=100,
        checkpoint_every=10_000,
        description="the reference setting: latent 10, batch 64, Adam lr 1e-4, 300,000 steps",
    ),
}
