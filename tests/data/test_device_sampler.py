"""DeviceBatchSampler: epochs without replacement, reproducibility, exact resume, packed ==
unpacked storage, rendering procedural dSprites on the device, and DataLoader worker safety."""

from __future__ import annotations

import io
import multiprocessing

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from learnable_weights.data.device_sampler import (
    DeviceBatchSampler,
    _bit_table,
    _pack_bits,
    _unpack_bits,
)
from learnable_weights.data.ground_truth import GroundTruthDataset
from learnable_weights.data.procedural_dsprites import ProceduralDSprites


class GreyGrid(GroundTruthDataset):
    """60 observations (2, 3, 5) whose pixels are multiples of 1/255 seeded by the index."""

    def __init__(self) -> None:
        super().__init__((3, 4, 5), ("a", "b", "c"), (2, 3, 5))

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        levels = (indices[:, None] * 37 + np.arange(30)[None, :] * 11) % 256
        return torch.from_numpy((levels / 255.0).astype(np.float32)).reshape(-1, 2, 3, 5)


class BinaryGrid(GroundTruthDataset):
    """24 random binary observations (1, 5, 7): 35 pixels, not a multiple of 8 bits."""

    def __init__(self, non_binary_from: int | None = None) -> None:
        super().__init__((4, 6), ("a", "b"), (1, 5, 7))
        bits = np.random.RandomState(0).randint(0, 2, size=(24, 1, 5, 7)).astype(np.float32)
        if non_binary_from is not None:
            bits[non_binary_from:, 0, 0, 0] = 0.5
        self.images = torch.from_numpy(bits)

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        return self.images[torch.from_numpy(indices)]


def epoch_indices(sampler: DeviceBatchSampler) -> list[int]:
    indices: list[int] = []
    for _, factors in sampler:
        indices.extend(sampler.dataset.factors_to_index(factors.cpu().numpy()).tolist())
    return indices


# --------------------------------------------------------------------------- epochs
@pytest.mark.parametrize("drop_last", [False, True])
def test_every_index_once_per_epoch(drop_last: bool) -> None:
    sampler = DeviceBatchSampler(GreyGrid(), batch_size=7, seed=0, drop_last=drop_last)
    assert len(sampler) == (8 if drop_last else 9)
    first = epoch_indices(sampler)
    second = epoch_indices(sampler)
    assert sampler.epoch == 1
    for indices in (first, second):
        if drop_last:
            assert len(indices) == 56 and len(set(indices)) == 56
        else:
            assert sorted(indices) == list(range(60))
    assert first != second  # a fresh permutation per epoch


def test_batches_hold_the_dataset_observations_and_factors() -> None:
    data = GreyGrid()
    sampler = DeviceBatchSampler(data, batch_size=16, seed=3)
    images, factors = sampler.next_batch()
    assert images.shape == (16, 2, 3, 5) and images.dtype == torch.float32
    assert factors.shape == (16, 3) and factors.dtype == torch.int64
    indices = data.factors_to_index(factors.numpy())
    torch.testing.assert_close(images, data.observations_at(indices), atol=0, rtol=0)
    assert sampler.storage == "uint8"
    last_images, last_factors = [*sampler][-1]
    assert last_images.shape[0] == 60 - 3 * 16 == last_factors.shape[0]


def test_next_batch_rolls_over_into_the_next_epoch() -> None:
    sampler = DeviceBatchSampler(GreyGrid(), batch_size=25, seed=0, drop_last=True)
    seen = [sampler.next_batch()[1] for _ in range(5)]
    assert sampler.epoch == 2
    assert [len(f) for f in seen] == [25] * 5


def test_replicas_draw_disjoint_equal_shares_of_each_epoch() -> None:
    """60 observations over 4 ranks: 15 each, together every index once per epoch."""
    shares = []
    for rank in range(4):
        sampler = DeviceBatchSampler(GreyGrid(), batch_size=4, seed=8, num_replicas=4, rank=rank)
        assert len(sampler) == 4  # ceil(15 / 4)
        shares.append([epoch_indices(sampler) for _ in range(2)])
    for epoch in range(2):
        indices = [index for share in shares for index in share[epoch]]
        assert sorted(indices) == list(range(60))
    # 60 over 7 ranks: 8 each, the 4 left over are dropped, shares stay disjoint.
    seven = [
        epoch_indices(DeviceBatchSampler(GreyGrid(), batch_size=3, seed=8, num_replicas=7, rank=r))
        for r in range(7)
    ]
    assert all(len(share) == 8 for share in seven)
    assert len({index for share in seven for index in share}) == 56


# --------------------------------------------------------------------------- reproducibility
def draw(sampler: DeviceBatchSampler, count: int) -> list[torch.Tensor]:
    return [sampler.next_batch()[1] for _ in range(count)]


