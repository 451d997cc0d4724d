"""Name → model registry: L-VAE and the paper's baselines behind one `LVAE` wrapper.

``build(name, encoder, decoder, latent_dim=..., likelihood=..., **options)`` returns a ready
`LVAE`. ``options`` go to the model's weighting. The defaults are the values of each method's
paper and reference code (docs/models.md gives the source of each): ControlVAE and DynamicVAE
use their dSprites run scripts; the annealed VAE uses the Burgess et al. paper's values, which
are also 1Konny's argparse defaults, while the dSprites run scripts use
`ANNEALED_VAE_RUN_SCRIPT` (γ = 100, C_max = 20).

================  ===============================================  ===========================
name              objective                                        defaults
================  ===============================================  ===========================
``vae``           R + KL                                           β = 1
``beta-vae``      R + β·KL (Higgins et al. 2017)                   ``beta=4``
``annealed-vae``  R + γ·|KL − C(t)| (Burgess et al. 2018)          ``gamma=1000,
                                                                   capacity_max=25,
                                                                   capacity_steps=100_000``
``controlvae``    R + β(t)·KL, positional PI on β                  ``kp=0.01, ki=0.001,
                                                                   beta_min=1``, KL set point
                                                                   0.5 + 0.15 per 5000 steps,
                                                                   max 18
``dynamicvae``    R + β(t)·KL, incremental PI, averaged KL         ``beta_init=50,
                                                                   beta_min=0.1, kl_window=5,
                                                                   set_point_max=20``
``sigma-vae``     calibrated Gaussian R + KL (Rybkin et al. 2021)  ``likelihood="sigma-optimal"``
``l-vae``         learned weights over (R, KL)                     ``bias_penalty=0.25``,
                                                                   ``"log-spread"``, network on
                                                                   R + β·KL (docs/ablation.md)
``mdl-vae``       learned weights over (R, KL per dimension)       ``bias_penalty=0.25``,
                                                                   ``"log-spread"``, network on
                                                                   R + β·KL (docs/ablation.md)
================  ===============================================  ===========================

The learned models take the options of `LearnableWeightedLoss` (``bias_penalty=0.1``, ...),
``parameterization="simplex"`` for weights on the simplex (`SimplexWeightedLoss`, with its own
options), and ``recon_scale``/``kl_scale`` (`learnable_weights.weighting.LearnedWeighting`).

Every model but ``sigma-vae`` defaults to the ``"bernoulli"`` likelihood. The learned models
(``l-vae``, ``mdl-vae``) refuse the σ-VAE likelihoods, which can be negative (`LVAE` says why).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from learnable_weights.likelihoods import Likelihood
from learnable_weights.simplex_weighted_loss import SimplexWeightedLoss
from learnable_weights.vae import LVAE
from learnable_weights.weighted_loss import LearnableWeightedLoss
from learnable_weights.weighting import (
    CapacityAnnealing,
    ControlVAEWeighting,
    DynamicVAEWeighting,
    FixedWeighting,
    LearnedWeighting,
    NetworkObjective,
    Weighting,
)

__all__ = [
    "ANNEALED_VAE_RUN_SCRIPT",
    "PARAMETERIZATIONS",
    "REFERENCE_RUN_STEPS",
    "available",
    "build",
    "schedule_for_budget",
]

ANNEALED_VAE_RUN_SCRIPT: dict[str, Any] = {
    "gamma": 100.0,
    "capacity_max": 20.0,
    "capacity_steps": 100_000,
}
"""The capacity-annealing options of 1Konny's dSprites run script
(``run_dsprites_B_gamma100_z10.sh`` in https://github.com/1Konny/Beta-VAE; the ControlVAE
repository's baseline script uses ``capacity_max=15``). Those scripts also train with Adam at lr 5e-4
and the ``BetaVAE_B`` network (our `learnable_weights.nets` ships ``BetaVAE_H``).
Use: ``build("annealed-vae", enc, dec, latent_dim=10, **ANNEALED_VAE_RUN_SCRIPT)``."""


REFERENCE_RUN_STEPS: dict[str, int] = {
    "annealed-vae": 300_000,
    "controlvae": 1_500_000,
    "dynamicvae": 2_000_000,
}
"""The training steps of the reference runs whose schedules the scheduled models' defaults
reproduce: disentanglement_lib's annealed VAE (γ = 1000, capacity over 100,000 of 300,000 steps),
ControlVAE's ``run_dsprites_pid_c18.sh`` (max_iter 1.5e6) and DynamicVAE's
``2D-sprites/run_dynamic.sh`` (max_iter 2e6). `schedule_for_budget` scales by them."""

_SCHEDULE_LENGTHS: dict[str, tuple[type[Weighting], tuple[str, ...]]] = {
    "annealed-vae": (CapacityAnnealing, ("capacity_steps",)),
    "controlvae": (ControlVAEWeighting, ("set_point_period",)),
    "dynamicvae": (DynamicVAEWeighting, ("window", "ramp_steps")),
}


def schedule_for_budget(name: str, steps: int) -> dict[str, int]:
    """Schedule options that fit a scheduled model's default schedule to a ``steps``-step run.

    The defaults of ``annealed-vae``, ``controlvae`` and ``dynamicvae`` time their KL target for
    their reference runs (`REFERENCE_RUN_STEPS`), hundreds of thousands of steps: stopped after a
    few thousand, ControlVAE and DynamicVAE still hold the KL at their starting target of 0.5
    nats. This scales each schedule length (annealing steps, set-point period, window and ramp) by
    ``steps / REFERENCE_RUN_STEPS[name]``, rounded and at least 1, so that the target reaches each
    value at the same fraction of training as in the reference run. The controllers' gains are
    per step and stay as they are. Models without a schedule get ``{}``.

    Example: ``build("controlvae", enc, dec, latent_dim=10, **schedule_for_budget("controlvae",
    8000))`` raises the set point every 27 steps instead of every 5,000.

    Args:
        name: one of `available()`.
        steps: the run's training steps (positive).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; available: {list(_MODELS)}")
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    if name not in _SCHEDULE_LENGTHS:
        return {}
    weighting, lengths = _SCHEDULE_LENGTHS[name]
    defaults = inspect.signature(weighting).parameters
    ratio = steps / REFERENCE_RUN_STEPS[name]
    return {option: max(1, round(int(defaults[option].default) * ratio)) for option in lengths}


@dataclass(frozen=True)
class _Spec:
    make: Callable[..., Weighting]  # (latent_dim, **options) -> Weighting
    options: frozenset[str]
    likelihood: str


def _keyword_names(target: Callable[..., Any], *excluded: str) -> frozenset[str]:
    parameters = inspect.signature(target).parameters.values()
    return frozenset(p.name for p in parameters if p.name not in excluded and p.name != "self")


def _fixed(default_beta: float, likelihood: str = "bernoulli") -> _Spec:
    def make(latent_dim: int, *, beta: float = default_beta) -> Weighting:
        return FixedWeighting(beta)

    return _Spec(make, frozenset({"beta"}), likelihood)


PARAMETERIZATIONS: dict[str, type[LearnableWeightedLoss]] = {
    "log-variance": LearnableWeightedLoss,
    "simplex": SimplexWeightedLoss,
}
"""The learned models' ``parameterization`` option: the class of their learned weights."""


_LEARNED_OPTIONS = frozenset({"parameterization", "recon_scale", "kl_scale", "network_objective"})


def _learned(per_dimension: bool) -> _Spec:
    def make(
        latent_dim: int,
        *,
        parameterization: str = "log-variance",
        recon_scale: float = 1.0,
        kl_scale: float = 1.0,
        network_objective: NetworkObjective = "beta-vae",
        **options: Any,
    ) -> Weighting:
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"unknown parameterization {parameterization!r}; choose one of "
                f"{sorted(PARAMETERIZATIONS)}"
            )
        cls = PARAMETERIZATIONS[parameterization]
        accepted = _keyword_names(cls, "num_terms", "names", "group_sizes")
        foreign = sorted(set(options) - accepted)
        if foreign:
            raise ValueError(
                f"the {parameterization!r} parameterization takes no option {foreign}; it takes "
                f"{sorted(accepted | _LEARNED_OPTIONS)}"
            )
        sizes = (1, latent_dim) if per_dimension else (1, 1)
        loss = cls(names=("recon", "kl"), group_sizes=sizes, **options)
        return LearnedWeighting(
            loss, recon_scale=recon_scale, kl_scale=kl_scale, network_objective=network_objective
        )

    options = frozenset(
        _LEARNED_OPTIONS.union(
            *(
                _keyword_names(c, "num_terms", "names", "group_sizes")
                for c in PARAMETERIZATIONS.values()
            )
        )
    )
    return _Spec(make, options, "bernoulli")


