r"""Learnable per-term loss weights with an anti-bias regularizer (L-VAE, arXiv 2507.02619).

For non-negative terms :math:`L_1 \dots L_M` (after expanding vector terms into their elements)
and one free parameter :math:`s_i = \log \sigma_i^2` per weight, the objective is

.. math::

    \mathcal{L}(s) = \sum_i \tfrac12 e^{-s_i} L_i \;+\; \sum_i u(s_i)
                     \;+\; \lambda \sum_{g=1}^{G} R(s_{g,1}, \dots, s_{g,T})

- :math:`w_i = \tfrac12 e^{-s_i}` is the multiplier applied to term :math:`i` (``.weights``).
- :math:`u` is the uncertainty term that stops the weights collapsing to zero:
  ``"kendall"`` (Kendall, Gal & Cipolla, CVPR 2018, regression form) :math:`u(s) = \tfrac12 s`;
  ``"liebel"`` (Liebel & Körner 2018) :math:`u(s) = \ln(1 + e^{s}) = \ln(1 + \sigma^2)`, which keeps
  the objective non-negative for non-negative terms.
- :math:`R` is the anti-bias regularizer with strength :math:`\lambda` = ``bias_penalty``. It
  compares the log-variances of the :math:`T` *terms*, row by row: row :math:`g` holds one
  log-variance per term, :math:`s_{g,t}` being element :math:`g` of a term with :math:`G` weights
  and the single log-variance of a term with one weight (group sizes broadcast, as tensor shapes
  do). With one weight per term there is one row; in mdL-VAE, ``group_sizes=(1, D)``, row
  :math:`j` is :math:`(s_R, s_{KL,j})`, so *every* per-dimension weight is pulled towards the
  reconstruction's. The default ``"log-spread"`` is
  :math:`R(s_{g,\cdot}) = \sum_t (s_{g,t} - \langle s_{g,\cdot}\rangle)^2`.

The paper's own regularizer is not available to us (its text is not public; only the abstract,
https://arxiv.org/abs/2507.02619): the ``"log-spread"`` default and ``bias_penalty=0.25`` are
our choices, made by the study's ablation (docs/ablation.md, "The choice": procedural dSprites,
three seeds per row). For two terms with the Kendall form, setting the gradient to
zero gives :math:`\beta = w_2/w_1 = e^d = (L_1/L_2)\,(1-2\lambda d)/(1+2\lambda d)` with
:math:`d = s_1 - s_2`, so :math:`\beta < e^{1/(2\lambda)}` however unbalanced the terms are
(:math:`e^2 \approx 7.4` at 0.25) and :math:`\beta = 1` when they are equal; :math:`\lambda = 0`
recovers pure uncertainty weighting, :math:`\beta = L_1 / L_2`. docs/objective.md derives the
settling point of every form offered (Liebel, ``abs-log-spread``, mdL-VAE) and its cap.

Uncertainty weighting is defined for non-negative terms (a weight settles where :math:`e^{s}`
equals its term), so a negative term raises `NegativeLossTermError` unless
``allow_negative_terms=True``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from learnable_weights._finite import TermGuard

__all__ = [
    "BIAS_REGULARIZERS",
    "DEFAULT_BIAS_PENALTY",
    "LearnableWeightedLoss",
    "WeightedLossBreakdown",
    "WeightsNotLearningWarning",
    "abs_log_spread",
    "log_spread",
]

Uncertainty = Literal["kendall", "liebel"]
BiasRegularizer = Callable[[Tensor], Tensor]
"""Maps the rows of term log-variances, shape ``(G, T)`` float32, to a scalar penalty."""

DEFAULT_BIAS_PENALTY = 0.25
r"""Default strength λ of the anti-bias regularizer, kept by the ablation (docs/ablation.md).

