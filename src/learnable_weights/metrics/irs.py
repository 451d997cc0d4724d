"""Interventional Robustness Score (Suter, Miladinovic, Schölkopf and Bauer 2019, "Robustly
Disentangled Causal Mechanisms: Validating Deep Representations for Interventional Robustness"),
as computed by disentanglement_lib 1.5 (``evaluation/metrics/irs.py``, ``compute_irs`` and
``scalable_disentanglement_score``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._scratch import scratch
from learnable_weights.metrics._threads import resolve_workers, run_in_threads
from learnable_weights.metrics._validation import (
    FloatArray,
    IntArray,
    as_codes_and_factors,
    check_enough_points,
    check_num_bins,
)
from learnable_weights.metrics._versions import warn_if_untested_versions
from learnable_weights.metrics.discretize import histogram_discretize, integer_bin_lookup

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


#: A code dimension whose range exceeds this has a non-zero variance in float32 and float64
#: whatever the rounding of its mean (half the range squared, divided by any realistic N, stays
#: far above the smallest subnormal), so the reference's ``var > 0`` needs no variance there.
_SURELY_VARYING = 1e-12

#: Groups padded to a common length may take at most this many times the memory of the values;
#: beyond it (very unequal groups) a factor is scored group by group, as the reference does.
_MAX_PADDING = 4


def _active_dims(codes: FloatArray, columns: FloatArray) -> NDArray[np.bool_]:
    """disentanglement_lib's ``var > 0`` mask of the ``(N, D)`` codes, whose ``(D, N)`` copy is
    ``columns``. The variance is computed (as the reference does, in the codes' dtype and
    summation order: a constant float32 column can have a non-zero variance) only when a
    dimension's range is too small to settle the answer."""
    if codes.dtype in (np.float32, np.float64):
        ranges = columns.max(axis=1).astype(np.float64) - columns.min(axis=1)
        if (ranges > _SURELY_VARYING).all():
            return np.ones(columns.shape[0], dtype=np.bool_)
    return np.asarray(codes.var(axis=0) > 0.0)


