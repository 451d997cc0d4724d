"""GroundTruthDataset: index <-> factor conversions, disentanglement_lib's sampling order, the
map-style dataset protocol, errors, and use from DataLoader worker processes."""

from __future__ import annotations

import pickle

import numpy as np
import numpy.typing as npt
import pytest
import torch
from fixtures import import_dlib_ground_truth
from torch.utils.data import DataLoader

from learnable_weights.data.ground_truth import GroundTruthDataset

SIZES = (2, 3, 4)
NAMES = ("a", "b", "c")


class StampedGrid(GroundTruthDataset):
    """A (1, 2, 3) image per grid point whose pixels encode its flat index: pixel p of
    observation i is ((i * 6 + p) % 256) / 255, so a test can tell which index it got."""

    def __init__(self, sizes: tuple[int, ...] = SIZES, transform: object = None) -> None:
        names = tuple(f"f{k}" for k in range(len(sizes))) if sizes != SIZES else NAMES
        super().__init__(sizes, names, (1, 2, 3), transform)  # type: ignore[arg-type]
        self.calls: list[npt.NDArray[np.int64]] = []

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        self.calls.append(indices.copy())
        return expected_images(indices)


def expected_images(indices: npt.NDArray[np.int64]) -> torch.Tensor:
    pixels = (indices[:, None] * 6 + np.arange(6)[None, :]) % 256
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).reshape(-1, 1, 2, 3)


class WrongShape(StampedGrid):
    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        return torch.zeros(len(indices), 1, 3, 2)


# --------------------------------------------------------------------------- description
def test_describes_the_grid() -> None:
    data = StampedGrid()
    assert data.num_factors == 3
    assert data.factors_num_values == [2, 3, 4]
    assert data.factor_sizes == (2, 3, 4)
    assert data.factor_names == NAMES
    assert data.observation_shape == (1, 2, 3)
    assert len(data) == 24
    assert "StampedGrid(num_observations=24" in repr(data)


# --------------------------------------------------------------------------- index <-> factors
def test_index_to_factors_is_numpys_c_order_unravel() -> None:
    data = StampedGrid()
    indices = np.arange(24)
    expected = np.stack(np.unravel_index(indices, SIZES), axis=1)
    factors = data.index_to_factors(indices)
    assert factors.dtype == np.int64
    np.testing.assert_array_equal(factors, expected)
    # Last factor fastest: index 1 moves the last factor, index 4 = 1 * prod(sizes[2:]).
    np.testing.assert_array_equal(data.index_to_factors(1), [0, 0, 1])
    np.testing.assert_array_equal(data.index_to_factors(4), [0, 1, 0])
    np.testing.assert_array_equal(data.index_to_factors(12), [1, 0, 0])


def test_round_trips_over_a_large_grid() -> None:
    data = StampedGrid((3, 6, 40, 32, 32))
    indices = np.arange(len(data))
    factors = data.index_to_factors(indices)
    np.testing.assert_array_equal(data.factors_to_index(factors), indices)
    np.testing.assert_array_equal(
        data.factors_to_index(factors), np.ravel_multi_index(tuple(factors.T), (3, 6, 40, 32, 32))
    )
    assert data.factors_to_index([2, 5, 39, 31, 31]) == len(data) - 1
    # Torch tensors are accepted as well.
    np.testing.assert_array_equal(data.index_to_factors(torch.tensor([7, 8])), factors[7:9])
    assert data.factors_to_index(torch.from_numpy(factors[5])) == 5


@pytest.mark.reference
def test_factors_to_index_equals_disentanglement_lib() -> None:
    util = import_dlib_ground_truth("util")
    sizes = [3, 6, 40, 32, 32]
    data = StampedGrid(tuple(sizes))
    factors = data.sample_factors(500, np.random.RandomState(3))
    # disentanglement_lib's StateSpaceAtomIndex for a dataset stored in grid order.
    atom_index = util.StateSpaceAtomIndex(sizes, data.index_to_factors(np.arange(len(data))))
    np.testing.assert_array_equal(
        data.factors_to_index(factors), atom_index.features_to_index(factors)
    )


