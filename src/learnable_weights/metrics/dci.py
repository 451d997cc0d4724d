"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams, ICLR 2018).

As disentanglement_lib 1.5 computes it (``evaluation/metrics/dci.py``, ``_compute_dci``):

1. For each factor ``j``, a classifier predicts the factor's class from the codes; the absolute
   feature importances form column ``j`` of the importance matrix ``R`` ``(D, K)``, and its train
   and test accuracies are the informativeness (accuracy, not the paper's error).
2. Disentanglement: ``D_i = 1 - H_K(P_i.)`` with ``P_ij = (R_ij + 1e-11) / sum_k (R_ik + 1e-11)``
   (entropy in base K), weighted by ``rho_i = sum_j R_ij / sum R`` (a matrix of ones when ``R`` is
   all zero); ``disentanglement = sum_i rho_i D_i``.
3. Completeness: ``C_j = 1 - H_D(P~_.j)``, the same with codes and factors swapped (base D).

``mode="exact"`` uses scikit-learn's ``GradientBoostingClassifier`` with the reference's settings
and reproduces disentanglement_lib's numbers exactly on the same scikit-learn version and random
stream. ``mode="fast"`` replaces the booster with a random forest (see :data:`FAST_FOREST`): not
the reference's numbers, but much faster and ordering codes the same way (docs/metrics/index.md).

The random stream: the reference constructs every booster with ``random_state=None``, so each of
its regression trees takes one seed from numpy's *global* random state, factor after factor,
``n_estimators * (n_classes if n_classes > 2 else 1)`` draws per factor. Our exact mode draws the
same seeds from the same stream (``random_state=None``: numpy's global state, advanced as the
reference advances it), in the reference's factor order. With several workers it fits the factors
in parallel threads, each from a private copy of the stream moved forward by the earlier factors'
draws, and checks afterwards that every factor consumed exactly the draws predicted for it; if
not (a scikit-learn whose trees draw differently), it refits one factor after another.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeAlias, TypedDict

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._validation import (
    as_codes_and_factors,
    check_test_split,
    import_optional,
    require_multi_valued_factors,
)
from learnable_weights.metrics._versions import warn_if_untested_versions

__all__ = ["DCI_EXACT_BOOSTER", "FAST_FOREST", "DCIResult", "DciMode", "dci"]

DciMode: TypeAlias = Literal["exact", "fast"]
RandomStateLike: TypeAlias = int | np.random.RandomState | None

#: ``GradientBoostingClassifier`` settings of the exact mode: scikit-learn's defaults, which
#: disentanglement_lib relies on (it calls ``GradientBoostingClassifier()``). ``criterion`` is left
#: out: scikit-learn 1.9 deprecated it (its trees then use ``squared_error``); older releases get
#: ``"friedman_mse"``, their default, added by :func:`_booster_settings`.
DCI_EXACT_BOOSTER: Mapping[str, Any] = {
    "loss": "log_loss",
    "learning_rate": 0.1,
    "n_estimators": 100,
    "subsample": 1.0,
    "min_samples_split": 2,
    "min_samples_leaf": 1,
    "min_weight_fraction_leaf": 0.0,
    "max_depth": 3,
    "min_impurity_decrease": 0.0,
    "init": None,
    "max_features": None,
    "verbose": 0,
    "max_leaf_nodes": None,
    "warm_start": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": None,
    "tol": 1e-4,
    "ccp_alpha": 0.0,
}

#: ``RandomForestClassifier`` settings of the fast mode. One multi-class tree per estimator (the
#: booster grows one tree per class per stage, so its cost grows with the number of classes);
#: every split considers every code (``max_features=None``), as the booster's trees do, which
#: keeps the impurity importances close to the booster's; depth 8 stops the trees from spending
#: importance on noise.
FAST_FOREST: Mapping[str, Any] = {
    "n_estimators": 30,
    "criterion": "gini",
    "max_depth": 8,
    "min_samples_split": 2,
    "min_samples_leaf": 1,
    "min_weight_fraction_leaf": 0.0,
    "max_features": None,
    "max_leaf_nodes": None,
    "min_impurity_decrease": 0.0,
    "bootstrap": True,
    "oob_score": False,
    "verbose": 0,
    "warm_start": False,
    "class_weight": None,
    "ccp_alpha": 0.0,
    "max_samples": None,
}


class DCIResult(TypedDict):
    """What :func:`dci` returns; the first four keys are disentanglement_lib's."""

    disentanglement: float
    completeness: float
    #: Mean over factors of the classifiers' training accuracy.
    informativeness_train: float
    #: Mean over factors of the classifiers' accuracy on the held-out points.
    informativeness_test: float
    #: ``(D, K)`` absolute feature importance of each code for each factor's classifier.
    importance_matrix: NDArray[np.float64]
    #: ``(D,)`` ``1 - H_K`` of each code's normalised importances.
    disentanglement_per_code: NDArray[np.float64]
    #: ``(K,)`` ``1 - H_D`` of each factor's normalised importances.
    completeness_per_factor: NDArray[np.float64]
    #: ``(K,)`` training accuracy of each factor's classifier.
    informativeness_train_per_factor: NDArray[np.float64]
    #: ``(K,)`` held-out accuracy of each factor's classifier.
    informativeness_test_per_factor: NDArray[np.float64]


# scikit-learn's trees draw their seeds as ``randint(0, RAND_R_MAX)`` (``tree/_splitter.pyx``).
_TREE_SEED_HIGH = np.iinfo(np.int32).max


def dci(
    codes: object,
    factors: object,
    *,
    test_codes: object,
    test_factors: object,
    mode: DciMode = "exact",
    random_state: RandomStateLike = None,
    n_jobs: int | None = None,
) -> DCIResult:
    """DCI scores of codes against ground-truth factor classes.

    Args:
        codes: ``(N, D)`` training codes (numpy array or tensor; rows are points).
        factors: ``(N, K)`` integer factor classes of the training points.
        test_codes: ``(M, D)`` held-out codes.
        test_factors: ``(M, K)`` their factor classes.
        mode: ``"exact"`` (disentanglement_lib's gradient-boosted trees, its numbers) or
            ``"fast"`` (a random forest; a different estimator, see the module docstring).
        random_state: the stream the trees draw their seeds from. ``None`` is numpy's global
            random state, as in disentanglement_lib, and advances it as the reference does; an
            ``int`` is a private ``RandomState(int)``, which gives the reference's result after
            ``np.random.seed(int)`` and leaves the global state alone; a ``RandomState`` is used
            and advanced.
        n_jobs: worker threads (one factor each in exact mode; the forest's threads in fast mode).
            ``None`` uses every CPU core; the result does not depend on it.

    Returns:
        ``disentanglement``, ``completeness``, ``informativeness_train``,
        ``informativeness_test`` (floats, disentanglement_lib's keys), and the breakdown:
        ``importance_matrix`` ``(D, K)``, ``disentanglement_per_code`` ``(D,)``,
        ``completeness_per_factor`` ``(K,)``, ``informativeness_train_per_factor`` and
        ``informativeness_test_per_factor`` ``(K,)``.

    Raises:
        ValueError: bad shapes, fewer than 2 codes or factors, non-finite codes, a factor with a
            single class in the training set, or an unknown ``mode``.
        TypeError: non-float codes, non-integer factors, or a bad ``random_state``.
        ImportError: scikit-learn or scipy is missing (the ``metrics`` extra).
    """
    if mode not in ("exact", "fast"):
        raise ValueError(f"mode must be 'exact' or 'fast', got {mode!r}")
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of threads or None, got {n_jobs}")
    x_train, y_train = as_codes_and_factors(codes, factors)
    x_test, y_test = as_codes_and_factors(test_codes, test_factors, "test_codes", "test_factors")
    check_test_split(x_train, y_train, x_test, y_test)
    if x_train.shape[1] < 2 or y_train.shape[1] < 2:
        raise ValueError(
            "DCI takes entropies in base K (factors) and base D (codes), which need at least 2 "
            f"of each; got D={x_train.shape[1]} codes and K={y_train.shape[1]} factors "
            "(disentanglement_lib returns NaN)"
        )
    require_multi_valued_factors(
        y_train, "dci", "a classifier cannot be trained on one class (disentanglement_lib crashes)"
    )
    import_optional("sklearn")
    import_optional("scipy")
    warn_if_untested_versions()
    workers = n_jobs if n_jobs is not None else (os.cpu_count() or 1)

    if mode == "exact":
        importance, train_acc, test_acc = _exact_importance(
            x_train, y_train, x_test, y_test, random_state, workers
        )
    else:
        importance, train_acc, test_acc = _fast_importance(
            x_train, y_train, x_test, y_test, random_state, workers
        )
    per_code = disentanglement_per_code(importance)
    per_factor = completeness_per_factor(importance)
    return DCIResult(
        disentanglement=_weighted(per_code, importance.sum(axis=1), importance),
        completeness=_weighted(per_factor, importance.sum(axis=0), importance),
        informativeness_train=float(np.mean(train_acc)),
        informativeness_test=float(np.mean(test_acc)),
        importance_matrix=importance,
        disentanglement_per_code=per_code,
        completeness_per_factor=per_factor,
        informativeness_train_per_factor=train_acc,
        informativeness_test_per_factor=test_acc,
    )


def disentanglement_per_code(importance: NDArray[np.float64]) -> NDArray[np.float64]:
    """``D_i = 1 - H_K(P_i.)`` for an importance matrix ``(D, K)``; returns ``(D,)``."""
    stats = import_optional("scipy.stats")
    result: NDArray[np.float64] = 1.0 - stats.entropy(
        importance.T + 1e-11, base=importance.shape[1]
    )
    return result


def completeness_per_factor(importance: NDArray[np.float64]) -> NDArray[np.float64]:
    """``C_j = 1 - H_D(P~_.j)`` for an importance matrix ``(D, K)``; returns ``(K,)``."""
    stats = import_optional("scipy.stats")
    result: NDArray[np.float64] = 1.0 - stats.entropy(importance + 1e-11, base=importance.shape[0])
    return result


def _weighted(
    scores: NDArray[np.float64], mass: NDArray[np.float64], importance: NDArray[np.float64]
) -> float:
    """``sum(scores * mass / sum R)``; uniform weights when ``R`` is all zero (the reference's
    ``np.ones_like`` branch, which gives exactly these weights)."""
    total = importance.sum()
    if total == 0.0:
        return float(np.sum(scores * (1.0 / len(scores))))
    return float(np.sum(scores * (mass / total)))


def _booster_settings() -> dict[str, Any]:
    from sklearn.ensemble import GradientBoostingClassifier

    settings = dict(DCI_EXACT_BOOSTER)
    criterion = inspect.signature(GradientBoostingClassifier).parameters["criterion"]
    if criterion.default != "deprecated":
        settings["criterion"] = "friedman_mse"
    return settings


def _fit_one(
    make_model: Callable[[], Any],
    x_train: NDArray[Any],
    y: NDArray[np.int64],
    x_test: NDArray[Any],
    y_test: NDArray[np.int64],
) -> tuple[NDArray[np.float64], float, float]:
    """Fits one factor; returns ``|feature_importances_|`` ``(D,)``, train and test accuracy."""
    model = make_model()
    model.fit(x_train, y)
    importance = np.abs(np.asarray(model.feature_importances_, dtype=np.float64))
    train_accuracy = float(np.mean(model.predict(x_train) == y))
    test_accuracy = float(np.mean(model.predict(x_test) == y_test))
    return importance, train_accuracy, test_accuracy


def _stack(
    results: list[tuple[NDArray[np.float64], float, float]],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    importance = np.stack([r[0] for r in results], axis=1).astype(np.float64)
    train = np.array([r[1] for r in results], dtype=np.float64)
    test = np.array([r[2] for r in results], dtype=np.float64)
    return importance, train, test


def _exact_importance(
    x_train: NDArray[Any],
    y_train: NDArray[np.int64],
    x_test: NDArray[Any],
    y_test: NDArray[np.int64],
    random_state: RandomStateLike,
    workers: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    from sklearn.ensemble import GradientBoostingClassifier

    settings = _booster_settings()
    num_factors = y_train.shape[1]
    stream = _Stream(random_state)

    def booster(seeds: np.random.RandomState) -> Callable[[], Any]:
        return lambda: GradientBoostingClassifier(**settings, random_state=seeds)

    def fit(j: int, seeds: np.random.RandomState) -> tuple[NDArray[np.float64], float, float]:
        return _fit_one(booster(seeds), x_train, y_train[:, j], x_test, y_test[:, j])

    start = stream.state()
    if workers > 1 and num_factors > 1:
        # Each factor's copy of the stream starts where the earlier factors leave it.
        draws = [
            settings["n_estimators"] * _trees_per_stage(y_train[:, j]) for j in range(num_factors)
        ]
        starts, ends = [], []
        cursor = _random_state_at(start)
        for count in draws:
            starts.append(_random_state_at(cursor.get_state()))
            for _ in range(count):
                cursor.randint(0, _TREE_SEED_HIGH)
            ends.append(cursor.get_state())
        # Largest first (a factor's cost grows with its trees, i.e. its draws), so that the
        # 40-class orientation of dSprites does not start last and leave the other core idle.
        with ThreadPoolExecutor(max_workers=min(workers, num_factors)) as pool:
            order = sorted(range(num_factors), key=lambda j: -draws[j])
            futures = {j: pool.submit(fit, j, starts[j]) for j in order}
            results = [futures[j].result() for j in range(num_factors)]
        if all(_same_state(s.get_state(), e) for s, e in zip(starts, ends, strict=True)):
            stream.set_state(ends[-1])
            return _stack(results)
    # One factor after another from the stream itself: disentanglement_lib's own order.
    seeds = _random_state_at(start)
    results = [fit(j, seeds) for j in range(num_factors)]
    stream.set_state(seeds.get_state())
    return _stack(results)


def _fast_importance(
    x_train: NDArray[Any],
    y_train: NDArray[np.int64],
    x_test: NDArray[Any],
    y_test: NDArray[np.int64],
    random_state: RandomStateLike,
    workers: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    from sklearn.ensemble import RandomForestClassifier

    stream = _Stream(random_state)
    seeds = _random_state_at(stream.state())

    def forest() -> Any:
        return RandomForestClassifier(**FAST_FOREST, n_jobs=workers, random_state=seeds)

    results = [
        _fit_one(forest, x_train, y_train[:, j], x_test, y_test[:, j])
        for j in range(y_train.shape[1])
    ]
    stream.set_state(seeds.get_state())
    return _stack(results)


def _trees_per_stage(labels: NDArray[np.int64]) -> int:
    """Regression trees per boosting stage: one per class, or one for a binary factor."""
    num_classes = len(np.unique(labels))
    return 1 if num_classes == 2 else num_classes


class _Stream:
    """Where the trees' seeds come from: numpy's global state, or a given/seeded RandomState."""

    def __init__(self, random_state: RandomStateLike) -> None:
        if random_state is None or isinstance(random_state, np.random.RandomState):
            self._state = random_state
        elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
            self._state = np.random.RandomState(int(random_state))
        else:
            raise TypeError(
                "random_state must be None (numpy's global random state, as disentanglement_lib), "
                f"an int seed or a numpy.random.RandomState, got {type(random_state).__name__}"
            )

    # The reference draws from numpy's legacy global state, so that is the state to read and set.
    def state(self) -> Any:
        if self._state is None:
            return np.random.get_state()  # noqa: NPY002
        return self._state.get_state()

    def set_state(self, state: Any) -> None:
        if self._state is None:
            np.random.set_state(state)  # noqa: NPY002
        else:
            self._state.set_state(state)


def _random_state_at(state: Any) -> np.random.RandomState:
    copy = np.random.RandomState()
    copy.set_state(state)
    return copy


def _same_state(a: Any, b: Any) -> bool:
    return bool(a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:])
