"""The BetaVAE score (Higgins et al., ICLR 2017; "Z-diff" in Zaidi et al. 2020's review).

As disentanglement_lib 1.5 computes it (``evaluation/metrics/beta_vae.py``,
``compute_beta_vae_sklearn``). Each point is made from ``batch_size`` pairs of observations that
share the value of one factor ``k`` (drawn uniformly); its feature is ``mean_over_pairs |z1 - z2|``
``(D,)`` and its label is ``k``. A logistic regression is fitted on ``num_train`` points and
scored on ``num_eval`` fresh ones; the score is that held-out accuracy (``eval_accuracy``).

Same seed, same score as disentanglement_lib: the factors, the fixed factor and the observations
are drawn from ``random_state`` point by point in the reference's order (``randint(K)``, then
``sample_factors`` twice, then ``sample_observations_from_factors`` twice), so any draws the
dataset makes while rendering stay in place. Only the encoder calls move: the observations of
several points are collected and encoded together in batches of ``encode_batch_size`` images, and
the codes are cut back into the reference's per-point blocks. This changes nothing as long as the
representation function maps each observation on its own (an encoder in eval mode) and rounds it
the same whatever the batch size; BLAS and convolution kernels may not, so the default
``encode_batch_size`` (64, one of the reference's calls) is the bit-for-bit setting.

For a dataset that declares ``deterministic_observations`` (every dataset in
``learnable_weights.data``), each distinct observation is encoded once and its code reused
(:mod:`learnable_weights.metrics._codes`): the same draws, about a third of the encoder calls at
the study's sizes on dSprites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._codes import CodeCache, CodeSource, code_source
from learnable_weights.metrics._estimators import (
    logistic_regression_settings,
    reference_iteration_limit,
)
from learnable_weights.metrics._progress import ProgressBar, progress_bar
from learnable_weights.metrics._sampling import (
    GroundTruthData,
    check_count,
    check_dataset,
    check_random_state,
)
from learnable_weights.metrics._validation import import_optional
from learnable_weights.metrics._versions import warn_if_untested_versions

__all__ = ["BetaVAEResult", "beta_vae_score"]


class BetaVAEResult(TypedDict):
    """What :func:`beta_vae_score` returns (disentanglement_lib's keys)."""

    #: Accuracy of the classifier on its own ``num_train`` points.
    train_accuracy: float
    #: Accuracy on ``num_eval`` fresh points: the BetaVAE score.
    eval_accuracy: float


def beta_vae_score(
    dataset: GroundTruthData,
    representation_fn: Callable[[Any], Any],
    random_state: np.random.RandomState,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    encode_batch_size: int = 64,
    cache: bool | CodeCache = True,
    progress: bool = True,
) -> BetaVAEResult:
    """The BetaVAE score of a representation, with disentanglement_lib's defaults.

    Args:
        dataset: a ground-truth dataset (``num_factors``, ``sample_factors(n, rs)`` ``(n, K)``,
            ``sample_observations_from_factors(factors, rs)`` ``(n, C, H, W)``, numpy or torch).
        representation_fn: maps observations ``(n, C, H, W)`` to codes ``(n, D)`` (numpy or
            torch), each row from its own observation (e.g. an encoder's mean, in eval mode).
        random_state: the stream everything is drawn from, in the reference's order.
        batch_size: pairs of observations per point (study: 64).
        num_train: points the classifier is fitted on (study: 10000).
        num_eval: points it is scored on (study: 5000).
        encode_batch_size: observations per call of ``representation_fn`` (ours; the score does
            not depend on it). 64, the reference's own calls, suits a CPU (larger batches were
            no faster on a 2-core CPU); use thousands for an encoder on a GPU.
        cache: encode each distinct observation once if the dataset declares
            ``deterministic_observations`` (``True``, the default), never (``False``), or read
            codes from a shared :class:`~learnable_weights.metrics.evaluate.CodeCache`. The
            draws are the same either way.
        progress: show a progress bar of the observations drawn (when tqdm is installed).

    Returns:
        ``train_accuracy`` and ``eval_accuracy`` (the score); chance is ``1/K``.

    Raises:
        TypeError: ``dataset`` lacks the ground-truth methods, or ``random_state`` is not a
            ``numpy.random.RandomState``.
        ValueError: non-positive sizes, fewer than two factors, or codes that are not finite
            ``(n, D)`` rows.
    """
    check_dataset(dataset, ("num_factors", "sample_factors", "sample_observations_from_factors"))
    check_random_state(random_state)
    for name, value in (
        ("batch_size", batch_size),
        ("num_train", num_train),
        ("num_eval", num_eval),
        ("encode_batch_size", encode_batch_size),
    ):
        check_count(name, value)
    num_factors = int(dataset.num_factors)
    if num_factors < 2:
        raise ValueError(
            f"the BetaVAE score classifies which of the factors was fixed, so the dataset needs at "
            f"least 2 factors; it has {num_factors}"
        )
    linear_model = import_optional("sklearn.linear_model")
    warn_if_untested_versions()

    source = code_source(dataset, representation_fn, encode_batch_size, cache)
    bar = progress_bar("beta_vae", (num_train + num_eval) * 2 * batch_size, progress)
    try:
        train_points, train_labels = _training_points(
            dataset, source, random_state, batch_size, num_train, bar
        )
        # The reference's LogisticRegression(random_state=random_state), every setting spelled out.
        model = linear_model.LogisticRegression(**logistic_regression_settings(random_state))
        with reference_iteration_limit():
            model.fit(train_points, train_labels)
        train_accuracy = float(np.mean(model.predict(train_points) == train_labels))
        eval_points, eval_labels = _training_points(
            dataset, source, random_state, batch_size, num_eval, bar
        )
    finally:
        bar.close()
    eval_accuracy = float(model.score(eval_points, eval_labels))
    return BetaVAEResult(train_accuracy=train_accuracy, eval_accuracy=eval_accuracy)


def _training_points(
    dataset: GroundTruthData,
    source: CodeSource,
    random_state: np.random.RandomState,
    batch_size: int,
    num_points: int,
    bar: ProgressBar,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``num_points`` features ``(num_points, D)`` (float64) and fixed-factor labels.

    Draws exactly as the reference's ``_generate_training_batch``; collects
    ``max(1, source.round_observations // (2 * batch_size))`` points per round of codes.
    """
    labels = np.zeros(num_points, dtype=np.int64)
    points: NDArray[np.float64] | None = None
    per_round = max(1, source.round_observations // (2 * batch_size))
    for first in range(0, num_points, per_round):
        rows = range(first, min(num_points, first + per_round))
        for i in rows:
            index = random_state.randint(dataset.num_factors)
            factors1 = dataset.sample_factors(batch_size, random_state)
            factors2 = dataset.sample_factors(batch_size, random_state)
            factors2[:, index] = factors1[:, index]
            source.add(factors1, random_state)
            source.add(factors2, random_state)
            labels[i] = index
        codes = source.codes()
        if points is None:
            points = np.zeros((num_points, codes.shape[1]))
        for offset, i in enumerate(rows):
            first_pair = codes[2 * offset * batch_size : (2 * offset + 1) * batch_size]
            second_pair = codes[(2 * offset + 1) * batch_size : (2 * offset + 2) * batch_size]
            # The reference's expression on the same (batch_size, D) blocks, so the same rounding.
            points[i, :] = np.mean(np.abs(first_pair - second_pair), axis=0)
        bar.update(len(rows) * 2 * batch_size)
    assert points is not None
    return points, labels
