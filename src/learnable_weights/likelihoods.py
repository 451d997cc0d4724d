r"""Reconstruction terms: the negative log-likelihood of ``x`` given the decoder output.

Every likelihood takes the decoder's raw output (``logits``, the same shape as ``x``: ``(B, ...)``)
and returns the term **summed over pixels and averaged over the batch**, as the ControlVAE,
DynamicVAE and 1Konny β-VAE reference codes do (``reconstruction_loss`` in
https://github.com/1Konny/Beta-VAE/blob/master/solver.py). The data-space reconstruction is
``sigmoid(logits)`` for all of them but the σ-VAE Gaussian with ``link="identity"``, whose mean
is the decoder output itself.

Two properties matter to learned weighting (`LearnableWeightedLoss` is defined for non-negative
terms whose level the model controls):

- ``non_negative``: whether the term can never be negative. The Bernoulli and the squared-error
  terms cannot; the σ-VAE Gaussian negative log-likelihoods can (below ``MSE = 1/(2πe)``).
- ``irreducible(x)``: the part of the term no decoder output can remove, its infimum over the
  logits. For the Bernoulli term on targets that are not 0 or 1 this is the targets' entropy
  :math:`\frac1B\sum_b\sum_i H(x_{b,i})`, a constant of the data (about 6,149 nats for 12,288
  pixels at intensity 0.2); `LVAE` hands learned weightings the term minus this constant, the
  summed KL divergence :math:`\mathrm{KL}(\mathrm{Bern}(x)\,\|\,\mathrm{Bern}(\sigma(\hat x)))`.

- ``"bernoulli"``: :math:`\frac1B\sum_b\sum_i \mathrm{BCEWithLogits}(\hat x_{b,i}, x_{b,i})`.
- ``"gaussian"``: the reference codes' "gaussian" decoder,
  :math:`\frac1B\sum_b\sum_i (\sigma(\hat x_{b,i}) - x_{b,i})^2`. This is **not** a unit-variance
  Gaussian negative log-likelihood (that would be half of it plus :math:`\frac D2\ln 2\pi`): it is
  what the baselines' β values and KL set points were tuned with, so we keep it.
- ``"sigma-optimal"`` / ``"sigma-learned"``: the calibrated Gaussian decoder of σ-VAE (Rybkin,
  Daniilidis & Levine, ICML 2021) with one σ shared by all pixels and images,
  :math:`\frac1B\sum_b\sum_i [\tfrac12((x-\mu)/\sigma)^2 + \ln\sigma + \tfrac12\ln 2\pi]`, with
  :math:`\mu = \sigma(\hat x)`. *Optimal*: :math:`\ln\sigma = \tfrac12\ln \mathrm{MSE}` over the whole
  batch, analytic and not detached, as the reference. *Learned*: one ``nn.Parameter`` initialised
  to 0. Both pass :math:`\ln\sigma` through the reference's soft lower clip
  :math:`-6 + \mathrm{softplus}(t + 6)`. Unlike the reference (a batch **sum**) we average over the
  batch like every other term here; this rescales the whole objective by ``1/B`` and changes no
  stationary point.
- ``"sigma-optimal-identity"`` / ``"sigma-learned-identity"``: the same Gaussian with
  :math:`\mu = \hat x`, the decoder output unsquashed (``link="identity"``). The gradient of the
  sigmoid-mean term with respect to a logit is :math:`(\mu - x)\,\mu(1-\mu)/\sigma^2`: its gate
  :math:`\mu(1-\mu)` closes once a logit is far from 0, and on mostly black images such as
  dSprites the first steps drive every logit far below 0, after which no pixel's error reaches
  the decoder and the KL pulls the posterior onto the prior
  (``benchmarks/sigma_vae_saturation.py``; docs/models.md). The identity link has no gate. It
  is our departure from the reference, whose decoder ends in a sigmoid.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learnable_weights._finite import DeferredCheck

__all__ = [
    "BernoulliLikelihood",
    "CalibratedGaussianLikelihood",
    "Likelihood",
    "SumSquaredErrorLikelihood",
    "available",
    "make_likelihood",
    "softclip",
]

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)
_PROBABILITY_FLOOR = 1e-6


def softclip(tensor: Tensor, minimum: float) -> Tensor:
    """The σ-VAE soft lower clip ``minimum + softplus(tensor - minimum)``: always above ``minimum``."""
    return minimum + F.softplus(tensor - minimum)


class Likelihood(nn.Module, ABC):
    """A reconstruction term. ``forward(logits, x)`` returns ``(nll, extras)``.

    ``nll`` is ``()``: summed over every non-batch dimension, averaged over the batch. ``extras``
    holds detached scalars worth logging (e.g. ``log_sigma``).
    """

    name: str = ""
    non_negative: ClassVar[bool] = True
    """Whether the term is never negative, whatever the logits and the targets in [0, 1]."""

    @abstractmethod
    def forward(self, logits: Tensor, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``logits`` and ``x``: ``(B, ...)`` of the same shape."""

    def mean(self, logits: Tensor) -> Tensor:
        """The reconstruction in data space, ``sigmoid(logits)``, same shape as ``logits``."""
        return torch.sigmoid(logits)

    def probability_logits(self, logits: Tensor) -> Tensor:
        """The logits of the pixel probabilities `mean` predicts, for scoring any model with the
        Bernoulli cross-entropy (``logits`` themselves here), same shape as ``logits``."""
        return logits

    def irreducible(self, x: Tensor) -> Tensor:
        """``()`` the infimum of the term over all logits for targets ``x`` ``(B, ...)``: 0 here."""
        return x.new_zeros(())