def test_same_seed_same_batches_other_seed_other_batches() -> None:
    first = draw(DeviceBatchSampler(GreyGrid(), batch_size=8, seed=11), 12)
    again = draw(DeviceBatchSampler(GreyGrid(), batch_size=8, seed=11), 12)
    other = draw(DeviceBatchSampler(GreyGrid(), batch_size=8, seed=12), 12)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_given_generator_is_used() -> None:
    generator = torch.Generator().manual_seed(5)
    ours = draw(DeviceBatchSampler(GreyGrid(), batch_size=60, generator=generator), 1)[0]
    expected_order = torch.randperm(60, generator=torch.Generator().manual_seed(5))
    data = GreyGrid()
    np.testing.assert_array_equal(data.factors_to_index(ours.numpy()), expected_order.numpy())


def test_without_seed_the_global_torch_seed_decides() -> None:
    torch.manual_seed(0)
    first = draw(DeviceBatchSampler(GreyGrid(), batch_size=8), 3)
    torch.manual_seed(0)
    again = draw(DeviceBatchSampler(GreyGrid(), batch_size=8), 3)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


@pytest.mark.parametrize("steps_before", [0, 1, 3, 8, 9, 10, 20])
def test_resume_from_a_state_dict_draws_exactly_the_same_batches(steps_before: int) -> None:
    """9 batches per epoch: resume at the start, mid-epoch, at and across epoch boundaries."""
    reference = DeviceBatchSampler(GreyGrid(), batch_size=7, seed=1)
    draw(reference, steps_before)
    saved_epoch = reference.epoch
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    continued = draw(reference, 15)

    resumed = DeviceBatchSampler(GreyGrid(), batch_size=7, seed=999)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.epoch == saved_epoch
    after = draw(resumed, 15)
    assert all(torch.equal(a, b) for a, b in zip(continued, after, strict=True))
    assert resumed.epoch == reference.epoch


def test_a_mismatched_state_is_rejected() -> None:
    state = DeviceBatchSampler(GreyGrid(), batch_size=7, seed=1).state_dict()
    with pytest.raises(ValueError, match="batch_size=7 but this one has 8"):
        DeviceBatchSampler(GreyGrid(), batch_size=8, seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="rank=0 but this one has 1"):
        DeviceBatchSampler(GreyGrid(), batch_size=7, num_replicas=2, rank=1).load_state_dict(
            {**state, "num_replicas": 2}
        )
    with pytest.raises(ValueError, match="state version"):
        DeviceBatchSampler(GreyGrid(), batch_size=7).load_state_dict({**state, "version": 99})


# --------------------------------------------------------------------------- storage
def test_packed_storage_equals_uint8_storage() -> None:
    data = BinaryGrid()
    packed = DeviceBatchSampler(data, batch_size=5, storage="packed", seed=4, chunk_size=7)
    plain = DeviceBatchSampler(data, batch_size=5, storage="uint8", seed=4, chunk_size=7)
    assert packed._images is not None and packed._images.shape == (24, 5)  # ceil(35 / 8)
    assert plain._images is not None and plain._images.shape == (24, 35)
    for (a, fa), (b, fb) in zip(packed, plain, strict=True):
        assert torch.equal(fa, fb)
        assert torch.equal(a, b)
        torch.testing.assert_close(a, data.observations_at(data.factors_to_index(fa.numpy())))


def test_packed_bits_follow_numpy_packbits() -> None:
    data = BinaryGrid()
    sampler = DeviceBatchSampler(data, batch_size=24, storage="packed", seed=0)
    expected = np.packbits(data.images.numpy().astype(np.uint8).reshape(24, 35), axis=1)
    assert sampler._images is not None
    np.testing.assert_array_equal(sampler._images.numpy(), expected)


def test_auto_storage_packs_binary_data_only() -> None:
    assert DeviceBatchSampler(BinaryGrid(), batch_size=4, seed=0).storage == "packed"
    assert DeviceBatchSampler(GreyGrid(), batch_size=4, seed=0).storage == "uint8"
    # Binary in the first chunk, not later: 'auto' falls back to uint8 and keeps every value.
    data = BinaryGrid(non_binary_from=20)
    sampler = DeviceBatchSampler(data, batch_size=24, seed=0, chunk_size=8)
    assert sampler.storage == "uint8"
    images, factors = sampler.next_batch()
    expected = data.observations_at(data.factors_to_index(factors.numpy()))
    # uint8 storage rounds to the nearest multiple of 1/255.
    torch.testing.assert_close(images, expected, atol=1 / 510 + 1e-6, rtol=0)


def test_packed_storage_of_non_binary_data_is_an_error() -> None:
    with pytest.raises(
        ValueError, match=r"storage='packed' needs binary images.*use storage='uint8'"
    ):
        DeviceBatchSampler(GreyGrid(), batch_size=4, storage="packed")


