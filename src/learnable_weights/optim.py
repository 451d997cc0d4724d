r"""Optimizer parameter groups that keep weight decay off the parameters that are not network weights.

Weight decay pulls a parameter towards 0. On a learned log-variance :math:`s` it pulls every loss
weight towards ½ (an undocumented extra regularizer); on σ-VAE's learned :math:`\log\sigma` it
pulls the decoder variance towards 1 (the reference, Rybkin et al. 2021, trains σ without decay).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from torch import nn

from learnable_weights.likelihoods import Likelihood
from learnable_weights.weighted_loss import LearnableWeightedLoss
from learnable_weights.weighting import Weighting

__all__ = [
    "DEFAULT_WEIGHTING_LR",
    "MissingWeightsWarning",
    "iter_learnable_losses",
    "parameter_groups",
]

DEFAULT_WEIGHTING_LR = 0.05
"""The learned weights' own learning rate, an Adam step size (docs/ablation.md).

Adam moves each log-variance by about its learning rate per step whatever the size of its
gradient, so at a network's rate (1e-4 to 1e-3) the weights need ``|ln R| / lr`` steps, tens of
thousands for a 64x64 image's reconstruction term, to reach their settling point, and until then
β follows the optimizer instead of the objective. At 0.05 they reach it in about 4,000 steps
(``benchmarks/weight_settling.py``: β 1.58 at step 2,000 and 2.09 at 4,000 of a settling β of
2.12), and the learned β of three ablation seeds ended 0.3% apart (1.37 ± 0.004)."""


class MissingWeightsWarning(UserWarning):
    """`parameter_groups` was given modules that contain no loss weighting at all."""


def parameter_groups(
    *modules: nn.Module,
    weight_decay: float = 0.0,
    weighting_lr: float | None = DEFAULT_WEIGHTING_LR,
) -> list[dict[str, Any]]:
    """Optimizer groups for a model and, if it is built beside the model, its criterion.

    Pass every module whose parameters should be trained, e.g. ``parameter_groups(model)`` for an
    `LVAE` (its weighting is inside it) or ``parameter_groups(net, criterion)`` for a network with
    a `LearnableWeightedLoss` built beside it. Returns up to three groups:

    - the network's parameters, with ``weight_decay``;
    - the likelihoods' parameters (σ-VAE's learned log σ), with no weight decay;
    - the learnable loss weights (log-variances), with no weight decay and their own learning
      rate ``weighting_lr``: `DEFAULT_WEIGHTING_LR` (0.05), an Adam step size chosen by the
      ablation (docs/ablation.md); ``None`` gives them the optimizer's rate. With SGD, whose
      step is the rate times the gradient (hundreds for a VAE's terms), pass a rate of your own.

    A parameter shared by several modules appears once. Warns (`MissingWeightsWarning`) when the
    modules hold neither a `LearnableWeightedLoss` nor a VAE `Weighting`: the criterion was
    probably left out, and its weights would never learn. Example::

        optimizer = torch.optim.AdamW(
            parameter_groups(net, criterion, weight_decay=1e-4), lr=1e-3
        )
    """
    if not modules:
        raise TypeError("parameter_groups needs at least one module: parameter_groups(model, ...)")
    for index, module in enumerate(modules):
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"parameter_groups takes nn.Modules; argument {index} is {type(module).__name__}"
            )
    weighting = _unique(
        p for m in modules for loss in iter_learnable_losses(m) for p in loss.parameters()
    )
    likelihood = _unique(
        p
        for m in modules
        for sub in m.modules()
        if isinstance(sub, Likelihood)
        for p in sub.parameters()
    )
    special = {id(p) for p in (*weighting, *likelihood)}
    network = [
        p for p in _unique(p for m in modules for p in m.parameters()) if id(p) not in special
    ]
    if not weighting and not any(isinstance(s, Weighting) for m in modules for s in m.modules()):
        warnings.warn(
            "parameter_groups found no LearnableWeightedLoss (or VAE weighting) in the modules "
            "given, so the groups hold no learnable loss weights. If a criterion is built beside "
            "the model, pass it too: parameter_groups(model, criterion, ...).",
            MissingWeightsWarning,
            stacklevel=2,
        )
    groups: list[dict[str, Any]] = [{"params": network, "weight_decay": weight_decay}]
    if likelihood:
        groups.append({"params": likelihood, "weight_decay": 0.0})
    if weighting:
        group: dict[str, Any] = {"params": weighting, "weight_decay": 0.0}
        if weighting_lr is not None:
            group["lr"] = weighting_lr
        groups.append(group)
    return groups


def iter_learnable_losses(module: nn.Module) -> Iterator[LearnableWeightedLoss]:
    """Yields every `LearnableWeightedLoss` inside ``module`` (itself included)."""
    return (m for m in module.modules() if isinstance(m, LearnableWeightedLoss))


def _unique(parameters: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for parameter in parameters:
        seen.setdefault(id(parameter), parameter)
    return list(seen.values())
