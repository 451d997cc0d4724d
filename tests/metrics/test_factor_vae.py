"""FactorVAE score: same seed, same score as disentanglement_lib's ``compute_factor_vae``."""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import pytest
from tests.metrics.fake_data import (
    FakeGroundTruth,
    call_sampling_metric,
    linear_representation,
    mixing_matrix,
)
from tests.metrics.reference import gin_bindings, import_reference

from learnable_weights.metrics import factor_vae_score


class _Sizes(TypedDict):
    batch_size: int
    num_train: int
    num_eval: int
    num_variance_estimate: int


SIZES: _Sizes = {"batch_size": 8, "num_train": 300, "num_eval": 150, "num_variance_estimate": 400}


def _reference_factor_vae(
    data: FakeGroundTruth, represent: Any, seed: int, threshold: float
) -> tuple[dict[str, Any], np.random.RandomState]:
    module = import_reference("factor_vae")
    random_state = np.random.RandomState(seed)
    with gin_bindings({"prune_dims.threshold": threshold}), np.errstate(invalid="ignore"):
        result = module.compute_factor_vae(data, represent, random_state, **SIZES)
    return dict(result), random_state


@pytest.mark.reference
@pytest.mark.parametrize("kind", ["identity", "entangled", "collapsed"])
@pytest.mark.parametrize("encode_batch_size", [8, 1000])
def test_equals_reference_for_the_same_seed(kind: str, encode_batch_size: int) -> None:
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix(kind))
    expected, reference_state = _reference_factor_vae(data, represent, 5, threshold=0.05)
    random_state = np.random.RandomState(5)
    ours = factor_vae_score(
        data, represent, random_state, **SIZES, encode_batch_size=encode_batch_size
    )
    assert ours["train_accuracy"] == expected["train_accuracy"]
    assert ours["eval_accuracy"] == expected["eval_accuracy"]
    assert random_state.randint(2**31) == reference_state.randint(2**31)


@pytest.mark.reference
def test_collapsed_dimension_is_pruned_and_counted() -> None:
    """Code 3 is constant and code 4 sees only the noise (std 0.5 * 0.1 * sqrt(5/12) = 0.032):
    both are pruned at the study's 0.05. disentanglement_lib reports ``num_active_dims`` as all 5
    dimensions (a bug); ours counts the 3 active ones."""
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix("collapsed"))
    expected, _ = _reference_factor_vae(data, represent, 0, threshold=0.05)
    ours = factor_vae_score(data, represent, np.random.RandomState(0), **SIZES)
    assert expected["num_active_dims"] == 5
    assert ours["num_active_dims"] == 3
    assert ours["global_variances"][3] == 0.0
    assert ours["global_variances"][4] == pytest.approx(0.5**2 * 0.1**2 * 5 / 12, rel=0.2)
    # Votes land in columns 0..2 (indices within the active dimensions, as the reference).
    assert ours["train_votes"][:, 3:].sum() == 0


@pytest.mark.reference
def test_unpruned_constant_dimension_follows_the_reference_nan_argmin() -> None:
    """With threshold 0 (the code default), a zero-variance code gives 0/0 = NaN, which wins
    every argmin in numpy (``np.argmin`` returns the first NaN); the score then follows the
    reference (disentanglement_lib's ``evaluation/metrics/factor_vae.py``, ``_prune_dims`` and
    ``_generate_training_sample``)."""
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix("collapsed"))
    expected, _ = _reference_factor_vae(data, represent, 2, threshold=0.0)
    with np.errstate(invalid="ignore"):
        ours = factor_vae_score(
            data, represent, np.random.RandomState(2), **SIZES, prune_threshold=0.0
        )
    assert ours["eval_accuracy"] == expected["eval_accuracy"]
    assert ours["train_accuracy"] == expected["train_accuracy"]


@pytest.mark.reference
def test_constant_code_scores_zero_as_the_reference() -> None:
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix("constant"))
    expected, _ = _reference_factor_vae(data, represent, 0, threshold=0.05)
    ours = factor_vae_score(data, represent, np.random.RandomState(0), **SIZES)
    assert expected["eval_accuracy"] == 0.0
    assert (ours["train_accuracy"], ours["eval_accuracy"], ours["num_active_dims"]) == (0.0, 0.0, 0)


def test_identity_code_scores_one() -> None:
    """Fixing factor k makes code k constant, so every point votes for its own factor."""
    data = FakeGroundTruth(noise=0.5)
    represent = linear_representation(mixing_matrix("identity"))
    score = factor_vae_score(data, represent, np.random.RandomState(0), **SIZES)
    assert score["eval_accuracy"] == 1.0
    assert np.array_equal(np.nonzero(score["train_votes"])[1], np.nonzero(score["train_votes"])[0])


def test_torch_observations_give_the_numpy_score() -> None:
    represent = linear_representation(mixing_matrix("entangled"))
    numpy_score = factor_vae_score(FakeGroundTruth(), represent, np.random.RandomState(1), **SIZES)
    torch_score = factor_vae_score(
        FakeGroundTruth(as_tensor=True), represent, np.random.RandomState(1), **SIZES
    )
    assert torch_score["eval_accuracy"] == numpy_score["eval_accuracy"]
    assert np.array_equal(torch_score["train_votes"], numpy_score["train_votes"])


class _NoSampleObservations:
    num_factors = 3

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> None: ...

    def sample_observations_from_factors(self, factors: Any, rs: np.random.RandomState) -> None: ...


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"dataset": _NoSampleObservations()}, TypeError, "lacks sample_observations"),
        ({"random_state": None}, TypeError, "numpy.random.RandomState"),
        ({"batch_size": 1}, ValueError, "unbiased variance needs two points"),
        ({"num_eval": 0}, ValueError, "num_eval must be at least 1"),
        ({"prune_threshold": float("nan")}, ValueError, "prune_threshold"),
        ({"represent": lambda x: np.full((len(x), 2), np.inf)}, ValueError, "NaN or infinite"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call_sampling_metric(factor_vae_score, SIZES, change)
