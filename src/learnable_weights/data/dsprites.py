"""dSprites (Matthey et al. 2017, github.com/google-deepmind/dsprites-dataset, Apache-2.0).

737,280 binary 64x64 sprites on the full grid shape 3 x scale 6 x orientation 40 x posX 32 x
posY 32 (posY fastest). As in disentanglement_lib's ``dsprites_full``
(``disentanglement_lib/data/ground_truth/dsprites.py`` with latent factors ``[1, 2, 3, 4, 5]``),
the constant colour factor is dropped, leaving the 5 factors ``[3, 6, 40, 32, 32]``. Sampling
draws from the RandomState in disentanglement_lib's order: one ``randint`` per reported factor;
its draw for the size-1 colour factor consumes nothing, so the streams agree.

Reads the official ``.npz`` (whose ``metadata`` is a Python 2 pickle, loaded with
``encoding='latin1'``) or the official ``.hdf5``. Both store the pixels compressed, so on first
use the images are bit-packed once into ``<file>.packed.npy`` beside the original (377 MB for
the full set, written atomically) and memory-mapped from there, so DataLoader workers share one
copy through the page cache. An ``.npz`` holding the member
``learnable_weights_procedural`` was written by :class:`ProceduralDSprites`; it loads, but
``source`` is ``"procedural"`` and a :class:`ProceduralDataWarning` says so.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from learnable_weights.data.cache import (
    DatasetFormatError,
    LazyArray,
    cached_array,
    check_grid_order,
    dataset_root,
    hdf5_rows_per_read,
    iter_npz_rows,
    npz_member,
    optional_import,
)
from learnable_weights.data.download import RemoteFile, require
from learnable_weights.data.ground_truth import GroundTruthDataset, Transform
from learnable_weights.data.procedural_dsprites import PROCEDURAL_MARKER_KEY

__all__ = [
    "DSPRITES_HDF5",
    "DSPRITES_NPZ",
    "PROCEDURAL_MARKER",
    "DSprites",
    "ProceduralDataWarning",
]

DSPRITES_NPZ = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_HDF5 = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5"
PROCEDURAL_MARKER = PROCEDURAL_MARKER_KEY
"""Name of the array (npz member / HDF5 dataset or attribute) that marks procedural files."""

_REPOSITORY = "https://github.com/google-deepmind/dsprites-dataset/raw/master"
_TFDS = "https://github.com/tensorflow/datasets/blob/HEAD/tensorflow_datasets/datasets"
_REMOTES = {
    # DeepMind publishes no checksum; these are third-party records.
    "npz": RemoteFile(
        "dsprites", DSPRITES_NPZ, url=f"{_REPOSITORY}/{DSPRITES_NPZ}",
        md5="7da33b31b13a06f4b04a70402ce90c2e",
        checksum_source="https://pypi.org/project/pytorch-disentanglement-datasets/0.0.1/",
    ),
    "hdf5": RemoteFile(
        "dsprites", DSPRITES_HDF5, url=f"{_REPOSITORY}/{DSPRITES_HDF5}",
        sha256="729fa22e884c9c500e1f17415d580746b4c5894fbbb780a1319bbcfa39a745bb",
        size=28_024_106,
        checksum_source=f"{_TFDS}/dsprites/checksums.tsv",
    ),
}  # fmt: skip
_OFFICIAL_SIZES = (1, 3, 6, 40, 32, 32)
_OFFICIAL_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
_IMAGE_SIDE = 64
_PACKED_BYTES = _IMAGE_SIDE * _IMAGE_SIDE // 8
_ROWS_PER_CHUNK = 8192


class ProceduralDataWarning(UserWarning):
    """A dataset file holds procedurally rendered data, not the real dataset."""


class DSprites(GroundTruthDataset):
    """The real dSprites dataset with disentanglement_lib's 5 factors.

    Factors (index order, last fastest): shape 3 (square, ellipse, heart), scale 6,
    orientation 40, posX 32, posY 32. ``dataset[i]`` is ``(image, classes)`` with image
    float32 ``(1, 64, 64)`` in {0, 1} and classes int64 ``(5,)``.

    Args:
        root: folder holding the official file; default ``<cache>/dsprites``.
        download: fetch the file if it is absent (verified against its published checksum).
        transform: optional callable on each float32 ``(1, 64, 64)`` image.
        file_format: ``"npz"`` or ``"hdf5"``: which official file to use. Default: the one
            present in ``root`` (the npz if both), else download the npz.
        file: an explicit ``.npz`` / ``.hdf5`` path in the official layout (overrides ``root``
            and ``file_format``; e.g. a file written by :class:`ProceduralDSprites`).
        mirror: base URL of a mirror (default ``$LEARNABLE_WEIGHTS_MIRROR``).

    Attributes:
        source: ``"real"``, or ``"procedural"`` for a file marked by ``ProceduralDSprites``.
        path: the file read.
        factor_values: per reported factor, the value of each class from ``latents_values``
            (e.g. the 40 orientations in radians), or ``None`` if the file has none.

    Raises:
        DatasetFileMissingError: the file is absent and ``download`` is false.
        DatasetFormatError: the file is truncated, lacks a key, has a wrong shape or labels
            that do not match the images.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = True,
        transform: Transform | None = None,
        *,
        file_format: Literal["npz", "hdf5"] | None = None,
        file: str | os.PathLike[str] | None = None,
        mirror: str | None = None,
    ) -> None:
        if file is not None:
            path = Path(file).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist (given as file=).")
        else:
            if file_format is not None and file_format not in _REMOTES:
                raise ValueError(f"file_format must be 'npz' or 'hdf5', got {file_format!r}.")
            folder = dataset_root("dsprites", root)
            present = (key for key in _REMOTES if (folder / _REMOTES[key].filename).is_file())
            chosen: str = file_format or next(present, "npz")
            path = require(_REMOTES[chosen], folder, download=download, mirror=mirror)
        self.path = path
        self._hdf5 = path.suffix.lower() in (".hdf5", ".h5")
        header = _read_hdf5_header(path) if self._hdf5 else _read_npz_header(path)
        sizes, names, self.source, values = header
        super().__init__(sizes[1:], names[1:], (1, _IMAGE_SIDE, _IMAGE_SIDE), transform)
        self.factor_values = _values_per_class(path, values, sizes)
        if self.source == "procedural":
            warnings.warn(
                f"{path} was rendered by learnable_weights' ProceduralDSprites; it is procedural "
                "dSprites, not the real dSprites dataset.",
                ProceduralDataWarning,
                stacklevel=2,
            )
        self._packed: LazyArray[np.uint8] = LazyArray()

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        packed = self._packed.get(self._packed_images)
        bits = np.unpackbits(packed[indices], axis=1)
        images = bits.reshape(-1, 1, _IMAGE_SIDE, _IMAGE_SIDE).astype(np.float32)
        return torch.from_numpy(images)

    def _packed_images(self) -> npt.NDArray[np.uint8]:
        """Map the bit-packed images ``(N, 512)`` of ``<file>.packed.npy``, packing them once."""
        fill = _pack_hdf5 if self._hdf5 else _pack_npz
        return cached_array(
            self.path.with_name(self.path.name + ".packed.npy"),
            (len(self), _PACKED_BYTES),
            np.uint8,
            lambda out: fill(self.path, out),
            source=self.path,
            in_memory_if_read_only=True,
        )


