"""The code cache: each distinct observation encoded once, the same codes and draws as encoding
every draw, bounded memory, and a clear error for a dataset that breaks its promise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.metrics.fake_data import FakeGroundTruth, linear_representation, mixing_matrix

from learnable_weights.metrics._codes import (
    CodeCache,
    DirectEncoding,
    code_source,
    declares_deterministic_observations,
)

SIZES = (10, 12, 15)  # 1800 cells


class CountingRepresentation:
    """A linear representation that records every observation it encodes."""

    def __init__(self) -> None:
        self.represent = linear_representation(mixing_matrix("entangled"))
        self.rows: list[bytes] = []
        self.calls: list[int] = []

    def __call__(self, observations: Any) -> Any:
        array = np.asarray(observations)
        self.rows.extend(row.tobytes() for row in array)
        self.calls.append(len(array))
        return self.represent(observations)


def _draw_factors(data: FakeGroundTruth, num: int, seed: int) -> np.ndarray:
    return data.sample_factors(num, np.random.RandomState(seed))


def test_codes_equal_direct_encoding_and_each_observation_is_encoded_once() -> None:
    data = FakeGroundTruth(SIZES, deterministic=True)
    counting = CountingRepresentation()
    cache = CodeCache(data, counting, batch_size=64)
    direct = linear_representation(mixing_matrix("entangled"))
    drawn: set[int] = set()
    for seed, num in ((0, 500), (1, 3000), (2, 4000)):
        factors = _draw_factors(data, num, seed)
        drawn.update(np.ravel_multi_index(tuple(factors.T), SIZES).tolist())
        expected = direct(data.sample_observations_from_factors(factors, np.random.RandomState(0)))
        codes = cache.codes_of(factors)
        assert codes.dtype == np.float32
        assert np.array_equal(codes, expected)
    # Every call a full batch; every drawn observation encoded, none twice (only the batch that
    # filled the grid's last free cell may repeat one as padding).
    assert set(counting.calls) == {64}
    assert len(drawn) <= len(set(counting.rows)) <= 1800
    assert cache.encoded == len(counting.rows) < len(set(counting.rows)) + 64


def test_a_short_batch_is_padded_with_cells_not_yet_encoded() -> None:
    data = FakeGroundTruth(SIZES, deterministic=True)
    counting = CountingRepresentation()
    cache = CodeCache(data, counting, batch_size=64)
    cache.codes_of(_draw_factors(data, 10, 0))
    assert counting.calls == [64] and len(set(counting.rows)) == 64
    # The padding cells are cached: asking for them encodes nothing more.
    assert cache._filled is not None
    padded = np.flatnonzero(cache._filled)
    cache.codes_of(np.stack(np.unravel_index(padded, SIZES), axis=1))
    assert counting.calls == [64]


def test_past_max_bytes_nothing_is_kept_and_the_codes_are_the_same() -> None:
    data = FakeGroundTruth(SIZES, deterministic=True)
    counting = CountingRepresentation()
    cache = CodeCache(data, counting, batch_size=16, max_bytes=1800 * 5 * 4 - 1)
    factors = _draw_factors(data, 700, 3)
    first = cache.codes_of(factors)
    second = cache.codes_of(factors)
    assert not cache.stores_codes
    assert np.array_equal(first, second)
    expected = linear_representation(mixing_matrix("entangled"))(
        data.sample_observations_from_factors(factors, np.random.RandomState(0))
    )
    assert np.array_equal(first, expected)
    distinct = len(np.unique(np.ravel_multi_index(tuple(factors.T), SIZES)))
    assert sum(counting.calls) == 2 * (distinct + (-distinct % 16))  # encoded again, uniquely


def test_a_dataset_that_draws_while_rendering_is_refused() -> None:
    class Lying(FakeGroundTruth):
        """Declares deterministic observations, yet draws while rendering."""

        def sample_observations_from_factors(
            self, factors: Any, random_state: np.random.RandomState
        ) -> Any:
            random_state.uniform()
            return super().sample_observations_from_factors(factors, random_state)

    lying = Lying(SIZES, deterministic=True)
    cache = CodeCache(lying, linear_representation(mixing_matrix("identity")), batch_size=8)
    with pytest.raises(RuntimeError, match="drew from the random state while rendering"):
        cache.codes_of(_draw_factors(lying, 5, 0))


def test_only_a_declared_deterministic_dataset_is_cached() -> None:
    represent = linear_representation(mixing_matrix("identity"))

    class Undeclared:
        factors_num_values = (2, 3)

    class Truthy:
        factors_num_values = (2, 3)
        deterministic_observations = 1  # not True: not a declaration

    assert declares_deterministic_observations(FakeGroundTruth(deterministic=True))
    for dataset in (FakeGroundTruth(), Undeclared(), Truthy()):
        assert not declares_deterministic_observations(dataset)
        assert isinstance(code_source(dataset, represent, 8, True), DirectEncoding)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not declare deterministic_observations"):
        CodeCache(FakeGroundTruth(), represent, batch_size=8)
    data = FakeGroundTruth(deterministic=True)
    assert isinstance(code_source(data, represent, 8, False), DirectEncoding)
    cache = CodeCache(data, represent, batch_size=8)
    with pytest.raises(ValueError, match="another dataset or representation"):
        code_source(data, linear_representation(mixing_matrix("identity")), 8, cache)
    with pytest.raises(TypeError, match="cache must be a bool or a CodeCache"):
        code_source(data, represent, 8, "yes")  # type: ignore[arg-type]