class BernoulliLikelihood(Likelihood):
    """Binary cross-entropy with logits, summed over pixels, averaged over the batch.

    Args:
        check_targets: raise ``ValueError`` when a target lies outside [0, 1] (e.g. images
            normalised to [-1, 1]), where the cross-entropy is unbounded below. Costs one min/max
            per batch; on CUDA it is read back asynchronously and raised at the next call.
    """

    name = "bernoulli"

    def __init__(self, check_targets: bool = True) -> None:
        super().__init__()
        self.check_targets = check_targets
        self._range_check = DeferredCheck(_target_range_error)

    def forward(self, logits: Tensor, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if self.check_targets:
            low, high = torch.aminmax(x.detach())
            self._range_check.check(torch.stack([low < 0, high > 1]), torch.stack([low, high]))
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        return nll, {}

    def irreducible(self, x: Tensor) -> Tensor:
        r"""``()`` the targets' entropy :math:`\frac1B\sum -x\ln x - (1-x)\ln(1-x)` (0 for binary x)."""
        x = x.detach()
        entropy = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x))
        return entropy.sum() / x.shape[0]

    def flush(self) -> None:
        """Raises now for a pending (deferred, CUDA) target-range check."""
        self._range_check.flush()


def _target_range_error(codes: list[int], values: list[float], when: str) -> Exception:
    low, high = values
    return ValueError(
        f"the Bernoulli likelihood needs targets in [0, 1] (they are probabilities), but the "
        f"batch at {when} holds values in [{low:.4g}, {high:.4g}]; outside [0, 1] the "
        "cross-entropy has no minimum and training is meaningless. Rescale the data to [0, 1] "
        "(for images normalised to [-1, 1], use (x + 1) / 2). For unbounded targets use a "
        "likelihood without a sigmoid: 'sigma-optimal-identity' (the σ-VAE Gaussian on the "
        "decoder output itself) or your own Likelihood."
    )


