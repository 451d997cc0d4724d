"""Modularity and explicitness (Ridgeway and Mozer 2018, "Learning Deep Disentangled Embeddings
With the F-Statistic Loss"), as computed by disentanglement_lib 1.5
(``evaluation/metrics/modularity_explicitness.py``, ``modularity`` and
``explicitness_per_factor``)."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._estimators import (
    logistic_regression_settings,
    reference_iteration_limit,
)
from learnable_weights.metrics._validation import (
    FloatArray,
    IntArray,
    as_codes_and_factors,
    check_enough_points,
    check_num_bins,
    check_test_split,
    import_optional,
    require_multi_valued_factors,
)
from learnable_weights.metrics._versions import warn_if_untested_versions
from learnable_weights.metrics.discretize import discrete_mutual_info, histogram_discretize

__all__ = [
    "ModularityExplicitnessResult",
    "logistic_regression_settings",
    "modularity_explicitness",
    "modularity_per_code",
]


class ModularityExplicitnessResult(TypedDict):
    """What :func:`modularity_explicitness` returns; the ``*_score*`` keys are disentanglement_lib's."""

    modularity_score: float
    explicitness_score_train: float
    explicitness_score_test: float
    #: ``(D,)`` modularity of each code dimension; ``modularity_score`` is their mean.
    modularity_per_code: NDArray[np.float64]
    #: ``(K,)`` macro ROC-AUC of each factor's classifier on the training / test points.
    explicitness_per_factor_train: NDArray[np.float64]
    explicitness_per_factor_test: NDArray[np.float64]
    #: ``(D, K)`` mutual information (nats) between each discretised code and each factor.
    mutual_information: NDArray[np.float64]


def modularity_per_code(mutual_information: NDArray[np.float64]) -> NDArray[np.float64]:
    """Modularity ``(D,)`` of each code from its mutual information ``(D, K)`` with the factors.

    ``1 - (sum_k m_ik^2 - theta_i^2) / (theta_i^2 (K - 1))`` with ``theta_i = max_k m_ik``
    (Ridgeway and Mozer 2018; the reference's ``modularity``); 0 for a code whose largest mutual
    information is 0 (the reference's 0/0 replaced by 0).
    """
    squared = np.square(mutual_information)
    largest = squared.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (squared.sum(axis=1) - largest) / (largest * (squared.shape[1] - 1.0))
    return np.where(largest == 0.0, 0.0, 1.0 - deviation)


def _check_same_classes(factors: IntArray, test_factors: IntArray) -> None:
    for j in range(factors.shape[1]):
        train_classes = np.unique(factors[:, j])
        test_classes = np.unique(test_factors[:, j])
        if not np.array_equal(train_classes, test_classes):
            raise ValueError(
                f"explicitness: factor {j} has classes {train_classes.tolist()} in the training "
                f"points but {test_classes.tolist()} in the test points; the ROC-AUC needs the "
                "same classes in both (the reference crashes otherwise). Sample more test points"
            )