# --------------------------------------------------------------------------- sampling order
@pytest.mark.reference
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_sample_factors_draws_like_disentanglement_lib(seed: int) -> None:
    util = import_dlib_ground_truth("util")
    sizes = [3, 6, 40, 32, 32]
    data = StampedGrid(tuple(sizes))
    ours, theirs = np.random.RandomState(seed), np.random.RandomState(seed)
    state_space = util.SplitDiscreteStateSpace(sizes, list(range(len(sizes))))
    for num in (1, 7, 64):
        expected = state_space.sample_latent_factors(num, theirs)
        np.testing.assert_array_equal(data.sample_factors(num, ours), expected)
    # Both generators have advanced identically.
    assert ours.randint(1 << 30) == theirs.randint(1 << 30)


@pytest.mark.reference
def test_sample_keeps_the_random_state_in_step_with_disentanglement_lib() -> None:
    """dlib's sample() draws the factors, then fills unreported factors (none here)."""
    util = import_dlib_ground_truth("util")
    data = StampedGrid()
    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    factors, images = data.sample(5, ours)
    state_space = util.SplitDiscreteStateSpace(list(SIZES), [0, 1, 2])
    expected = state_space.sample_latent_factors(5, theirs)
    state_space.sample_all_factors(expected, theirs)
    np.testing.assert_array_equal(factors, expected)
    torch.testing.assert_close(images, expected_images(data.factors_to_index(expected)))
    assert ours.randint(1 << 30) == theirs.randint(1 << 30)


def test_sample_factors_is_uniform_over_each_factor() -> None:
    data = StampedGrid()
    factors = data.sample_factors(6000, np.random.RandomState(0))
    assert factors.shape == (6000, 3)
    assert factors.dtype == np.int64
    for k, size in enumerate(SIZES):
        counts = np.bincount(factors[:, k], minlength=size)
        assert counts.size == size
        # Binomial(6000, 1/size) stays within 5 standard deviations of its mean.
        mean = 6000 / size
        assert np.all(np.abs(counts - mean) < 5 * np.sqrt(mean))


def test_sample_observations_are_the_observations_of_the_sampled_factors() -> None:
    data = StampedGrid()
    factors, images = data.sample(9, np.random.RandomState(1))
    assert images.shape == (9, 1, 2, 3)
    assert images.dtype == torch.float32
    torch.testing.assert_close(images, expected_images(data.factors_to_index(factors)))
    again = data.sample_observations(9, np.random.RandomState(1))
    torch.testing.assert_close(again, images)


def test_zero_samples() -> None:
    data = StampedGrid()
    factors, images = data.sample(0, np.random.RandomState(0))
    assert factors.shape == (0, 3)
    assert images.shape == (0, 1, 2, 3)


# --------------------------------------------------------------------------- map-style dataset
def test_getitem_returns_image_and_factor_classes() -> None:
    data = StampedGrid()
    image, factors = data[13]
    torch.testing.assert_close(image, expected_images(np.array([13]))[0])
    assert factors.dtype == torch.int64
    assert factors.tolist() == [1, 0, 1]
    image_last, factors_last = data[-1]
    torch.testing.assert_close(image_last, expected_images(np.array([23]))[0])
    assert factors_last.tolist() == [1, 2, 3]
    image_numpy_index, _ = data[np.int64(13)]
    torch.testing.assert_close(image_numpy_index, image)


def test_getitems_fetches_a_batch_in_one_call() -> None:
    data = StampedGrid(transform=lambda image: image + 1.0)
    items = data.__getitems__([4, 0, 23])
    assert len(data.calls) == 1
    for (image, factors), index in zip(items, [4, 0, 23], strict=True):
        expected_image, expected_factors = data[index]
        torch.testing.assert_close(image, expected_image)
        assert torch.equal(factors, expected_factors)
    with pytest.raises(IndexError, match="out of range"):
        data.__getitems__([24])


def test_transform_applies_to_items_and_samples_but_not_raw_observations() -> None:
    data = StampedGrid(transform=lambda image: image * 2.0)
    image, _ = data[5]
    torch.testing.assert_close(image, 2.0 * expected_images(np.array([5]))[0])
    factors = np.array([[0, 1, 1], [1, 2, 3]])
    sampled = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    torch.testing.assert_close(sampled, 2.0 * expected_images(np.array([5, 23])))
    torch.testing.assert_close(data.observations_at([5]), expected_images(np.array([5])))


def test_declares_deterministic_observations_unless_a_transform_is_set() -> None:
    """The grid's observations are fixed and sampling them draws nothing, so the metrics may
    encode each once; a transform may be random, so with one the dataset does not say so."""
    data = StampedGrid()
    assert data.deterministic_observations is True
    random_state = np.random.RandomState(0)
    data.sample_observations_from_factors(np.array([[1, 2, 3]]), random_state)
    assert random_state.randint(2**31) == np.random.RandomState(0).randint(2**31)
    assert StampedGrid(transform=lambda image: image).deterministic_observations is False


