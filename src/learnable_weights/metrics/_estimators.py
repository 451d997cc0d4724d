"""Estimator settings shared by the metrics, every one spelled out.

disentanglement_lib calls scikit-learn's estimators with their defaults; we pin each setting at
the value it had when parity was proven, so a later scikit-learn that changes a default cannot
change a score silently.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

from learnable_weights.metrics._validation import import_optional

__all__ = ["logistic_regression_settings", "reference_iteration_limit"]


@contextlib.contextmanager
def reference_iteration_limit() -> Iterator[None]:
    """Fits inside stop at the reference's iteration limit without scikit-learn's
    ``ConvergenceWarning``.

    The limit (``max_iter=100`` for ``LogisticRegression``, 1000 for ``LinearSVC``) is part of
    the score as disentanglement_lib defines it: a fit that stops there is the reference's fit, and
    the warning's advice, to raise ``max_iter``, would change the score. Codes on a large scale
    (an encoder's means in the hundreds) reach the limit often; the warning said nothing about the
    representation and interrupted the progress bars. Other warnings pass through.
    """
    ConvergenceWarning = import_optional("sklearn.exceptions").ConvergenceWarning
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield


def logistic_regression_settings(random_state: Any = None) -> dict[str, Any]:
    """Every ``sklearn.linear_model.LogisticRegression`` setting, at the values its defaults had
    when parity was proven (scikit-learn 1.9.1), which disentanglement_lib uses by calling
    ``LogisticRegression()``.

    L2 penalty with ``C=1``, ``lbfgs`` (multinomial for more than two classes), ``max_iter=100``,
    ``tol=1e-4``. The L2 penalty is spelled ``l1_ratio=0.0`` where scikit-learn has deprecated
    ``penalty`` and ``penalty="l2"`` before that; ``multi_class`` is left out because it is
    deprecated (scikit-learn >= 1.5 always fits the multinomial model with ``lbfgs``).
    """
    LogisticRegression = import_optional("sklearn.linear_model").LogisticRegression
    settings: dict[str, Any] = {
        "C": 1.0,
        "dual": False,
        "tol": 1e-4,
        "fit_intercept": True,
        "intercept_scaling": 1,
        "class_weight": None,
        "random_state": random_state,
        "solver": "lbfgs",
        "max_iter": 100,
        "verbose": 0,
        "warm_start": False,
        "n_jobs": None,
    }
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        settings["l1_ratio"] = 0.0
    else:
        settings["penalty"] = "l2"
    return settings
