"""disentanglement_lib's histogram discretiser and discrete mutual information, vectorised.

References:
    disentanglement_lib 1.5, ``evaluation/metrics/utils.py``: ``_histogram_discretize`` (each
    code dimension ``x`` becomes ``np.digitize(x, np.histogram(x, num_bins)[1][:-1])``),
    ``discrete_mutual_info`` and ``discrete_entropy`` (scikit-learn's ``mutual_info_score`` for
    every code x factor pair, natural log); the binning is that of ``numpy.histogram``'s edges
    and ``numpy.digitize`` (``right=False``).

Here the edges of all dimensions come from one ``numpy.linspace`` call with array endpoints,
which performs the same element-wise arithmetic, in the same dtype, as ``numpy.histogram`` does
for one dimension (numpy >= 2: edges in the codes' dtype, so float32 codes get float32 edges). A
value's label is the number of edges among the first ``num_bins`` that are ``<=`` it, as
``np.digitize`` (``right=False``) gives: a value exactly on an edge goes to the upper bin, and the
maximum lands in bin ``num_bins``. It is found by guessing the bin from the bin width and then
stepping until the value's own edges enclose it, so no comparison is approximate; integer columns
with few distinct values (factor classes) are labelled through a table of their possible values,
made with ``np.digitize`` itself. Every computation runs on one row per dimension, in contiguous
memory. Mutual information is computed from contingency tables built with one ``bincount`` per
factor for all code dimensions at once, using scikit-learn's formula term for term.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._validation import IntArray, check_num_bins

__all__ = [
    "discrete_entropy",
    "discrete_mutual_info",
    "histogram_bin_edges",
    "histogram_discretize",
    "integer_bin_lookup",
]

_NUMPY_2 = int(np.__version__.split(".")[0]) >= 2
_EPS = float(np.finfo(np.float64).eps)


def _check_values(values: NDArray[Any]) -> None:
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"expected a non-empty 2-D array with one row per point, got shape {values.shape}"
        )
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise TypeError(f"expected real numbers, got dtype {values.dtype}")
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        raise ValueError("the values to discretise contain NaN or infinite entries")


def histogram_bin_edges(values: NDArray[Any], num_bins: int = 20) -> NDArray[Any]:
    """Equal-width histogram edges of every column, exactly as ``numpy.histogram`` computes them.

    Args:
        values: ``(N, D)`` finite real values, one column per dimension.
        num_bins: number of bins per column.

    Returns:
        ``(D, num_bins + 1)`` edges from each column's minimum to its maximum (``[v - 0.5,
        v + 0.5]`` for a constant column ``v``), in the dtype ``numpy.histogram`` uses: the
        values' float dtype, float64 for integers.

    Raises:
        ValueError: a column's range is too small for ``num_bins`` distinct edges in its dtype
            (``numpy.histogram``, and so disentanglement_lib, fails there too).
    """
    _check_values(values)
    # One row per column in contiguous memory: numpy's column-wise min/max over (N, D) rows with
    # a small D is many times slower. Minimum and maximum are exact either way.
    columns = np.ascontiguousarray(values.T)
    return _bin_edges(columns, columns.min(axis=1), columns.max(axis=1), check_num_bins(num_bins))


def _bin_edges(
    columns: NDArray[Any], low: NDArray[Any], high: NDArray[Any], num_bins: int
) -> NDArray[Any]:
    """:func:`histogram_bin_edges` of ``(D, N)`` columns with minima ``low`` and maxima ``high``."""
    if not _NUMPY_2:
        # Before NEP 50 the scalar and array code paths of numpy promote differently, so the
        # edges are numpy's own, one column at a time.
        edges = np.stack([np.histogram_bin_edges(column, num_bins) for column in columns])
    else:
        if np.issubdtype(columns.dtype, np.integer):
            low, high = low.astype(np.float64), high.astype(np.float64)
        constant = low == high
        low = np.where(constant, low - 0.5, low)
        high = np.where(constant, high + 0.5, high)
        edges = np.linspace(low, high, num_bins + 1, endpoint=True, axis=-1, dtype=low.dtype)
    bad = np.flatnonzero((edges[:, :-1] >= edges[:, 1:]).any(axis=1))
    if bad.size:
        raise ValueError(
            f"column(s) {bad.tolist()} span a range too small for {num_bins} distinct bin edges "
            f"in {edges.dtype} (numpy.histogram, and so disentanglement_lib, fails here too); "
            "such a code is effectively constant: use float64 codes or fewer bins"
        )
    return edges


def histogram_discretize(values: NDArray[Any], num_bins: int = 20) -> IntArray:
    """Bin every column into ``num_bins`` equal-width bins, as disentanglement_lib does.

    Args:
        values: ``(N, D)`` finite real values (codes, or factors for IRS), one row per point.
        num_bins: number of bins (the study uses 20).

    Returns:
        ``(N, D)`` int64 bin labels in ``1..num_bins`` (``np.digitize`` against all edges but the
        last). disentanglement_lib stores the same labels in an array of the input's dtype; only
        the partition they define matters to the metrics.
    """
    _check_values(values)
    num_bins = check_num_bins(num_bins)
    columns = np.ascontiguousarray(values.T)
    lookup = integer_bin_lookup(columns, num_bins)
    if lookup is not None:
        # Look every point up in its column's table, in contiguous memory.
        table, low = lookup
        span = table.shape[1]
        offsets = columns - (low - np.arange(values.shape[1], dtype=np.int64) * span)[:, None]
        labels: IntArray = table.ravel()[offsets].T
        return labels
    low, high = columns.min(axis=1), columns.max(axis=1)
    digitized: IntArray = _digitize(columns, _bin_edges(columns, low, high, num_bins)).T
    return digitized


def integer_bin_lookup(columns: NDArray[Any], num_bins: int) -> tuple[IntArray, IntArray] | None:
    """:func:`histogram_discretize`'s labels of every possible value of integer columns.

    For factor classes, which take few distinct values, labelling each possible value once and
    looking the points up is much faster than labelling every point.

    Args:
        columns: ``(D, N)`` integer values, one row per column (the transpose of the usual
            layout).
        num_bins: number of bins.

    Returns:
        ``(table, low)``: ``table[d, v - low[d]]`` is the label of value ``v`` in column ``d``,
        ``(D, S)`` int64 with ``S`` the widest column's span (read-only: it is cached for the
        next call with the same ranges) and ``(D,)`` int64 minima; ``None`` when the values are
        not integers or span too wide a range for a small table.
    """
    if not np.issubdtype(columns.dtype, np.integer) or columns.dtype == np.uint64:
        return None
    low = columns.min(axis=1).astype(np.int64)
    high = columns.max(axis=1).astype(np.int64)
    span = int((high - low).max()) + 1
    if span * columns.shape[0] > max(columns.shape[1], 1 << 12):
        return None
    return _integer_table(tuple(low.tolist()), tuple(high.tolist()), check_num_bins(num_bins)), low


@functools.lru_cache(maxsize=64)
def _integer_table(low: tuple[int, ...], high: tuple[int, ...], num_bins: int) -> IntArray:
    """The read-only table of :func:`integer_bin_lookup` for columns with these minima and
    maxima (the bin edges depend on nothing else), kept for the next call with the same ranges."""
    lows, highs = np.array(low, dtype=np.int64), np.array(high, dtype=np.int64)
    edges = _bin_edges(np.stack([lows, highs], axis=1), lows, highs, num_bins)
    # numpy's own digitize on each column's possible values (those beyond a column's maximum
    # get labels too; they never occur).
    values = np.arange(int((highs - lows).max()) + 1, dtype=np.int64)
    table = np.stack(
        [np.digitize(values + lo, row[:-1]) for lo, row in zip(low, edges, strict=True)]
    ).astype(np.int64, copy=False)
    table.flags.writeable = False
    return table


def _digitize(columns: NDArray[Any], edges: NDArray[Any]) -> IntArray:
    """``(D, N)`` labels ``np.digitize(columns[d], edges[d, :-1])`` of ``(D, N)`` values (one row
    per column, so that every operation runs along contiguous memory) for ``(D, B + 1)`` edges."""
    num_bins = edges.shape[1] - 1
    # Comparisons happen in the edges' dtype, as in np.digitize (integers compare as float64).
    columns = columns.astype(edges.dtype, copy=False)
    # The last bin has no upper edge (np.digitize ignores the last one): +inf stands for it.
    bounds = edges.copy()
    bounds[:, -1] = np.inf
    flat_bounds = bounds.ravel()
    row_start = (np.arange(columns.shape[0], dtype=np.int64) * (num_bins + 1))[:, None]
    # Guess each bin from the bin width, then step to the bin whose edges enclose the value;
    # the result is exact because it is checked against the edges themselves.
    first = edges[:, :1].astype(np.float64)
    width = (edges[:, -1:].astype(np.float64) - first) / num_bins
    guess = np.floor((columns - first) / width)
    np.maximum(guess, 0.0, out=guess)
    np.minimum(guess, num_bins - 1, out=guess)
    index: IntArray = guess.astype(np.int64)
    while True:
        position = index + row_start
        too_high = columns < flat_bounds[position]
        too_low = columns >= flat_bounds[position + 1]
        if not (too_high.any() or too_low.any()):
            return index + 1
        index += too_low.astype(np.int64) - too_high.astype(np.int64)


def _dense_labels(labels: NDArray[Any]) -> tuple[IntArray, IntArray]:
    """Relabel each column to ``0..c-1`` in sorted order of its values (``np.unique``'s inverse).

    Returns:
        ``(N, C)`` dense labels and ``(C,)`` the number of classes of each column.
    """
    num_columns = labels.shape[1]
    if np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.uint64:
        # One row per column, in contiguous memory (free for histogram_discretize's labels).
        columns = np.ascontiguousarray(labels.T)
        low = columns.min(axis=1).astype(np.int64)
        span = int((columns.max(axis=1).astype(np.int64) - low).max()) + 1
        if span * num_columns <= max(labels.size, 1 << 16):
            # Small integer range: mark the values present, rank them with a cumulative sum.
            offsets = columns - (low - np.arange(num_columns, dtype=np.int64) * span)[:, None]
            present = np.bincount(offsets.ravel(), minlength=span * num_columns) > 0
            ranks = np.cumsum(present.reshape(num_columns, span), axis=1) - 1
            dense: IntArray = ranks.ravel()[offsets].T
            return dense, ranks[:, -1] + 1
    order = np.argsort(labels, axis=0, kind="stable")
    ordered = np.take_along_axis(labels, order, axis=0)
    starts = np.zeros(labels.shape, dtype=np.int64)
    starts[1:] = ordered[1:] != ordered[:-1]
    ranks = np.cumsum(starts, axis=0)
    dense = np.empty(labels.shape, dtype=np.int64)
    np.put_along_axis(dense, order, ranks, axis=0)
    return dense, ranks[-1] + 1


def _mutual_info_from_counts(counts: IntArray) -> NDArray[np.float64]:
    """scikit-learn's ``mutual_info_score`` for stacked contingency tables.

    ``counts`` is ``(..., R, C)`` with rows the first labelling (sklearn's ``labels_true``). Per
    non-zero cell: ``n/N * (log n - log N) + n/N * (-log(a b) + log N + log N)`` with marginals
    ``a``, ``b``; terms under float64 eps are zeroed, the sum is clipped at 0, and a labelling with
    a single class gives exactly 0 (scikit-learn >= 1.3, ``metrics/cluster/_supervised.py``).
    """
    total = int(counts[(0,) * (counts.ndim - 2)].sum())
    log_total = math.log(total)
    row_sums = counts.sum(axis=-1)
    column_sums = counts.sum(axis=-2)
    nonzero = counts > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_counts = np.log(counts)
        fractions = counts / total
        outer = row_sums[..., :, None] * column_sums[..., None, :]
        log_outer = -np.log(outer) + log_total + log_total
        terms = fractions * (log_counts - log_total) + fractions * log_outer
    terms = np.where(nonzero & (np.abs(terms) >= _EPS), terms, 0.0)
    mutual_info = np.clip(terms.sum(axis=(-2, -1)), 0.0, None)
    single_class = ((row_sums > 0).sum(axis=-1) == 1) | ((column_sums > 0).sum(axis=-1) == 1)
    return np.where(single_class, 0.0, mutual_info)


def discrete_mutual_info(codes: NDArray[Any], factors: NDArray[Any]) -> NDArray[np.float64]:
    """Mutual information (nats) between every discrete code column and every factor column.

    Equals ``m[i, j] = sklearn.metrics.mutual_info_score(factors[:, j], codes[:, i])``
    (disentanglement_lib's ``discrete_mutual_info``, rows-as-points here) to float64 rounding,
    without a Python loop over the pairs.

    Args:
        codes: ``(N, D)`` discrete labels (e.g. from :func:`histogram_discretize`).
        factors: ``(N, K)`` discrete labels.

    Returns:
        ``(D, K)`` float64 mutual information.
    """
    if codes.ndim != 2 or factors.ndim != 2 or codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"expected (N, D) codes and (N, K) factors with the same N, got {codes.shape} and "
            f"{factors.shape}"
        )
    code_labels, code_classes = _dense_labels(codes)
    factor_labels, factor_classes = _dense_labels(factors)
    # One row per column: the broadcasts below then run along contiguous memory.
    code_rows, factor_rows = np.ascontiguousarray(code_labels.T), factor_labels.T
    num_codes = codes.shape[1]
    width = int(code_classes.max())
    dims = np.arange(num_codes, dtype=np.int64)[:, None]
    mutual_info = np.empty((num_codes, factors.shape[1]), dtype=np.float64)
    for j, height in enumerate(factor_classes.tolist()):
        # Table (code dim, factor class, code class): rows are the factor, as in sklearn's call.
        joint = (dims * height + factor_rows[j]) * width + code_rows
        counts = np.bincount(joint.ravel(), minlength=num_codes * height * width)
        mutual_info[:, j] = _mutual_info_from_counts(counts.reshape(num_codes, height, width))
    return mutual_info


def _class_counts(labels: NDArray[Any]) -> IntArray:
    """``(C,)`` the number of points in each class of ``(N,)`` labels, in sorted class order."""
    if np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.uint64:
        low = int(labels.min())
        if int(labels.max()) - low <= max(labels.size, 1 << 16):
            counts = np.bincount(labels - low if low else labels)
            return counts[counts > 0]
    return np.unique(labels, return_counts=True)[1]


def discrete_entropy(factors: NDArray[Any]) -> NDArray[np.float64]:
    """Empirical entropy (nats) of every column: ``mutual_info_score(y, y)``, as disentanglement_lib.

    Args:
        factors: ``(N, K)`` discrete labels.

    Returns:
        ``(K,)`` float64 entropies of the sampled labels (not ``log`` of the number of classes).
    """
    total = factors.shape[0]
    log_total = math.log(total)
    entropy = np.zeros(factors.shape[1], dtype=np.float64)
    for j, column in enumerate(np.ascontiguousarray(factors.T)):
        # The contingency table of y with itself is diagonal: the class counts, sorted by class.
        counts = _class_counts(column)
        if counts.size == 1:
            continue
        fractions = counts / total
        log_outer = -np.log(counts * counts) + log_total + log_total
        terms = fractions * (np.log(counts) - log_total) + fractions * log_outer
        terms = np.where(np.abs(terms) < _EPS, 0.0, terms)
        entropy[j] = max(float(terms.sum()), 0.0)
    return entropy