def _percentile_positions(
    counts: IntArray, percent: float
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """For groups of ``(G,)`` sizes, numpy's default ("linear") percentile of a Python-float
    ``percent``: the order statistics ``low`` and ``high`` to interpolate between (the last one
    twice at the end) and the weight ``gamma`` of ``high``, as ``numpy.percentile`` computes them
    (virtual index ``(n - 1) q``)."""
    quantile = float(np.true_divide(percent, 100))  # as numpy.percentile divides its q
    virtual = (counts - 1) * quantile
    below = np.floor(virtual)
    at_end = virtual >= counts - 1
    gamma = (virtual - np.where(at_end, -1.0, below)).astype(np.float64, copy=False)
    low = np.where(at_end, counts - 1, below).astype(np.intp)
    high = np.where(at_end, counts - 1, below + 1).astype(np.intp)
    return low, high, gamma


def _interpolate(
    low_values: FloatArray, high_values: FloatArray, gamma: NDArray[np.float64]
) -> FloatArray:
    """numpy's two-sided linear interpolation between ``(G, L)`` order statistics, in their dtype
    with the ``(G,)`` weights cast to it (``numpy.lib._function_base_impl._lerp``)."""
    dtype = low_values.dtype
    difference = high_values - low_values
    weight = gamma.astype(dtype)[:, None]
    complement = (1.0 - gamma).astype(dtype)[:, None]
    result: FloatArray = np.where(
        (gamma >= 0.5)[:, None],
        high_values - difference * complement,
        low_values + difference * weight,
    )
    return result


def _order_statistics(
    rows: FloatArray,
    group: IntArray,
    counts: IntArray,
    low: NDArray[np.intp],
    high: NDArray[np.intp],
    out: tuple[FloatArray, FloatArray],
) -> None:
    """Writes to ``out`` the ``(G, L)`` order statistics ``low`` and ``high`` (``(G,)`` each) of
    ``|z - E[z | group]|`` within every group of one factor, for all active code dimensions at
    once, bitwise equal to those of the reference's group-by-group loop.

    ``rows`` is the ``(N, L)`` C-contiguous active codes (L >= 2), ``group`` the ``(N,)`` dense
    group of each point and ``counts`` the ``(G,)`` group sizes.

    Each group's points are gathered, in their original order, into column ``g`` of a
    ``(longest, G, L)`` array padded with zeros. Summing over its first axis adds every group's
    rows one after another, exactly the float order of ``np.mean`` over a group's C-contiguous
    ``(n, L)`` rows in the reference (adding the padding's zeros changes nothing). The deviations
    are written transposed, ``(G, L, longest)``, the padding set to ``+inf`` so that it sorts last,
    and each row is partitioned at the lowest order statistic needed and sorted above it, which
    puts every group's order statistic ``j`` at position ``j``. Both arrays are scratch buffers
    (:func:`~learnable_weights.metrics._scratch.scratch`).
    """
    num_points, width = rows.shape
    num_groups, longest = counts.size, int(counts.max())
    order = np.argsort(group, kind="stable")  # by group, original order within each group
    # The point sorted j-th, the p-th of group g (which starts at s_g), goes to slot p * G + g
    # = j * G + (g - s_g * G).
    starts = np.cumsum(counts) - counts
    slot = np.arange(0, num_points * num_groups, num_groups)
    slot += np.repeat(np.arange(num_groups) - starts * num_groups, counts)
    source = np.full(longest * num_groups, -1, dtype=np.intp)
    source[slot] = order
    padded = scratch("blocks", (longest, num_groups, width), rows.dtype)
    # mode="clip" spares the copy numpy makes of `out` under "raise"; padding (-1) takes row 0.
    np.take(rows, source, axis=0, out=padded.reshape(-1, width), mode="clip")
    padding = np.flatnonzero(source < 0)
    padded.reshape(-1, width)[padding] = 0.0
    sums = padded.sum(axis=0)
    # np.mean divides its float32 sum by an integer count in float64 and rounds back.
    means = (sums.astype(np.float64) / counts[:, None]).astype(rows.dtype)
    padded.reshape(-1, width)[padding] = np.inf  # padding sorts last
    deviations = scratch("deviations", (num_groups, width, longest), rows.dtype)
    np.subtract(padded.transpose(1, 2, 0), means[:, :, None], out=deviations)
    np.abs(deviations, out=deviations)
    first = int(low.min())
    # Non-negative floats order as their bit patterns do, and numpy selects and sorts integers
    # about twice as fast (no NaN handling).
    keys = deviations.view(np.int32 if deviations.dtype == np.float32 else np.int64)
    if first:
        keys.partition(first, axis=-1)
    keys[..., first:].sort(axis=-1)
    groups = np.arange(num_groups)
    out[0][...] = deviations[groups, :, low]
    out[1][...] = deviations[groups, :, high]


def _factor_deviation_groupwise(
    latents: FloatArray, labels: IntArray, percent: float
) -> NDArray[np.float64]:
    """``(L,)`` mean over one factor's groups of the per-group quantile of ``|z - E[z | group]|``,
    computed as the reference does, one group at a time, on its ``(N, L)`` view of the active
    codes: for one code dimension (whose group means numpy sums pairwise), float16 codes, and very
    unequal groups."""
    total = np.zeros(latents.shape[1])
    values = np.unique(labels)
    for value in values:
        match = latents[labels == value, :]
        spread = np.abs(match - np.mean(match, axis=0))
        total += np.percentile(spread, percent, axis=0)
    return total / values.size


def _factor_groups(factors: IntArray, num_bins: int) -> list[tuple[IntArray, IntArray]]:
    """For each column of the ``(N, K)`` factors, the reference's groups after discretising the
    factor into ``num_bins`` bins: the ``(N,)`` group of each point, numbered ``0..G-1`` in the
    order of the bins (in the narrowest unsigned type that holds them: numpy radix-sorts narrow
    keys, one pass per byte), and the ``(G,)`` group sizes. All factors at once: each point's
    value indexes a ``(K, S)`` table of groups (S values per factor)."""
    num_factors = factors.shape[1]
    columns = scratch("factors", factors.shape[::-1], factors.dtype)
    np.copyto(columns, factors.T)
    lookup = integer_bin_lookup(columns, num_bins)
    if lookup is None:  # classes too sparse for a table: label every point
        columns = histogram_discretize(factors, num_bins).T
        span = num_bins + 1
        bins: IntArray = np.broadcast_to(np.arange(span), (num_factors, span))
        low = np.zeros(num_factors, dtype=np.int64)
    else:
        bins, low = lookup
        span = bins.shape[1]
    offsets = scratch("offsets", columns.shape, np.dtype(np.int64))
    np.subtract(columns, (low - np.arange(num_factors) * span)[:, None], out=offsets)
    value_counts = np.bincount(offsets.ravel(), minlength=num_factors * span)
    bin_counts = np.zeros((num_factors, num_bins + 1), dtype=np.int64)
    np.add.at(bin_counts, (np.arange(num_factors)[:, None], bins), value_counts.reshape(-1, span))
    present = bin_counts > 0
    dtype = next(
        t for t in (np.uint8, np.uint16, np.uint32, np.intp) if num_bins <= np.iinfo(t).max
    )
    group_of_bin = (np.cumsum(present, axis=1) - 1).astype(dtype)
    group_of_value = np.take_along_axis(group_of_bin, bins, axis=1)
    groups = group_of_value.ravel()[offsets]
    return [(groups[k], bin_counts[k][present[k]]) for k in range(num_factors)]


def _scores(
    factors: IntArray,
    active_codes: FloatArray,
    rows: FloatArray,
    diff_quantile: float,
    num_bins: int,
    workers: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``IRS_matrix`` ``(L, K)`` and ``max_deviations`` ``(L,)`` for ``(N, K)`` factor classes,
    the ``(L, N)`` C-contiguous active codes and their ``(N, L)`` C-contiguous copy ``rows``, in
    the codes' dtype where the reference computes in it (disentanglement_lib's
    ``scalable_disentanglement_score``)."""
    latents = active_codes.T  # the reference's (N, L) view, whose layout fixes float orders
    mean = latents.mean(axis=0)
    # max |z - mean| in the codes' dtype: rounding is monotonic, so the extremes give it.
    max_deviations = np.maximum(active_codes.max(axis=1) - mean, mean - active_codes.min(axis=1))
    percent = diff_quantile * 100  # a Python float, as the reference passes it to np.percentile
    num_points, width = latents.shape
    vectorised = width >= 2 and active_codes.dtype in (np.float32, np.float64)
    groups = _factor_groups(factors, num_bins)
    sizes = np.array([counts.size for _group, counts in groups])
    ends = np.cumsum(sizes)
    low, high, gamma = _percentile_positions(
        np.concatenate([counts for _group, counts in groups]), percent
    )
    low_values = np.zeros((int(ends[-1]), width), dtype=active_codes.dtype)
    high_values = np.zeros_like(low_values)
    groupwise: dict[int, NDArray[np.float64]] = {}
    tasks: list[tuple[int, Callable[[], None]]] = []  # (padded size, task)
    for i, ((group, counts), end) in enumerate(zip(groups, ends.tolist(), strict=True)):
        slots = counts.size * int(counts.max())
        if vectorised and slots <= _MAX_PADDING * num_points:
            span = slice(end - counts.size, end)
            out = (low_values[span], high_values[span])
            arguments = (rows, group, counts, low[span], high[span], out)
            tasks.append((slots, functools.partial(_order_statistics, *arguments)))
        else:
            groupwise[i] = _factor_deviation_groupwise(latents, group, percent)
    # Factors are independent and write disjoint rows: the result does not depend on `workers`.
    tasks.sort(key=lambda sized: -sized[0])
    run_in_threads([task for _size, task in tasks], workers)
    quantiles = _interpolate(low_values, high_values, gamma).astype(np.float64)
    deviations = np.empty((width, len(groups)))
    for i, (size, end) in enumerate(zip(sizes.tolist(), ends.tolist(), strict=True)):
        # The reference adds a factor's quantiles one group after another to a float64 zero:
        # numpy sums (G, L) rows over axis 0 in that order (np.add.reduceat does not).
        deviation = groupwise.get(i)
        deviations[:, i] = (
            quantiles[end - size : end].sum(axis=0) / size if deviation is None else deviation
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = 1.0 - deviations / max_deviations[:, None]
    return matrix, max_deviations.astype(np.float64)


def irs(
    codes: object,
    factors: object,
    *,
    diff_quantile: float = 0.99,
    num_bins: int = 20,
    n_jobs: int | None = None,
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
        n_jobs: threads that score the factors (``None``: one per CPU core, at most one per
            factor). The result does not depend on it.

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
    workers = resolve_workers(n_jobs)
    columns = scratch("codes", code_array.shape[::-1], code_array.dtype)
    np.copyto(columns, code_array.T)  # (D, N), the reference's layout of the codes
    is_active = _active_dims(code_array, columns)
    active = np.flatnonzero(is_active)
    # The reference selects rows of its (D, N) array; the C-contiguous result's layout decides
    # numpy's summation orders below, and so the float32 roundings.
    active_codes = columns if active.size == columns.shape[0] else columns[is_active]
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
    # The codes row by row: the caller's array when every dimension is active.
    rows = code_array if active.size == code_array.shape[1] else active_codes.T.copy()
    matrix, max_deviations = _scores(
        factor_array, active_codes, rows, float(diff_quantile), num_bins, workers
    )
    scores = matrix.max(axis=1)
    if np.sum(max_deviations) > 0.0:
        # np.average(scores, weights=max_deviations), spelt out (the same float64 operations).
        score = np.multiply(scores, max_deviations).sum() / max_deviations.sum()
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
