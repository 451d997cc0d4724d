"""Falcor3D and Isaac3D on format-exact 128x128 releases (PNG folder or zip plus the label
array) with reduced grids (tests shrink the factor grid)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from fixtures import FALCOR3D_SMALL_SIZES, ISAAC3D_SMALL_SIZES, grid_classes, write_nvidia_release

from learnable_weights.data import DatasetFileMissingError, DatasetFormatError, Falcor3D, Isaac3D

Release = tuple[str, str, tuple[int, ...], tuple[int, ...]]
"""A release's folder, label file, reduced factor sizes and official factor sizes."""

FALCOR: Release = (
    "Falcor3D_down128",
    "train-rec.labels",
    FALCOR3D_SMALL_SIZES,
    (5, 6, 6, 6, 6, 6, 6),
)
ISAAC: Release = ("Isaac3D_down128", "labels.npy", ISAAC3D_SMALL_SIZES, (3, 8, 5, 4, 4, 4, 6, 4, 4))


def _box_average(images: np.ndarray) -> npt.NDArray[np.float64]:
    """2x2 area average of uint8 (N, 128, 128, 3) with rounding, as PIL's BOX filter does."""
    blocks = images.reshape(images.shape[0], 64, 2, 64, 2, 3).astype(np.float64)
    means: npt.NDArray[np.float64] = blocks.mean(axis=(2, 4))  # numpy types the mean as Any
    return means


@pytest.mark.parametrize(("cls", "release"), [(Falcor3D, FALCOR), (Isaac3D, ISAAC)])
@pytest.mark.parametrize("as_zip", [False, True])
def test_release_is_converted_once_and_resized(
    tmp_path: Path, cls: type[Falcor3D], release: Release, as_zip: bool
) -> None:
    folder, labels, small, official = release
    images = write_nvidia_release(tmp_path, folder, labels, small, official, as_zip=as_zip)
    dataset = cls(tmp_path, download=False)
    assert dataset.factor_sizes == small
    assert dataset.observation_shape == (3, 64, 64)
    observed = dataset.observations_at(np.arange(len(dataset)))
    expected = torch.from_numpy(_box_average(images) / 255).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(observed, expected, atol=1 / 255 + 1e-6, rtol=0)
    for k, size in enumerate(small):  # the labels' k/(m-1) grid, m the official size
        np.testing.assert_allclose(dataset.factor_values[k], np.arange(size) / (official[k] - 1))
    _, classes = dataset[len(dataset) - 1]
    np.testing.assert_array_equal(classes.numpy(), grid_classes(small)[-1])
    cache = tmp_path / f"{folder}_64x64.npy"
    built = cache.stat().st_mtime_ns
    again = cls(tmp_path, download=False)
    torch.testing.assert_close(again.observations_at(np.arange(len(again))), observed)
    assert cache.stat().st_mtime_ns == built


def test_full_resolution_keeps_the_pngs_exactly(tmp_path: Path) -> None:
    images = write_nvidia_release(tmp_path, *FALCOR, as_zip=True)
    dataset = Falcor3D(tmp_path, download=False, resolution=128)
    image, _ = dataset[5]
    torch.testing.assert_close(image, torch.from_numpy(images[5]).permute(2, 0, 1) / 255)


def test_isaac3d_factor_order_follows_the_demo_not_the_readme() -> None:
    assert Isaac3D.release.factor_names[:5] == (
        "object_shape",
        "robot_x_move",
        "robot_y_move",
        "camera_height",
        "object_scale",
    )
    assert Isaac3D.release.factor_sizes == (3, 8, 5, 4, 4, 4, 6, 4, 4)


def test_missing_release_points_to_google_drive(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileMissingError, match=r"Isaac3D_down128\.zip.*drive\.google"):
        Isaac3D(tmp_path, download=False)


def test_label_count_must_match_the_pngs(tmp_path: Path) -> None:
    write_nvidia_release(tmp_path, *FALCOR, as_zip=False)
    (tmp_path / "Falcor3D_down128" / "images" / "000003.png").unlink()
    with pytest.raises(DatasetFormatError, match=r"list 24 images but 23 PNGs.*000003\.png"):
        Falcor3D(tmp_path, download=False)


def test_truncated_zip(tmp_path: Path) -> None:
    write_nvidia_release(tmp_path, *ISAAC, as_zip=True)
    archive = tmp_path / "Isaac3D_down128.zip"
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(DatasetFormatError, match=r"Isaac3D_down128\.zip.*truncated"):
        Isaac3D(tmp_path, download=False)


def test_wrong_label_shape(tmp_path: Path) -> None:
    write_nvidia_release(tmp_path, *FALCOR, as_zip=False)
    np.save(tmp_path / "Falcor3D_down128" / "labels-wrong.npy", np.zeros((24, 5)))
    (tmp_path / "Falcor3D_down128" / "labels-wrong.npy").replace(
        tmp_path / "Falcor3D_down128" / "train-rec.labels"
    )
    with pytest.raises(DatasetFormatError, match=r"shape \(24, 5\), expected \(N, 7\)"):
        Falcor3D(tmp_path, download=False)


def test_corrupt_png_fails_without_leaving_a_cache(tmp_path: Path) -> None:
    write_nvidia_release(tmp_path, *FALCOR, as_zip=False)
    (tmp_path / "Falcor3D_down128" / "images" / "000002.png").write_bytes(b"not a png")
    dataset = Falcor3D(tmp_path, download=False)
    with pytest.raises(DatasetFormatError, match="could not be decoded"):
        dataset[0]
    assert not (tmp_path / "Falcor3D_down128_64x64.npy").exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_zip_without_labels(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "Falcor3D_down128.zip", "w") as bundle:
        bundle.writestr("Falcor3D_down128/images/000000.png", b"")
    with pytest.raises(DatasetFormatError, match=r"holds no train-rec\.labels"):
        Falcor3D(tmp_path, download=False)


def test_pickled_dataset_reopens_its_sources(tmp_path: Path) -> None:
    write_nvidia_release(tmp_path, *ISAAC, as_zip=True)
    dataset = Isaac3D(tmp_path, download=False)
    image = dataset[4][0]
    blob = pickle.dumps(dataset)
    assert len(blob) < 20_000  # no images and no zip handle travel to worker processes
    torch.testing.assert_close(pickle.loads(blob)[4][0], image)
