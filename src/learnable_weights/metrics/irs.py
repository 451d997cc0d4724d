"""Interventional Robustness Score (Suter, Miladinovic, Schölkopf and Bauer 2019, "Robustly
Disentangled Causal Mechanisms: Validating Deep Representations for Interventional Robustness"),
as computed by disentanglement_lib 1.5 (``evaluation/metrics/irs.py``, ``compute_irs`` and
``scalable_disentanglement_score``; research/metrics.md §8)."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._validation import (
    FloatArray,
    IntArray,
    as_codes_and_factors,
    check_enough_points,
    check_num_bins,
)
from learnable_weights.metrics._versions import warn_if_untested_versions
from learnable_weights.metrics.discretize import histogram_discretize

__all__ = ["IRSResult", "irs"]


class IRSResult(TypedDict):
    """What :func:`irs` returns; ``IRS`` and ``num_active_dims`` are disentanglement_lib's keys."""

    IRS: float
    #: disentanglement_lib's value, reproduced: the *sum of the code values* of the active
    #: dimensions, not their number (a reference bug). The count is ``len(active_dims)``.
    num_active_dims: float
    #: ``(L,)`` indices of the code dimensions with non-zero variance, which IRS scores.
    active_dims: NDArray[np.int64]
    #: ``(L,)`` score of each active dimension (max over factors of ``IRS_matrix``).
    disentanglement_scores: NDArray[np.float64]
    #: ``(L, K)`` ``1 - E_k[quantile |z - E[z | v_k]|] / max |z - E z|`` per dimension and factor.
    IRS_matrix: NDArray[np.float64]
    #: ``(L,)`` largest deviation of each active dimension from its mean (the weights).
    max_deviations: NDArray[np.float64]
    #: ``(L,)`` the factor each active dimension is most robust for.
    parents: NDArray[np.int64]


def _group_quantiles(
    spread: FloatArray, group: IntArray, order: IntArray, counts: IntArray, percent: float
) -> FloatArray:
    """``numpy.percentile(spread[group == g], percent, axis=0)`` for every group ``g`` at once:
    ``(G, L)`` from ``(N, L)`` values, ``(N,)`` dense group labels, the ``(N,)`` stable order
    that sorts them, and the ``(G,)`` group sizes.

    Reproduces numpy's default ("linear") method for a Python-float percentile: virtual index
    ``(n - 1) q``, the two neighbouring order statistics (the largest one past the end), and
    numpy's two-sided interpolation in the values' dtype with the weight cast to that dtype.
    Each group's values are padded with ``-inf`` to a common length, so its order statistic ``j``
    sits at ``j + (longest - n)``; one partition isolates every needed position, and only the
    tail above the lowest one is sorted. When the groups are so unequal that the padding would
    take more than 8 times the memory of the values, numpy's percentile runs group by group.
    """
    num_groups, longest = counts.size, int(counts.max())
    if num_groups * longest > 8 * group.size:
        ends = np.cumsum(counts).tolist()
        return np.stack(
            [
                np.percentile(spread[order[end - size : end]], percent, axis=0)
                for end, size in zip(ends, counts.tolist(), strict=True)
            ]
        )
    quantile = float(np.true_divide(percent, 100))  # as numpy.percentile divides its q
    sorted_group = group[order]
    position = np.arange(group.size) - (np.cumsum(counts) - counts)[sorted_group]
    padded = np.full((num_groups, spread.shape[1], longest), -np.inf, dtype=spread.dtype)
    padded[sorted_group, :, position + (longest - counts)[sorted_group]] = spread[order]
    virtual = (counts - 1) * quantile
    below = np.floor(virtual)
    at_end = virtual >= counts - 1
    gamma = virtual - np.where(at_end, -1.0, below)
    low = np.where(at_end, counts - 1, below).astype(np.intp) + longest - counts
    high = np.where(at_end, counts - 1, below + 1).astype(np.intp) + longest - counts
    first = int(low.min())
    tail = np.sort(np.partition(padded, first, axis=-1)[..., first:], axis=-1)
    rows = np.arange(num_groups)
    low_values = tail[rows, :, low - first]
    high_values = tail[rows, :, high - first]
    weight = gamma.astype(spread.dtype)[:, None]
    complement = (1.0 - gamma).astype(spread.dtype)[:, None]
    difference = high_values - low_values
    return np.where(
        (gamma >= 0.5)[:, None],
        high_values - difference * complement,
        low_values + difference * weight,
    )