def _controller(cls: type[Weighting]) -> _Spec:
    def make(latent_dim: int, **options: Any) -> Weighting:
        return cls(**options)

    return _Spec(make, _keyword_names(cls), "bernoulli")


_MODELS: dict[str, _Spec] = {
    "vae": _fixed(1.0),
    "beta-vae": _fixed(4.0),
    "annealed-vae": _controller(CapacityAnnealing),
    "controlvae": _controller(ControlVAEWeighting),
    "dynamicvae": _controller(DynamicVAEWeighting),
    "sigma-vae": _fixed(1.0, likelihood="sigma-optimal"),
    "l-vae": _learned(per_dimension=False),
    "mdl-vae": _learned(per_dimension=True),
}


def available() -> tuple[str, ...]:
    """The model names `build` accepts."""
    return tuple(_MODELS)


def build(
    name: str,
    encoder: nn.Module,
    decoder: nn.Module,
    *,
    latent_dim: int,
    likelihood: str | Likelihood | None = None,
    **options: Any,
) -> LVAE:
    """Builds the named model around ``encoder`` and ``decoder``.

    Args:
        name: one of `available()`.
        encoder: as for `LVAE`.
        decoder: as for `LVAE`.
        latent_dim: as for `LVAE`.
        likelihood: overrides the model's default likelihood.
        **options: the weighting's keyword arguments (e.g. ``beta=6`` for ``beta-vae``,
            ``bias_penalty=0.1`` for ``l-vae``).
    """
    try:
        spec = _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {list(_MODELS)}") from None
    unknown = sorted(set(options) - spec.options)
    if unknown:
        raise TypeError(
            f"model {name!r} does not take the option(s) {unknown}; it accepts "
            f"{sorted(spec.options)}"
        )
    return LVAE(
        encoder,
        decoder,
        latent_dim,
        likelihood=spec.likelihood if likelihood is None else likelihood,
        weighting=spec.make(latent_dim, **options),
    )