_Header = tuple[tuple[int, ...], tuple[str, ...], str, "npt.NDArray[np.float64] | None"]


def _read_npz_header(path: Path) -> _Header:
    """Validate an official-layout ``.npz``; return (6 sizes, 6 names, source, values)."""
    images = npz_member(path, "imgs")
    count = _check_images_shape(path, images.shape, images.dtype)
    try:
        with np.load(path, allow_pickle=True, encoding="latin1") as archive:
            keys = set(archive.files)
            for key in ("latents_classes", "metadata"):
                if key not in keys:
                    raise DatasetFormatError(
                        f"{path} has no array '{key}' (it holds {sorted(keys)}); the official "
                        "dSprites npz has imgs, latents_classes, latents_values and metadata."
                    )
            metadata = archive["metadata"][()]
            classes = np.asarray(archive["latents_classes"])
            values = np.asarray(archive["latents_values"]) if "latents_values" in keys else None
            procedural = PROCEDURAL_MARKER in keys
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{path}: cannot read the labels ({error}).") from error
    if not isinstance(metadata, dict) or "latents_sizes" not in metadata:
        raise DatasetFormatError(f"{path}: 'metadata' is not the official dict with latents_sizes.")
    sizes = tuple(int(size) for size in np.asarray(metadata["latents_sizes"]).reshape(-1))
    names = tuple(str(name) for name in metadata.get("latents_names", _OFFICIAL_NAMES))
    _check_labels(path, sizes, names, classes, count)
    return sizes, names, "procedural" if procedural else "real", values


