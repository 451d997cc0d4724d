"""The base class of every ground-truth dataset: a full factorial grid of images.

A ground-truth dataset holds one observation for every combination of its discrete factors of
variation, stored in mixed-radix order with the last factor varying fastest (dSprites, 3D Shapes,
MPI3D, Falcor3D and Isaac3D are all laid out this way). :class:`GroundTruthDataset` is both

* a map-style :class:`torch.utils.data.Dataset`: ``dataset[i]`` is ``(image, factor_classes)``, and
* disentanglement_lib's ground-truth duck type (``GroundTruthData`` in
  ``disentanglement_lib/data/ground_truth/ground_truth_data.py``): ``num_factors``,
  ``factors_num_values``, ``observation_shape``, ``sample_factors``,
  ``sample_observations_from_factors``, ``sample`` and ``sample_observations``, drawing from a given
  :class:`numpy.random.RandomState` in the same order as disentanglement_lib, so that one seed
  gives the same factors here and there.

Subclasses implement one method, :meth:`GroundTruthDataset._observations_at`, which returns the
observations for an array of flat indices; storage-backed and rendered datasets share the rest.

A dataset whose observations are a random function of another dataset's (colour dSprites: a binary
sprite times a random colour) also follows :class:`TintedGroundTruth`: it names the deterministic
``base`` dataset and a batched ``tint``, so that
:class:`~learnable_weights.data.DeviceBatchSampler` can hold the base observations on the device
and tint each batch there.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

__all__ = ["GroundTruthDataset", "TintedGroundTruth", "Transform"]

Transform = Callable[[torch.Tensor], torch.Tensor]
"""Maps one float32 image ``(C, H, W)`` in [0, 1] to a tensor (the model's input)."""


class GroundTruthDataset(Dataset[tuple[torch.Tensor, torch.Tensor]], abc.ABC):
    """A full factorial grid of observations indexed by discrete factor classes.

    Args:
        factor_sizes: number of classes of each factor, in index order (last factor fastest),
            e.g. ``[3, 6, 40, 32, 32]`` for dSprites without its constant colour.
        factor_names: one name per factor, e.g. ``["shape", "scale", ...]``.
        observation_shape: ``(C, H, W)`` of one observation as :meth:`_observations_at`
            returns it (before ``transform``).
        transform: optional callable applied to each ``(C, H, W)`` float32 image returned by
            ``dataset[i]``, :meth:`sample_observations_from_factors`, :meth:`sample` and
            :meth:`sample_observations` (not by :meth:`observations_at`, which returns the raw
            observations used to build device-resident copies).

    Subclasses must implement :meth:`_observations_at`. To stay safe in DataLoader worker
    processes they must not create file handles or other unpicklable state in ``__init__``:
    open files lazily, on first use, in the process that reads them.

    Index convention (as disentanglement_lib's ``StateSpaceAtomIndex``): for classes
    ``(c_0, ..., c_{K-1})`` and sizes ``(n_0, ..., n_{K-1})``,
    ``index = sum_k c_k * prod(n_{k+1:})``, i.e. ``numpy.ravel_multi_index`` in C order.
    """

    def __init__(
        self,
        factor_sizes: Sequence[int],
        factor_names: Sequence[str],
        observation_shape: Sequence[int],
        transform: Transform | None = None,
    ) -> None:
        sizes = tuple(int(size) for size in factor_sizes)
        names = tuple(str(name) for name in factor_names)
        shape = tuple(int(dim) for dim in observation_shape)
        if not sizes:
            raise ValueError("factor_sizes is empty: a ground-truth dataset needs >= 1 factor.")
        if any(size < 1 for size in sizes):
            raise ValueError(f"factor_sizes must all be >= 1, got {list(sizes)}.")
        if len(names) != len(sizes):
            raise ValueError(
                f"got {len(names)} factor_names for {len(sizes)} factor_sizes; "
                "give exactly one name per factor."
            )
        if len(set(names)) != len(names):
            raise ValueError(f"factor_names must be unique, got {list(names)}.")
        if len(shape) != 3 or any(dim < 1 for dim in shape):
            raise ValueError(
                f"observation_shape must be (C, H, W) with positive sizes, got {shape}."
            )
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}.")
        self._factor_sizes = sizes
        self._factor_names = names
        self._observation_shape: tuple[int, int, int] = (shape[0], shape[1], shape[2])
        self._num_observations = math.prod(sizes)
        self.transform = transform

    # ------------------------------------------------------------------ subclass hook
    @abc.abstractmethod
    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        """Return the observations at validated flat indices.

        Args:
            indices: int64 array ``(N,)``, every entry in ``[0, len(self))``; may repeat and
                need not be sorted.

        Returns:
            float32 tensor ``(N, C, H, W)`` in [0, 1] on the CPU, row ``n`` being the observation
            at ``indices[n]``.
        """

    # ------------------------------------------------------------------ description
    @property
    def num_factors(self) -> int:
        """Number of ground-truth factors ``K``."""
        return len(self._factor_sizes)

    @property
    def factors_num_values(self) -> list[int]:
        """Number of classes of each factor, in index order (disentanglement_lib's name)."""
        return list(self._factor_sizes)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of classes of each factor, in index order."""
        return self._factor_sizes

    @property
    def factor_names(self) -> tuple[str, ...]:
        """Name of each factor, in index order."""
        return self._factor_names

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one observation (before ``transform``)."""
        return self._observation_shape

    @property
    def deterministic_observations(self) -> bool:
        """Whether each observation is a fixed function of its factor classes.

        True when there is no ``transform`` (a transform may be random): every subclass stores or
        renders one image per grid cell and draws nothing from the random state while sampling
        observations. ``learnable_weights.metrics.evaluate`` then encodes each distinct
        observation once. A subclass whose observations are random (noise, random colours)
        must return False. To evaluate with a deterministic preprocessing at full speed, apply
        it inside the representation function instead of as a ``transform``.
        """
        return self.transform is None

    def __len__(self) -> int:
        return self._num_observations

    def __repr__(self) -> str:
        factors = ", ".join(
            f"{name}={size}"
            for name, size in zip(self._factor_names, self._factor_sizes, strict=True)
        )
        return (
            f"{type(self).__name__}(num_observations={self._num_observations}, "
            f"observation_shape={self._observation_shape}, factors=[{factors}])"
        )

    # ------------------------------------------------------------------ index <-> factors
    def factors_to_index(self, factors: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Flat indices of factor classes.

        Args:
            factors: integer array ``(N, K)`` (or one row ``(K,)``) of factor classes.

        Returns:
            int64 array ``(N,)`` (or a 0-d array for one row) of indices into the dataset.
        """
        array = self._validated_factors(factors)
        indices = np.ravel_multi_index(tuple(np.moveaxis(array, -1, 0)), self._factor_sizes)
        return np.asarray(indices, dtype=np.int64)

    def index_to_factors(self, indices: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Factor classes of flat indices (inverse of :meth:`factors_to_index`).

        Args:
            indices: integer array ``(N,)`` or a scalar, each in ``[0, len(self))``.

        Returns:
            int64 array ``(N, K)`` (or ``(K,)`` for a scalar) of factor classes.
        """
        array = self._validated_indices(indices)
        factors = np.stack(np.unravel_index(array, self._factor_sizes), axis=-1)
        return np.asarray(factors, dtype=np.int64)

    # ------------------------------------------------------------------ map-style dataset
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(image, factor_classes)``: float32 ``(C, H, W)`` in [0, 1], int64 ``(K,)``.

        Negative indices count from the end, as for sequences.
        """
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"{type(self).__name__} indices must be integers, got {type(index).__name__}; "
                "use observations_at() for arrays of indices."
            )
        position = int(index)
        if position < 0:
            position += self._num_observations
        flat = self._validated_indices(np.array([position], dtype=np.int64))
        image = self._checked_observations(self._observations_at(flat), 1)[0]
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.from_numpy(self.index_to_factors(flat)[0])

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[self[i] for i in indices]`` with one :meth:`_observations_at` call.

        :class:`torch.utils.data.DataLoader` uses this to fetch a whole batch at once.
        """
        if len(indices) == 0:
            return []
        flat = self._validated_indices(np.asarray(indices).reshape(-1))
        images = self._checked_observations(self._observations_at(flat), flat.shape[0])
        factors = torch.from_numpy(self.index_to_factors(flat))
        if self.transform is not None:
            return [
                (self.transform(image), row) for image, row in zip(images, factors, strict=True)
            ]
        return list(zip(images, factors, strict=True))

    def observations_at(self, indices: npt.ArrayLike) -> torch.Tensor:
        """Raw observations at flat indices, without ``transform``.

        Args:
            indices: integer array ``(N,)`` of indices in ``[0, len(self))``.

        Returns:
            float32 tensor ``(N, C, H, W)`` in [0, 1] on the CPU.
        """
        flat = self._validated_indices(indices)
        if flat.ndim != 1:
            raise ValueError(f"indices must be a 1-D array, got shape {flat.shape}.")
        return self._checked_observations(self._observations_at(flat), flat.shape[0])

    # ------------------------------------------------------------------ disentanglement_lib API
    def sample_factors(
        self, num: int, random_state: np.random.RandomState
    ) -> npt.NDArray[np.int64]:
        """Draw factor classes uniformly at random, as disentanglement_lib does.

        Each factor in index order takes ``random_state.randint(size_k, size=num)``
        (``SplitDiscreteStateSpace.sample_latent_factors`` with every factor latent), so a
        RandomState with the same seed yields the same factors here and in disentanglement_lib.

        Args:
            num: number of samples ``N`` (>= 0).
            random_state: the source of randomness; it is advanced.

        Returns:
            int64 array ``(N, K)``.
        """
        count = _checked_count(num)
        _check_random_state(random_state)
        factors = np.zeros((count, self.num_factors), dtype=np.int64)
        for k, size in enumerate(self._factor_sizes):
            factors[:, k] = random_state.randint(size, size=count)
        return factors

    def sample_observations_from_factors(
        self, factors: npt.ArrayLike, random_state: np.random.RandomState
    ) -> torch.Tensor:
        """Observations of given factor classes.

        Every factor is reported, so nothing is drawn from ``random_state`` (as in
        disentanglement_lib when all factors are latent); it is accepted for the duck type.

        Args:
            factors: integer array ``(N, K)`` of factor classes.
            random_state: unused here; part of disentanglement_lib's interface.

        Returns:
            float32 tensor ``(N, C, H, W)`` in [0, 1] (after ``transform``, if any).
        """
        _check_random_state(random_state)
        array = self._validated_factors(factors)
        if array.ndim != 2:
            raise ValueError(f"factors must have shape (N, {self.num_factors}), got {array.shape}.")
        observations = self.observations_at(self.factors_to_index(array))
        return self._transformed(observations)

    def sample(
        self, num: int, random_state: np.random.RandomState
    ) -> tuple[npt.NDArray[np.int64], torch.Tensor]:
        """Draw factors, then their observations: ``(int64 (N, K), float32 (N, C, H, W))``."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num: int, random_state: np.random.RandomState) -> torch.Tensor:
        """Observations of random factors: float32 ``(N, C, H, W)``."""
        return self.sample(num, random_state)[1]

    # ------------------------------------------------------------------ helpers
    def _transformed(self, observations: torch.Tensor) -> torch.Tensor:
        if self.transform is None:
            return observations
        if observations.shape[0] == 0:
            return observations
        return torch.stack([self.transform(image) for image in observations])

    def _validated_factors(self, factors: npt.ArrayLike) -> npt.NDArray[np.int64]:
        array = _as_integer_array(factors, "factors")
        if array.ndim not in (1, 2) or array.shape[-1] != self.num_factors:
            raise ValueError(
                f"factors must have shape (N, {self.num_factors}) or ({self.num_factors},) "
                f"for {self.num_factors} factors {list(self._factor_names)}, got {array.shape}."
            )
        sizes = np.array(self._factor_sizes, dtype=np.int64)
        bad = (array < 0) | (array >= sizes)
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad.reshape(-1, self.num_factors))[0])
            value = int(array.reshape(-1, self.num_factors)[row, column])
            raise ValueError(
                f"factor '{self._factor_names[column]}' (column {column}) has class {value} "
                f"in row {row}; classes must lie in [0, {sizes[column] - 1}]."
            )
        return array

    def _validated_indices(self, indices: npt.ArrayLike) -> npt.NDArray[np.int64]:
        array = _as_integer_array(indices, "indices")
        bad = (array < 0) | (array >= self._num_observations)
        if bad.any():
            value = int(array[bad].flat[0])
            raise IndexError(
                f"index {value} is out of range for {type(self).__name__} with "
                f"{self._num_observations} observations; indices must lie in "
                f"[0, {self._num_observations - 1}]."
            )
        return array

    def _checked_observations(self, observations: torch.Tensor, count: int) -> torch.Tensor:
        expected = (count, *self._observation_shape)
        if tuple(observations.shape) != expected or observations.dtype != torch.float32:
            raise RuntimeError(
                f"{type(self).__name__}._observations_at returned {observations.dtype} "
                f"{tuple(observations.shape)}; it must return float32 {expected}."
            )
        return observations


@runtime_checkable
class TintedGroundTruth(Protocol):
    """A dataset whose observations are a base dataset's, randomly tinted one by one.

    The contract :class:`~learnable_weights.data.DeviceBatchSampler` relies on: ``base`` has the
    same factor grid (sizes and index order) and deterministic observations ``(C0, H, W)``, and
    an observation at index ``i`` is ``tint(base observation at i)`` with fresh randomness per
    observation. The sampler then stores (or renders) the base observations and tints each batch
    on the device with its own generator, so a resumed run draws the same tints.
    :class:`~learnable_weights.data.ColorDSprites` is one.
    """

    @property
    def base(self) -> GroundTruthDataset:
        """The wrapped dataset of untinted observations (same factors, same index order)."""
        ...

    def tint(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> torch.Tensor:
        """Tint a batch of base observations with randomness drawn from ``generator``.

        Args:
            images: float32 ``(B, C0, H, W)`` base observations on any device.
            generator: a :class:`torch.Generator` on ``images.device``; ``None`` uses torch's
                default generator of that device.
            num_replicas, rank: under data-parallel training, draw the randomness of the
                global batch of ``num_replicas * B`` observations (one draw, the same on every
                rank when the generators agree) and use its rows ``rank, rank + num_replicas,
                ...``, so that the ranks' batches get independent tints.

        Returns:
            float32 ``(B, C, H, W)`` on ``images.device``.
        """
        ...


def _as_integer_array(values: npt.ArrayLike, what: str) -> npt.NDArray[np.int64]:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array: npt.NDArray[Any] = np.asarray(values)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{what} must be integers, got an array of dtype {array.dtype}.")
    return array.astype(np.int64, copy=False)


def _checked_count(num: int) -> int:
    if isinstance(num, (bool, np.bool_)) or not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"num must be a non-negative integer, got {num!r}.")
    return int(num)


def _check_random_state(random_state: np.random.RandomState) -> None:
    if not isinstance(random_state, np.random.RandomState):
        raise TypeError(
            "random_state must be a numpy.random.RandomState (as in disentanglement_lib), got "
            f"{type(random_state).__name__}; use numpy.random.RandomState(seed)."
        )
