"""The pinned estimator settings: every one explicit, and equal to scikit-learn's defaults."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from learnable_weights.metrics._estimators import (
    logistic_regression_settings,
    reference_iteration_limit,
)


def test_every_logistic_regression_setting_is_explicit() -> None:
    from sklearn.linear_model import LogisticRegression

    settings = logistic_regression_settings()
    defaults = LogisticRegression().get_params()
    # Everything scikit-learn exposes is pinned, except the deprecated spellings.
    assert set(defaults) - set(settings) <= {"penalty", "l1_ratio", "multi_class"}
    assert {name: defaults[name] for name in settings} == settings


def test_the_iteration_limit_silences_only_the_convergence_warning() -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    points = np.random.RandomState(0).normal(size=(200, 4)) * 100
    labels = (points[:, 0] + points[:, 1] > 0).astype(np.int64)
    settings = {**logistic_regression_settings(0), "max_iter": 1}
    with pytest.warns(ConvergenceWarning):
        LogisticRegression(**settings).fit(points, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with reference_iteration_limit():
            LogisticRegression(**settings).fit(points, labels)
    with pytest.warns(UserWarning, match="passes through"), reference_iteration_limit():
        warnings.warn("passes through", UserWarning, stacklevel=1)