def _scores(
    groups: IntArray, latents: FloatArray, diff_quantile: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``IRS_matrix`` ``(L, K)`` and ``max_deviations`` ``(L,)`` for ``(N, K)`` factor groups and
    ``(N, L)`` active codes, in the codes' dtype where the reference computes in it."""
    max_deviations = np.max(np.abs(latents - latents.mean(axis=0)), axis=0)
    percent = diff_quantile * 100  # a Python float, as the reference passes it to np.percentile
    deviations = np.zeros((latents.shape[1], groups.shape[1]))
    for i in range(groups.shape[1]):
        # Bin labels are small non-negative integers: rank the bins present, then a stable
        # (radix) sort of the narrow labels orders the points by group, in their original order.
        bin_counts = np.bincount(groups[:, i])
        present = bin_counts > 0
        group = (np.cumsum(present) - 1)[groups[:, i]]
        counts = bin_counts[present]
        narrow = group.astype(np.uint16) if counts.size <= np.iinfo(np.uint16).max else group
        order = np.argsort(narrow, kind="stable")
        bounds = np.cumsum(counts)
        # np.mean on each group's own C-contiguous rows, as the reference computes it: the
        # float32 summation order depends on the array's shape and layout.
        means = np.stack(
            [
                np.mean(np.ascontiguousarray(latents[order[end - size : end]]), axis=0)
                for end, size in zip(bounds.tolist(), counts.tolist(), strict=True)
            ]
        )
        spread = np.abs(latents - means[group])
        for row in _group_quantiles(spread, group, order, counts, percent):
            deviations[:, i] += row
        deviations[:, i] /= counts.size
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = 1.0 - deviations / max_deviations[:, None]
    return matrix, max_deviations.astype(np.float64)


def irs(
    codes: object, factors: object, *, diff_quantile: float = 0.99, num_bins: int = 20
) -> IRSResult:
    """Interventional Robustness Score of a representation.

    The factors (not the codes) are discretised into ``num_bins`` equal-width bins. Code
    dimensions with variance exactly 0 are dropped. For each factor ``k`` and each of its
    (binned) values ``v``, the spread of the points with ``v_k = v`` around their mean is summarised
    by its ``diff_quantile`` quantile (numpy's linear interpolation) per code; the average over
    ``v``, divided by each code's largest deviation from its overall mean, gives
    ``IRS_matrix = 1 - that ratio``. Each code's score is its best factor; ``IRS`` is the average
    of the scores weighted by the codes' largest deviations.

    Reference quirks reproduced: factors with more than ``num_bins`` values are merged into
    ``num_bins`` bins (dSprites' 40 orientations become 20 groups); ``num_active_dims`` is the
    sum of the active codes' values, not their count (see :class:`IRSResult`); means, deviations
    and quantiles are computed in the codes' dtype. All-constant codes give ``IRS = 0``, and a
    factor with a single value is one group (a defined score, as in the reference).

    Args:
        codes: ``(N, D)`` float codes (numpy or torch), one row per point.
        factors: ``(N, K)`` integer factor classes.
        diff_quantile: quantile of the within-group deviations, in ``[0, 1]`` (1.0 is the paper's
            maximum; the reference's default 0.99 is robust to outliers).
        num_bins: bins for discretising the factors (the sample config: 20).

    Returns:
        :class:`IRSResult`; ``IRS`` equals disentanglement_lib's to 1e-9 (bitwise on the inputs
        tested).

    Raises:
        TypeError, ValueError: bad shapes or dtypes, NaN/inf codes, fewer points than bins, or
            ``diff_quantile`` outside ``[0, 1]``.
    """
    warn_if_untested_versions()
    code_array, factor_array = as_codes_and_factors(codes, factors)
    num_bins = check_num_bins(num_bins)
    if isinstance(diff_quantile, bool) or not 0.0 <= float(diff_quantile) <= 1.0:
        raise ValueError(f"diff_quantile must be a number in [0, 1], got {diff_quantile!r}")
    check_enough_points(code_array.shape[0], num_bins, "every factor")
    groups = histogram_discretize(factor_array, num_bins)
    is_active = code_array.var(axis=0) > 0.0
    active = np.flatnonzero(is_active)
    # Select through the transpose, as the reference does on its (D, N) array: the memory
    # layout of the selection decides numpy's summation order and so the float32 rounding.
    active_codes = code_array.T[is_active, :]
    empty = np.zeros(0)
    if active.size == 0:
        return IRSResult(
            IRS=0.0,
            num_active_dims=0.0,
            active_dims=active,
            disentanglement_scores=empty,
            IRS_matrix=np.zeros((0, factor_array.shape[1])),
            max_deviations=empty,
            parents=np.zeros(0, dtype=np.int64),
        )
    matrix, max_deviations = _scores(groups, active_codes.T, float(diff_quantile))
    scores = matrix.max(axis=1)
    if np.sum(max_deviations) > 0.0:
        score = np.average(scores, weights=max_deviations)
    else:
        score = np.mean(scores)
    return IRSResult(
        IRS=float(score),
        num_active_dims=float(np.sum(active_codes)),
        active_dims=active,
        disentanglement_scores=scores,
        IRS_matrix=matrix,
        max_deviations=max_deviations,
        parents=matrix.argmax(axis=1),
    )
