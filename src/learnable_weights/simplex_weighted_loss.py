r"""Learned term weights on the simplex with a log-barrier: the normalised parameterisation.

One of the candidate forms for L-VAE's weights (arXiv 2507.02619 learns the terms' relative
weights; how it parameterises them is not public, so this form is an implementer's candidate for
the ablation, next to `LearnableWeightedLoss`). For terms :math:`L_1 \dots L_M` (vector terms
expanded into their elements) and free parameters :math:`s_i`,

.. math::

    w = \mathrm{softmax}(-s), \qquad
    \mathcal{L}(s) = \sum_i w_i L_i \;-\; \lambda \sum_i \ln w_i

The weights sum to 1 (all :math:`1/M` at :math:`s = 0`; ½ each for two terms, as
`LearnableWeightedLoss` starts), so no weight can grow or shrink the total scale, and the
log-barrier with strength :math:`\lambda` (``bias_penalty``) keeps every weight inside the simplex:
without it all the weight would go to the smallest term.

Setting the gradient to zero gives :math:`w_j = \lambda / (L_j - \bar L + \lambda M)` with
:math:`\bar L = \sum_i w_i L_i`. For two terms (reconstruction :math:`R`, KL :math:`K`) the implied
:math:`\beta = w_K / w_R` solves :math:`\beta - 1/\beta = (R - K)/\lambda`, i.e.

.. math::

    \beta = \tfrac12\left(r + \sqrt{r^2 + 4}\right), \qquad r = (R - K)/\lambda .

So β is 1 when the terms are equal, grows with their *difference* in nats (Kendall's form follows
their ratio), and has no cap: :math:`\lambda` sets how many nats of reconstruction excess buy one
unit of β (β ≈ 10 at :math:`R - K = 10\lambda`). docs/objective.md compares the forms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from learnable_weights.weighted_loss import LearnableWeightedLoss, WeightedLossBreakdown

__all__ = ["DEFAULT_BARRIER", "SimplexWeightedLoss", "simplex_beta"]

DEFAULT_BARRIER = 5.0
"""Default strength λ of the log-barrier, in nats: the ablation's (docs/ablation.md).

On procedural dSprites (reference networks, 8,000 steps) barrier 5 gave the highest MIG of
the two-term rows and the worst reconstruction (β near 36); barrier 20 gave β near 3.5. The settling
β follows the terms' difference in nats (`simplex_beta`), so the same λ gives another β on data
whose terms are larger or smaller: set it per dataset. `LearnableWeightedLoss`'s Kendall form,
which follows their ratio, is the library's default for that reason."""


def simplex_beta(recon: float, kl: float, barrier: float) -> float:
    r"""The settling β of two simplex weights: the root of :math:`\beta - 1/\beta = (R - K)/\lambda`.

    Args:
        recon: the reconstruction term :math:`R` (the level the weights see).
        kl: the KL term :math:`K`.
        barrier: the barrier strength :math:`\lambda > 0`.
    """
    if not barrier > 0:
        raise ValueError(f"barrier must be positive, got {barrier!r}")
    r = (recon - kl) / barrier
    return 0.5 * (r + math.sqrt(r * r + 4.0))


class SimplexWeightedLoss(LearnableWeightedLoss):
    """A multi-term objective whose weights lie on the simplex, kept inside by a log-barrier.

    Called, read and optimised exactly like `LearnableWeightedLoss` (terms positionally, by name
    or stacked; ``.weights``, ``.beta``, ``.last``, ``parameter_groups``); only the objective
    differs (see the module docstring). The parameter keeps the parent's name,
    ``log_variances``, so that optimizers, checkpoints and `learnable_weights.parameter_groups`
    treat both alike; here it holds the negated logits of the weights.

    Args:
        num_terms: number of terms. Give this or ``names``.
        names: the names of the terms, in order.
        group_sizes: number of weights of each term (default: 1 each); all weights share one
            simplex.
        bias_penalty: strength λ > 0 of the log-barrier, in nats (`DEFAULT_BARRIER`).
        init_log_variances: initial s, a float or one value per weight (default 0: equal weights).
        log_variance_bounds: s is projected onto this interval before each use (``None``: never).
        check_finite: as `LearnableWeightedLoss`.
        allow_negative_terms: as `LearnableWeightedLoss`.
    """

    def __init__(
        self,
        num_terms: int | None = None,
        *,
        names: Sequence[str] | None = None,
        group_sizes: Sequence[int] | None = None,
        bias_penalty: float = DEFAULT_BARRIER,
        init_log_variances: float | Sequence[float] = 0.0,
        log_variance_bounds: tuple[float, float] | None = (-30.0, 30.0),
        check_finite: bool = True,
        allow_negative_terms: bool = False,
    ) -> None:
        if not (isinstance(bias_penalty, (int, float)) and 0 < bias_penalty < float("inf")):
            raise ValueError(
                f"bias_penalty (the log-barrier's strength) must be a finite number > 0, got "
                f"{bias_penalty!r}: without the barrier all the weight goes to the smallest term"
            )
        super().__init__(
            num_terms,
            names=names,
            group_sizes=group_sizes,
            bias_penalty=0.0,  # the parent's spread regularizer stays off; the barrier replaces it
            init_log_variances=init_log_variances,
            log_variance_bounds=log_variance_bounds,
            check_finite=check_finite,
            allow_negative_terms=allow_negative_terms,
        )
        self.bias_penalty = float(bias_penalty)

    def _objective(self, values: Tensor) -> Tensor:
        if self._guard.active:
            self._guard.check(values)
        if self.training and torch.is_grad_enabled():
            self._watch_learning()
        log_vars = self._bounded_log_variances().to(device=values.device, dtype=values.dtype)
        log_weights = torch.log_softmax(-log_vars, dim=0)
        weights = log_weights.exp()
        weighted = weights * values
        barrier = -self.bias_penalty * log_weights.sum()
        total = weighted.sum() + barrier
        self._last = WeightedLossBreakdown(
            total=total.detach(),
            weighted_terms=self._split(weighted.detach()),
            weights=self._split(weights.detach()),
            uncertainty=barrier.new_zeros(()),
            regularizer=barrier.detach(),
        )
        return total

    @property
    def weights(self) -> Tensor:
        """``(M,)`` the weights applied to the terms, softmax(−s): positive, summing to 1."""
        return torch.softmax(-self._bounded_log_variances(project=False).detach(), dim=0)

    def extra_repr(self) -> str:
        return (
            f"names={self.names}, group_sizes={self.group_sizes}, "
            f"barrier={self.bias_penalty}, log_variance_bounds={self.log_variance_bounds}"
        )
