"""Falcor3D and Isaac3D (Nie et al., ICML 2020, github.com/NVlabs/High-res-disentanglement-datasets,
CC BY 4.0).

Both come as the official 128x128 releases: a zip (or its extracted folder) ``<Name>_down128/``
with one RGB PNG per image, ``images/000000.png`` ... (index zero-padded to 6 digits), and a
label array, a ``.npy`` file (Falcor3D's is named ``train-rec.labels`` despite its format) of
factor values normalised to [0, 1] (``m`` values of a factor at ``k / (m - 1)``). Classes are
the rank of each value in its column. The grids (https://github.com/NVlabs/High-res-disentanglement-datasets), last factor fastest:

* Falcor3D, 233,280 images: lighting_intensity 5, lighting_x_dir 6, lighting_y_dir 6,
  lighting_z_dir 6, camera_x_pos 6, camera_y_pos 6, camera_z_pos 6.
* Isaac3D, 737,280 images: object_shape 3, robot_x_move 8, robot_y_move 5, camera_height 4,
  object_scale 4, lighting_intensity 4, lighting_y_dir 6, object_color 4, wall_color 4. This
  is the order of the official ``dataset_demo.py`` and example strips; the README's index
  formula mislabels four of these factors.

Decoding hundreds of thousands of PNGs takes many minutes, so the first use converts them once
(resized to ``resolution``, 64 by default, by area averaging: PIL's ``BOX`` filter) into
``<Name>_down128_<r>x<r>.npy`` beside the originals, written atomically; later runs
memory-map it. Sampling draws one ``randint`` per factor (all factors latent), as
disentanglement_lib does for its ground-truth datasets.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

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
    optional_import,
    uint8_images_to_tensor,
)
from learnable_weights.data.download import RemoteFile, require
from learnable_weights.data.ground_truth import GroundTruthDataset, Transform

__all__ = ["Falcor3D", "Isaac3D"]

_LOG = logging.getLogger(__name__)
_IMAGE_NAME = re.compile(r"(?:^|/)images/(\d{6})\.png$")
_LABEL_DECIMALS = 6  # labels are k/(m-1); rounding merges float noise before ranking


@dataclass(frozen=True)
class _Release:
    """One official 128x128 release: archive, folder and label file names, and its grid."""

    archive: RemoteFile
    folder: str
    labels: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]


_FALCOR3D = _Release(
    # No checksum is published; the archive is about 3.7 GB, 3e9 bytes is a safe lower bound.
    archive=RemoteFile(
        "falcor3d", "Falcor3D_down128.zip", drive_id="1XAQfFK1x6cpN1eiovbP0hVfLTm5SsSoJ",
        min_size=3_000_000_000,
    ),
    folder="Falcor3D_down128",
    labels="train-rec.labels",
    factor_names=(
        "lighting_intensity", "lighting_x_dir", "lighting_y_dir", "lighting_z_dir",
        "camera_x_pos", "camera_y_pos", "camera_z_pos",
    ),
    factor_sizes=(5, 6, 6, 6, 6, 6, 6),
)  # fmt: skip
_ISAAC3D = _Release(
    # No checksum is published; the archive is about 13 GB, 1e10 bytes is a safe lower bound.
    archive=RemoteFile(
        "isaac3d", "Isaac3D_down128.zip", drive_id="1OmQ1G2wnm6eTsSFGTKFZZAh5D3nQTW1B",
        min_size=10_000_000_000,
    ),
    folder="Isaac3D_down128",
    labels="labels.npy",
    factor_names=(
        "object_shape", "robot_x_move", "robot_y_move", "camera_height", "object_scale",
        "lighting_intensity", "lighting_y_dir", "object_color", "wall_color",
    ),
    factor_sizes=(3, 8, 5, 4, 4, 4, 6, 4, 4),
)  # fmt: skip


class _NvidiaRelease(GroundTruthDataset):
    """Shared loader of the NVIDIA 128x128 releases; see :class:`Falcor3D`, :class:`Isaac3D`."""

    release: ClassVar[_Release]

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = True,
        transform: Transform | None = None,
        *,
        resolution: int = 64,
        mirror: str | None = None,
    ) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}.")
        release = self.release
        folder = dataset_root(release.archive.dataset, root)
        extracted = folder / release.folder
        if (extracted / "images").is_dir():
            self._source: _PngSource = _FolderSource(extracted, release.labels)
        else:
            archive = require(release.archive, folder, download=download, mirror=mirror)
            self._source = _ZipSource(archive, release.labels)
        labels = self._source.labels()
        if labels.ndim != 2 or labels.shape[1] != len(release.factor_sizes):
            raise DatasetFormatError(
                f"{self._source.labels_path}: labels have shape {labels.shape}, expected "
                f"(N, {len(release.factor_sizes)}) for {list(release.factor_names)}."
            )
        rounded = np.round(labels, _LABEL_DECIMALS)
        classes, sizes = classes_from_values(rounded, self._source.labels_path)
        if labels.shape[0] == np.prod(release.factor_sizes) and sizes != release.factor_sizes:
            raise DatasetFormatError(
                f"{self._source.labels_path}: the labels take {list(sizes)} distinct values per "
                f"factor, expected {list(release.factor_sizes)}."
            )
        check_grid_order(classes, sizes, self._source.labels_path)
        # In grid order, row c * base_k has class c for factor k (and class 0 elsewhere).
        self.factor_values = tuple(
            labels[np.arange(size) * math.prod(sizes[k + 1 :]), k] for k, size in enumerate(sizes)
        )
        self._source.check_images(labels.shape[0])
        self.resolution = resolution
        self.cache_path = folder / f"{release.folder}_{resolution}x{resolution}.npy"
        super().__init__(sizes, release.factor_names, (3, resolution, resolution), transform)
        self._images: LazyArray[np.uint8] = LazyArray()

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        return uint8_images_to_tensor(self._images.get(self._converted)[indices])

    def _converted(self) -> npt.NDArray[np.uint8]:
        """Map the images ``(N, r, r, 3)`` of :attr:`cache_path`, decoding the PNGs once."""
        side = self.resolution
        return cached_array(
            self.cache_path,
            (len(self), side, side, 3),
            np.uint8,
            lambda out: self._source.decode_all(out, side),
            self._source.stamp,
        )


class Falcor3D(_NvidiaRelease):
    """Falcor3D: 233,280 living-room renders, 7 factors ``[5, 6, 6, 6, 6, 6, 6]``.

    Args:
        root: folder holding ``Falcor3D_down128.zip`` or its extracted ``Falcor3D_down128/``
            (``images/*.png`` and ``train-rec.labels``); default ``<cache>/falcor3d``.
        download: fetch the zip from Google Drive (via gdown) if neither is present.
        transform: optional callable on each float32 ``(3, r, r)`` image.
        resolution: side ``r`` of the observations (default 64; 128 keeps the release's size).
        mirror: base URL of a mirror (default ``$LEARNABLE_WEIGHTS_MIRROR``).

    Attributes:
        factor_values: per factor, the normalised label value in [0, 1] of each class.

    Raises:
        DatasetFileMissingError: no release found and ``download`` is false.
        DownloadError: Drive refused the download (the message says what to fetch by hand).
        DatasetFormatError: truncated zip, bad labels, a label count that does not match the
            PNGs, or an unreadable PNG.
    """

    release = _FALCOR3D


class Isaac3D(_NvidiaRelease):
    """Isaac3D: 737,280 kitchen renders with a robot arm, 9 factors ``[3, 8, 5, 4, 4, 4, 6, 4, 4]``.

    Factor order as the official ``dataset_demo.py`` (not the README's index formula).

    Args:
        root: folder holding ``Isaac3D_down128.zip`` or its extracted ``Isaac3D_down128/``
            (``images/*.png`` and ``labels.npy``); default ``<cache>/isaac3d``.
        download: fetch the zip from Google Drive (via gdown) if neither is present.
        transform: optional callable on each float32 ``(3, r, r)`` image.
        resolution: side ``r`` of the observations (default 64; 128 keeps the release's size).
        mirror: base URL of a mirror (default ``$LEARNABLE_WEIGHTS_MIRROR``).

    Attributes:
        factor_values: per factor, the normalised label value in [0, 1] of each class.

    Raises:
        DatasetFileMissingError: no release found and ``download`` is false.
        DownloadError: Drive refused the download (the message says what to fetch by hand).
        DatasetFormatError: truncated zip, bad labels, a label count that does not match the
            PNGs, or an unreadable PNG.
    """

    release = _ISAAC3D


# --------------------------------------------------------------------------- PNG sources
class _PngSource:
    """Where the PNGs and labels of a release are: an extracted folder or the zip."""

    origin: Path
    labels_path: Path

    @property
    def stamp(self) -> Path:
        """The file whose modification time dates the release (a newer one rebuilds caches)."""
        return self.origin if self.origin.is_file() else self.labels_path

    def labels(self) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def png_names(self) -> dict[int, str]:
        """Index -> name of each ``images/NNNNNN.png``."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release open handles (after a conversion)."""

    def check_images(self, count: int) -> None:
        try:
            names = self.png_names()
        finally:
            self.close()
        if len(names) != count or (count and max(names) != count - 1):
            missing = next((i for i in range(count) if i not in names), None)
            detail = f"images/{missing:06d}.png is missing" if missing is not None else ""
            raise DatasetFormatError(
                f"{self.origin}: the labels list {count} images but {len(names)} PNGs were "
                f"found{'; ' + detail if detail else ''}. The release is incomplete: extract "
                "or download it again."
            )

    def decode_all(self, out: npt.NDArray[np.uint8], side: int) -> None:
        """Decode every PNG in index order into ``out`` ``(N, side, side, 3)``."""
        image_module = optional_import("PIL.Image", "Decoding the PNG releases")
        names = self.png_names()
        try:
            for index in range(out.shape[0]):
                out[index] = _decoded(image_module, self.read(names[index]), side, self.origin)
                if index and index % 50_000 == 0:
                    _LOG.info("%s: converted %d of %d images", self.origin, index, out.shape[0])
        finally:
            self.close()


def _decoded(image_module: Any, data: bytes, side: int, origin: Path) -> npt.NDArray[np.uint8]:
    try:
        with image_module.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise DatasetFormatError(f"{origin}: a PNG could not be decoded ({error}).") from error
    if rgb.size != (side, side):
        if rgb.size[0] != rgb.size[1]:
            raise DatasetFormatError(f"{origin}: an image is {rgb.size}, expected a square.")
        rgb = rgb.resize((side, side), image_module.Resampling.BOX)
    return np.asarray(rgb, dtype=np.uint8)


class _FolderSource(_PngSource):
    def __init__(self, folder: Path, labels_name: str) -> None:
        self.origin = folder
        self.labels_path = folder / labels_name

    def labels(self) -> npt.NDArray[np.float64]:
        if not self.labels_path.is_file():
            raise DatasetFormatError(
                f"{self.origin} has images/ but no {self.labels_path.name}: the release is "
                "incomplete; extract it again."
            )
        return _load_labels(self.labels_path, lambda: open(self.labels_path, "rb"))

    def png_names(self) -> dict[int, str]:
        names = {}
        for entry in os.scandir(self.origin / "images"):
            match = _IMAGE_NAME.search("images/" + entry.name)
            if match:
                names[int(match.group(1))] = entry.name
        return names

    def read(self, name: str) -> bytes:
        return (self.origin / "images" / name).read_bytes()


class _ZipSource(_PngSource):
    def __init__(self, archive: Path, labels_name: str) -> None:
        self.origin = archive
        self.labels_name = labels_name
        self._bundle: zipfile.ZipFile | None = None
        try:
            names = self._zip().namelist()
        except (zipfile.BadZipFile, OSError) as error:
            raise DatasetFormatError(
                f"{archive} is not a readable zip ({error}); it may be truncated by an "
                "interrupted download: delete it and download it again."
            ) from error
        finally:
            self.close()
        labels = [n for n in names if n == labels_name or n.endswith("/" + labels_name)]
        if not labels:
            raise DatasetFormatError(f"{archive} holds no {labels_name}; is it the right archive?")
        self._labels_member = labels[0]
        self.labels_path = archive / self._labels_member

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_bundle"] = None  # zip handles are per process
        return state

    def _zip(self) -> zipfile.ZipFile:
        if self._bundle is None:
            self._bundle = zipfile.ZipFile(self.origin)
        return self._bundle

    def close(self) -> None:
        if self._bundle is not None:
            self._bundle.close()
            self._bundle = None

    def labels(self) -> npt.NDArray[np.float64]:
        try:
            return _load_labels(self.labels_path, lambda: self._zip().open(self._labels_member))
        finally:
            self.close()

    def png_names(self) -> dict[int, str]:
        names = {}
        for name in self._zip().namelist():
            match = _IMAGE_NAME.search(name)
            if match:
                names[int(match.group(1))] = name
        return names

    def read(self, name: str) -> bytes:
        try:
            return self._zip().read(name)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise DatasetFormatError(
                f"{self.origin}: reading {name} failed ({error}); the zip is corrupt or "
                "truncated: delete it and download it again."
            ) from error


def _load_labels(path: Path, opener: Any) -> npt.NDArray[np.float64]:
    try:
        with opener() as stream:
            array = np.load(io.BytesIO(stream.read()), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetFormatError(f"{path} is not a readable .npy label array ({error}).") from error
    if not np.issubdtype(array.dtype, np.number):
        raise DatasetFormatError(f"{path}: labels have dtype {array.dtype}, expected floats.")
    return np.asarray(array, dtype=np.float64)