No λ of the Kendall form scored apart from another there (0.1 to 1, procedural dSprites, three
seeds each). At 0.25 the cap on β, :math:`e^{1/(2\lambda)} = 7.39`, leaves room for β-VAE's usual
β = 4 (at 0.5 it is 2.72), and it is the λ at which mdL-VAE, whose per-dimension β's reach that
cap, was measured."""

WATCH_PERIOD = 256
"""Training calls between two checks that the learned weights move (see `WeightsNotLearningWarning`)."""


class WeightsNotLearningWarning(UserWarning):
    """The learnable weights received gradients but did not change: they are not being optimised."""


def log_spread(term_log_variances: Tensor) -> Tensor:
    r""":math:`\sum_g \sum_t (s_{g,t} - \langle s_{g,\cdot} \rangle)^2`: a quadratic pull.

    Args:
        term_log_variances: ``(G, T)`` one row of term log-variances per broadcast element (or
            ``(T,)``, read as one row).

    Returns:
        ``()`` the penalty. For two Kendall terms it caps β below :math:`e^{1/(2\lambda)}`, and the
        Liebel form below :math:`e^{1/\lambda}` (docs/objective.md).
    """
    centred = term_log_variances - term_log_variances.mean(dim=-1, keepdim=True)
    return centred.square().sum()


def abs_log_spread(term_log_variances: Tensor) -> Tensor:
    r""":math:`\sum_g \sum_t |s_{g,t} - \langle s_{g,\cdot} \rangle|`: a pull of constant strength.

    For two Kendall terms the stationary point is :math:`e^{-s_1} L_1 = 1 + 2\lambda\,
    \mathrm{sign}(d)`, :math:`e^{-s_2} L_2 = 1 - 2\lambda\,\mathrm{sign}(d)`: β is the pure
    uncertainty-weighting ratio times :math:`(1-2\lambda)/(1+2\lambda)` (or its inverse), and
    exactly 1 in the dead zone :math:`|\ln(L_1/L_2)| \le \ln((1+2\lambda)/(1-2\lambda))`; β ≡ 1 for
    :math:`\lambda \ge \tfrac12` (docs/objective.md).

    Args:
        term_log_variances: ``(G, T)`` or ``(T,)``, as `log_spread`.
    """
    centred = term_log_variances - term_log_variances.mean(dim=-1, keepdim=True)
    return centred.abs().sum()


BIAS_REGULARIZERS: dict[str, BiasRegularizer] = {
    "log-spread": log_spread,
    "abs-log-spread": abs_log_spread,
}


@dataclass(frozen=True)
class WeightedLossBreakdown:
    """The parts of one call of `LearnableWeightedLoss`, detached, for logging.

    Attributes:
        total: ``()`` the objective returned by the call.
        weighted_terms: name -> applied weight times term (shape of the term).
        weights: name -> applied weight (shape of the term).
        uncertainty: ``()`` the summed uncertainty term.
        regularizer: ``()`` ``bias_penalty`` times the anti-bias regularizer.
    """

    total: Tensor
    weighted_terms: dict[str, Tensor]
    weights: dict[str, Tensor]
    uncertainty: Tensor
    regularizer: Tensor

    def as_floats(self) -> dict[str, float]:
        """Flattens the breakdown to python floats (synchronises with the device)."""
        out = {"total": self.total.item(), "uncertainty": self.uncertainty.item()}
        out["regularizer"] = self.regularizer.item()
        for prefix, parts in (("weighted", self.weighted_terms), ("weight", self.weights)):
            for name, value in parts.items():
                flat = value.reshape(-1).tolist()
                if len(flat) == 1:
                    out[f"{prefix}/{name}"] = flat[0]
                else:
                    out.update({f"{prefix}/{name}/{j}": v for j, v in enumerate(flat)})
        return out


class LearnableWeightedLoss(nn.Module):
    """A multi-term objective whose term weights are learned with the network.

    See the module docstring for the exact objective. Call it with the terms as positional tensors
    (``criterion(a, b)``), a mapping or keyword arguments with the names (``criterion(recon=a,
    kl=b)``), or one 1-D tensor holding all weighted elements stacked in order. A term with group
    size ``g`` is a tensor of shape ``(g,)`` (one weight per element); a term of group size 1 is a
    scalar.

    Args:
        num_terms: number of terms (named ``"term0"``, ``"term1"``, ...). Give this or ``names``.
        names: the names of the terms, in order.
        group_sizes: number of weights of each term (default: 1 each). ``(1, latent_dim)`` for
            reconstruction + per-dimension KL gives the mdL-VAE variant.
        bias_penalty: strength λ of the anti-bias regularizer; 0 turns it off (the weights then
            run away with an unbounded β; docs/ablation.md, Finding 2). Default
            `DEFAULT_BIAS_PENALTY`.
        bias_regularizer: ``"log-spread"`` (default), ``"abs-log-spread"``, or a callable mapping
            the rows of term log-variances ``(G, T)`` to a scalar (see the module docstring).
            With ``bias_penalty > 0`` the group sizes must broadcast: each 1 or one common G.
        uncertainty: ``"kendall"`` (½·s) or ``"liebel"`` (ln(1 + e^s)).
        init_log_variances: initial s, a float or one value per weight (default 0: all weights ½).
        log_variance_bounds: the log-variances are projected onto this interval before each use
            (the stored parameter is clamped in place), so that term scales from 1e-8 to 1e8 and
            large learning rates never overflow; ``None`` disables it.
        check_finite: raise `NonFiniteLossError` when a term is NaN or inf. On CUDA it costs no
            synchronisation: the error is raised at the following call.
        allow_negative_terms: accept negative terms. By default a negative term raises
            `NegativeLossTermError` (checked like ``check_finite``): uncertainty weighting is
            defined for non-negative terms, and a negative one runs its weight off to the bound.
            Set it only if you shift your terms yourself.

    In training mode the module checks every 256 calls that its weights moved when they received
    gradients, and warns (`WeightsNotLearningWarning`) if they did not: the usual cause is an
    optimizer built without ``criterion.parameters()``.
    """

    log_variances: nn.Parameter
    _row_index: Tensor

    def __init__(
        self,
        num_terms: int | None = None,
        *,
        names: Sequence[str] | None = None,
        group_sizes: Sequence[int] | None = None,
        bias_penalty: float = DEFAULT_BIAS_PENALTY,
        bias_regularizer: str | BiasRegularizer = "log-spread",
        uncertainty: Uncertainty = "kendall",
        init_log_variances: float | Sequence[float] = 0.0,
        log_variance_bounds: tuple[float, float] | None = (-30.0, 30.0),
        check_finite: bool = True,
        allow_negative_terms: bool = False,
    ) -> None:
        super().__init__()
        self.names = _resolve_names(num_terms, names)
        self.group_sizes = _resolve_group_sizes(group_sizes, len(self.names))
        total = sum(self.group_sizes)
        if not (bias_penalty >= 0 and math.isfinite(bias_penalty)):
            raise ValueError(f"bias_penalty must be a finite number >= 0, got {bias_penalty!r}")
        self.bias_penalty = float(bias_penalty)
        self.bias_regularizer = _resolve_regularizer(bias_regularizer)
        rows = _regularizer_rows(self.group_sizes, required=self.bias_penalty > 0)
        if uncertainty not in ("kendall", "liebel"):
            raise ValueError(f"uncertainty must be 'kendall' or 'liebel', got {uncertainty!r}")
        self.uncertainty: Uncertainty = uncertainty
        if log_variance_bounds is not None:
            low, high = (float(b) for b in log_variance_bounds)
            if not low < high:
                raise ValueError(
                    "log_variance_bounds must be (low, high) with low < high, "
                    f"got {log_variance_bounds!r}"
                )
            log_variance_bounds = (low, high)
        self.log_variance_bounds = log_variance_bounds
        self.check_finite = check_finite
        self.allow_negative_terms = allow_negative_terms

        init = torch.as_tensor(init_log_variances, dtype=torch.float32).reshape(-1)
        if init.numel() == 1:
            init = init.expand(total).clone()
        if init.numel() != total:
            raise ValueError(
                f"init_log_variances has {init.numel()} values but the loss has {total} weights "
                f"(group sizes {self.group_sizes}); give one float or one value per weight"
            )
        self.log_variances = nn.Parameter(init)
        self.register_buffer("_row_index", rows, persistent=False)
        element_names = [
            name if size == 1 else f"{name}[{j}]"
            for name, size in zip(self.names, self.group_sizes, strict=True)
            for j in range(size)
        ]
        self._guard = TermGuard(
            element_names, check_finite=check_finite, allow_negative=allow_negative_terms
        )
        self._last: WeightedLossBreakdown | None = None
        self._watch_calls = 0
        self._watch_snapshot: Tensor | None = None
        self._watch_warned = False

    # ----------------------------------------------------------------------------------- call
    def forward(self, *terms: Tensor | Mapping[str, Tensor], **named: Tensor) -> Tensor:
        """Returns the scalar objective ``()`` (see the module docstring).

        It is computed in float32 whatever the terms' precision (bf16 and fp16 terms under
        autocast included), or in float64 when the terms are float64.
        """
        values = self._stack_terms(terms, named)
        dtype = torch.promote_types(values.dtype, torch.float32)
        with torch.autocast(device_type=values.device.type, enabled=False):
            return self._objective(values.to(dtype))

    def _objective(self, values: Tensor) -> Tensor:
        if self._guard.active:
            self._guard.check(values)
        if self.training and torch.is_grad_enabled():
            self._watch_learning()
        log_vars = self._bounded_log_variances().to(device=values.device, dtype=values.dtype)
        weights = 0.5 * torch.exp(-log_vars)
        weighted = weights * values
        if self.uncertainty == "kendall":
            uncertainty = 0.5 * log_vars.sum()
        else:
            uncertainty = nn.functional.softplus(log_vars).sum()
        if self.bias_penalty > 0:
            regularizer = self.bias_penalty * self.bias_regularizer(log_vars[self._row_index])
        else:
            regularizer = log_vars.new_zeros(())
        total = weighted.sum() + uncertainty + regularizer
        self._last = WeightedLossBreakdown(
            total=total.detach(),
            weighted_terms=self._split(weighted.detach()),
            weights=self._split(weights.detach()),
            uncertainty=uncertainty.detach(),
            regularizer=regularizer.detach(),
        )
        return total

    # ----------------------------------------------------------------------------- read-outs
    @property
    def weights(self) -> Tensor:
        """``(M,)`` the positive multipliers applied to the terms, ½·exp(-s), detached."""
        return 0.5 * torch.exp(-self._bounded_log_variances(project=False).detach())

    def weights_by_name(self) -> dict[str, Tensor]:
        """Name -> applied weight (a scalar, or ``(g,)`` for a term with ``g`` weights)."""
        return self._split(self.weights)

    @property
    def beta(self) -> Tensor:
        """For two terms: the second term's weight over the first's (the implied β of a VAE).

        Shape ``()``, or ``(g,)`` when the second term has ``g`` weights (mdL-VAE).
        """
        if len(self.names) != 2 or self.group_sizes[0] != 1:
            raise ValueError(
                "beta is defined for two terms whose first term has one weight; this loss has "
                f"terms {self.names} with group sizes {self.group_sizes}. Use .weights instead."
            )
        weights = self.weights
        return (weights[1:] / weights[0]).reshape(() if self.group_sizes[1] == 1 else (-1,))

    @property
    def last(self) -> WeightedLossBreakdown | None:
        """The breakdown of the most recent call (``None`` before the first)."""
        return self._last

    def parameter_groups(
        self, lr: float | None = None, weight_decay: float = 0.0
    ) -> list[dict[str, Any]]:
        """Optimizer parameter groups for the log-variances: no weight decay, optional own lr."""
        group: dict[str, Any] = {"params": [self.log_variances], "weight_decay": weight_decay}
        if lr is not None:
            group["lr"] = lr
        return [group]

    def flush(self) -> None:
        """Raises now for any pending (deferred, CUDA) non-finite check."""
        self._guard.flush()

    def extra_repr(self) -> str:
        regularizer = getattr(self.bias_regularizer, "__name__", repr(self.bias_regularizer))
        return (
            f"names={self.names}, group_sizes={self.group_sizes}, "
            f"uncertainty={self.uncertainty!r}, "
            f"bias_penalty={self.bias_penalty}, bias_regularizer={regularizer}, "
            f"log_variance_bounds={self.log_variance_bounds}"
        )

    # ------------------------------------------------------------------------------ helpers
    def _bounded_log_variances(self, project: bool = True) -> Tensor:
        if self.log_variance_bounds is None:
            return self.log_variances
        low, high = self.log_variance_bounds
        if project:
            with torch.no_grad():
                self.log_variances.clamp_(low, high)
            return self.log_variances
        return self.log_variances.clamp(low, high)

    def _watch_learning(self) -> None:
        """Warns once if the weights received gradients but stayed put for `WATCH_PERIOD` calls.

        Costs one comparison (a device sync on accelerators) every `WATCH_PERIOD` training calls.
        """
        self._watch_calls += 1
        if self._watch_warned or self._watch_calls % WATCH_PERIOD:
            return
        parameter = self.log_variances
        current = parameter.detach().clone()
        previous, self._watch_snapshot = self._watch_snapshot, current
        if previous is None or not parameter.requires_grad or parameter.grad is None:
            return
        at_bound = self.log_variance_bounds is not None and bool(
            (current <= self.log_variance_bounds[0]).any()
            | (current >= self.log_variance_bounds[1]).any()
        )
        if not at_bound and torch.equal(previous.to(current.device), current):
            self._watch_warned = True
            warnings.warn(
                f"the learnable weights of {type(self).__name__}(names={self.names}) received "
                f"gradients but did not change in {WATCH_PERIOD} training calls: they are "
                "probably not in the optimizer. Build it from parameter_groups(model, criterion) "
                "or include criterion.parameters().",
                WeightsNotLearningWarning,
                stacklevel=4,
            )

    def _split(self, flat: Tensor) -> dict[str, Tensor]:
        parts = torch.split(flat, list(self.group_sizes))
        return {
            name: part.reshape(()) if size == 1 else part
            for name, size, part in zip(self.names, self.group_sizes, parts, strict=True)
        }

    def _stack_terms(
        self, terms: tuple[Tensor | Mapping[str, Tensor], ...], named: Mapping[str, Tensor]
    ) -> Tensor:
        if len(terms) == 1 and isinstance(terms[0], Mapping):
            if named:
                raise TypeError("give the terms as one mapping or as keyword arguments, not both")
            return self._stack_named(terms[0])
        if named:
            if terms:
                raise TypeError("give the terms positionally or by name, not both")
            return self._stack_named(named)
        tensors = [_as_tensor(t, f"term {i}") for i, t in enumerate(terms)]
        total = sum(self.group_sizes)
        if len(tensors) == 1 and len(self.names) > 1:
            stacked = tensors[0]
            if stacked.dim() != 1 or stacked.numel() != total:
                raise ValueError(
                    f"one tensor was given, so it must be 1-D with all {total} weighted elements "
                    f"of {self.names} stacked in order (group sizes {self.group_sizes}); got shape "
                    f"{tuple(stacked.shape)}"
                )
            return stacked
        if len(tensors) != len(self.names):
            raise ValueError(
                f"expected {len(self.names)} terms {self.names}, got {len(tensors)}; pass one "
                "tensor per term, a mapping of names, or one stacked 1-D tensor"
            )
        return self._concat(tensors)

    def _stack_named(self, mapping: Mapping[str, Tensor]) -> Tensor:
        missing = [n for n in self.names if n not in mapping]
        extra = [n for n in mapping if n not in self.names]
        if missing or extra:
            raise KeyError(
                f"the terms are named {self.names}; missing {missing}, unexpected {extra}"
            )
        return self._concat([_as_tensor(mapping[n], f"term {n!r}") for n in self.names])

    def _concat(self, tensors: Sequence[Tensor]) -> Tensor:
        flat = []
        for name, size, tensor in zip(self.names, self.group_sizes, tensors, strict=True):
            if tensor.numel() != size or (size > 1 and tensor.dim() != 1):
                want = "a scalar" if size == 1 else f"a 1-D tensor of {size} elements"
                raise ValueError(
                    f"term {name!r} has shape {tuple(tensor.shape)} but must be {want} "
                    f"(group size {size}); reduce it (e.g. .mean()) before passing it"
                )
            flat.append(tensor.reshape(size))
        return torch.cat(flat)


def _resolve_names(num_terms: int | None, names: Sequence[str] | None) -> tuple[str, ...]:
    if names is not None:
        if isinstance(names, str):
            raise TypeError(f"names must be a sequence of strings, got the string {names!r}")
        resolved = tuple(names)
        if num_terms is not None and num_terms != len(resolved):
            raise ValueError(f"num_terms={num_terms} but {len(resolved)} names were given")
        if len(set(resolved)) != len(resolved) or not all(isinstance(n, str) for n in resolved):
            raise ValueError(f"names must be distinct strings, got {resolved!r}")
    elif num_terms is not None:
        resolved = tuple(f"term{i}" for i in range(num_terms))
    else:
        raise TypeError("give num_terms= or names=")
    if not resolved:
        raise ValueError("a LearnableWeightedLoss needs at least one term")
    return resolved


def _resolve_group_sizes(group_sizes: Sequence[int] | None, num_terms: int) -> tuple[int, ...]:
    if group_sizes is None:
        return (1,) * num_terms
    sizes = tuple(int(s) for s in group_sizes)
    if len(sizes) != num_terms or any(s < 1 for s in sizes):
        raise ValueError(
            f"group_sizes must give a positive size for each of the {num_terms} terms, got {sizes}"
        )
    return sizes


def _regularizer_rows(group_sizes: Sequence[int], *, required: bool) -> Tensor:
    """``(G, T)`` indices into the flat weights: row g holds element g of every term of size G and
    the single weight of every term of size 1. Broadcasting is required when the regularizer acts.
    """
    sizes = tuple(group_sizes)
    vector_sizes = {s for s in sizes if s > 1}
    if len(vector_sizes) > 1:
        if required:
            raise ValueError(
                f"with bias_penalty > 0 the group sizes must broadcast (each 1 or one common "
                f"size), so that each element of a vector term is compared with the other terms' "
                f"weights; got {sizes}. Use bias_penalty=0 or split the terms."
            )
        vector_sizes = {1}
    rows = max(vector_sizes, default=1)
    starts = torch.cumsum(torch.tensor((0, *sizes[:-1])), dim=0)
    offsets = torch.arange(rows).unsqueeze(1) * torch.tensor([s > 1 for s in sizes])
    return starts.unsqueeze(0) + offsets


def _resolve_regularizer(regularizer: str | BiasRegularizer) -> BiasRegularizer:
    if callable(regularizer):
        return regularizer
    try:
        return BIAS_REGULARIZERS[regularizer]
    except KeyError:
        raise ValueError(
            f"unknown bias_regularizer {regularizer!r}; choose one of "
            f"{sorted(BIAS_REGULARIZERS)} or pass a callable"
        ) from None


def _as_tensor(value: object, what: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(value).__name__}")
    return value
