"""Where the sampling metrics get the codes of the observations they draw.

Two sources with one interface (:class:`CodeSource`): a metric adds, in the reference's order,
the factors it has drawn (and, through the source, the observations of those factors or of random
points), then asks for the codes of everything added since its last request.

- :class:`DirectEncoding` renders each observation as it is added, with the metric's random state
  (so draws a dataset makes while rendering keep their place in the stream), and encodes them
  when asked: disentanglement_lib's way, for any dataset.
- A :class:`CodeCache`, for a dataset whose observations are a fixed function of their factor
  classes (it declares ``deterministic_observations = True``): every distinct observation is
  encoded at most once, on first request, and later requests read its code by the mixed-radix
  index of its classes in ``factors_num_values`` (last factor fastest). The metric's random state
  makes exactly the same draws, since such a dataset draws nothing while rendering (checked on
  every render: a dataset that draws anyway raises).

The cache fills lazily rather than encoding the whole grid up front: a full ``evaluate`` draws
about 2.9 million observations from dSprites' 737,280 and touches about 98% of them, so both
would encode about as much there, but a run of the array-level metrics alone (15,000 draws)
encodes 15,000 observations instead of 737,280. Memory: one byte per grid cell for the
filled-mask and ``grid × D × itemsize`` bytes for the codes (29 MB for dSprites at D = 10 in
float32), allocated on the first fill; when that would exceed ``max_bytes`` (default 1 GiB) the
cache keeps nothing and encodes the distinct observations of each request instead.

Encoder batches: the cache encodes ``batch_size`` observations per call, always full batches (a
short last batch is padded with not-yet-encoded cells of the grid, which a full evaluation draws
later anyway, or with repeats when none is left). An encoder whose rounding depends only on the
batch size, as CPU convolutions do, then gives each observation the same code whatever was
cached before, so a metric's score does not depend on which metrics ran before it.
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeGuard

import numpy as np
from numpy.typing import NDArray

from learnable_weights.metrics._sampling import (
    GroundTruthData,
    as_numpy,
    check_count,
    concatenate_observations,
    encode,
)

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "ROUND_OBSERVATIONS",
    "CodeCache",
    "CodeSource",
    "DeterministicGroundTruthData",
    "DirectEncoding",
    "code_source",
    "declares_deterministic_observations",
]

_LOG = logging.getLogger("learnable_weights.metrics.evaluate")

#: Largest code store a :class:`CodeCache` allocates, in bytes (1 GiB).
DEFAULT_CACHE_BYTES = 1 << 30

#: Observations a cached metric draws before it looks their codes up (one round).
ROUND_OBSERVATIONS = 16384

# Observations rendered at once (a multiple of the encoder batch): 2048 RGB 64x64 float32 images
# are 100 MB.
_RENDER_OBSERVATIONS = 2048


class DeterministicGroundTruthData(GroundTruthData, Protocol):
    """A ground-truth dataset that declares its observations a fixed function of the factors.

    Such a dataset promises: ``sample_observations_from_factors(f, rs)`` depends on ``f`` alone
    and draws nothing from ``rs``; ``sample(n, rs)`` draws ``sample_factors(n, rs)`` and returns
    their observations; ``sample_observations(n, rs)`` is the latter part of ``sample(n, rs)``.
    """

    #: ``True`` (exactly) to declare it.
    @property
    def deterministic_observations(self) -> bool: ...

    #: Number of classes of each factor, which index the grid (mixed radix, last fastest).
    @property
    def factors_num_values(self) -> Sequence[int]: ...


def declares_deterministic_observations(
    dataset: object,
) -> TypeGuard[DeterministicGroundTruthData]:
    """Whether ``dataset`` says its observations are a fixed function of its factor classes:
    ``dataset.deterministic_observations is True`` (a user's dataset without the attribute keeps
    the direct path) and a ``factors_num_values`` to index the grid by."""
    return getattr(dataset, "deterministic_observations", False) is True and hasattr(
        dataset, "factors_num_values"
    )


class CodeCache:
    """Codes of a deterministic dataset's observations, each encoded at most once.

    Args:
        dataset: a ground-truth dataset that declares ``deterministic_observations = True``.
        representation_fn: observations ``(n, C, H, W)`` to codes ``(n, D)``.
        batch_size: observations per call of ``representation_fn``.
        max_bytes: the largest code store to allocate (default :data:`DEFAULT_CACHE_BYTES`);
            beyond it nothing is kept between requests.

    Attributes:
        encoded: observations encoded so far (distinct, plus any repeats that padded a batch).
    """

    def __init__(
        self,
        dataset: GroundTruthData,
        representation_fn: Callable[[Any], Any],
        *,
        batch_size: int,
        max_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if not declares_deterministic_observations(dataset):
            raise ValueError(
                f"{type(dataset).__name__} does not declare deterministic_observations = True "
                "(and factors_num_values), so its observations cannot be encoded once and reused; "
                "pass cache=False, or declare it if each observation is a fixed function of its "
                "factor classes and rendering draws nothing from the random state"
            )
        check_count("batch_size", batch_size)
        check_count("max_bytes", max_bytes, minimum=0)
        self.dataset = dataset
        self.representation_fn = representation_fn
        self.batch_size = int(batch_size)
        self.max_bytes = int(max_bytes)
        self.factor_sizes = tuple(int(size) for size in dataset.factors_num_values)
        self.grid_size = math.prod(self.factor_sizes)
        self.encoded = 0
        self._filled: NDArray[np.bool_] | None = np.zeros(self.grid_size, dtype=np.bool_)
        self._codes: NDArray[Any] | None = None
        self._guard = np.random.RandomState(0)
        block = max(1, _RENDER_OBSERVATIONS // self.batch_size)
        self._render_block = block * self.batch_size

    @property
    def stores_codes(self) -> bool:
        """False once the code store was found to exceed ``max_bytes``."""
        return self._filled is not None

    def codes_of(self, factors: Any) -> NDArray[Any]:
        """Codes ``(n, D)`` of the observations of factor classes ``(n, K)``."""
        keys = self._keys(factors)
        if self._filled is None:
            distinct, inverse = np.unique(keys, return_inverse=True)
            return self._encode(self._padded(distinct))[inverse.reshape(-1)]
        missing = np.unique(keys[~self._filled[keys]])
        if missing.size:
            padded = self._padded(missing)
            codes = self._encode(padded)
            self._store(padded, codes)
            if self._filled is None:  # too large to keep: answer from this batch
                position = np.searchsorted(missing, keys)
                return codes[position]
        assert self._codes is not None or keys.size == 0
        if self._codes is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._codes[keys]

    # ---------------------------------------------------------------------------------------

    def _keys(self, factors: Any) -> NDArray[np.int64]:
        classes = as_numpy(factors)
        if classes.ndim != 2 or classes.shape[1] != len(self.factor_sizes):
            raise ValueError(
                f"factors must have shape (n, {len(self.factor_sizes)}), got {classes.shape}"
            )
        keys = np.ravel_multi_index(tuple(classes.T.astype(np.int64)), self.factor_sizes)
        return np.asarray(keys, dtype=np.int64)

    def _padded(self, missing: NDArray[np.int64]) -> NDArray[np.int64]:
        """``missing`` and enough other unencoded cells (or repeats) to fill the last batch."""
        short = -missing.size % self.batch_size
        if not short:
            return missing
        extra = np.zeros(0, dtype=np.int64)
        if self._filled is not None:
            free = ~self._filled
            free[missing] = False
            extra = np.flatnonzero(free)[:short]
        repeats = np.full(short - extra.size, missing[0], dtype=np.int64)
        return np.concatenate([missing, extra.astype(np.int64), repeats])

    def _encode(self, keys: NDArray[np.int64]) -> NDArray[Any]:
        parts = []
        for start in range(0, keys.size, self._render_block):
            block = keys[start : start + self._render_block]
            classes = np.stack(np.unravel_index(block, self.factor_sizes), axis=1)
            observations = self._render(classes.astype(np.int64))
            parts.append(encode(self.representation_fn, observations, self.batch_size))
        self.encoded += keys.size
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _render(self, classes: NDArray[np.int64]) -> Any:
        before: Any = self._guard.get_state()
        observations = self.dataset.sample_observations_from_factors(classes, self._guard)
        after: Any = self._guard.get_state()
        if after[2:4] != before[2:4] or not np.array_equal(after[1], before[1]):
            raise RuntimeError(
                f"{type(self.dataset).__name__} declares deterministic_observations = True but "
                "drew from the random state while rendering observations; its observations are "
                "random, so set deterministic_observations = False (or pass cache=False)"
            )
        return observations

    def _store(self, keys: NDArray[np.int64], codes: NDArray[Any]) -> None:
        assert self._filled is not None
        if self._codes is None:
            needed = self.grid_size * codes.shape[1] * codes.dtype.itemsize
            if needed > self.max_bytes:
                _LOG.info(
                    "the codes of all %d observations would take %.0f MB, more than max_bytes "
                    "(%.0f MB): encoding each request's distinct observations without keeping them",
                    self.grid_size,
                    needed / 1e6,
                    self.max_bytes / 1e6,
                )
                self._filled = None
                return
            self._codes = np.empty((self.grid_size, codes.shape[1]), dtype=codes.dtype)
        self._codes[keys] = codes
        self._filled[keys] = True


class CodeSource(abc.ABC):
    """Collects one round of a metric's draws; :meth:`codes` returns their codes in order."""

    #: Observations a metric should collect per round.
    round_observations: int

    @abc.abstractmethod
    def add(self, factors: Any, random_state: np.random.RandomState) -> None:
        """The observations of factor classes ``(n, K)``: the reference's
        ``sample_observations_from_factors(factors, random_state)``."""

    @abc.abstractmethod
    def add_sample(self, num: int, random_state: np.random.RandomState) -> NDArray[np.int64]:
        """``num`` random points, as ``dataset.sample(num, random_state)``; returns their factor
        classes ``(num, K)``."""

    @abc.abstractmethod
    def add_observations(self, num: int, random_state: np.random.RandomState) -> None:
        """``num`` random observations, as ``dataset.sample_observations(num, random_state)``."""

    @abc.abstractmethod
    def codes(self) -> NDArray[Any]:
        """Codes ``(n, D)`` of everything added since the last call, in the order added."""


