"""Batch sources resume where they stopped and shard epochs between ranks."""

from __future__ import annotations

import torch

from learnable_weights.training import LoaderBatches


class Numbered(torch.utils.data.Dataset[torch.Tensor]):
    """Item ``i`` is a 1x1x1 image holding ``i``."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.full((1, 1, 1), float(index))


def draw(source: LoaderBatches, count: int) -> list[list[int]]:
    return [source.next_batch().flatten().int().tolist() for _ in range(count)]


def test_loader_batches_resume_exactly_across_epochs() -> None:
    through = draw(LoaderBatches(Numbered(), 3, device="cpu", seed=5, num_workers=0), 7)
    first = LoaderBatches(Numbered(), 3, device="cpu", seed=5, num_workers=0)
    head = draw(first, 4)
    second = LoaderBatches(Numbered(), 3, device="cpu", seed=5, num_workers=0)
    second.load_state_dict(first.state_dict())
    assert head + draw(second, 3) == through
    epoch = [item for batch in through[:3] for item in batch]
    assert len(set(epoch)) == 9  # three batches of an epoch of 10 (the last one dropped)


def test_loader_batches_shard_each_epoch_between_ranks() -> None:
    ranks = [
        LoaderBatches(Numbered(), 2, device="cpu", seed=0, num_workers=0, num_replicas=2, rank=r)
        for r in range(2)
    ]
    shares = [[item for batch in draw(source, 2) for item in batch] for source in ranks]
    assert not set(shares[0]) & set(shares[1])
    assert len(shares[0]) == len(shares[1]) == 4