def _read_hdf5_header(path: Path) -> _Header:
    """Validate an official-layout HDF5 file; return (6 sizes, 6 names, source, values)."""
    h5py = optional_import("h5py", "Reading HDF5 dataset files")
    try:
        with h5py.File(path, "r") as store:
            for key in ("imgs", "latents/classes"):
                if key not in store:
                    raise DatasetFormatError(
                        f"{path} has no dataset '{key}'; the official dSprites HDF5 has imgs, "
                        "latents/classes and latents/values."
                    )
            count = _check_images_shape(path, store["imgs"].shape, store["imgs"].dtype)
            classes = np.asarray(store["latents/classes"][()])
            values = np.asarray(store["latents/values"][()]) if "latents/values" in store else None
            procedural = PROCEDURAL_MARKER in store or PROCEDURAL_MARKER in store.attrs
    except OSError as error:
        raise DatasetFormatError(
            f"{path} is not a readable HDF5 file ({error}); it may be truncated: delete it and "
            "download it again."
        ) from error
    if classes.ndim != 2 or classes.shape[1] != len(_OFFICIAL_SIZES) or classes.shape[0] == 0:
        raise DatasetFormatError(f"{path}: latents/classes has shape {classes.shape}, not (N, 6).")
    sizes = tuple(int(size) for size in classes.max(axis=0) + 1)
    _check_labels(path, sizes, _OFFICIAL_NAMES, classes, count)
    return sizes, _OFFICIAL_NAMES, "procedural" if procedural else "real", values


def _values_per_class(
    path: Path, values: npt.NDArray[Any] | None, sizes: tuple[int, ...]
) -> tuple[npt.NDArray[np.float64], ...] | None:
    """Each reported factor's value per class, read off ``latents_values`` ``(N, 6)``.

    In grid order, row ``c * base_k`` has class ``c`` for factor ``k`` (and 0 elsewhere).
    """
    if values is None:
        return None
    if values.shape != (math.prod(sizes), len(sizes)):
        raise DatasetFormatError(
            f"{path}: latents_values has shape {values.shape}, expected "
            f"({math.prod(sizes)}, {len(sizes)})."
        )
    per_factor = []
    for k in range(1, len(sizes)):
        base = math.prod(sizes[k + 1 :])
        per_factor.append(np.asarray(values[np.arange(sizes[k]) * base, k], dtype=np.float64))
    return tuple(per_factor)


def _check_images_shape(path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    if len(shape) != 3 or shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE) or dtype != np.uint8:
        raise DatasetFormatError(
            f"{path}: imgs is {dtype} {shape}; dSprites images are uint8 (N, 64, 64)."
        )
    return int(shape[0])


def _check_labels(
    path: Path,
    sizes: tuple[int, ...],
    names: tuple[str, ...],
    classes: npt.NDArray[Any],
    count: int,
) -> None:
    if len(sizes) != len(_OFFICIAL_SIZES) or len(names) != len(sizes) or sizes[0] != 1:
        raise DatasetFormatError(
            f"{path}: the latent sizes are {list(sizes)} (names {list(names)}); dSprites has 6 "
            "latents (color, shape, scale, orientation, posX, posY) with a single colour."
        )
    if any(size > official for size, official in zip(sizes, _OFFICIAL_SIZES, strict=True)):
        raise DatasetFormatError(
            f"{path}: latent sizes {list(sizes)} exceed dSprites' {list(_OFFICIAL_SIZES)}."
        )
    if classes.shape[0] != count:
        raise DatasetFormatError(
            f"{path}: {classes.shape[0]} label rows for {count} images; the counts must match."
        )
    check_grid_order(classes.astype(np.int64, copy=False), sizes, path)


def _pack_npz(path: Path, out: npt.NDArray[np.uint8]) -> None:
    """Stream ``imgs`` out of the npz member into bit-packed rows of ``out``."""
    for start, chunk in iter_npz_rows(path, "imgs", _ROWS_PER_CHUNK):
        rows = chunk.reshape(chunk.shape[0], -1)
        out[start : start + rows.shape[0]] = _packed_binary(path, rows, start)


def _pack_hdf5(path: Path, out: npt.NDArray[np.uint8]) -> None:
    """Read ``imgs`` of the HDF5 file in slices into bit-packed rows of ``out``."""
    h5py = optional_import("h5py", "Reading HDF5 dataset files")
    with h5py.File(path, "r") as store:
        images = store["imgs"]
        step = hdf5_rows_per_read(images, _ROWS_PER_CHUNK)
        for start in range(0, images.shape[0], step):
            chunk = np.asarray(images[start : start + step]).reshape(-1, _IMAGE_SIDE * _IMAGE_SIDE)
            out[start : start + chunk.shape[0]] = _packed_binary(path, chunk, start)


def _packed_binary(path: Path, rows: npt.NDArray[np.uint8], start: int) -> npt.NDArray[np.uint8]:
    if rows.size and rows.max() > 1:
        row = start + int(np.flatnonzero(rows.max(axis=1) > 1)[0])
        raise DatasetFormatError(
            f"{path}: image {row} has pixel values above 1; dSprites images hold 0 and 1 only."
        )
    return np.packbits(rows, axis=1)
