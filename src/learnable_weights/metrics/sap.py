"""Separated Attribute Predictability (Kumar, Sattigeri and Balakrishnan 2018, "Variational
Inference of Disentangled Latent Concepts from Unlabeled Observations"), as computed by
disentanglement_lib 1.5 (``evaluation/metrics/sap_score.py``, ``_compute_sap``)."""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._estimators import reference_iteration_limit
from learnable_weights.metrics._validation import (
    FloatArray,
    IntArray,
    as_codes_and_factors,
    check_test_split,
    import_optional,
    require_multi_valued_factors,
)
from learnable_weights.metrics._versions import warn_if_untested_versions

__all__ = ["LINEAR_SVC_SETTINGS", "SAPResult", "sap"]

#: Every ``sklearn.svm.LinearSVC`` setting of the discrete branch. disentanglement_lib passes
#: ``C=0.01, class_weight="balanced"`` and leaves the rest at scikit-learn's defaults, written
#: out here as scikit-learn 1.9.1 has them. ``dual="auto"`` picks the deterministic primal solver
#: (one feature, many points); ``random_state=None`` makes each fit draw its liblinear seed from
#: numpy's global random state, as the reference's fits do.
LINEAR_SVC_SETTINGS: dict[str, Any] = {
    "penalty": "l2",
    "loss": "squared_hinge",
    "dual": "auto",
    "tol": 1e-4,
    "C": 0.01,
    "multi_class": "ovr",
    "fit_intercept": True,
    "intercept_scaling": 1,
    "class_weight": "balanced",
    "verbose": 0,
    "random_state": None,
    "max_iter": 1000,
}


class SAPResult(TypedDict):
    """What :func:`sap` returns; ``SAP_score`` is disentanglement_lib's key."""

    SAP_score: float
    #: ``(K,)`` gap between the two most predictive codes for each factor.
    SAP_per_factor: NDArray[np.float64]
    #: ``(D, K)`` predictability of each factor from each single code dimension.
    score_matrix: NDArray[np.float64]


def _discrete_scores(
    codes: FloatArray, factors: IntArray, test_codes: FloatArray, test_factors: IntArray
) -> NDArray[np.float64]:
    """Test accuracy of a one-feature linear SVM per (code, factor): ``(D, K)``."""
    svm = import_optional("sklearn.svm")
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        feature, test_feature = codes[:, i : i + 1], test_codes[:, i : i + 1]
        for j in range(factors.shape[1]):
            with reference_iteration_limit():
                classifier = svm.LinearSVC(**LINEAR_SVC_SETTINGS).fit(feature, factors[:, j])
            scores[i, j] = np.mean(classifier.predict(test_feature) == test_factors[:, j])
    return scores


def _continuous_scores(codes: FloatArray, factors: IntArray) -> NDArray[np.float64]:
    """Squared correlation ``cov(z_i, v_k)^2 / (var z_i var v_k)`` (ddof 1), 0 where ``var z_i``
    is at most 1e-12: ``(D, K)``."""
    centred_codes = codes.astype(np.float64) - codes.astype(np.float64).mean(axis=0)
    centred_factors = factors.astype(np.float64) - factors.astype(np.float64).mean(axis=0)
    ddof = codes.shape[0] - 1
    covariance = centred_codes.T @ centred_factors / ddof
    code_variance = np.einsum("nd,nd->d", centred_codes, centred_codes) / ddof
    factor_variance = np.einsum("nk,nk->k", centred_factors, centred_factors) / ddof
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = covariance**2 / (code_variance[:, None] * factor_variance[None, :])
    return np.where(code_variance[:, None] > 1e-12, scores, 0.0)


def sap(
    codes: object,
    factors: object,
    *,
    test_codes: object,
    test_factors: object,
    continuous_factors: bool = False,
) -> SAPResult:
    """SAP score: mean over factors of the gap between the two most predictive code dimensions.

    Discrete factors (the study's setting): ``S[i, k]`` is the test accuracy of
    ``LinearSVC(C=0.01, class_weight="balanced")`` (:data:`LINEAR_SVC_SETTINGS`) trained on the
    single feature ``z_i`` to predict ``v_k``. Continuous factors: ``S[i, k]`` is the squared
    correlation of ``z_i`` and ``v_k`` on the training points (the test points are only checked).
    ``SAP = mean_k (S_(1),k - S_(2),k)``.

    Reference quirks reproduced: plain (not balanced) test accuracy although the classifier is
    class-balanced; inactive dimensions are kept (a constant code predicts one class); each
    ``LinearSVC`` fit draws one number from numpy's global random state, as in the reference.
    All-constant codes score 0.

    Args:
        codes: ``(N, D)`` float training codes (numpy or torch), one row per point.
        factors: ``(N, K)`` integer training factor classes.
        test_codes: ``(M, D)`` held-out codes.
        test_factors: ``(M, K)`` held-out factor classes.
        continuous_factors: treat factors as continuous (squared correlation) instead of classes.

    Returns:
        :class:`SAPResult`; ``SAP_score`` equals disentanglement_lib's to 1e-9 (exactly in the
        discrete branch with the same scikit-learn version).

    Raises:
        TypeError, ValueError: bad shapes or dtypes, NaN/inf codes, mismatched train/test
            columns, or a training factor with a single value (the SVM needs two classes; for
            continuous factors the correlation divides by its zero variance).
    """
    warn_if_untested_versions()
    code_array, factor_array = as_codes_and_factors(codes, factors)
    test_code_array, test_factor_array = as_codes_and_factors(
        test_codes, test_factors, "test_codes", "test_factors"
    )
    check_test_split(code_array, factor_array, test_code_array, test_factor_array)
    if code_array.shape[1] < 2:
        raise ValueError(
            f"SAP compares the two most predictive code dimensions, so codes needs at least 2 "
            f"columns; got {code_array.shape[1]}"
        )
    if continuous_factors:
        require_multi_valued_factors(
            factor_array,
            "SAP",
            "the correlation divides by its variance, 0 (the reference gives NaN)",
        )
        scores = _continuous_scores(code_array, factor_array)
    else:
        require_multi_valued_factors(
            factor_array, "SAP", "a classifier needs at least two classes (the reference crashes)"
        )
        scores = _discrete_scores(code_array, factor_array, test_code_array, test_factor_array)
    ordered = np.sort(scores, axis=0)
    per_factor = ordered[-1] - ordered[-2]
    return SAPResult(
        SAP_score=float(np.mean(per_factor)), SAP_per_factor=per_factor, score_matrix=scores
    )