def test_observations_at_passes_validated_int64_indices_to_the_subclass() -> None:
    data = StampedGrid()
    data.observations_at(np.array([3, 3, 0], dtype=np.int32))
    assert data.calls[-1].dtype == np.int64
    np.testing.assert_array_equal(data.calls[-1], [3, 3, 0])


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("factors", "message"),
    [
        (np.array([[0, 3, 0]]), "factor 'b' \\(column 1\\) has class 3 in row 0"),
        (np.array([[0, 0, 0], [0, 0, -1]]), "factor 'c' \\(column 2\\) has class -1 in row 1"),
        (np.zeros((2, 4), dtype=np.int64), "factors must have shape \\(N, 3\\)"),
        (np.zeros((2, 3, 1), dtype=np.int64), "factors must have shape \\(N, 3\\)"),
    ],
)
def test_bad_factors_are_rejected(factors: npt.NDArray[np.int64], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StampedGrid().factors_to_index(factors)


def test_non_integer_factors_and_indices_are_rejected() -> None:
    data = StampedGrid()
    with pytest.raises(TypeError, match="factors must be integers"):
        data.factors_to_index(np.array([[0.0, 1.0, 2.0]]))
    with pytest.raises(TypeError, match="indices must be integers"):
        data.index_to_factors(np.array([True]))
    with pytest.raises(TypeError, match="indices must be integers"):
        data[1.0]  # type: ignore[index]


def test_out_of_range_indices_are_rejected() -> None:
    data = StampedGrid()
    with pytest.raises(IndexError, match=r"index 24 is out of range .* \[0, 23\]"):
        data.index_to_factors([0, 24])
    with pytest.raises(IndexError, match="index -1 is out of range"):
        data.observations_at([-1])
    with pytest.raises(IndexError):
        data[24]
    with pytest.raises(IndexError):
        data[-25]
    with pytest.raises(ValueError, match="1-D"):
        data.observations_at([[0]])


def test_sampling_arguments_are_checked() -> None:
    data = StampedGrid()
    with pytest.raises(TypeError, match=r"numpy\.random\.RandomState"):
        data.sample_factors(3, np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative integer"):
        data.sample_factors(-1, np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        data.sample_observations_from_factors(np.array([0, 0, 0]), np.random.RandomState(0))


def test_a_subclass_returning_the_wrong_shape_is_reported() -> None:
    with pytest.raises(RuntimeError, match="must return float32 \\(1, 1, 2, 3\\)"):
        WrongShape()[0]


@pytest.mark.parametrize(
    ("sizes", "names", "shape", "message"),
    [
        ((), (), (1, 2, 2), "factor_sizes is empty"),
        ((2, 0), ("a", "b"), (1, 2, 2), "must all be >= 1"),
        ((2, 3), ("a",), (1, 2, 2), "1 factor_names for 2 factor_sizes"),
        ((2, 3), ("a", "a"), (1, 2, 2), "must be unique"),
        ((2, 3), ("a", "b"), (2, 2), "observation_shape must be \\(C, H, W\\)"),
    ],
)
def test_bad_constructor_arguments(
    sizes: tuple[int, ...], names: tuple[str, ...], shape: tuple[int, ...], message: str
) -> None:
    class Minimal(GroundTruthDataset):
        def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
            raise AssertionError

    with pytest.raises(ValueError, match=message):
        Minimal(sizes, names, shape)


def test_the_base_class_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        GroundTruthDataset((2,), ("a",), (1, 1, 1))  # type: ignore[abstract]


# --------------------------------------------------------------------------- worker processes
def test_pickles_and_loads_in_dataloader_workers() -> None:
    data = StampedGrid()
    clone = pickle.loads(pickle.dumps(data))
    torch.testing.assert_close(clone[7][0], data[7][0])
    loader = DataLoader(data, batch_size=5, num_workers=2, shuffle=False)
    images = torch.cat([batch[0] for batch in loader])
    factors = torch.cat([batch[1] for batch in loader])
    torch.testing.assert_close(images, expected_images(np.arange(24)))
    np.testing.assert_array_equal(factors.numpy(), data.index_to_factors(np.arange(24)))
