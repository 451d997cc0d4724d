"""MPI3D on format-exact npz files with reduced grids (tests shrink the factor grid by passing
``factor_sizes``), including the memory map at the member's offset inside the zip."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures import grid_classes, import_dlib_ground_truth, stamped_images, write_mpi3d
from http_server import FileServer, base_url

from learnable_weights.data import MPI3D, DatasetFileMissingError, DatasetFormatError
from learnable_weights.data.download import ChecksumMismatchError, UnverifiedDownloadWarning
from learnable_weights.data.mpi3d import _REMOTES

SIZES = (2, 2, 1, 1, 1, 2, 3)
FILES = {
    "toy": "mpi3d_toy.npz",
    "realistic": "mpi3d_realistic.npz",
    "real": "mpi3d_real.npz",
    "complex": "real3d_complicated_shapes_ordered.npz",
}


@pytest.mark.parametrize("variant", list(FILES))
def test_memory_mapped_images_match_the_stored_ones(tmp_path: Path, variant: str) -> None:
    write_mpi3d(tmp_path / FILES[variant], SIZES)
    images = stamped_images(math.prod(SIZES), (64, 64, 3), binary=False)
    dataset = MPI3D(tmp_path, download=False, variant=variant, factor_sizes=SIZES)  # type: ignore[arg-type]
    assert isinstance(dataset._mapped(), np.memmap)  # read in place, not decompressed
    for index in (0, 7, len(dataset) - 1):
        image, classes = dataset[index]
        torch.testing.assert_close(image, torch.from_numpy(images[index]).permute(2, 0, 1) / 255)
        np.testing.assert_array_equal(classes.numpy(), grid_classes(SIZES)[index])


def test_compressed_file_is_decompressed_once(tmp_path: Path) -> None:
    write_mpi3d(tmp_path / FILES["complex"], SIZES, compressed=True)
    images = stamped_images(math.prod(SIZES), (64, 64, 3), binary=False)
    dataset = MPI3D(tmp_path, download=False, factor_sizes=SIZES)
    observed = dataset.observations_at(np.arange(len(dataset)))
    torch.testing.assert_close(observed, torch.from_numpy(images).permute(0, 3, 1, 2) / 255)
    assert (tmp_path / (FILES["complex"] + ".images.npy")).is_file()


def test_official_grids() -> None:
    # The grids themselves, checked without data: complex is [4, 4, 2, 3, 3, 40, 40].
    from learnable_weights.data.mpi3d import _OFFICIAL_SIZES

    assert _OFFICIAL_SIZES["complex"] == (4, 4, 2, 3, 3, 40, 40)
    assert math.prod(_OFFICIAL_SIZES["complex"]) == 460_800
    for variant in ("toy", "realistic", "real"):
        assert _OFFICIAL_SIZES[variant] == (6, 6, 2, 3, 3, 40, 40)
        assert math.prod(_OFFICIAL_SIZES[variant]) == 1_036_800


def test_image_count_must_match_the_grid(tmp_path: Path) -> None:
    write_mpi3d(tmp_path / FILES["toy"], SIZES)
    with pytest.raises(DatasetFormatError, match=r"holds 24 images.*1036800 images"):
        MPI3D(tmp_path, download=False, variant="toy")


def test_truncated_archive(tmp_path: Path) -> None:
    path = write_mpi3d(tmp_path / FILES["complex"], SIZES)
    path.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(DatasetFormatError, match="truncated"):
        MPI3D(tmp_path, download=False, factor_sizes=SIZES)


def test_wrong_key(tmp_path: Path) -> None:
    np.savez(tmp_path / FILES["complex"], imgs=np.zeros((24, 64, 64, 3), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"no array 'images' \(it holds \['imgs'\]\)"):
        MPI3D(tmp_path, download=False, factor_sizes=SIZES)


def test_missing_complex_file_points_to_google_drive(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileMissingError, match=r"drive\.google\.com/file/d/1Tp8eTdHx"):
        MPI3D(tmp_path, download=False)


def test_unknown_variant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variant must be one of"):
        MPI3D(tmp_path, download=False, variant="simulated")  # type: ignore[arg-type]


def test_sampling_matches_disentanglement_lib(tmp_path: Path) -> None:
    """disentanglement_lib's own MPI3D sampling methods on the same images and grid."""
    dlib = import_dlib_ground_truth("mpi3d")
    util = import_dlib_ground_truth("util")
    write_mpi3d(tmp_path / FILES["real"], SIZES)
    ours = MPI3D(tmp_path, download=False, variant="real", factor_sizes=SIZES)
    reference = object.__new__(dlib.MPI3D)  # its __init__ hard-codes the full-size grids
    reference.images = stamped_images(math.prod(SIZES), (64, 64, 3), binary=False)
    reference.factor_sizes = list(SIZES)
    reference.latent_factor_indices = list(range(7))
    reference.num_total_factors = 7
    reference.state_space = util.SplitDiscreteStateSpace(list(SIZES), list(range(7)))
    reference.factor_bases = np.prod(SIZES) / np.cumprod(SIZES)
    expected_factors, expected_images = reference.sample(40, np.random.RandomState(0))
    factors, images = ours.sample(40, np.random.RandomState(0))
    np.testing.assert_array_equal(factors, expected_factors)
    np.testing.assert_allclose(images.permute(0, 2, 3, 1).numpy(), expected_images, rtol=1e-6)


