"""Mutual Information Gap (Chen, Li, Grosse and Duvenaud 2018, "Isolating Sources of
Disentanglement in VAEs"), as computed by disentanglement_lib 1.5 (``evaluation/metrics/mig.py``,
``_compute_mig``)."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._validation import (
    as_codes_and_factors,
    check_enough_points,
    check_num_bins,
    require_multi_valued_factors,
)
from learnable_weights.metrics._versions import warn_if_untested_versions
from learnable_weights.metrics.discretize import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
)

__all__ = ["MIGResult", "mig"]


class MIGResult(TypedDict):
    """What :func:`mig` returns; ``discrete_mig`` is disentanglement_lib's key."""

    discrete_mig: float
    #: ``(K,)`` normalised gap of each factor; ``discrete_mig`` is their mean.
    discrete_mig_per_factor: NDArray[np.float64]
    #: ``(D, K)`` mutual information (nats) between each discretised code and each factor.
    mutual_information: NDArray[np.float64]
    #: ``(K,)`` empirical entropy (nats) of each factor's sampled classes.
    factor_entropy: NDArray[np.float64]


def mig(codes: object, factors: object, *, num_bins: int = 20) -> MIGResult:
    """Mutual Information Gap of a representation.

    Each code dimension is discretised into ``num_bins`` equal-width bins
    (:func:`~learnable_weights.metrics.discretize.histogram_discretize`); with ``I(z_i; v_k)`` the
    discrete mutual information (nats) and ``H(v_k)`` the empirical factor entropy,
    ``MIG = mean_k (I_(1),k - I_(2),k) / H(v_k)`` where ``I_(1),k >= I_(2),k`` are the two largest
    values over codes.

    Reference quirks reproduced: no pruning of inactive dimensions (a collapsed but non-constant
    dimension still gets a small positive, biased MI); a constant dimension falls into one bin
    (MI 0); the histogram edges are numpy's, in the codes' dtype; ``H`` is the entropy of the
    sampled classes, not ``log`` of their number. All-constant codes score 0.

    Args:
        codes: ``(N, D)`` float codes (numpy or torch), one row per point; ``D >= 2``.
        factors: ``(N, K)`` integer factor classes.
        num_bins: histogram bins per code dimension (disentanglement_lib's study: 20).

    Returns:
        :class:`MIGResult`; equals disentanglement_lib's ``discrete_mig`` to about 1e-15.

    Raises:
        TypeError, ValueError: bad shapes or dtypes, NaN/inf codes, fewer points than bins,
            fewer than two code dimensions, or a factor with a single value (its entropy is 0 and
            disentanglement_lib returns NaN).
    """
    warn_if_untested_versions()
    code_array, factor_array = as_codes_and_factors(codes, factors)
    num_bins = check_num_bins(num_bins)
    check_enough_points(code_array.shape[0], num_bins, "every code dimension")
    if code_array.shape[1] < 2:
        raise ValueError(
            f"MIG compares the two most informative code dimensions, so codes needs at least 2 "
            f"columns; got {code_array.shape[1]}"
        )
    require_multi_valued_factors(
        factor_array,
        "MIG",
        "MIG divides by the factor's entropy, which is 0 (the reference gives NaN)",
    )
    mutual_information = discrete_mutual_info(
        histogram_discretize(code_array, num_bins), factor_array
    )
    entropy = discrete_entropy(factor_array)
    top_two = -np.sort(-mutual_information, axis=0)[:2]
    per_factor = (top_two[0] - top_two[1]) / entropy
    return MIGResult(
        discrete_mig=float(np.mean(per_factor)),
        discrete_mig_per_factor=per_factor,
        mutual_information=mutual_information,
        factor_entropy=entropy,
    )
