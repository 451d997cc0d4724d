"""A fake ground-truth dataset and linear representations, shared by the sampling-metric tests.

:class:`FakeGroundTruth` follows disentanglement_lib's ground-truth data interface with tiny
observations that are a known function of the factors; :func:`linear_representation` of a
:func:`mixing_matrix` gives codes from them. Used by the BetaVAE, FactorVAE and ``evaluate`` tests
and by ``benchmarks/metric_parity_full.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

FACTOR_SIZES = (3, 4, 5)
PIXELS = (1, 2, 4)  # (C, H, W) of an observation


class FakeGroundTruth:
    """A ground-truth dataset whose observations are a known function of the factors.

    Observation ``(1, 2, 4)``: pixel ``k`` (``k < K``) holds ``factor_k / (size_k - 1)``; the other
    pixels hold ``noise * uniform(0, 1)`` drawn from the random state while rendering, so the
    tests also check that draws made by the dataset keep their place in the stream.
    With ``deterministic=True`` they hold instead ``noise`` times a fixed pseudo-random number of
    the factors (a texture per grid cell; nothing is drawn) and the dataset declares
    ``deterministic_observations``, so the metrics may encode each observation once.
    Factors are drawn column by column, as disentanglement_lib's ``SplitDiscreteStateSpace``.
    """

    def __init__(
        self,
        factor_sizes: tuple[int, ...] = FACTOR_SIZES,
        noise: float = 0.1,
        as_tensor: bool = False,
        deterministic: bool = False,
    ) -> None:
        self.factors_num_values = list(factor_sizes)
        self.observation_shape = PIXELS
        self.noise = noise
        self.as_tensor = as_tensor
        self.deterministic_observations = deterministic

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
        if self.deterministic_observations:
            index = np.ravel_multi_index(tuple(np.asarray(factors).T), self.factors_num_values)
            texture = (np.asarray(index)[:, None] * 0.6180339887 * np.arange(1, 9)) % 1.0
            flat = self.noise * texture
        else:
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


def call_sampling_metric(metric: Any, sizes: Mapping[str, object], change: dict[str, Any]) -> Any:
    """Calls ``metric(dataset, represent, random_state, **sizes)`` on the identity code of a
    `FakeGroundTruth`, with the entries of ``change`` (any of those names) replaced."""
    arguments: dict[str, Any] = {
        "dataset": FakeGroundTruth(),
        "represent": linear_representation(mixing_matrix("identity")),
        "random_state": np.random.RandomState(0),
        **sizes,
        **change,
    }
    dataset = arguments.pop("dataset")
    represent = arguments.pop("represent")
    random_state = arguments.pop("random_state")
    return metric(dataset, represent, random_state, **arguments)
