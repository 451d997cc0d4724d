"""3D Shapes (Burgess & Kim 2018, github.com/google-deepmind/3d-shapes, Apache-2.0).

480,000 RGB 64x64 renders on the full grid floor_hue 10 x wall_hue 10 x object_hue 10 x
scale 8 x shape 4 x orientation 15 (orientation fastest), read from the public
``3dshapes.h5`` (``images`` uint8 ``(N, 64, 64, 3)``, ``labels`` float64 ``(N, 6)`` holding
factor *values*). Classes are the rank of each value in its column, as TFDS derives them.
Sampling draws one ``randint`` per factor, the order of disentanglement_lib's
``disentanglement_lib/data/ground_truth/shapes3d.py`` (all factors latent).

The file is gzip-compressed HDF5, so random reads are slow: on first use the images are copied
once into an uncompressed ``3dshapes.h5.images.npy`` beside it (5.9 GB for the full set,
written atomically) and memory-mapped from there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from learnable_weights.data.cache import (
    DatasetFormatError,
    LazyArray,
    cached_array,
    check_grid_order,
    classes_from_values,
    dataset_root,
    hdf5_rows_per_read,
    optional_import,
    uint8_images_to_tensor,
)
from learnable_weights.data.download import RemoteFile, require
from learnable_weights.data.ground_truth import GroundTruthDataset, Transform

__all__ = ["SHAPES3D_FILE", "Shapes3D"]

SHAPES3D_FILE = "3dshapes.h5"
# DeepMind publishes no checksum; size and SHA-256 are TFDS' record.
_REMOTE = RemoteFile(
    "shapes3d",
    SHAPES3D_FILE,
    url=f"https://storage.googleapis.com/3d-shapes/{SHAPES3D_FILE}",
    sha256="0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785",
    size=267_573_662,
    checksum_source=(
        "https://github.com/tensorflow/datasets/blob/HEAD/tensorflow_datasets/datasets/shapes3d/"
        "checksums.tsv"
    ),
)
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
_ROWS_PER_CHUNK = 4096


class Shapes3D(GroundTruthDataset):
    """3D Shapes: 6 factors ``[10, 10, 10, 8, 4, 15]``, observations float32 ``(3, 64, 64)``.

    Args:
        root: folder holding ``3dshapes.h5``; default ``<cache>/shapes3d``.
        download: fetch the file if it is absent (verified against its SHA-256).
        transform: optional callable on each float32 ``(3, 64, 64)`` image.
        mirror: base URL of a mirror (default ``$LEARNABLE_WEIGHTS_MIRROR``).

    Attributes:
        factor_values: per factor, the float label value of each class (e.g. the 15
            orientations in degrees), from the file.

    Raises:
        DatasetFileMissingError: the file is absent and ``download`` is false.
        DatasetFormatError: the file is truncated, lacks a key, has a wrong shape, labels that
            do not match the images or are not in the official grid order.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = True,
        transform: Transform | None = None,
        *,
        mirror: str | None = None,
    ) -> None:
        folder = dataset_root("shapes3d", root)
        self.path = require(_REMOTE, folder, download=download, mirror=mirror)
        sizes, self.factor_values = _read_header(self.path)
        super().__init__(sizes, FACTOR_NAMES, (3, 64, 64), transform)
        self._images: LazyArray[np.uint8] = LazyArray()

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        return uint8_images_to_tensor(self._images.get(self._uncompressed)[indices])

    def _uncompressed(self) -> npt.NDArray[np.uint8]:
        """Map the images ``(N, 64, 64, 3)`` of ``3dshapes.h5.images.npy``, copying them once."""
        return cached_array(
            self.path.with_name(self.path.name + ".images.npy"),
            (len(self), 64, 64, 3),
            np.uint8,
            lambda out: _copy_images(self.path, out),
            self.path,
            in_memory_if_read_only=True,
        )


def _read_header(path: Path) -> tuple[tuple[int, ...], tuple[npt.NDArray[np.float64], ...]]:
    """Validate ``3dshapes.h5``; return the factor sizes and each factor's label values."""
    h5py = optional_import("h5py", "Reading 3dshapes.h5")
    try:
        with h5py.File(path, "r") as store:
            for key in ("images", "labels"):
                if key not in store:
                    raise DatasetFormatError(
                        f"{path} has no dataset '{key}' (it holds {sorted(store.keys())}); the "
                        "official 3dshapes.h5 has images and labels."
                    )
            shape, dtype = store["images"].shape, store["images"].dtype
            labels = np.asarray(store["labels"][()], dtype=np.float64)
    except OSError as error:
        raise DatasetFormatError(
            f"{path} is not a readable HDF5 file ({error}); it may be truncated: delete it and "
            "download it again."
        ) from error
    if len(shape) != 4 or tuple(shape[1:]) != (64, 64, 3) or dtype != np.uint8:
        raise DatasetFormatError(
            f"{path}: images is {dtype} {shape}, expected uint8 (N, 64, 64, 3)."
        )
    if labels.ndim != 2 or labels.shape[1] != len(FACTOR_SIZES):
        raise DatasetFormatError(f"{path}: labels has shape {labels.shape}, expected (N, 6).")
    if labels.shape[0] != shape[0]:
        raise DatasetFormatError(
            f"{path}: {labels.shape[0]} label rows for {shape[0]} images; the counts must match."
        )
    classes, sizes = classes_from_values(labels, path)
    if shape[0] == np.prod(FACTOR_SIZES) and sizes != FACTOR_SIZES:
        raise DatasetFormatError(
            f"{path}: the labels take {list(sizes)} distinct values per factor, expected "
            f"{list(FACTOR_SIZES)}."
        )
    check_grid_order(classes, sizes, path)
    values = tuple(np.unique(labels[:, k]) for k in range(labels.shape[1]))
    return sizes, values


def _copy_images(path: Path, out: npt.NDArray[np.uint8]) -> None:
    h5py = optional_import("h5py", "Reading 3dshapes.h5")
    try:
        with h5py.File(path, "r") as store:
            images = store["images"]
            step = hdf5_rows_per_read(images, _ROWS_PER_CHUNK)
            for start in range(0, images.shape[0], step):
                out[start : start + step] = images[start : start + step]
    except OSError as error:
        raise DatasetFormatError(
            f"{path}: reading the images failed ({error}); the file is truncated or corrupt: "
            "delete it and download it again."
        ) from error
