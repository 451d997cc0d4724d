"""BetaVAE score: same seed, same score as disentanglement_lib's ``compute_beta_vae_sklearn``.

Also home of :class:`FakeGroundTruth` and the representation functions that the FactorVAE and
``evaluate`` tests share.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from tests.metrics.reference import import_reference

from learnable_weights.metrics import beta_vae_score

FACTOR_SIZES = (3, 4, 5)
PIXELS = (1, 2, 4)  # (C, H, W) of an observation


class FakeGroundTruth:
    """A ground-truth dataset whose observations are a known function of the factors.

    Observation ``(1, 2, 4)``: pixel ``k`` (``k < K``) holds ``factor_k / (size_k - 1)``; the other
    pixels hold ``noise * uniform(0, 1)`` drawn from the random state while rendering, so the
    tests also check that draws made by the dataset keep their place in the stream.
    Factors are drawn column by column, as disentanglement_lib's ``SplitDiscreteStateSpace``.
    """

    def __init__(
        self,
        factor_sizes: tuple[int, ...] = FACTOR_SIZES,
        noise: float = 0.1,
        as_tensor: bool = False,
    ) -> None:
        self.factors_num_values = list(factor_sizes)
        self.observation_shape = PIXELS
        self.noise = noise
        self.as_tensor = as_tensor

    @property
    def num_factors(self) -> int:
        return len(self.factors_num_values)

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> NDArray[np.int64]:
        columns = [random_state.randint(size, size=num) for size in self.factors_num_values]
        return np.stack(columns, axis=1).astype(np.int64)

    def sample_observations_from_factors(
        self, factors: NDArray[np.int64], random_state: np.random.RandomState
    ) -> Any:
        num = len(factors)
        flat = self.noise * random_state.uniform(size=(num, int(np.prod(PIXELS))))
        scale = np.asarray(self.factors_num_values, dtype=np.float64) - 1.0
        flat[:, : self.num_factors] = factors / scale
        observations = flat.reshape(num, *PIXELS).astype(np.float32)
        return torch.from_numpy(observations) if self.as_tensor else observations

    def sample(self, num: int, random_state: np.random.RandomState) -> tuple[Any, Any]:
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num: int, random_state: np.random.RandomState) -> Any:
        return self.sample(num, random_state)[1]


def linear_representation(mixing: NDArray[np.float32]) -> Any:
    """Codes ``(n, D)`` = flattened observations ``(n, 8)`` times ``mixing`` ``(8, D)``, float32.

    Computed as a sum of the 8 products in pixel order, so that each code's rounding does not
    depend on how many observations come in one call (a BLAS matmul may round differently for
    different batch sizes, which would change the codes, not the metrics' arithmetic). Tensors
    are computed in numpy and returned as tensors.
    """

    def represent(observations: Any) -> Any:
        as_tensor = isinstance(observations, torch.Tensor)
        flat = np.asarray(observations, dtype=np.float32).reshape(len(observations), -1)
        codes = np.zeros((len(flat), mixing.shape[1]), dtype=np.float32)
        for pixel in range(flat.shape[1]):
            codes += flat[:, pixel, None] * mixing[pixel]
        return torch.from_numpy(codes) if as_tensor else codes

    return represent


def mixing_matrix(kind: str, num_codes: int = 5) -> NDArray[np.float32]:
    """``(8, D)`` mixings: ``identity`` (one factor per code), ``entangled`` (random), ``collapsed``
    (identity with code 3 constant), ``constant`` (every code constant)."""
    matrix = np.zeros((int(np.prod(PIXELS)), num_codes), dtype=np.float32)
    if kind in ("identity", "collapsed"):
        matrix[: len(FACTOR_SIZES), : len(FACTOR_SIZES)] = np.eye(len(FACTOR_SIZES))
        matrix[len(FACTOR_SIZES) :, len(FACTOR_SIZES) :] = 0.5  # codes 3, 4 see only the noise
        if kind == "collapsed":
            matrix[:, 3] = 0.0
    elif kind == "entangled":
        matrix[:] = np.random.RandomState(7).normal(size=matrix.shape)
    elif kind != "constant":
        raise ValueError(kind)
    return matrix


def _reference_beta_vae(
    data: FakeGroundTruth, represent: Any, seed: int, **sizes: int
) -> tuple[dict[str, Any], np.random.RandomState]:
    module = import_reference("beta_vae")
    random_state = np.random.RandomState(seed)
    return dict(
        module.compute_beta_vae_sklearn(data, represent, random_state, **sizes)
    ), random_state


SIZES = {"batch_size": 8, "num_train": 300, "num_eval": 150}


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
def test_constant_code_scores_chance_as_the_reference() -> None:
    """All features are 0, so the classifier predicts one factor: about 1/K (metrics.md §12.2)."""
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
    arguments: dict[str, Any] = {
        "dataset": FakeGroundTruth(),
        "represent": linear_representation(mixing_matrix("identity")),
        "random_state": np.random.RandomState(0),
        **SIZES,
    }
    arguments.update(change)
    dataset, represent, random_state = (
        arguments.pop("dataset"),
        arguments.pop("represent"),
        arguments.pop("random_state"),
    )
    with pytest.raises(error, match=message):
        beta_vae_score(dataset, represent, random_state, **arguments)
