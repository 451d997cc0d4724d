"""The pinned estimator settings: every one explicit, and equal to scikit-learn's defaults."""

from __future__ import annotations

from learnable_weights.metrics._estimators import logistic_regression_settings


def test_every_logistic_regression_setting_is_explicit() -> None:
    from sklearn.linear_model import LogisticRegression

    settings = logistic_regression_settings()
    defaults = LogisticRegression().get_params()
    # Everything scikit-learn exposes is pinned, except the deprecated spellings.
    assert set(defaults) - set(settings) <= {"penalty", "l1_ratio", "multi_class"}
    assert {name: defaults[name] for name in settings} == settings
