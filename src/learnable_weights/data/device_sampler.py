"""Shuffled batches drawn on the training device, with no DataLoader and no host copies.

:class:`DeviceBatchSampler` copies a whole ground-truth dataset to the training device once
(as uint8, or bit-packed when the images are binary, like dSprites: 737,280 x 512 bytes, about
0.38 GB) and then draws each batch with one gather on the device, so a training step spends no
time in worker processes, collation or host-to-device transfers. For :class:`ProceduralDSprites`
it can instead render every batch on the device from its factors, holding no images at all.

A dataset with random observations derived from a deterministic one, such as
:class:`~learnable_weights.data.ColorDSprites` (it follows
:class:`~learnable_weights.data.ground_truth.TintedGroundTruth`), is held as its ``base`` (stored
or rendered as above, e.g. bit-packed binary sprites) and each batch is tinted on the device
with the sampler's own generator, right after its images are gathered.

Batches follow epochs without replacement (a fresh ``torch.randperm`` per epoch from the
sampler's own :class:`torch.Generator`), and :meth:`DeviceBatchSampler.state_dict` records the
epoch, the position inside it, the generator state at the epoch's start and the current one
(which includes the tints drawn so far), so a run resumed from a checkpoint draws exactly the
batches it would have drawn, tints included. Under data-parallel training
each process (``rank`` of ``num_replicas``) draws a disjoint share of every epoch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np
import torch

from learnable_weights.data.ground_truth import GroundTruthDataset, TintedGroundTruth
from learnable_weights.data.procedural_dsprites import ProceduralDSprites

__all__ = ["DeviceBatchSampler", "Storage"]

Storage = Literal["auto", "uint8", "packed", "render"]
"""How the sampler holds the dataset: ``"uint8"`` (one byte per pixel), ``"packed"`` (one bit
per pixel; binary images only), ``"render"`` (nothing stored; :class:`ProceduralDSprites` only)
or ``"auto"`` (``"packed"`` if the images are binary, else ``"uint8"``). For a
:class:`~learnable_weights.data.ground_truth.TintedGroundTruth` dataset (colour dSprites) this
applies to its ``base``: ``"render"`` then needs a procedural base."""

_STATE_VERSION = 1
_BIT_SHIFTS = (7, 6, 5, 4, 3, 2, 1, 0)  # most significant bit first, as numpy.packbits


class DeviceBatchSampler:
    """Draws shuffled batches of a ground-truth dataset held (or rendered) on a device.

    Args:
        dataset: the dataset; its ``transform`` is not applied (batches are raw observations).
            A :class:`~learnable_weights.data.ground_truth.TintedGroundTruth` (e.g.
            :class:`~learnable_weights.data.ColorDSprites`) is held as its ``base`` and each
            batch is tinted on the device with colours from this sampler's generator.
        batch_size: images per batch ``B``.
        device: where the data lives and batches are made (default: CPU).
        storage: see :data:`Storage`.
        drop_last: end each epoch before a last batch smaller than ``B``; otherwise the last
            batch of an epoch holds the remaining observations.
        seed: seed of the sampler's own generator on ``device``; ``None`` draws one from
            torch's global generator (so ``torch.manual_seed`` makes runs repeatable).
        generator: use this generator (on ``device``) instead of a seeded one.
        chunk_size: observations copied to the device at a time while building the stored
            copy, which bounds the host memory used.
        num_replicas: number of processes sharing each epoch (data-parallel training, e.g.
            the world size under torchrun); give every process the same ``seed``.
        rank: this process's share, in ``[0, num_replicas)``. Each epoch's permutation is the
            same on every rank; rank ``r`` takes its entries ``r, r + num_replicas, ...``, after
            dropping the last ``len(dataset) % num_replicas`` so that all shares are equal.

    With ``storage`` ``"uint8"``, observations are rounded to multiples of 1/255 (exact for
    datasets stored as 8-bit images, which all the benchmark datasets are).

    Example::

        sampler = DeviceBatchSampler(ProceduralDSprites(), batch_size=64, device="cuda", seed=0)
        images, factors = sampler.next_batch()  # (64, 1, 64, 64) float32, (64, 5) int64
        for images, factors in sampler:          # the rest of the current epoch
            ...
    """

    def __init__(
        self,
        dataset: GroundTruthDataset,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        storage: Storage = "auto",
        drop_last: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        chunk_size: int = 16384,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not isinstance(dataset, GroundTruthDataset):
            raise TypeError(
                f"dataset must be a GroundTruthDataset, got {type(dataset).__name__}; "
                "wrap other data in a GroundTruthDataset subclass."
            )
        _check_positive_int(batch_size, "batch_size")
        _check_positive_int(chunk_size, "chunk_size")
        _check_positive_int(num_replicas, "num_replicas")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an integer in [0, {num_replicas}), got {rank!r}.")
        share = len(dataset) // num_replicas
        if share == 0:
            raise ValueError(
                f"{num_replicas} replicas cannot share the {len(dataset)} observations."
            )
        if storage not in ("auto", "uint8", "packed", "render"):
            raise ValueError(
                f"storage must be 'auto', 'uint8', 'packed' or 'render', got {storage!r}."
            )
        tinted = dataset if isinstance(dataset, TintedGroundTruth) else None
        source = dataset if tinted is None else tinted.base
        if source.factor_sizes != dataset.factor_sizes:
            raise ValueError(
                f"the base of {type(dataset).__name__} has factor sizes "
                f"{list(source.factor_sizes)}, not {list(dataset.factor_sizes)}."
            )
        if storage == "render" and not isinstance(source, ProceduralDSprites):
            raise ValueError(
                "storage='render' renders batches from factors and needs a ProceduralDSprites "
                f"dataset (or one tinting a ProceduralDSprites base), got "
                f"{type(source).__name__}; use storage='auto'."
            )
        if drop_last and batch_size > share:
            raise ValueError(
                f"batch_size {batch_size} exceeds the {share} observations of an epoch "
                f"(of {len(dataset)} in the dataset, over {num_replicas} replica(s)) and "
                "drop_last=True, so an epoch would hold no batch."
            )
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both.")
        if dataset.transform is not None:
            warnings.warn(
                f"{type(dataset).__name__}.transform is not applied by DeviceBatchSampler: "
                "batches are raw observations in [0, 1]; transform them on the device.",
                UserWarning,
                stacklevel=2,
            )
        self.dataset = dataset
        # What is stored or rendered: the dataset itself, or the base of a tinted dataset.
        self._source = source
        self._tinted: TintedGroundTruth | None = tinted
        self.batch_size = int(batch_size)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.drop_last = bool(drop_last)
        if generator is None:
            generator = torch.Generator(device=self.device)
            if seed is None:
                seed = int(torch.randint(0, 2**62, (), dtype=torch.int64).item())
            generator.manual_seed(int(seed))
        elif generator.device.type != self.device.type:
            raise ValueError(
                f"generator is on {generator.device} but the sampler is on {self.device}; "
                f"create it with torch.Generator(device={str(self.device)!r})."
            )
        self.generator = generator
        self._num_observations = len(dataset)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self._share = share  # observations per epoch for this rank
        self._sizes = torch.tensor(dataset.factor_sizes, dtype=torch.int64, device=self.device)
        self._bases = torch.tensor(
            [math.prod(dataset.factor_sizes[k + 1 :]) for k in range(dataset.num_factors)],
            dtype=torch.int64,
            device=self.device,
        )
        self._pixels = math.prod(source.observation_shape)
        self._images: torch.Tensor | None = None
        self._bit_table = _bit_table(self.device)
        if storage == "render":
            self.storage: Storage = "render"
        else:
            self.storage, self._images = self._build(storage, chunk_size)
        # Epoch bookkeeping (see state_dict).
        self._epoch = 0
        self._position = 0
        self._epoch_start_state: torch.Tensor | None = None
        self._permutation: torch.Tensor | None = None

    # ------------------------------------------------------------------ building the copy
    def _build(self, storage: Storage, chunk_size: int) -> tuple[Storage, torch.Tensor]:
        """Copy the dataset to the device chunk by chunk, as uint8 or packed bits."""
        count = self._num_observations
        chosen = storage
        stored: torch.Tensor | None = None
        for start in range(0, count, chunk_size):
            stop = min(start + chunk_size, count)
            chunk = self._raw_chunk(start, stop)  # (n, P) on the device
            binary = isinstance(self._source, ProceduralDSprites) or bool(
                ((chunk == 0) | (chunk == 1)).all()
            )
            if chosen == "auto":
                chosen = "packed" if binary else "uint8"
            if chosen == "packed" and not binary:
                if storage == "packed":
                    raise ValueError(
                        f"storage='packed' needs binary images, but observations "
                        f"{start}..{stop - 1} of {type(self._source).__name__} have values "
                        "other than 0 and 1; use storage='uint8'."
                    )
                return self._build("uint8", chunk_size)  # 'auto' guessed from earlier chunks
            if chosen == "packed":
                encoded = _pack_bits(chunk)
            elif chunk.dtype == torch.uint8:  # rendered procedural images in {0, 1}
                encoded = chunk * 255
            else:
                encoded = chunk.mul(255.0).round_().to(torch.uint8)
            if stored is None:
                stored = torch.empty(
                    (count, encoded.shape[1]), dtype=torch.uint8, device=self.device
                )
            stored[start:stop] = encoded
        assert stored is not None  # a GroundTruthDataset has at least one observation
        return chosen, stored

    def _raw_chunk(self, start: int, stop: int) -> torch.Tensor:
        """Observations ``start..stop-1`` as ``(n, C*H*W)`` on the device: float32 in [0, 1],
        or uint8 in {0, 1} for procedural dSprites, rendered there (no host copy). For a tinted
        dataset these are its base's observations."""
        if isinstance(self._source, ProceduralDSprites):
            indices = torch.arange(start, stop, dtype=torch.int64, device=self.device)
            images = self._source.render(self._factors_of(indices), dtype=torch.uint8)
        else:
            images = self._source.observations_at(np.arange(start, stop, dtype=np.int64))
            images = images.to(self.device)
        return images.reshape(stop - start, self._pixels)

    # ------------------------------------------------------------------ drawing batches
    def __len__(self) -> int:
        """Batches per epoch (for this rank)."""
        if self.drop_last:
            return self._share // self.batch_size
        return math.ceil(self._share / self.batch_size)

    @property
    def epoch(self) -> int:
        """Index of the current epoch (0 for the first)."""
        return self._epoch

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw the next batch of the current epoch, starting a new epoch when it is used up.

        Returns:
            ``(images, factors)``: float32 ``(B, C, H, W)`` in [0, 1] and int64 ``(B, K)``
            factor classes, both on the sampler's device.
        """
        if self._permutation is None:
            self._start_epoch()
        elif self._position >= self._epoch_end():
            self._epoch += 1
            self._start_epoch()
        assert self._permutation is not None
        indices = self._permutation[self._position : self._position + self.batch_size]
        self._position += int(indices.shape[0])
        return self.batch_at(indices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the remaining batches of the current epoch (a whole epoch if at its end)."""
        if self._permutation is not None and self._position >= self._epoch_end():
            self._epoch += 1
            self._start_epoch()
        while self._permutation is None or self._position < self._epoch_end():
            yield self.next_batch()

    def batch_at(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and factors of given flat dataset indices (an int64 tensor ``(B,)``).

        For a tinted dataset the base images are gathered (or rendered), then tinted with
        randomness drawn from the sampler's generator (which this call advances).

        Returns float32 ``(B, C, H, W)`` in [0, 1] and int64 ``(B, K)`` on the device.
        """
        indices = indices.to(self.device, torch.int64)
        factors = self._factors_of(indices)
        if self.storage == "render":
            assert isinstance(self._source, ProceduralDSprites)
            images = self._source.render(factors)
        else:
            assert self._images is not None
            rows = self._images.index_select(0, indices)
            if self.storage == "packed":
                flat = _unpack_bits(rows, self._pixels, self._bit_table)
            else:
                flat = rows.to(torch.float32).div_(255.0)
            images = flat.reshape(-1, *self._source.observation_shape)
        if self._tinted is not None:
            images = self._tinted.tint(
                images, self.generator, num_replicas=self.num_replicas, rank=self.rank
            )
        return images, factors

    def _factors_of(self, indices: torch.Tensor) -> torch.Tensor:
        """Mixed-radix digits (last factor fastest) of flat indices: int64 ``(B, K)``."""
        return torch.div(indices[:, None], self._bases, rounding_mode="floor") % self._sizes

    def _epoch_end(self) -> int:
        if self.drop_last:
            return (self._share // self.batch_size) * self.batch_size
        return self._share

    def _start_epoch(self) -> None:
        self._epoch_start_state = self.generator.get_state()
        permutation = torch.randperm(
            self._num_observations, generator=self.generator, device=self.device
        )
        self._permutation = permutation[
            self.rank : self._share * self.num_replicas : self.num_replicas
        ]
        self._position = 0

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume mid-epoch: epoch, position and generator states.

        ``generator_state`` is the generator's current state, so it covers the draws made since
        the epoch's permutation (a tinted dataset's colours): the resumed sampler draws the same
        ones.
        """
        return {
            "version": _STATE_VERSION,
            "num_observations": self._num_observations,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "num_replicas": self.num_replicas,
            "rank": self.rank,
            "epoch": self._epoch,
            "position": self._position,
            "epoch_started": self._permutation is not None,
            "epoch_start_generator_state": (
                None if self._epoch_start_state is None else self._epoch_start_state.clone()
            ),
            "generator_state": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next batch is the one the saved run drew next."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(
                f"unsupported DeviceBatchSampler state version {state.get('version')!r}; "
                f"expected {_STATE_VERSION}."
            )
        for key, mine in (
            ("num_observations", self._num_observations),
            ("batch_size", self.batch_size),
            ("drop_last", self.drop_last),
            ("num_replicas", self.num_replicas),
            ("rank", self.rank),
        ):
            if state[key] != mine:
                raise ValueError(
                    f"the saved sampler had {key}={state[key]!r} but this one has {mine!r}; "
                    "resume with the same dataset, batch_size, drop_last, num_replicas and rank."
                )
        if state["epoch_started"]:
            start_state = state["epoch_start_generator_state"]
            self.generator.set_state(start_state)
            self._start_epoch()  # regenerates the saved epoch's permutation
            position = int(state["position"])
            if not 0 <= position <= self._epoch_end():
                raise ValueError(f"saved position {position} is outside the epoch.")
            self._position = position
        else:
            self._permutation = None
            self._epoch_start_state = None
            self._position = 0
        self.generator.set_state(state["generator_state"])
        self._epoch = int(state["epoch"])


def _pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """Binary ``(n, P)`` (any real dtype) -> uint8 ``(n, ceil(P / 8))``, most significant bit
    first (as ``numpy.packbits``)."""
    count, pixels = bits.shape
    padded = torch.zeros((count, math.ceil(pixels / 8) * 8), dtype=torch.uint8, device=bits.device)
    padded[:, :pixels] = bits.to(torch.uint8)
    weights = torch.tensor([1 << shift for shift in _BIT_SHIFTS], dtype=torch.uint8)
    return (padded.view(count, -1, 8) * weights.to(bits.device)).sum(dim=2, dtype=torch.uint8)


def _bit_table(device: torch.device) -> torch.Tensor:
    """float32 ``(256, 8)``: row ``b`` holds the bits of byte ``b``, most significant first."""
    values = torch.arange(256, dtype=torch.int64, device=device)[:, None]
    shifts = torch.tensor(_BIT_SHIFTS, dtype=torch.int64, device=device)
    return ((values >> shifts) & 1).to(torch.float32)


def _unpack_bits(packed: torch.Tensor, pixels: int, table: torch.Tensor) -> torch.Tensor:
    """uint8 ``(n, ceil(P / 8))`` -> float32 ``(n, P)`` in {0, 1} (inverse of :func:`_pack_bits`).

    A lookup in the 256-row bit ``table`` (:func:`_bit_table`), which is faster than shifting
    bytes on the CPU and no slower on a GPU.
    """
    bits = table[packed.to(torch.int64)]  # (n, ceil(P / 8), 8)
    return bits.view(packed.shape[0], -1)[:, :pixels]


def _check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
