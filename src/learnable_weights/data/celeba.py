"""CelebA, aligned and cropped (Liu et al., ICCV 2015, mmlab.ie.cuhk.edu.hk/projects/CelebA.html).

202,599 face photos (JPEG, 178 wide x 218 high) with 40 binary attributes and no ground-truth
factors, so this is a plain map-style dataset (not a ground-truth dataset), used for
qualitative work such as latent traversals. Images come from ``img_align_celeba.zip`` (or its
extracted ``img_align_celeba/`` folder); the split from the official
``list_eval_partition.txt`` (0 train, 1 valid, 2 test: 162,770 / 19,867 / 19,962 images); the
attributes from ``list_attr_celeba.txt``. The usual VAE preprocessing, a centre crop of 148
then a resize to 64x64, is the default (common practice, not an official specification).

Licence: the CelebA release agreement allows non-commercial research use only and forbids
redistributing any part of the data. This library never ships CelebA data; the files are
downloaded from the authors' Google Drive (through gdown) or placed by the user.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from learnable_weights.data.cache import DatasetFormatError, dataset_root, optional_import
from learnable_weights.data.download import RemoteFile, require
from learnable_weights.data.ground_truth import Transform

__all__ = ["CELEBA_LICENSE_NOTICE", "CelebA", "CelebALicenseNotice", "Split"]

Split = Literal["train", "valid", "test", "all"]
_SPLIT_CODES: dict[str, int | None] = {"train": 0, "valid": 1, "test": 2, "all": None}

CELEBA_LICENSE_NOTICE = (
    "CelebA is available for non-commercial research purposes only, under the CelebA release "
    "agreement (mmlab.ie.cuhk.edu.hk/projects/CelebA.html): do not redistribute any part of it."
)

# Drive ids as torchvision's celeba.py uses them
# (https://github.com/pytorch/vision/blob/HEAD/torchvision/datasets/celeba.py). The CelebA
# authors publish no checksum: sizes and SHA-256 are TFDS' record (_TFDS_RECORD).
_TFDS_RECORD = (
    "https://github.com/tensorflow/datasets/blob/HEAD/tensorflow_datasets/datasets/celeb_a/"
    "checksums.tsv"
)
_IMAGES = RemoteFile(
    "celeba", "img_align_celeba.zip", drive_id="0B7EVK8r0v71pZjFTYXZWM3FlRnM",
    sha256="46fb89443c578308acf364d7d379fe1b9efb793042c0af734b6112e4fd3a8c74",
    size=1_443_490_838, checksum_source=_TFDS_RECORD,
)  # fmt: skip
_PARTITION = RemoteFile(
    "celeba", "list_eval_partition.txt", drive_id="0B7EVK8r0v71pY0NSMzRuSXJEVkk",
    sha256="fc955bcb3ef8fbdf7d5640d9a8693a8431b5f2ee291a5c1449a1549e7e073fe7",
    size=2_836_386, checksum_source=_TFDS_RECORD,
)  # fmt: skip
_ATTRIBUTES = RemoteFile(
    "celeba", "list_attr_celeba.txt", drive_id="0B7EVK8r0v71pblRyaVFSWGxPY0U",
    sha256="f0e5da289d5ccf75ffe8811132694922b60f2af59256ed362afa03fefba324d0",
    size=26_721_026, checksum_source=_TFDS_RECORD,
)  # fmt: skip
_IMAGE_FOLDER = "img_align_celeba"
_NUM_ATTRIBUTES = 40


class CelebALicenseNotice(UserWarning):
    """Issued once per process when CelebA is loaded: its terms of use."""


_NOTICE_SHOWN = False


class CelebA(Dataset[torch.Tensor]):
    """CelebA images (no factors): ``dataset[i]`` is float32 ``(3, size, size)`` in [0, 1].

    Args:
        root: folder holding the official files; default ``<cache>/celeba``.
        download: fetch missing files from Google Drive (via gdown), checksum-verified.
        transform: optional callable on each float32 ``(3, H, W)`` image.
        split: ``"train"``, ``"valid"``, ``"test"`` (the official partition) or ``"all"``.
        crop: side of the centre crop taken first (default 148), or ``None`` for no crop.
        size: side of the final square resize (default 64; bilinear with antialiasing, PIL), or
            ``None`` to keep the cropped size.
        mirror: base URL of a mirror (default ``$LEARNABLE_WEIGHTS_MIRROR``).

    Attributes:
        filenames: the image file names of the split, in order.
        attribute_names: the 40 attribute names, in file order.
        attributes: int64 tensor ``(N, 40)`` with 1 where an attribute is present, else 0.

    Raises:
        DatasetFileMissingError: a file is absent and ``download`` is false.
        DatasetFormatError: malformed partition/attribute files or an unreadable image.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = True,
        transform: Transform | None = None,
        *,
        split: Split = "train",
        crop: int | None = 148,
        size: int | None = 64,
        mirror: str | None = None,
    ) -> None:
        if split not in _SPLIT_CODES:
            raise ValueError(f"split must be one of {list(_SPLIT_CODES)}, got {split!r}.")
        for name, value in (("crop", crop), ("size", size)):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
        _show_notice()
        folder = dataset_root("celeba", root)
        partition = require(_PARTITION, folder, download=download, mirror=mirror)
        attributes = require(_ATTRIBUTES, folder, download=download, mirror=mirror)
        extracted = folder / _IMAGE_FOLDER
        self._archive: Path | None = None
        if not extracted.is_dir():
            self._archive = require(_IMAGES, folder, download=download, mirror=mirror)
        self._folder = extracted
        self.split = split
        self.crop = crop
        self.size = size
        self.transform = transform
        self.filenames = _read_partition(partition, _SPLIT_CODES[split])
        self.attribute_names, table = _read_attributes(attributes)
        missing = [name for name in self.filenames if name not in table]
        if missing:
            raise DatasetFormatError(
                f"{attributes} has no row for {missing[0]} (and {len(missing) - 1} more images "
                f"of {partition}); the annotation files do not match."
            )
        self.attributes = torch.from_numpy(np.stack([table[name] for name in self.filenames]))
        self._bundle: zipfile.ZipFile | None = None
        self._bundle_pid: int | None = None

    def __len__(self) -> int:
        return len(self.filenames)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_bundle"] = None  # zip handles are per process
        state["_bundle_pid"] = None
        return state

    def __getitem__(self, index: int) -> torch.Tensor:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"CelebA indices must be integers, got {type(index).__name__}.")
        position = int(index) + (len(self) if index < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} images.")
        image = self._image(self.filenames[position])
        return image if self.transform is None else self.transform(image)

    def _image(self, name: str) -> torch.Tensor:
        image_module = optional_import("PIL.Image", "Decoding CelebA images")
        data = self._read(name)
        try:
            with image_module.open(io.BytesIO(data)) as opened:
                image = opened.convert("RGB")
        except (OSError, SyntaxError, ValueError) as error:
            raise DatasetFormatError(
                f"{name}: the image could not be decoded ({error})."
            ) from error
        if self.crop is not None:
            width, height = image.size
            if self.crop > min(width, height):
                raise ValueError(f"crop={self.crop} exceeds the {width}x{height} image {name}.")
            left, top = (width - self.crop) // 2, (height - self.crop) // 2
            image = image.crop((left, top, left + self.crop, top + self.crop))
        if self.size is not None:
            image = image.resize((self.size, self.size), image_module.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)

    def _read(self, name: str) -> bytes:
        if self._archive is None:
            return (self._folder / name).read_bytes()
        if self._bundle is None or self._bundle_pid != os.getpid():
            try:
                self._bundle = zipfile.ZipFile(self._archive)
            except (zipfile.BadZipFile, OSError) as error:
                raise DatasetFormatError(
                    f"{self._archive} is not a readable zip ({error}); it may be truncated: "
                    "delete it and download it again."
                ) from error
            self._bundle_pid = os.getpid()
        try:
            return self._bundle.read(f"{_IMAGE_FOLDER}/{name}")
        except KeyError as error:
            raise DatasetFormatError(f"{self._archive} has no {_IMAGE_FOLDER}/{name}.") from error


