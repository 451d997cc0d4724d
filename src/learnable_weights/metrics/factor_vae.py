"""The FactorVAE score (Kim & Mnih, ICML 2018; "Z-min Variance" in Zaidi et al. 2020's review).

As disentanglement_lib 1.5 computes it (``evaluation/metrics/factor_vae.py``,
``compute_factor_vae``), with the unsupervised study's settings (``factor_vae_metric.gin``):

1. Global variances ``(D,)``: ``np.var(codes, ddof=1)`` over ``num_variance_estimate`` random
   observations. Dimensions whose standard deviation is below ``prune_threshold`` are inactive;
   with none active both accuracies are 0.
2. Each point fixes one factor ``k`` (drawn uniformly) at one value across ``batch_size``
   observations and votes for the active dimension with the smallest variance relative to its
   global variance. Votes fill a ``(K, D)`` matrix ``V``.
3. A majority-vote classifier ``c[d] = argmax_k V[k, d]`` (lowest ``k`` on ties; ``0`` for a
   dimension with no votes); accuracy ``= sum_d V[c[d], d] / sum V`` on ``num_train`` points and
   then, with the same classifier, on ``num_eval`` fresh points (``eval_accuracy``, the score).

Reference quirks reproduced: the argmin is an index *within the active dimensions* but is written
into that column of the full matrix (a consistent relabelling that leaves the accuracies as the
reference has them); variances are computed in the codes' dtype (float32 for float32 codes). One
deliberate difference: disentanglement_lib reports ``num_active_dims`` as the number of all
dimensions (``len`` of a boolean mask); ours is the number of active ones. The accuracies are
unaffected.

Same seed, same score: every draw happens in the reference's order, point by point
(``sample_observations`` for the variances; then per point ``randint(K)``, ``sample_factors``,
``sample_observations_from_factors``); only the encoder calls are batched, and for a dataset
that declares ``deterministic_observations`` each distinct observation is encoded once, as in
:mod:`learnable_weights.metrics.beta_vae`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._codes import CodeCache, CodeSource, code_source
from learnable_weights.metrics._progress import ProgressBar, progress_bar
from learnable_weights.metrics._sampling import (
    GroundTruthData,
    check_count,
    check_dataset,
    check_random_state,
)
from learnable_weights.metrics._versions import warn_if_untested_versions

__all__ = ["FactorVAEResult", "factor_vae_score"]


class FactorVAEResult(TypedDict):
    """What :func:`factor_vae_score` returns (disentanglement_lib's keys, plus the votes)."""

    #: Majority-vote accuracy on the ``num_train`` points the classifier was built from.
    train_accuracy: float
    #: Accuracy on ``num_eval`` fresh points: the FactorVAE score.
    eval_accuracy: float
    #: Number of dimensions whose global standard deviation reaches ``prune_threshold``.
    num_active_dims: int
    #: ``(D,)`` global variance of each code dimension.
    global_variances: NDArray[np.float64]
    #: ``(K, D)`` training votes (factor, voted column).
    train_votes: NDArray[np.int64]


def factor_vae_score(
    dataset: GroundTruthData,
    representation_fn: Callable[[Any], Any],
    random_state: np.random.RandomState,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    encode_batch_size: int = 64,
    cache: bool | CodeCache = True,
    progress: bool = True,
) -> FactorVAEResult:
    """The FactorVAE score of a representation, with disentanglement_lib's study settings.

    Args:
        dataset: a ground-truth dataset (``num_factors``, ``sample_factors(n, rs)`` ``(n, K)``,
            ``sample_observations_from_factors(factors, rs)`` and ``sample_observations(n, rs)``
            ``(n, C, H, W)``, numpy or torch).
        representation_fn: maps observations ``(n, C, H, W)`` to codes ``(n, D)`` (numpy or
            torch), each row from its own observation.
        random_state: the stream everything is drawn from, in the reference's order.
        batch_size: observations per point, all sharing the fixed factor's value (study: 64).
        num_train: points the majority-vote classifier is built from (study: 10000).
        num_eval: points it is scored on (study: 5000).
        num_variance_estimate: observations for the global variances (study: 10000).
        prune_threshold: minimum global standard deviation of an active dimension (study's
            ``prune_dims.threshold``: 0.05; disentanglement_lib's code default is 0).
        encode_batch_size: observations per call of ``representation_fn`` (ours; the score does
            not depend on it). 64, the reference's own calls, suits a CPU (larger batches were
            no faster on a 2-core CPU); use thousands for an encoder on a GPU.
        cache: encode each distinct observation once if the dataset declares
            ``deterministic_observations`` (``True``, the default), never (``False``), or read
            codes from a shared :class:`~learnable_weights.metrics.evaluate.CodeCache`. The
            draws are the same either way.
        progress: show a progress bar of the observations drawn (when tqdm is installed).

    Returns:
        :class:`FactorVAEResult`; chance is about ``1/K``.

    Raises:
        TypeError: ``dataset`` lacks the ground-truth methods, or ``random_state`` is not a
            ``numpy.random.RandomState``.
        ValueError: non-positive sizes, ``batch_size`` or ``num_variance_estimate`` below 2
            (a variance needs two points), a negative threshold, or codes that are not finite.
    """
    check_dataset(
        dataset,
        (
            "num_factors",
            "sample_factors",
            "sample_observations_from_factors",
            "sample_observations",
        ),
    )
    check_random_state(random_state)
    for name, value in (
        ("num_train", num_train),
        ("num_eval", num_eval),
        ("encode_batch_size", encode_batch_size),
    ):
        check_count(name, value)
    for name, value in (
        ("batch_size", batch_size),
        ("num_variance_estimate", num_variance_estimate),
    ):
        check_count(name, value, minimum=2, why="an unbiased variance needs two points")
    if not prune_threshold >= 0.0:
        raise ValueError(f"prune_threshold must be a non-negative float, got {prune_threshold}")
    warn_if_untested_versions()

    source = code_source(dataset, representation_fn, encode_batch_size, cache)
    total = num_variance_estimate + (num_train + num_eval) * batch_size
    bar = progress_bar("factor_vae", total, progress)
    try:
        return _score(
            dataset,
            source,
            random_state,
            batch_size,
            (num_train, num_eval, num_variance_estimate),
            prune_threshold,
            bar,
        )
    finally:
        bar.close()


def _score(
    dataset: GroundTruthData,
    source: CodeSource,
    random_state: np.random.RandomState,
    batch_size: int,
    sizes: tuple[int, int, int],
    prune_threshold: float,
    bar: ProgressBar,
) -> FactorVAEResult:
    """The score once the arguments are checked; ``sizes`` is ``(num_train, num_eval,
    num_variance_estimate)``."""
    num_train, num_eval, num_variance_estimate = sizes
    source.add_observations(num_variance_estimate, random_state)
    global_variances = np.var(source.codes(), axis=0, ddof=1)
    bar.update(num_variance_estimate)
    active = np.sqrt(global_variances) >= prune_threshold
    num_factors = int(dataset.num_factors)
    if not active.any():
        return FactorVAEResult(
            train_accuracy=0.0,
            eval_accuracy=0.0,
            num_active_dims=0,
            global_variances=global_variances.astype(np.float64),
            train_votes=np.zeros((num_factors, len(global_variances)), dtype=np.int64),
        )

    def votes(num_points: int) -> NDArray[np.int64]:
        return _votes(
            dataset, source, random_state, batch_size, num_points, global_variances, active, bar
        )

    train_votes = votes(num_train)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    train_accuracy = float(np.sum(train_votes[classifier, columns]) / np.sum(train_votes))
    eval_votes = votes(num_eval)
    eval_accuracy = float(np.sum(eval_votes[classifier, columns]) / np.sum(eval_votes))
    return FactorVAEResult(
        train_accuracy=train_accuracy,
        eval_accuracy=eval_accuracy,
        num_active_dims=int(active.sum()),
        global_variances=global_variances.astype(np.float64),
        train_votes=train_votes,
    )


def _votes(
    dataset: GroundTruthData,
    source: CodeSource,
    random_state: np.random.RandomState,
    batch_size: int,
    num_points: int,
    global_variances: NDArray[Any],
    active: NDArray[np.bool_],
    bar: ProgressBar,
) -> NDArray[np.int64]:
    """Votes ``(K, D)`` of ``num_points`` points, drawn as the reference's
    ``_generate_training_batch``; collects ``max(1, source.round_observations // batch_size)``
    points per round of codes."""
    votes = np.zeros((dataset.num_factors, global_variances.shape[0]), dtype=np.int64)
    per_round = max(1, source.round_observations // batch_size)
    active_global = global_variances[active]
    for first in range(0, num_points, per_round):
        count = min(per_round, num_points - first)
        fixed = np.zeros(count, dtype=np.int64)
        for offset in range(count):
            factor_index = random_state.randint(dataset.num_factors)
            factors = dataset.sample_factors(batch_size, random_state)
            factors[:, factor_index] = factors[0, factor_index]
            source.add(factors, random_state)
            fixed[offset] = factor_index
        codes = source.codes()
        for offset in range(count):
            block = codes[offset * batch_size : (offset + 1) * batch_size]
            # The reference's expressions on the same (batch_size, D) block and dtype.
            local_variances = np.var(block, axis=0, ddof=1)
            argmin = np.argmin(local_variances[active] / active_global)
            votes[fixed[offset], argmin] += 1
        bar.update(count * batch_size)
    return votes
