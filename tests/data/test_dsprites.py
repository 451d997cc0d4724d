"""DSprites on format-exact fixtures (reduced grids), on real frames of dsprites.gif, and side by
side with disentanglement_lib's loader."""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import (
    dsprites_metadata,
    dsprites_values,
    grid_classes,
    import_dlib_ground_truth,
    stamped_images,
    write_dsprites_hdf5,
    write_dsprites_npz,
)
from gif_frames import load_gif_frames

from learnable_weights.data import (
    DatasetFileMissingError,
    DatasetFormatError,
    DSprites,
    ProceduralDataWarning,
)
from learnable_weights.data.dsprites import DSPRITES_NPZ

SIZES = (1, 3, 2, 2, 2, 2)  # tests shrink the grid: colour 1, shape 3, then 2 of each


@pytest.fixture
def npz_path(tmp_path: Path) -> Path:
    return write_dsprites_npz(tmp_path / DSPRITES_NPZ, SIZES)


def test_npz_images_and_classes_follow_the_stored_order(npz_path: Path) -> None:
    images = stamped_images(math.prod(SIZES), (64, 64), binary=True)
    dataset = DSprites(npz_path.parent, download=False)
    assert dataset.factor_sizes == SIZES[1:]
    assert dataset.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert dataset.observation_shape == (1, 64, 64)
    assert dataset.source == "real"
    for index in (0, 1, 7, len(dataset) - 1):
        image, classes = dataset[index]
        assert image.dtype == torch.float32
        torch.testing.assert_close(image[0], torch.from_numpy(images[index]).float())
        np.testing.assert_array_equal(classes.numpy(), grid_classes(SIZES)[index, 1:])


def test_hdf5_gives_the_same_observations_as_npz(tmp_path: Path) -> None:
    from_npz = DSprites(file=write_dsprites_npz(tmp_path / "a.npz", SIZES))
    from_hdf5 = DSprites(file=write_dsprites_hdf5(tmp_path / "a.hdf5", SIZES))
    indices = np.arange(len(from_npz))
    torch.testing.assert_close(
        from_hdf5.observations_at(indices), from_npz.observations_at(indices)
    )
    assert from_hdf5.factor_sizes == from_npz.factor_sizes


def test_the_official_file_present_is_used(tmp_path: Path) -> None:
    write_dsprites_hdf5(tmp_path / DSPRITES_NPZ.replace(".npz", ".hdf5"), SIZES)
    assert DSprites(tmp_path, download=False).path.suffix == ".hdf5"
    write_dsprites_npz(tmp_path / DSPRITES_NPZ, SIZES)
    assert DSprites(tmp_path, download=False).path.suffix == ".npz"
    assert DSprites(tmp_path, download=False, file_format="hdf5").path.suffix == ".hdf5"


def test_metadata_is_a_python2_pickle_read_with_latin1(npz_path: Path) -> None:
    # The fixture's pickle must need latin1 exactly as the official file does.
    with (
        np.load(npz_path, allow_pickle=True) as archive,
        pytest.raises(UnicodeError, match="encoding"),
    ):
        archive["metadata"]
    assert DSprites(file=npz_path).factor_sizes == SIZES[1:]


def test_real_frames_of_dsprites_gif_round_trip(tmp_path: Path) -> None:
    """A tiny real npz: the three orientation traversals of dsprites.gif (scale class 5, position
    (0, 0)) form the full sub-grid shape 3 x orientation 40 of genuine dSprites images."""
    frames, latents = load_gif_frames()
    traversal = (latents[:, 2] == 5) & (latents[:, 4] == 0) & (latents[:, 5] == 0)
    keep = np.flatnonzero(traversal)
    keep = keep[np.isin(keep, np.r_[18:58, 210:250, 274:314])]
    keep = keep[np.lexsort((latents[keep, 3], latents[keep, 1]))]  # shape, then orientation
    assert keep.size == 120
    sizes = (1, 3, 1, 40, 1, 1)
    sub_grid = latents[keep].copy()
    sub_grid[:, 2] = 0  # scale class 5 is the only scale of this sub-grid
    metadata = dsprites_metadata(sizes)
    metadata["latents_possible_values"]["scale"] = np.array([1.0])
    path = write_dsprites_npz(
        tmp_path / "gif.npz",
        sizes,
        images=frames[keep],
        classes=sub_grid,
        metadata=metadata,
        values=dsprites_values(latents[keep]),  # the real values of the real latents
    )
    dataset = DSprites(file=path)
    assert dataset.factor_sizes == (3, 1, 40, 1, 1)
    for shape in range(3):
        for orientation in (0, 13, 39):
            factors = [shape, 0, orientation, 0, 0]
            index = int(dataset.factors_to_index(factors))
            assert index == shape * 40 + orientation
            np.testing.assert_array_equal(dataset.index_to_factors(index), factors)
            frame = np.flatnonzero(
                traversal & (latents[:, 1] == shape) & (latents[:, 3] == orientation)
            )
            image, classes = dataset[index]
            np.testing.assert_array_equal(image[0].numpy(), frames[frame[0]])
            assert classes.tolist() == factors
    assert dataset.factor_values is not None
    np.testing.assert_allclose(dataset.factor_values[2], np.linspace(0.0, 2 * np.pi, 40))
    np.testing.assert_allclose(dataset.factor_values[1], [1.0])  # scale class 5 is 1.0
    # Orientation classes 0 and 39 (0 and 2 pi) render the same real image (dsprites-dataset
    # issue 7, "Duplicated factor values": https://github.com/deepmind/dsprites-dataset/issues/7).
    for shape in range(3):
        torch.testing.assert_close(dataset[shape * 40][0], dataset[shape * 40 + 39][0])


