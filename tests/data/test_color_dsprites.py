"""ColorDSprites: disentanglement_lib's colour dSprites side by side with its own code, the
reference's draw order, the colours' range, uncached evaluation, and exact resume of device
batches whose colours the sampler draws."""

from __future__ import annotations

import importlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from fixtures import import_dlib_ground_truth, write_dsprites_npz
from torch.utils.data import DataLoader, Subset

from learnable_weights import data
from learnable_weights.data import (
    ColorDSprites,
    DatasetFileMissingError,
    DeviceBatchSampler,
    DSprites,
    GroundTruthDataset,
    ProceduralDSprites,
)
from learnable_weights.data.device_sampler import Storage
from learnable_weights.data.ground_truth import TintedGroundTruth
from learnable_weights.training import SamplerBatches

DSPRITES_SIZES = (3, 6, 40, 32, 32)
FULL_SIZES = (1, 3, 6, 40, 32, 32)  # disentanglement_lib's dSprites, colour first


class BinaryBase(GroundTruthDataset):
    """24 random binary observations (1, 5, 7), each with at least one pixel set."""

    def __init__(self) -> None:
        super().__init__((4, 6), ("a", "b"), (1, 5, 7))
        bits = np.random.RandomState(0).randint(0, 2, size=(24, 1, 5, 7)).astype(np.float32)
        bits[:, 0, 0, 0] = 1.0
        self.images = torch.from_numpy(bits)

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        return self.images[torch.from_numpy(indices)]


class GreyBase(GroundTruthDataset):
    """12 one-channel observations (1, 4, 4) of multiples of 1/255 (not binary)."""

    def __init__(self) -> None:
        super().__init__((3, 4), ("a", "b"), (1, 4, 4))

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        levels = (indices[:, None] * 53 + np.arange(16)[None, :] * 29) % 256
        return torch.from_numpy((levels / 255.0).astype(np.float32)).reshape(-1, 1, 4, 4)


def reference_dsprites() -> Any:
    """disentanglement_lib's ``data/ground_truth/dsprites.py``; skips the test when the library is
    missing, unless LW_REQUIRE_REFERENCE (or CI) asks for the parity evidence."""
    flag = os.environ.get("LW_REQUIRE_REFERENCE", "") or os.environ.get("CI", "")
    if flag.strip().lower() not in ("", "0", "false", "no"):
        try:
            import disentanglement_lib  # noqa: F401
        except ImportError:
            pytest.fail("disentanglement_lib is required (LW_REQUIRE_REFERENCE or CI is set)")
    return import_dlib_ground_truth("dsprites")


def same_position(ours: np.random.RandomState, theirs: np.random.RandomState) -> None:
    """Both random states are at the same point of the same stream."""
    mine, other = ours.get_state(legacy=False), theirs.get_state(legacy=False)
    np.testing.assert_array_equal(mine["state"]["key"], other["state"]["key"])
    assert mine["state"]["pos"] == other["state"]["pos"]
    assert (mine["has_gauss"], mine["gauss"]) == (other["has_gauss"], other["gauss"])


def colours_of(coloured: torch.Tensor, plain: torch.Tensor) -> torch.Tensor:
    """The per-image colour ``(N, 3)`` of ``coloured`` ``(N, 3, H, W)`` over binary ``plain``
    ``(N, 1, H, W)``, after checking that every channel is ``plain`` times one constant."""
    assert coloured.dtype == torch.float32
    assert coloured.shape == (plain.shape[0], 3, *plain.shape[2:])
    mask = plain[:, 0] == 1
    assert bool(mask.flatten(1).any(dim=1).all()), "every image needs a set pixel"
    assert bool((coloured.permute(1, 0, 2, 3)[:, ~mask] == 0).all())  # background stays black
    colours = torch.stack(
        [image[:, m].amax(dim=1) for image, m in zip(coloured, mask, strict=True)]
    )
    torch.testing.assert_close(coloured, plain * colours[:, :, None, None], atol=0, rtol=0)
    assert bool(((colours >= 0.5) & (colours < 1.0)).all())
    return colours