class SumSquaredErrorLikelihood(Likelihood):
    """The reference codes' "gaussian" term: ``sum((sigmoid(logits) - x)^2) / B``."""

    name = "gaussian"

    def forward(self, logits: Tensor, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        nll = (torch.sigmoid(logits) - x).square().sum() / x.shape[0]
        return nll, {}


class CalibratedGaussianLikelihood(Likelihood):
    """The σ-VAE Gaussian with one shared σ, optimal (analytic) or learned.

    Args:
        learned: learn ``log_sigma`` (init 0) instead of setting σ² to the batch MSE.
        min_log_sigma: floor of the soft clip on ``log σ`` (reference: -6).
        link: the Gaussian's mean μ from the decoder output: ``"sigmoid"`` (the reference) or
            ``"identity"`` (μ is the output itself; see the module docstring for why).

    The extras report ``log_sigma`` and ``beta_sse_equivalent`` = 2σ², the β of an equivalent
    summed-squared-error β-VAE (Rybkin et al. 2021, https://arxiv.org/abs/2006.13202).

    The term is negative once the MSE falls below 1/(2πe) ≈ 0.0585, so it cannot be weighted by
    learned uncertainty weighting (``non_negative = False``): σ already is a learned weight of the
    reconstruction term.
    """

    non_negative: ClassVar[bool] = False

    log_sigma: nn.Parameter | None

    def __init__(
        self,
        learned: bool = False,
        min_log_sigma: float = -6.0,
        link: Literal["sigmoid", "identity"] = "sigmoid",
    ) -> None:
        super().__init__()
        if link not in ("sigmoid", "identity"):
            raise ValueError(f"link must be 'sigmoid' or 'identity', got {link!r}")
        self.learned = learned
        self.link = link
        self.name = ("sigma-learned" if learned else "sigma-optimal") + (
            "-identity" if link == "identity" else ""
        )
        self.min_log_sigma = float(min_log_sigma)
        self.log_sigma = nn.Parameter(torch.zeros(())) if learned else None

    def mean(self, logits: Tensor) -> Tensor:
        """The reconstruction in data space, same shape as ``logits``: ``sigmoid(logits)``, or
        with ``link="identity"`` the output clipped to [0, 1], the range of the data this
        library's models are built for (the clip is for display and scoring only; the term uses
        the output unclipped)."""
        return torch.sigmoid(logits) if self.link == "sigmoid" else logits.clamp(0.0, 1.0)

    def probability_logits(self, logits: Tensor) -> Tensor:
        """``logits`` for the sigmoid link; for the identity link the logits of `mean` clipped to
        [1e-6, 1 - 1e-6], so a pixel predicted 0 where the target is 1 costs ln 10⁶ ≈ 13.8 nats."""
        if self.link == "sigmoid":
            return logits
        return torch.logit(logits, eps=_PROBABILITY_FLOOR)

    def forward(self, logits: Tensor, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        mean = torch.sigmoid(logits) if self.link == "sigmoid" else logits
        squared_error = (x - mean).square()
        raw = 0.5 * torch.log(squared_error.mean()) if self.log_sigma is None else self.log_sigma
        log_sigma = softclip(raw, self.min_log_sigma)
        per_element = 0.5 * squared_error * torch.exp(-2 * log_sigma) + log_sigma + _HALF_LOG_TWO_PI
        nll = per_element.sum() / x.shape[0]
        detached = log_sigma.detach()
        return nll, {"log_sigma": detached, "beta_sse_equivalent": 2 * torch.exp(2 * detached)}

    def extra_repr(self) -> str:
        # the sigmoid link is left out so that the repr, which result files record as a run's
        # configuration, stays what it was before the identity link existed
        link = "" if self.link == "sigmoid" else f", link={self.link!r}"
        return f"learned={self.learned}, min_log_sigma={self.min_log_sigma}{link}"


_LIKELIHOODS: dict[str, Callable[[], Likelihood]] = {
    "bernoulli": BernoulliLikelihood,
    "gaussian": SumSquaredErrorLikelihood,
    "sigma-optimal": lambda: CalibratedGaussianLikelihood(learned=False),
    "sigma-learned": lambda: CalibratedGaussianLikelihood(learned=True),
    "sigma-optimal-identity": lambda: CalibratedGaussianLikelihood(link="identity"),
    "sigma-learned-identity": lambda: CalibratedGaussianLikelihood(learned=True, link="identity"),
}


def available() -> tuple[str, ...]:
    """The likelihood names `make_likelihood` accepts."""
    return tuple(_LIKELIHOODS)


def make_likelihood(likelihood: str | Likelihood) -> Likelihood:
    """Returns ``likelihood`` if it is a `Likelihood`, else builds the named one."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    try:
        factory = _LIKELIHOODS[likelihood]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown likelihood {likelihood!r}; choose one of {list(_LIKELIHOODS)} or pass a "
            "learnable_weights.likelihoods.Likelihood"
        ) from None
    result: Likelihood = factory()
    return result