class DirectEncoding(CodeSource):
    """Observations rendered as they are drawn and encoded ``batch_size`` at a time."""

    def __init__(
        self, dataset: GroundTruthData, representation_fn: Callable[[Any], Any], batch_size: int
    ) -> None:
        self.dataset, self.representation_fn = dataset, representation_fn
        self.round_observations = self.batch_size = batch_size
        self._pending: list[Any] = []

    def add(self, factors: Any, random_state: np.random.RandomState) -> None:
        self._pending.append(self.dataset.sample_observations_from_factors(factors, random_state))

    def add_sample(self, num: int, random_state: np.random.RandomState) -> NDArray[np.int64]:
        factors, observations = self.dataset.sample(num, random_state)
        self._pending.append(observations)
        return as_numpy(factors).astype(np.int64, copy=False)

    def add_observations(self, num: int, random_state: np.random.RandomState) -> None:
        self._pending.append(self.dataset.sample_observations(num, random_state))

    def codes(self) -> NDArray[Any]:
        observations = concatenate_observations(self._pending)
        self._pending = []
        return encode(self.representation_fn, observations, self.batch_size)


class _CachedCodes(CodeSource):
    """Factors collected per round and their codes read from a :class:`CodeCache`."""

    round_observations = ROUND_OBSERVATIONS

    def __init__(self, cache: CodeCache) -> None:
        self.cache = cache
        self._pending: list[NDArray[np.int64]] = []

    def add(self, factors: Any, random_state: np.random.RandomState) -> None:
        self._pending.append(as_numpy(factors))

    def add_sample(self, num: int, random_state: np.random.RandomState) -> NDArray[np.int64]:
        factors = as_numpy(self.cache.dataset.sample_factors(num, random_state))
        self._pending.append(factors)
        return factors.astype(np.int64, copy=False)

    def add_observations(self, num: int, random_state: np.random.RandomState) -> None:
        self.add_sample(num, random_state)

    def codes(self) -> NDArray[Any]:
        factors = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending = []
        return self.cache.codes_of(factors)


def code_source(
    dataset: GroundTruthData,
    representation_fn: Callable[[Any], Any],
    encode_batch_size: int,
    cache: bool | CodeCache,
) -> CodeSource:
    """The source a sampling metric reads codes from.

    ``cache``: a :class:`CodeCache` to share (it must be for this dataset and function);
    ``True``, a fresh cache if the dataset declares deterministic observations, else direct
    encoding; ``False``, direct encoding.
    """
    if isinstance(cache, CodeCache):
        if cache.dataset is not dataset or cache.representation_fn is not representation_fn:
            raise ValueError(
                "the CodeCache was built for another dataset or representation function; build "
                "one per (dataset, representation_fn) pair"
            )
        return _CachedCodes(cache)
    if not isinstance(cache, bool):
        raise TypeError(f"cache must be a bool or a CodeCache, got {type(cache).__name__}")
    if cache and declares_deterministic_observations(dataset):
        return _CachedCodes(CodeCache(dataset, representation_fn, batch_size=encode_batch_size))
    return DirectEncoding(dataset, representation_fn, encode_batch_size)
