"""Shapes3D on a format-exact 3dshapes.h5 with a reduced grid (tests shrink the factor grid)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import grid_classes, import_dlib_ground_truth, stamped_images, write_shapes3d

from learnable_weights.data import DatasetFileMissingError, DatasetFormatError, Shapes3D

SIZES = (2, 1, 2, 1, 2, 3)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_shapes3d(tmp_path / "3dshapes.h5", SIZES)
    return tmp_path


def test_images_classes_and_values(root: Path) -> None:
    images = stamped_images(math.prod(SIZES), (64, 64, 3), binary=False)
    dataset = Shapes3D(root, download=False)
    assert dataset.factor_sizes == SIZES
    assert dataset.factor_names[-1] == "orientation"
    assert dataset.observation_shape == (3, 64, 64)
    for index in (0, 5, len(dataset) - 1):
        image, classes = dataset[index]
        expected = torch.from_numpy(images[index]).permute(2, 0, 1).float() / 255
        torch.testing.assert_close(image, expected)
        np.testing.assert_array_equal(classes.numpy(), grid_classes(SIZES)[index])
    np.testing.assert_allclose(dataset.factor_values[5], [-30.0, -25.714285714, -21.428571428])
    assert (root / "3dshapes.h5.images.npy").is_file()


def test_transform_is_applied(root: Path) -> None:
    dataset = Shapes3D(root, download=False, transform=lambda image: image[:1] * 2)
    image, _ = dataset[1]
    assert image.shape == (1, 64, 64)
    raw = Shapes3D(root, download=False).observations_at(np.array([1]))[0]
    torch.testing.assert_close(image, raw[:1] * 2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileMissingError, match=r"storage\.googleapis\.com/3d-shapes"):
        Shapes3D(tmp_path, download=False)


def test_truncated_file(root: Path) -> None:
    path = root / "3dshapes.h5"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DatasetFormatError, match=r"3dshapes\.h5.*truncated"):
        Shapes3D(root, download=False)


def test_wrong_key(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "3dshapes.h5", "w") as store:
        store.create_dataset("images", data=np.zeros((2, 64, 64, 3), np.uint8))
        store.create_dataset("factors", data=np.zeros((2, 6)))
    with pytest.raises(DatasetFormatError, match="no dataset 'labels'"):
        Shapes3D(tmp_path, download=False)


def test_label_count_must_match(tmp_path: Path) -> None:
    images = stamped_images(math.prod(SIZES) + 1, (64, 64, 3), binary=False)
    write_shapes3d(tmp_path / "3dshapes.h5", SIZES, images=images)
    with pytest.raises(DatasetFormatError, match="24 label rows for 25 images"):
        Shapes3D(tmp_path, download=False)


def test_wrong_image_shape(tmp_path: Path) -> None:
    images = np.zeros((math.prod(SIZES), 64, 64), np.uint8)
    write_shapes3d(tmp_path / "3dshapes.h5", SIZES, images=images)
    with pytest.raises(DatasetFormatError, match=r"expected uint8 \(N, 64, 64, 3\)"):
        Shapes3D(tmp_path, download=False)


def test_labels_out_of_order(tmp_path: Path) -> None:
    classes = grid_classes(SIZES)
    labels = classes.astype(np.float64)[np.r_[1, 0, 2 : len(classes)]]
    write_shapes3d(tmp_path / "3dshapes.h5", SIZES, labels=labels)
    with pytest.raises(DatasetFormatError, match="not in the official order"):
        Shapes3D(tmp_path, download=False)


def test_sampling_matches_disentanglement_lib(root: Path) -> None:
    """disentanglement_lib's own Shapes3D sampling methods on the same images and grid."""
    dlib = import_dlib_ground_truth("shapes3d")
    util = import_dlib_ground_truth("util")
    ours = Shapes3D(root, download=False)
    reference = object.__new__(dlib.Shapes3D)  # its __init__ reads an internal npz
    images = stamped_images(math.prod(SIZES), (64, 64, 3), binary=False)
    reference.images = images.astype(np.float32) / 255.0  # as its __init__ prepares them
    reference.factor_sizes = list(SIZES)
    reference.latent_factor_indices = list(range(6))
    reference.num_total_factors = 6
    reference.state_space = util.SplitDiscreteStateSpace(list(SIZES), list(range(6)))
    reference.factor_bases = np.prod(SIZES) / np.cumprod(SIZES)
    expected_factors, expected_images = reference.sample(40, np.random.RandomState(1))
    factors, observed = ours.sample(40, np.random.RandomState(1))
    np.testing.assert_array_equal(factors, expected_factors)
    np.testing.assert_allclose(observed.permute(0, 2, 3, 1).numpy(), expected_images, rtol=1e-6)
