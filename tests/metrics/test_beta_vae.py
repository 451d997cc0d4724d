"""BetaVAE score: same seed, same score as disentanglement_lib's ``compute_beta_vae_sklearn``."""

from __future__ import annotations

import warnings
from typing import Any, TypedDict

import numpy as np
import pytest
from tests.metrics.fake_data import (
    FACTOR_SIZES,
    FakeGroundTruth,
    call_sampling_metric,
    linear_representation,
    mixing_matrix,
)
from tests.metrics.reference import import_reference

from learnable_weights.metrics import beta_vae_score


def _reference_beta_vae(
    data: FakeGroundTruth, represent: Any, seed: int, **sizes: int
) -> tuple[dict[str, Any], np.random.RandomState]:
    module = import_reference("beta_vae")
    random_state = np.random.RandomState(seed)
    return dict(
        module.compute_beta_vae_sklearn(data, represent, random_state, **sizes)
    ), random_state


class _Sizes(TypedDict):
    batch_size: int
    num_train: int
    num_eval: int


SIZES: _Sizes = {"batch_size": 8, "num_train": 300, "num_eval": 150}


@pytest.mark.reference
@pytest.mark.parametrize("kind", ["identity", "entangled", "collapsed"])
@pytest.mark.parametrize("encode_batch_size", [16, 1000])
def test_equals_reference_for_the_same_seed(kind: str, encode_batch_size: int) -> None:
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix(kind))
    expected, reference_state = _reference_beta_vae(data, represent, 3, **SIZES)
    random_state = np.random.RandomState(3)
    ours = beta_vae_score(
        data, represent, random_state, **SIZES, encode_batch_size=encode_batch_size
    )
    assert ours["train_accuracy"] == expected["train_accuracy"]
    assert ours["eval_accuracy"] == expected["eval_accuracy"]
    # Every draw was made, in the same order: the streams end in the same place.
    assert random_state.randint(2**31) == reference_state.randint(2**31)


@pytest.mark.reference
def test_a_fit_stopped_at_the_iteration_limit_scores_as_the_reference_without_its_warning() -> None:
    """Codes 100 times larger make lbfgs stop at the reference's ``max_iter=100``: the reference
    warns, ours does not, and the scores are the same."""
    from sklearn.exceptions import ConvergenceWarning

    data = FakeGroundTruth()
    represent = linear_representation(100 * mixing_matrix("entangled"))
    with pytest.warns(ConvergenceWarning):
        expected, _ = _reference_beta_vae(data, represent, 0, **SIZES)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = beta_vae_score(data, represent, np.random.RandomState(0), **SIZES)
    assert ours["train_accuracy"] == expected["train_accuracy"]
    assert ours["eval_accuracy"] == expected["eval_accuracy"]


@pytest.mark.reference
def test_constant_code_scores_chance_as_the_reference() -> None:
    """All features are 0, so the classifier has nothing to separate the classes by and predicts
    one factor for every point; the factor is uniform over K, so the accuracy is about 1/K."""
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix("constant"))
    expected, _ = _reference_beta_vae(data, represent, 0, **SIZES)
    ours = beta_vae_score(data, represent, np.random.RandomState(0), **SIZES)
    assert ours["eval_accuracy"] == expected["eval_accuracy"]
    assert ours["eval_accuracy"] == pytest.approx(1 / len(FACTOR_SIZES), abs=0.1)


def test_identity_code_scores_about_one() -> None:
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix("identity"))
    score = beta_vae_score(data, represent, np.random.RandomState(0), **SIZES)
    assert score["eval_accuracy"] > 0.95


def test_torch_observations_and_codes_give_the_numpy_score() -> None:
    represent = linear_representation(mixing_matrix("entangled"))
    numpy_score = beta_vae_score(FakeGroundTruth(), represent, np.random.RandomState(1), **SIZES)
    torch_score = beta_vae_score(
        FakeGroundTruth(as_tensor=True), represent, np.random.RandomState(1), **SIZES
    )
    assert torch_score == numpy_score


class _Incomplete:
    num_factors = 3


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"dataset": _Incomplete()}, TypeError, "lacks sample_factors"),
        ({"random_state": 0}, TypeError, "numpy.random.RandomState"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"num_train": 2.5}, TypeError, "num_train must be an int"),
        ({"dataset": FakeGroundTruth((4,))}, ValueError, "at least 2 factors"),
        ({"represent": lambda x: np.full((len(x), 2), np.nan)}, ValueError, "NaN or infinite"),
        ({"represent": lambda x: np.zeros(len(x))}, ValueError, r"shape \(n, D\)|of shape"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call_sampling_metric(beta_vae_score, SIZES, change)