def test_dataloader_workers_map_the_file_themselves(tmp_path: Path) -> None:
    write_mpi3d(tmp_path / FILES["complex"], SIZES)
    dataset = MPI3D(tmp_path, download=False, factor_sizes=SIZES)
    dataset[0]  # mapped in the parent first: each worker must still read correctly
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, num_workers=2)
    images = torch.cat([batch for batch, _ in loader])
    torch.testing.assert_close(images, dataset.observations_at(np.arange(len(dataset))))


# --------------------------------------------------------------------------- downloads
def _serve(server: FileServer, variant: str, body: bytes) -> None:
    remote = _REMOTES[variant]  # type: ignore[index]
    server.files[f"/{remote.dataset}/{remote.filename}"] = body


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
@pytest.mark.parametrize("variant", ["real", "complex"])
def test_download_is_checked_by_its_npz_header_compressed_or_not(
    server: FileServer, tmp_path: Path, variant: str, compressed: bool
) -> None:
    served = write_mpi3d(tmp_path / "served.npz", SIZES, compressed=compressed)
    _serve(server, variant, served.read_bytes())
    root = tmp_path / "cache"
    with pytest.warns(UnverifiedDownloadWarning, match="only its format could be checked"):
        dataset = MPI3D(
            root,
            variant=variant,  # type: ignore[arg-type]
            mirror=base_url(server),
            factor_sizes=SIZES,
        )
    assert dataset.path.read_bytes() == served.read_bytes()
    images = stamped_images(math.prod(SIZES), (64, 64, 3), binary=False)
    observed = dataset.observations_at(np.arange(len(dataset)))
    torch.testing.assert_close(observed, torch.from_numpy(images).permute(0, 3, 1, 2) / 255)


def _float_images(path: Path) -> bytes:
    np.savez_compressed(path, images=np.zeros((math.prod(SIZES), 64, 64, 3), np.float32))
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: write_mpi3d(path, (2, 2, 1, 1, 1, 2, 2)).read_bytes(), "holds 16 images"),
        (_float_images, "images is float32"),
        (lambda path: write_mpi3d(path, SIZES, compressed=True).read_bytes()[:-300], "readable"),
        (lambda path: write_mpi3d(path, SIZES).read_bytes()[:-5000], "readable"),
    ],
    ids=["count", "dtype", "truncated-deflated", "truncated-stored"],
)
def test_download_with_a_bad_header_is_deleted(
    server: FileServer, tmp_path: Path, make: Any, reason: str
) -> None:
    _serve(server, "complex", make(tmp_path / "served.npz"))
    root = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match=reason):
        MPI3D(root, mirror=base_url(server), factor_sizes=SIZES)
    assert not root.exists()  # nothing kept: no part file, no lock file, no folder


def test_checksum_records_name_their_source_and_no_size_floor_remains() -> None:
    disent = (
        "https://github.com/nmichlo/disent/blob/HEAD/disent/dataset/data/_groundtruth__mpi3d.py"
    )
    for variant in ("toy", "realistic"):
        remote = _REMOTES[variant]
        assert remote.md5 is not None and remote.checksum_source == disent
        assert not remote.checksum_by_authors  # the MPI3D authors publish no checksum
    for variant in ("real", "complex"):
        remote = _REMOTES[variant]  # type: ignore[index]
        assert not remote.verifiable and remote.min_size is None  # the header is checked
