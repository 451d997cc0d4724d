"""Where training batches come from: a resumable source of image batches on the training device.

A `BatchSource` gives ``next_batch()`` → float32 ``(B, C, H, W)`` on its device, and a
``state_dict`` from which a resumed run draws exactly the batches it would have drawn.

- `SamplerBatches`: a ground-truth dataset held (or, for procedural dSprites, rendered) on the
  device by `learnable_weights.data.DeviceBatchSampler`; one gather per batch, no workers, no
  host copies. The default for every ground-truth dataset. A dataset with random colours
  (`learnable_weights.data.ColorDSprites`) is held as its base images and each batch is tinted
  on the device with the sampler's generator, whose state the checkpoint keeps.
- `LoaderBatches`: any map-style dataset (CelebA, which has no factors, or a dataset too large to
  copy to the device) read through a ``DataLoader`` with workers, in shuffled epochs whose order
  depends only on ``(seed, epoch)``, so the state is just the epoch and the position in it.

Under data-parallel training each source is built with ``num_replicas`` and ``rank``: every rank
takes its own share of the same epoch permutation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils.data import DataLoader, Dataset

from learnable_weights.data.device_sampler import DeviceBatchSampler, Storage
from learnable_weights.data.ground_truth import GroundTruthDataset

__all__ = ["BatchSource", "LoaderBatches", "SamplerBatches"]


@runtime_checkable
class BatchSource(Protocol):
    """A resumable stream of image batches on ``device``."""

    device: torch.device
    batch_size: int

    def next_batch(self) -> torch.Tensor:
        """float32 ``(B, C, H, W)`` on ``device``."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


class SamplerBatches:
    """Batches of a ground-truth dataset from a `DeviceBatchSampler` (images only).

    Args:
        dataset: the ground-truth dataset. For a tinted one (colour dSprites, see
            `learnable_weights.data.ground_truth.TintedGroundTruth`) the sampler holds the base
            images and draws each batch's colours from its own generator, so a resumed run
            draws the same colours.
        batch_size: ``B``.
        device: the training device.
        seed: the sampler's seed (the same on every rank).
        storage: see `learnable_weights.data.device_sampler.Storage`.
        num_replicas, rank: the data-parallel share (see `DeviceBatchSampler`).
    """

    def __init__(
        self,
        dataset: GroundTruthDataset,
        batch_size: int,
        *,
        device: torch.device | str,
        seed: int,
        storage: Storage = "auto",
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.sampler = DeviceBatchSampler(
            dataset,
            batch_size,
            device=device,
            storage=storage,
            drop_last=True,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
        )
        self.device = self.sampler.device
        self.batch_size = batch_size

    def next_batch(self) -> torch.Tensor:
        return self.sampler.next_batch()[0]

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sampler.load_state_dict(state)


class LoaderBatches:
    """Shuffled batches of any map-style dataset through a ``DataLoader`` with workers.

    Items may be images or ``(image, ...)`` tuples (the first element is taken). Each epoch's
    order is ``torch.randperm`` from a generator seeded with ``seed + epoch``; rank ``r`` of
    ``num_replicas`` takes entries ``r, r + num_replicas, ...``; a last incomplete batch is
    dropped. Batches are moved to ``device`` with ``non_blocking`` copies from pinned memory.

    Args:
        dataset: the dataset.
        batch_size: ``B``.
        device: the training device.
        seed: the shuffling seed (the same on every rank).
        num_workers: ``DataLoader`` worker processes (0: read in this process).
        num_replicas, rank: the data-parallel share.
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        batch_size: int,
        *,
        device: torch.device | str,
        seed: int,
        num_workers: int = 2,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        size = len(dataset)  # type: ignore[arg-type]
        share = size // num_replicas
        if share < batch_size:
            raise ValueError(
                f"the dataset's {size} items over {num_replicas} process(es) leave {share} per "
                f"epoch, fewer than one batch of {batch_size}; use a smaller batch size"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.seed = seed
        self.num_workers = num_workers
        self.num_replicas, self.rank = num_replicas, rank
        self._size, self._batches_per_epoch = size, share // batch_size
        self._epoch, self._position = 0, 0  # position: batches of this epoch already drawn
        self._iterator: Iterator[Any] | None = None

    def next_batch(self) -> torch.Tensor:
        if self._position >= self._batches_per_epoch:
            self._epoch, self._position, self._iterator = self._epoch + 1, 0, None
        if self._iterator is None:
            self._iterator = iter(self._loader())
        batch = next(self._iterator)
        self._position += 1
        images: torch.Tensor = batch[0] if isinstance(batch, list | tuple) else batch
        return images.to(self.device, torch.float32, non_blocking=True)

    def _loader(self) -> DataLoader[Any]:
        generator = torch.Generator().manual_seed(self.seed + self._epoch)
        order = torch.randperm(self._size, generator=generator)
        share = order[self.rank :: self.num_replicas][: self._batches_per_epoch * self.batch_size]
        batches = share.view(-1, self.batch_size)[self._position :].tolist()
        return DataLoader(
            self.dataset,
            batch_sampler=batches,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self._epoch,
            "position": self._position,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "num_replicas": self.num_replicas,
            "rank": self.rank,
            "size": self._size,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key, mine in (
            ("seed", self.seed),
            ("batch_size", self.batch_size),
            ("num_replicas", self.num_replicas),
            ("rank", self.rank),
            ("size", self._size),
        ):
            if state[key] != mine:
                raise ValueError(
                    f"the saved batch source had {key}={state[key]!r} but this one has "
                    f"{mine!r}; resume with the same dataset, seed, batch size and processes"
                )
        self._epoch, self._position = int(state["epoch"]), int(state["position"])
        self._iterator = None
