"""DCI against disentanglement_lib's ``_compute_dci``, and the fast mode's ordering property."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from scipy import stats
from tests.metrics.reference import import_reference

from learnable_weights.metrics import dci

# The package exports the function under the module's name, so reach the module itself.
dci_implementation = importlib.import_module("learnable_weights.metrics.dci")

FACTOR_SIZES = (3, 4, 5)
NUM_TRAIN, NUM_TEST = 500, 250
KEYS = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")


def _factors(num: int, random_state: np.random.RandomState) -> NDArray[np.int64]:
    return np.stack([random_state.randint(s, size=num) for s in FACTOR_SIZES], axis=1)


def _codes(kind: str, factors: NDArray[np.int64], random_state: np.random.RandomState) -> Any:
    """``(N, 5)`` float32 codes of several kinds (metrics issue, item 5)."""
    scaled = factors / (np.asarray(FACTOR_SIZES) - 1.0)
    noise = random_state.normal(size=(len(factors), 5))
    if kind == "identity":
        codes = np.concatenate([scaled, noise[:, 3:]], axis=1) + 0.05 * noise
    elif kind == "entangled":
        mixing = np.random.RandomState(11).normal(size=(3, 5))
        codes = scaled @ mixing + 0.1 * noise
    elif kind == "collapsed":  # one dimension exactly constant
        codes = np.concatenate([scaled, noise[:, 3:]], axis=1) + 0.05 * noise
        codes[:, 3] = 0.25
    elif kind == "ties":  # quantised: many equal values, some exactly on tree thresholds
        codes = np.round(np.concatenate([scaled, noise[:, 3:]], axis=1) * 4) / 4
    elif kind == "constant":
        codes = np.full((len(factors), 5), 0.5)
    else:
        raise ValueError(kind)
    return codes.astype(np.float32)


def _dataset(kind: str, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    random_state = np.random.RandomState(seed)
    factors = _factors(NUM_TRAIN, random_state)
    test_factors = _factors(NUM_TEST, random_state)
    return (
        _codes(kind, factors, random_state),
        factors,
        _codes(kind, test_factors, random_state),
        test_factors,
    )


def _scores(result: Mapping[str, Any], keys: tuple[str, ...] = KEYS) -> list[float]:
    """The scalar scores of a DCI result (ours or the reference's), in ``keys`` order."""
    return [float(result[key]) for key in keys]


def _reference(codes: Any, factors: Any, test_codes: Any, test_factors: Any) -> dict[str, Any]:
    module = import_reference("dci")
    return dict(module._compute_dci(codes.T, factors.T, test_codes.T, test_factors.T))


def _global_state_after(action: Any) -> tuple[Any, int]:
    """Runs ``action`` from global seed 123; returns its result and the next global draw."""
    np.random.seed(123)  # noqa: NPY002 (the reference's trees draw from the global state)
    result = action()
    return result, int(np.random.randint(2**31))  # noqa: NPY002


@pytest.mark.reference
@pytest.mark.parametrize(
    ("kind", "n_jobs"),
    [
        ("identity", 2),
        ("entangled", 1),
        ("entangled", 2),
        ("collapsed", 2),
        ("ties", 2),
        ("constant", 2),
    ],
)
def test_exact_mode_equals_reference(kind: str, n_jobs: int) -> None:
    data = _dataset(kind)
    expected, expected_next = _global_state_after(lambda: _reference(*data))
    codes, factors, test_codes, test_factors = data
    ours, ours_next = _global_state_after(
        lambda: dci(codes, factors, test_codes=test_codes, test_factors=test_factors, n_jobs=n_jobs)
    )
    for key in KEYS:
        assert ours[key] == expected[key], key
    # The global stream was advanced exactly as the reference advances it.
    assert ours_next == expected_next


@pytest.mark.reference
def test_integer_seed_equals_reference_after_seeding_and_leaves_global_state() -> None:
    data = _dataset("entangled", seed=1)
    np.random.seed(9)  # noqa: NPY002
    expected = _reference(*data)
    codes, factors, test_codes, test_factors = data
    before: Any = np.random.get_state()  # noqa: NPY002
    ours = dci(codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=9)
    after: Any = np.random.get_state()  # noqa: NPY002
    assert _scores(ours) == _scores(expected)
    assert np.array_equal(before[1], after[1])
    assert before[2] == after[2]


def test_parallel_fit_starts_the_factor_with_the_most_trees_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The threads take factors in decreasing tree count (5 classes: 500 trees, 4: 400, 3: 300),
    so the longest fit never starts last; the scores are those of the sequential fit."""
    started: list[int] = []
    fit_one = dci_implementation._fit_one

    def recording(make_model: Any, x_train: Any, y: Any, *rest: Any) -> Any:
        started.append(len(np.unique(y)))
        return fit_one(make_model, x_train, y, *rest)

    monkeypatch.setattr(dci_implementation, "_fit_one", recording)
    codes, factors, test_codes, test_factors = _dataset("entangled", seed=3)
    parallel = dci(
        codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=5, n_jobs=2
    )
    assert set(started[:2]) == {5, 4} and started[2] == 3
    started.clear()
    sequential = dci(
        codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=5, n_jobs=1
    )
    assert started == [3, 4, 5]
    assert _scores(parallel) == _scores(sequential)
    assert np.array_equal(parallel["importance_matrix"], sequential["importance_matrix"])


@pytest.mark.reference
def test_parallel_fit_falls_back_to_sequential_when_the_draw_count_is_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If scikit-learn's trees drew a different number of seeds than predicted, the replayed
    streams would be wrong: the self-check notices and refits factor after factor."""
    monkeypatch.setattr(dci_implementation, "_trees_per_stage", lambda labels: 1)
    data = _dataset("identity", seed=2)
    np.random.seed(4)  # noqa: NPY002
    expected = _reference(*data)
    codes, factors, test_codes, test_factors = data
    ours = dci(
        codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=4, n_jobs=2
    )
    assert _scores(ours) == _scores(expected)


def test_constant_code_scores_zero_and_majority_accuracy() -> None:
    """No tree can split a constant code: R = 0, P uniform, D = C = 0 up to rounding, and each
    booster keeps its initial class-prior prediction, i.e. its majority class."""
    codes, factors, test_codes, test_factors = _dataset("constant")
    result = dci(codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=0)
    assert np.all(result["importance_matrix"] == 0.0)
    assert abs(result["disentanglement"]) < 1e-12
    assert abs(result["completeness"]) < 1e-12
    majority = np.mean([np.bincount(factors[:, j]).max() / NUM_TRAIN for j in range(3)])
    assert result["informativeness_train"] == pytest.approx(majority)


def test_identity_code_is_disentangled_and_breakdown_is_consistent() -> None:
    codes, factors, test_codes, test_factors = _dataset("identity")
    result = dci(codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=0)
    assert result["disentanglement"] > 0.9
    assert result["informativeness_test"] > 0.9
    importance = result["importance_matrix"]
    assert importance.shape == (5, 3)
    assert np.array_equal(np.argmax(importance, axis=0), [0, 1, 2])
    weights = importance.sum(axis=1) / importance.sum()
    assert result["disentanglement"] == pytest.approx(
        float(np.sum(result["disentanglement_per_code"] * weights))
    )
    assert result["informativeness_test"] == pytest.approx(
        float(np.mean(result["informativeness_test_per_factor"]))
    )


def test_tensors_give_the_numpy_result() -> None:
    codes, factors, test_codes, test_factors = _dataset("entangled")
    from_numpy = dci(
        codes,
        factors,
        test_codes=test_codes,
        test_factors=test_factors,
        random_state=0,
        mode="fast",
    )
    from_torch = dci(
        torch.from_numpy(codes),
        torch.from_numpy(factors),
        test_codes=torch.from_numpy(test_codes),
        test_factors=torch.from_numpy(test_factors),
        random_state=0,
        mode="fast",
    )
    assert _scores(from_torch) == _scores(from_numpy)


def _graded_codes(
    level: int, num_train: int = 400, num_test: int = 200
) -> tuple[Any, Any, Any, Any]:
    """Codes of known, graded entanglement: the scaled factors rotated in neighbouring pairs by
    ``level * pi/24`` and noised more at each level, plus two noise codes."""
    angle = level * np.pi / 24
    rotation = np.eye(3)
    for i in range(2):
        step = np.eye(3)
        step[i : i + 2, i : i + 2] = [
            [np.cos(angle), -np.sin(angle)],
            [np.sin(angle), np.cos(angle)],
        ]
        rotation = rotation @ step
    random_state = np.random.RandomState(level)

    def codes_for(factors: NDArray[np.int64]) -> Any:
        scaled = factors / (np.asarray(FACTOR_SIZES) - 1.0) - 0.5
        noise = random_state.normal(size=(len(factors), 5))
        mixed = np.concatenate([scaled @ rotation, 0.3 * noise[:, 3:]], axis=1)
        return (mixed + (0.02 + 0.04 * level) * noise).astype(np.float32)

    factors, test_factors = _factors(num_train, random_state), _factors(num_test, random_state)
    return codes_for(factors), factors, codes_for(test_factors), test_factors


ORDERED_KEYS = ("disentanglement", "completeness", "informativeness_test")


@pytest.mark.slow
def test_fast_mode_orders_graded_codes_as_exact_mode() -> None:
    """Spearman correlation >= 0.9 between the modes' scores over codes of graded entanglement
    (metrics issue, item 6): disentanglement, completeness and held-out informativeness. (The
    forest's training accuracy is near 1 whatever the code, so it is not compared.)"""
    levels = range(6)
    exact, fast = [], []
    for level in levels:
        codes, factors, test_codes, test_factors = _graded_codes(level)
        common = {"test_codes": test_codes, "test_factors": test_factors, "random_state": 0}
        exact_result = dci(codes, factors, **common)
        fast_result = dci(codes, factors, **common, mode="fast")
        exact.append(_scores(exact_result, ORDERED_KEYS))
        fast.append(_scores(fast_result, ORDERED_KEYS))
    exact_scores, fast_scores = np.array(exact), np.array(fast)
    # The grading is real: exact-mode disentanglement falls with the level.
    assert stats.spearmanr(list(levels), exact_scores[:, 0]).statistic == pytest.approx(-1.0)
    for column, key in enumerate(ORDERED_KEYS):
        rho = stats.spearmanr(exact_scores[:, column], fast_scores[:, column]).statistic
        assert rho >= 0.9, (key, rho, exact_scores[:, column], fast_scores[:, column])


def test_fast_mode_is_deterministic_for_a_seed() -> None:
    codes, factors, test_codes, test_factors = _dataset("entangled")
    common = {"test_codes": test_codes, "test_factors": test_factors, "mode": "fast"}
    first = dci(codes, factors, **common, random_state=3, n_jobs=1)
    second = dci(codes, factors, **common, random_state=3, n_jobs=2)
    assert _scores(first) == _scores(second)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"mode": "approximate"}, ValueError, "mode must be 'exact' or 'fast'"),
        ({"random_state": 1.5}, TypeError, "random_state must be None"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be a positive"),
        ({"codes": np.full((NUM_TRAIN, 5), np.nan, np.float32)}, ValueError, "NaN or infinite"),
        ({"codes": np.zeros((NUM_TRAIN - 1, 5), np.float32)}, ValueError, "rows"),
        ({"factors": np.zeros((NUM_TRAIN, 3))}, TypeError, "integer class indices"),
        ({"factors": np.zeros((NUM_TRAIN, 3), np.int64)}, ValueError, "single value"),
        ({"test_codes": np.zeros((NUM_TEST, 4), np.float32)}, ValueError, "columns"),
        (
            {"codes": np.zeros((NUM_TRAIN, 1), np.float32), "test_codes": np.zeros((NUM_TEST, 1))},
            ValueError,
            "at least 2 of each",
        ),
        ({"codes": np.zeros((NUM_TRAIN, 5), np.int64)}, TypeError, "float16, float32 or float64"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    codes, factors, test_codes, test_factors = _dataset("identity")
    arguments: dict[str, Any] = {
        "codes": codes,
        "factors": factors,
        "test_codes": test_codes,
        "test_factors": test_factors,
    }
    arguments.update(change)
    with pytest.raises(error, match=message):
        dci(arguments.pop("codes"), arguments.pop("factors"), **arguments)