def test_sampling_matches_disentanglement_lib(
    npz_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dlib = import_dlib_ground_truth("dsprites")
    monkeypatch.setattr(dlib, "DSPRITES_PATH", str(npz_path))
    reference = dlib.DSprites([1, 2, 3, 4, 5])  # dsprites_full: colour dropped
    ours = DSprites(file=npz_path)
    assert ours.factors_num_values == [int(n) for n in reference.factor_sizes[1:]]
    expected_factors, expected_images = reference.sample(50, np.random.RandomState(3))
    factors, images = ours.sample(50, np.random.RandomState(3))
    np.testing.assert_array_equal(factors, expected_factors)
    np.testing.assert_array_equal(images.permute(0, 2, 3, 1).numpy(), expected_images)
    # the streams stay aligned afterwards (the size-1 colour draw consumes nothing)
    ours_state, reference_state = np.random.RandomState(4), np.random.RandomState(4)
    ours.sample_observations(7, ours_state)
    reference.sample_observations(7, reference_state)
    assert ours_state.randint(10**9) == reference_state.randint(10**9)


def test_procedural_file_is_reported_as_procedural(tmp_path: Path) -> None:
    path = write_dsprites_npz(
        tmp_path / "procedural_dsprites_64x64.npz",
        SIZES,
        extra={"learnable_weights_procedural": np.array("0.1.0")},
    )
    with pytest.warns(ProceduralDataWarning, match="procedural dSprites"):
        dataset = DSprites(file=path)
    assert dataset.source == "procedural"


def test_packed_cache_is_built_once_beside_the_file(npz_path: Path) -> None:
    first = DSprites(file=npz_path)
    expected = first.observations_at(np.arange(len(first)))
    cache = npz_path.with_name(npz_path.name + ".packed.npy")
    assert cache.is_file()
    built = cache.stat().st_mtime_ns
    second = DSprites(file=npz_path)
    torch.testing.assert_close(second.observations_at(np.arange(len(second))), expected)
    assert cache.stat().st_mtime_ns == built


def test_failed_conversion_keeps_the_good_cache(npz_path: Path) -> None:
    DSprites(file=npz_path)[0]
    cache = npz_path.with_name(npz_path.name + ".packed.npy")
    good = cache.read_bytes()
    bad = stamped_images(math.prod(SIZES), (64, 64), binary=True)
    bad[5, 10, 10] = 7  # not a binary image
    write_dsprites_npz(npz_path, SIZES, images=bad)
    os.utime(npz_path, ns=(cache.stat().st_mtime_ns + 10**9,) * 2)  # newer than the cache
    with pytest.raises(DatasetFormatError, match="image 5 has pixel values above 1"):
        DSprites(file=npz_path)[0]
    assert cache.read_bytes() == good
    assert [p.name for p in npz_path.parent.iterdir() if p.suffix == ".tmp"] == []


def test_pickled_dataset_carries_no_images(npz_path: Path) -> None:
    dataset = DSprites(file=npz_path)
    image = dataset[3][0]
    blob = pickle.dumps(dataset)
    assert len(blob) < 20_000  # the packed images stay behind; workers map the cache
    torch.testing.assert_close(pickle.loads(blob)[3][0], image)


def test_missing_file_without_download_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileMissingError) as error:
        DSprites(tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path / DSPRITES_NPZ) in message
    assert "github.com/google-deepmind/dsprites-dataset" in message


def test_truncated_archive_is_named(npz_path: Path) -> None:
    data = npz_path.read_bytes()
    npz_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match=f"{npz_path.name}.*truncated"):
        DSprites(file=npz_path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no_labels.npz"
    full = write_dsprites_npz(tmp_path / "full.npz", SIZES)
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            if name != "latents_classes.npy":
                target.writestr(name, source.read(name))
    with pytest.raises(DatasetFormatError, match="no array 'latents_classes'"):
        DSprites(file=path)


def test_wrong_image_shape_is_named(tmp_path: Path) -> None:
    images = np.zeros((math.prod(SIZES), 32, 32), dtype=np.uint8)
    path = write_dsprites_npz(tmp_path / "small.npz", SIZES, images=images)
    with pytest.raises(DatasetFormatError, match=r"uint8 \(N, 64, 64\)"):
        DSprites(file=path)


def test_label_count_must_match_the_images(tmp_path: Path) -> None:
    classes = grid_classes(SIZES)[:-1]
    path = write_dsprites_npz(tmp_path / "short.npz", SIZES, classes=classes)
    with pytest.raises(DatasetFormatError, match="47 label rows for 48 images"):
        DSprites(file=path)


def test_labels_out_of_order_are_rejected(tmp_path: Path) -> None:
    classes = grid_classes(SIZES)[::-1].copy()
    path = write_dsprites_npz(tmp_path / "reversed.npz", SIZES, classes=classes)
    with pytest.raises(DatasetFormatError, match=r"row 0 .* not in the official order"):
        DSprites(file=path)