def test_procedural_dsprites_is_rendered_on_the_device_without_storage() -> None:
    data = ProceduralDSprites()
    sampler = DeviceBatchSampler(data, batch_size=32, storage="render", seed=0)
    assert sampler._images is None
    images, factors = sampler.next_batch()
    assert images.shape == (32, 1, 64, 64)
    indices = data.factors_to_index(factors.numpy())
    torch.testing.assert_close(images, data.observations_at(indices), atol=0, rtol=0)
    assert len(sampler) == 737_280 // 32


def test_procedural_copies_are_rendered_on_the_device_and_pack_losslessly() -> None:
    """The stored copy of ProceduralDSprites is built by rendering on the sampler's device."""
    data = ProceduralDSprites()
    sampler = DeviceBatchSampler(data, batch_size=16, storage="render", seed=2)
    chunk = sampler._raw_chunk(245_000, 245_300)  # straddles the square/ellipse boundary
    assert chunk.dtype == torch.uint8
    expected = data.observations_at(np.arange(245_000, 245_300))
    torch.testing.assert_close(chunk.float(), expected.reshape(300, 4096), atol=0, rtol=0)
    unpacked = _unpack_bits(_pack_bits(chunk), 4096, _bit_table(torch.device("cpu")))
    torch.testing.assert_close(unpacked, chunk.float(), atol=0, rtol=0)


# --------------------------------------------------------------------------- arguments
def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DeviceBatchSampler(GreyGrid(), batch_size=0)
    with pytest.raises(ValueError, match="storage must be"):
        DeviceBatchSampler(GreyGrid(), batch_size=4, storage="bits")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a ProceduralDSprites"):
        DeviceBatchSampler(GreyGrid(), batch_size=4, storage="render")
    with pytest.raises(ValueError, match="exceeds the 60 observations"):
        DeviceBatchSampler(GreyGrid(), batch_size=61, drop_last=True)
    with pytest.raises(TypeError, match="must be a GroundTruthDataset"):
        DeviceBatchSampler(Subset(GreyGrid(), range(4)), batch_size=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"rank must be an integer in \[0, 2\)"):
        DeviceBatchSampler(GreyGrid(), batch_size=4, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="cannot share"):
        DeviceBatchSampler(GreyGrid(), batch_size=4, num_replicas=61)
    with pytest.raises(ValueError, match="either seed or generator"):
        DeviceBatchSampler(GreyGrid(), batch_size=4, seed=0, generator=torch.Generator())


def test_a_dataset_transform_is_reported_as_not_applied() -> None:
    data = GreyGrid()
    data.transform = lambda image: image
    with pytest.warns(UserWarning, match="transform is not applied"):
        DeviceBatchSampler(data, batch_size=4, seed=0)


# --------------------------------------------------------------------------- worker processes
@pytest.mark.slow
def test_procedural_dsprites_in_spawned_dataloader_workers() -> None:
    """Spawned workers receive the dataset by pickling: nothing unpicklable may be held."""
    data = ProceduralDSprites()
    indices = [0, 1, 5000, 300_000, 737_279, 42, 77, 123_456]
    loader = DataLoader(
        Subset(data, indices),
        batch_size=3,
        num_workers=2,
        multiprocessing_context=multiprocessing.get_context("spawn"),
    )
    images = torch.cat([batch[0] for batch in loader])
    factors = torch.cat([batch[1] for batch in loader])
    torch.testing.assert_close(images, data.observations_at(indices), atol=0, rtol=0)
    np.testing.assert_array_equal(factors.numpy(), data.index_to_factors(indices))


# --------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("storage", ["uint8", "packed", "render"])
def test_cuda_batches_hold_the_dataset_observations(storage: str) -> None:
    data = ProceduralDSprites() if storage == "render" else BinaryGrid()
    sampler = DeviceBatchSampler(data, batch_size=16, device="cuda", storage=storage, seed=0)  # type: ignore[arg-type]
    images, factors = sampler.next_batch()
    assert images.device.type == "cuda" and factors.device.type == "cuda"
    indices = data.factors_to_index(factors.cpu().numpy())
    torch.testing.assert_close(images.cpu(), data.observations_at(indices), atol=0, rtol=0)


@pytest.mark.cuda
def test_cuda_resume_draws_exactly_the_same_batches() -> None:
    reference = DeviceBatchSampler(GreyGrid(), batch_size=7, device="cuda", seed=1)
    draw(reference, 5)
    state = reference.state_dict()
    continued = draw(reference, 12)
    resumed = DeviceBatchSampler(GreyGrid(), batch_size=7, device="cuda", seed=2)
    resumed.load_state_dict(state)
    after = draw(resumed, 12)
    assert all(torch.equal(a, b) for a, b in zip(continued, after, strict=True))
    assert sorted(epoch_indices(DeviceBatchSampler(GreyGrid(), 7, device="cuda", seed=3))) == list(
        range(60)
    )