def _explicitness(
    codes: FloatArray, factors: IntArray, test_codes: FloatArray, test_factors: IntArray
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-factor macro ROC-AUC on train and test points: two ``(K,)`` arrays."""
    linear_model = import_optional("sklearn.linear_model")
    metrics = import_optional("sklearn.metrics")
    # z-score with the training mean and population std, in the codes' dtype as the reference.
    mean, std = np.mean(codes, axis=0), np.std(codes, axis=0)
    constant = np.flatnonzero(std == 0)
    if constant.size:
        raise ValueError(
            f"explicitness: code dimension(s) {constant.tolist()} are constant in the training "
            "points, so z-scoring divides by a standard deviation of 0 (the reference passes "
            "NaN to LogisticRegression and crashes). Drop those dimensions"
        )
    features, test_features = (codes - mean) / std, (test_codes - mean) / std
    train_auc = np.zeros(factors.shape[1])
    test_auc = np.zeros(factors.shape[1])
    for j in range(factors.shape[1]):
        classifier = linear_model.LogisticRegression(**logistic_regression_settings())
        with reference_iteration_limit():
            classifier.fit(features, factors[:, j])
        for auc, x, y in (
            (train_auc, features, factors[:, j]),
            (test_auc, test_features, test_factors[:, j]),
        ):
            one_hot = (y[:, None] == classifier.classes_[None, :]).astype(np.int64)
            auc[j] = metrics.roc_auc_score(
                one_hot,
                classifier.predict_proba(x),
                average="macro",
                sample_weight=None,
                max_fpr=None,
            )
    return train_auc, test_auc


def modularity_explicitness(
    codes: object,
    factors: object,
    *,
    test_codes: object,
    test_factors: object,
    num_bins: int = 20,
) -> ModularityExplicitnessResult:
    """Modularity (from discrete mutual information) and explicitness (ROC-AUC of a linear probe).

    Modularity: with ``m_ik`` the mutual information between the ``num_bins``-bin discretised
    code ``z_i`` and factor ``v_k`` (training points), each code scores
    ``1 - (sum_k m_ik^2 - theta_i^2) / (theta_i^2 (K - 1))``, ``theta_i = max_k m_ik``, and
    ``modularity_score`` is the mean over codes. Explicitness: codes are z-scored with the
    training mean and (population) standard deviation; per factor a ``LogisticRegression``
    (:func:`logistic_regression_settings`) is fit on all codes, and the score is the macro
    ROC-AUC of its class probabilities against one-hot classes, averaged over factors.

    Reference quirks reproduced: inactive codes are included in the modularity mean, a code with
    zero mutual information scores 0 (pulling the mean down); z-scoring happens in the codes'
    dtype (float32 codes give float32 features). All-constant codes score modularity 0, but
    explicitness cannot be computed for them (see Raises).

    Args:
        codes: ``(N, D)`` float training codes (numpy or torch), one row per point.
        factors: ``(N, K)`` integer training factor classes, ``K >= 2``.
        test_codes: ``(M, D)`` held-out codes.
        test_factors: ``(M, K)`` held-out factor classes (the same classes as in training).
        num_bins: histogram bins per code dimension (the study: 20).

    Returns:
        :class:`ModularityExplicitnessResult`; modularity equals disentanglement_lib's to about
        1e-15 and explicitness exactly, given the same scikit-learn version.

    Raises:
        TypeError, ValueError: bad shapes or dtypes, NaN/inf codes, fewer points than bins,
            fewer than two factors (the reference divides by ``K - 1 = 0``), a training factor with
            one value or test classes different from the training classes (the classifier or the
            ROC-AUC fails in the reference), or a code dimension that is exactly constant in the
            training points (z-scoring divides by 0 and the reference crashes).
    """
    warn_if_untested_versions()
    code_array, factor_array = as_codes_and_factors(codes, factors)
    test_code_array, test_factor_array = as_codes_and_factors(
        test_codes, test_factors, "test_codes", "test_factors"
    )
    check_test_split(code_array, factor_array, test_code_array, test_factor_array)
    num_bins = check_num_bins(num_bins)
    check_enough_points(code_array.shape[0], num_bins, "every code dimension")
    if factor_array.shape[1] < 2:
        raise ValueError(
            "modularity compares each code's information about one factor with the others, so "
            f"factors needs at least 2 columns; got {factor_array.shape[1]}"
        )
    require_multi_valued_factors(
        factor_array,
        "explicitness",
        "a classifier needs at least two classes (the reference crashes)",
    )
    _check_same_classes(factor_array, test_factor_array)
    mutual_information = discrete_mutual_info(
        histogram_discretize(code_array, num_bins), factor_array
    )
    per_code = modularity_per_code(mutual_information)
    train_auc, test_auc = _explicitness(
        code_array, factor_array, test_code_array, test_factor_array
    )
    return ModularityExplicitnessResult(
        modularity_score=float(np.mean(per_code)),
        explicitness_score_train=float(np.mean(train_auc)),
        explicitness_score_test=float(np.mean(test_auc)),
        modularity_per_code=per_code,
        explicitness_per_factor_train=train_auc,
        explicitness_per_factor_test=test_auc,
        mutual_information=mutual_information,
    )