def _show_notice() -> None:
    global _NOTICE_SHOWN
    if not _NOTICE_SHOWN:
        _NOTICE_SHOWN = True
        warnings.warn(CELEBA_LICENSE_NOTICE, CelebALicenseNotice, stacklevel=3)


def _read_partition(path: Path, code: int | None) -> list[str]:
    """File names of one split from ``list_eval_partition.txt`` (``<file> <0|1|2>`` lines)."""
    names = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DatasetFormatError(
                f"{path}, line {number}: expected '<file> <0|1|2>', got {line!r}."
            )
        if code is None or int(fields[1]) == code:
            names.append(fields[0])
    if not names:
        raise DatasetFormatError(f"{path} lists no image for this split.")
    return names


def _read_attributes(path: Path) -> tuple[tuple[str, ...], dict[str, npt.NDArray[np.int64]]]:
    """Parse ``list_attr_celeba.txt``: a count line, the 40 names, then ``<file> +-1 x 40``."""
    lines = path.read_text().splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DatasetFormatError(f"{path}: expected a count line then the attribute names.")
    names = tuple(lines[1].split())
    if len(names) != _NUM_ATTRIBUTES:
        raise DatasetFormatError(f"{path}: {len(names)} attribute names, expected 40.")
    table: dict[str, npt.NDArray[np.int64]] = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != _NUM_ATTRIBUTES + 1 or not set(fields[1:]) <= {"1", "-1"}:
            raise DatasetFormatError(
                f"{path}, line {number}: expected a file name and 40 values in {{-1, 1}}."
            )
        table[fields[0]] = (np.array(fields[1:], dtype=np.int64) > 0).astype(np.int64)
    if len(table) != int(lines[0]):
        raise DatasetFormatError(
            f"{path}: the count line says {int(lines[0])} images, the file has {len(table)} rows."
        )
    return names, table