# --------------------------------------------------------------------------- the definition
def test_factors_shape_and_flags() -> None:
    dataset = ColorDSprites()
    assert isinstance(dataset.base, ProceduralDSprites)
    assert isinstance(dataset, TintedGroundTruth)
    assert dataset.factor_sizes == DSPRITES_SIZES
    assert dataset.factor_names == ProceduralDSprites().factor_names
    assert dataset.observation_shape == (3, 64, 64)
    assert len(dataset) == 737_280
    assert dataset.deterministic_observations is False
    assert dataset.source == "procedural"


def test_bad_bases_are_rejected() -> None:
    with pytest.raises(TypeError, match="base must be a GroundTruthDataset"):
        ColorDSprites(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one-channel"):
        ColorDSprites(ColorDSprites(BinaryBase()))
    with pytest.raises(ValueError, match="pass the transform to ColorDSprites"):
        ColorDSprites(ProceduralDSprites(transform=lambda image: image))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        ColorDSprites().tint(torch.zeros(2, 3, 4, 4))


# --------------------------------------------------------------------------- disentanglement_lib
@pytest.mark.reference
@pytest.mark.parametrize("base", [ProceduralDSprites, GreyBase])
@pytest.mark.parametrize("seed", [0, 12345])
def test_colours_equal_disentanglement_libs(
    base: Callable[[], GroundTruthDataset], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference's ColorDSprites.sample_observations_from_factors on our base images."""
    dsprites = reference_dsprites()
    dataset = ColorDSprites(base())
    factors = dataset.sample_factors(40, np.random.RandomState(seed + 1))
    plain = dataset.base.observations_at(dataset.factors_to_index(factors)).numpy()
    given: list[npt.NDArray[np.int64]] = []

    def no_color(classes: npt.NDArray[np.int64], random_state: object) -> npt.NDArray[Any]:
        given.append(classes)
        return np.ascontiguousarray(plain.transpose(0, 2, 3, 1))  # NHWC, as the reference's

    reference = object.__new__(dsprites.ColorDSprites)  # its __init__ reads the dSprites file
    monkeypatch.setattr(reference, "sample_observations_from_factors_no_color", no_color)
    ours, theirs = np.random.RandomState(seed), np.random.RandomState(seed)
    expected = reference.sample_observations_from_factors(factors, theirs)  # (N, 64, 64, 3)
    observations = dataset.sample_observations_from_factors(factors, ours)
    np.testing.assert_array_equal(given[0], factors)
    assert expected.dtype == np.float64 and observations.dtype == torch.float32
    np.testing.assert_array_equal(
        observations.numpy(), expected.transpose(0, 3, 1, 2).astype(np.float32)
    )
    same_position(ours, theirs)


class LazyImages:
    """Stands in for the reference's ``images`` array (737,280 x 64 x 64 uint8): rows on demand."""

    def __init__(self, base: GroundTruthDataset) -> None:
        self.base = base

    def __getitem__(self, indices: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        return self.base.observations_at(indices)[:, 0].to(torch.uint8).numpy()


@pytest.mark.reference
def test_sample_equals_disentanglement_libs_color_dsprites() -> None:
    """End to end: the reference's ``color_dsprites`` (latent factors [1, 2, 3, 4, 5] of the
    6 dSprites factors) draws its factors, fills the constant colour factor, looks the images
    up and colours them; ours draws the same from one seed."""
    dsprites = reference_dsprites()
    util = import_dlib_ground_truth("util")
    dataset = ColorDSprites()
    reference = object.__new__(dsprites.ColorDSprites)
    reference.latent_factor_indices = [1, 2, 3, 4, 5]
    reference.data_shape = [64, 64, 3]
    reference.images = LazyImages(dataset.base)
    reference.factor_sizes = np.array(FULL_SIZES, dtype=np.int64)
    reference.full_factor_sizes = list(FULL_SIZES)
    reference.factor_bases = np.prod(FULL_SIZES) / np.cumprod(FULL_SIZES)
    reference.state_space = util.SplitDiscreteStateSpace(reference.factor_sizes, [1, 2, 3, 4, 5])
    assert reference.factors_num_values == dataset.factors_num_values
    ours, theirs = np.random.RandomState(3), np.random.RandomState(3)
    for num in (1, 16, 33):
        factors, observations = dataset.sample(num, ours)
        expected_factors, expected = reference.sample(num, theirs)
        np.testing.assert_array_equal(factors, expected_factors)
        np.testing.assert_array_equal(
            observations.numpy(), expected.transpose(0, 3, 1, 2).astype(np.float32)
        )
    same_position(ours, theirs)


# --------------------------------------------------------------------------- draw order
def test_sample_draws_the_factors_then_the_colours() -> None:
    dataset = ColorDSprites()
    num = 12
    stream = np.random.RandomState(21)
    expected_factors = np.stack([stream.randint(size, size=num) for size in DSPRITES_SIZES], 1)
    expected_colours = stream.uniform(0.5, 1, size=(num, 1, 1, 3)).reshape(num, 3)
    ours = np.random.RandomState(21)
    factors, observations = dataset.sample(num, ours)
    np.testing.assert_array_equal(factors, expected_factors)
    plain = dataset.base.observations_at(dataset.factors_to_index(factors))
    colours = colours_of(observations, plain)
    np.testing.assert_array_equal(colours.numpy(), expected_colours.astype(np.float32))
    same_position(ours, stream)
    # sample_observations is the second half of sample.
    again = dataset.sample_observations(num, np.random.RandomState(21))
    torch.testing.assert_close(again, observations, atol=0, rtol=0)


def test_no_observation_draws_no_colour() -> None:
    dataset = ColorDSprites(BinaryBase())
    state = np.random.RandomState(4)
    empty = dataset.sample_observations_from_factors(np.zeros((0, 2), dtype=np.int64), state)
    assert empty.shape == (0, 3, 5, 7) and empty.dtype == torch.float32
    same_position(state, np.random.RandomState(4))


def test_the_transform_applies_to_the_coloured_images() -> None:
    dataset = ColorDSprites(BinaryBase(), transform=lambda image: image[:1] * 2)
    observations = dataset.sample_observations(5, np.random.RandomState(0))
    plain = ColorDSprites(BinaryBase()).sample_observations(5, np.random.RandomState(0))
    torch.testing.assert_close(observations, plain[:, :1] * 2, atol=0, rtol=0)


# --------------------------------------------------------------------------- range and shape
def test_every_channel_is_the_base_times_a_colour_in_range() -> None:
    dataset = ColorDSprites()
    factors, observations = dataset.sample(64, np.random.RandomState(0))
    plain = dataset.base.observations_at(dataset.factors_to_index(factors))
    colours = colours_of(observations, plain)
    assert len(set(colours.flatten().tolist())) == colours.numel()  # drawn independently


def test_map_style_access_draws_from_the_global_torch_generator() -> None:
    dataset = ColorDSprites()
    torch.manual_seed(0)
    image, factors = dataset[1234]
    torch.manual_seed(0)
    again, _ = dataset[1234]
    torch.testing.assert_close(image, again, atol=0, rtol=0)
    plain = dataset.base.observations_at([1234])
    colours_of(image[None], plain)
    np.testing.assert_array_equal(factors.numpy(), dataset.index_to_factors(1234))
    other, _ = dataset[1234]  # the generator has moved on: another colour
    assert not torch.equal(image, other)
    indices = [0, 5000, 300_000, 737_279]
    observations = dataset.observations_at(indices)
    colours_of(observations, dataset.base.observations_at(indices))
    loader = DataLoader(Subset(dataset, indices), batch_size=2, num_workers=0)
    batches = [images for images, _ in loader]
    colours_of(torch.cat(batches), dataset.base.observations_at(indices))


def test_tint_draws_every_float32_colour_in_range_from_the_generator() -> None:
    dataset = ColorDSprites(BinaryBase())
    ones = torch.ones(4000, 1, 2, 2)
    tinted = dataset.tint(ones, torch.Generator().manual_seed(0))
    again = dataset.tint(ones, torch.Generator().manual_seed(0))
    torch.testing.assert_close(tinted, again, atol=0, rtol=0)
    colours = tinted[:, :, 0, 0]
    assert float(colours.min()) >= 0.5 and float(colours.max()) < 1.0
    steps = (colours.double() - 0.5) * 2.0**24  # 0.5 + k / 2**24, k in [0, 2**23)
    torch.testing.assert_close(steps, steps.round(), atol=0, rtol=0)
    assert abs(float(colours.mean()) - 0.75) < 0.01
    # Data-parallel: rank r takes rows r, r + R, ... of the colours of the global batch.
    joint = dataset.tint(torch.ones(6, 1, 1, 1), torch.Generator().manual_seed(1))
    for rank in range(2):
        share = dataset.tint(
            torch.ones(3, 1, 1, 1), torch.Generator().manual_seed(1), num_replicas=2, rank=rank
        )
        torch.testing.assert_close(share, joint[rank::2], atol=0, rtol=0)


# --------------------------------------------------------------------------- metrics
def test_evaluate_encodes_every_draw_instead_of_caching(monkeypatch: pytest.MonkeyPatch) -> None:
    from learnable_weights.metrics import _codes, evaluate

    # The module, which the package's function of the same name hides as an attribute.
    evaluate_module = importlib.import_module("learnable_weights.metrics.evaluate")

    class NoCache:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a dataset with random observations must not be cached")

    monkeypatch.setattr(evaluate_module, "CodeCache", NoCache)
    monkeypatch.setattr(_codes, "CodeCache", NoCache)
    encoded: list[int] = []

    def represent(images: torch.Tensor) -> torch.Tensor:
        assert images.shape[1:] == (3, 64, 64)
        encoded.append(len(images))
        return images.flatten(2).sum(dim=2)  # (n, 3): the sprite's colour times its area

    dataset = ColorDSprites()
    settings = {"mig": {"num_train": 300}}
    cached = evaluate(dataset, represent, ["mig"], settings=settings, progress=False)
    assert sum(encoded) == 300  # every draw encoded, none looked up
    direct = evaluate(dataset, represent, ["mig"], settings=settings, cache=False, progress=False)
    assert cached.headline() == direct.headline()


# --------------------------------------------------------------------------- device batches
def draw(source: SamplerBatches, count: int) -> list[torch.Tensor]:
    return [source.next_batch() for _ in range(count)]


@pytest.mark.parametrize("steps_before", [0, 3, 4, 9])
def test_sampler_batches_resume_with_the_same_colours(steps_before: int) -> None:
    """4 batches of 5 per epoch (24 observations): resume mid-epoch and across epochs."""
    dataset = ColorDSprites(BinaryBase())
    reference = SamplerBatches(dataset, 5, device="cpu", seed=1)
    assert reference.sampler.storage == "packed"  # the binary base, not the colour images
    assert reference.sampler._images is not None
    assert reference.sampler._images.shape == (24, 5)  # 35 bits per image
    draw(reference, steps_before)
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    continued = draw(reference, 10)
    resumed = SamplerBatches(dataset, 5, device="cpu", seed=999)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    after = draw(resumed, 10)
    assert all(torch.equal(a, b) for a, b in zip(continued, after, strict=True))


def test_sampler_colours_come_from_its_generator_and_are_in_its_state() -> None:
    dataset = ColorDSprites(BinaryBase())
    sampler = DeviceBatchSampler(dataset, batch_size=6, seed=2)
    first = sampler.state_dict()["generator_state"]
    images, factors = sampler.next_batch()
    plain = dataset.base.observations_at(dataset.factors_to_index(factors.numpy()))
    colours_of(images, plain)
    after_one = sampler.state_dict()["generator_state"]
    sampler.next_batch()
    after_two = sampler.state_dict()["generator_state"]
    # Within an epoch only the colours draw from the generator, and the state records them.
    assert not torch.equal(first, after_one) and not torch.equal(after_one, after_two)
    twin = DeviceBatchSampler(dataset, batch_size=6, seed=2)
    twin_images, twin_factors = twin.next_batch()
    assert torch.equal(images, twin_images) and torch.equal(factors, twin_factors)


def test_procedural_base_is_rendered_and_resumes_exactly() -> None:
    dataset = ColorDSprites()
    reference = SamplerBatches(dataset, 8, device="cpu", seed=3, storage="render")
    assert reference.sampler._images is None
    images, factors = reference.sampler.next_batch()
    plain = dataset.base.observations_at(dataset.factors_to_index(factors.numpy()))
    colours_of(images, plain)
    state = reference.state_dict()
    continued = draw(reference, 3)
    resumed = SamplerBatches(dataset, 8, device="cpu", seed=4, storage="render")
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(continued, draw(resumed, 3), strict=True))


def test_ranks_draw_different_colours() -> None:
    dataset = ColorDSprites(BinaryBase())
    batches = [
        DeviceBatchSampler(dataset, 4, seed=5, num_replicas=2, rank=rank).next_batch()
        for rank in range(2)
    ]
    colours = [
        colours_of(images, dataset.base.observations_at(dataset.factors_to_index(f.numpy())))
        for images, f in batches
    ]
    assert not torch.equal(colours[0], colours[1])


def test_render_needs_a_procedural_base() -> None:
    with pytest.raises(ValueError, match="needs a ProceduralDSprites"):
        DeviceBatchSampler(ColorDSprites(BinaryBase()), batch_size=4, storage="render")


# --------------------------------------------------------------------------- registry
def test_load_builds_colour_dsprites_from_procedural_or_real_dsprites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNABLE_WEIGHTS_DATA", str(tmp_path))
    procedural = data.load("color-dsprites", supersample=2)
    assert isinstance(procedural, ColorDSprites)
    assert isinstance(procedural.base, ProceduralDSprites) and procedural.base.supersample == 2
    with pytest.raises(DatasetFileMissingError):
        data.load("color-dsprites", source="real", download=False)
    write_dsprites_npz(tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    real = data.load("color_dsprites", source="real", download=False, transform=lambda x: x)
    assert isinstance(real, ColorDSprites) and isinstance(real.base, DSprites)
    assert real.source == "real" and real.transform is not None
    assert real.factor_sizes == (3, 2, 2, 2, 2)
    factors, observations = real.sample(4, np.random.RandomState(0))
    colours_of(observations, real.base.observations_at(real.factors_to_index(factors)))
    with pytest.raises(ValueError, match="source must be 'procedural' or 'real'"):
        data.load("color-dsprites", source="scream")


# --------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("storage", ["auto", "render"])
def test_cuda_batches_are_tinted_on_the_device_and_resume_exactly(storage: Storage) -> None:
    dataset = ColorDSprites()
    if storage == "auto":  # a stored copy of the full grid takes a while: use a small base
        dataset = ColorDSprites(BinaryBase())
    sampler = DeviceBatchSampler(dataset, 16, device="cuda", storage=storage, seed=0)
    images, factors = sampler.next_batch()
    assert images.device.type == "cuda" and images.dtype == torch.float32
    plain = dataset.base.observations_at(dataset.factors_to_index(factors.cpu().numpy()))
    colours_of(images.cpu(), plain)
    state = sampler.state_dict()
    continued = [sampler.next_batch()[0] for _ in range(5)]
    resumed = DeviceBatchSampler(dataset, 16, device="cuda", storage=storage, seed=1)
    resumed.load_state_dict(state)
    after = [resumed.next_batch()[0] for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(continued, after, strict=True))
