"""MPI3D (Gondal et al., NeurIPS 2019, github.com/rr-learning/disentanglement_dataset, CC BY 4.0).

Four variants of a robot-arm scene, each a full factorial grid of RGB 64x64 images stored as the
single key ``images`` of an uncompressed ``.npz``, in the order of the README's
``reshape([6, 6, 2, 3, 3, 40, 40, 64, 64, 3])`` (vertical_axis fastest):

* ``toy``, ``realistic``, ``real``: 1,036,800 images, factor sizes ``[6, 6, 2, 3, 3, 40, 40]``;
* ``complex`` (3D-printed real-world objects): 460,800 images, ``[4, 4, 2, 3, 3, 40, 40]``.

disentanglement_lib's ``data/ground_truth/mpi3d.py`` (github.com/google-research/
disentanglement_lib) hard-codes ``[4, 4, ...]`` for toy and realistic, which matches only its
legacy challenge file (``sim_toy_64x_ordered_without_heldout_factors.npz``); the public files
need ``[6, 6, ...]`` (the README of github.com/rr-learning/disentanglement_dataset).
Sampling draws one ``randint`` per factor, in disentanglement_lib's order (all factors latent).

The ``images`` member is stored uncompressed (ZIP_STORED), so it is memory-mapped in place at
its offset inside the zip: nothing is decompressed or copied (12 GB for the large variants). A
file re-saved compressed is decompressed once into ``<file>.images.npy`` beside it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from learnable_weights.data.cache import (
    DatasetFormatError,
    LazyArray,
    NpyMember,
    cached_array,
    dataset_root,
    iter_npz_rows,
    npz_member,
    uint8_images_to_tensor,
)
from learnable_weights.data.download import RemoteFile, require
from learnable_weights.data.ground_truth import GroundTruthDataset, Transform

__all__ = ["MPI3D", "MPI3D_VARIANTS", "Variant"]

Variant = Literal["toy", "realistic", "real", "complex"]
MPI3D_VARIANTS: tuple[Variant, ...] = ("toy", "realistic", "real", "complex")

FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
_LARGE_SIZES = (6, 6, 2, 3, 3, 40, 40)
_COMPLEX_SIZES = (4, 4, 2, 3, 3, 40, 40)
_HUGGING_FACE = "https://huggingface.co/datasets/waleedgondal/mpi3d/resolve/main"

# The MPI3D authors publish no checksum. The MD5 of toy and realistic are disent's record of the
# 2019 copies (then at storage.googleapis.com/disentanglement_dataset/Final_Dataset/); the files
# are now re-uploads on Hugging Face, so a mismatch keeps the file for the user to judge. real
# (replaced upstream on 2025-04-17, "Corrected corrupted mpi3d_real.npz dataset") and complex have
# no record: their download is checked by its npz header (_images_member), which holds for a
# compressed file as for an uncompressed one.
_DISENT_RECORD = (
    "https://github.com/nmichlo/disent/blob/HEAD/disent/dataset/data/_groundtruth__mpi3d.py"
)
_REMOTES: dict[Variant, RemoteFile] = {
    "toy": RemoteFile(
        "mpi3d-toy", "mpi3d_toy.npz", url=f"{_HUGGING_FACE}/mpi3d_toy.npz",
        md5="55889cb7c7dfc655d6e0277beee88868", checksum_source=_DISENT_RECORD,
    ),
    "realistic": RemoteFile(
        "mpi3d-realistic", "mpi3d_realistic.npz", url=f"{_HUGGING_FACE}/mpi3d_realistic.npz",
        md5="59a6225b88b635365f70c91b3e52f70f", checksum_source=_DISENT_RECORD,
    ),
    "real": RemoteFile("mpi3d-real", "mpi3d_real.npz", url=f"{_HUGGING_FACE}/mpi3d_real.npz"),
    "complex": RemoteFile(
        "mpi3d-complex", "real3d_complicated_shapes_ordered.npz",
        drive_id="1Tp8eTdHxgUMtsZv5uAoYAbJR1BOa_OQm",
    ),
}  # fmt: skip
_OFFICIAL_SIZES: dict[Variant, tuple[int, ...]] = {
    "toy": _LARGE_SIZES,
    "realistic": _LARGE_SIZES,
    "real": _LARGE_SIZES,
    "complex": _COMPLEX_SIZES,
}
_ROWS_PER_CHUNK = 4096


class MPI3D(GroundTruthDataset):
    """One MPI3D variant: 7 factors, observations float32 ``(3, 64, 64)``.

    Args:
        root: folder holding the variant's ``.npz``; default ``<cache>/mpi3d-<variant>``.
        download: fetch the file if it is absent.
        transform: optional callable on each float32 ``(3, 64, 64)`` image.
        variant: ``"toy"``, ``"realistic"``, ``"real"`` or ``"complex"`` (default, the one the
            L-VAE paper uses).
        mirror: base URL of a mirror (default ``$LEARNABLE_WEIGHTS_MIRROR``).
        factor_sizes: the grid of a file that is not the official one (e.g. a reduced test
            file); default the variant's official sizes. Its product must equal the image count.

    Raises:
        DatasetFileMissingError: the file is absent and ``download`` is false.
        DatasetFormatError: the file is truncated, lacks ``images``, or holds a number of
            images that does not match the factor grid.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = True,
        transform: Transform | None = None,
        *,
        variant: Variant = "complex",
        mirror: str | None = None,
        factor_sizes: Sequence[int] | None = None,
    ) -> None:
        if variant not in _REMOTES:
            raise ValueError(f"variant must be one of {list(MPI3D_VARIANTS)}, got {variant!r}.")
        self.variant = variant
        sizes = tuple(_OFFICIAL_SIZES[variant] if factor_sizes is None else factor_sizes)
        check = functools.partial(_images_member, sizes=sizes, variant=variant)
        remote = dataclasses.replace(_REMOTES[variant], check=check)
        self.path = require(
            remote, dataset_root(remote.dataset, root), download=download, mirror=mirror
        )
        self._member = check(self.path)
        super().__init__(sizes, FACTOR_NAMES, (3, 64, 64), transform)
        self._images: LazyArray[np.uint8] = LazyArray()

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        return uint8_images_to_tensor(self._images.get(self._mapped)[indices])

    def _mapped(self) -> npt.NDArray[np.uint8]:
        """Map the images ``(N, 64, 64, 3)`` in place in the zip, or from a decompressed copy."""
        shape = self._member.shape
        if self._member.stored:
            return np.memmap(
                self.path, dtype=np.uint8, mode="r", offset=self._member.data_offset, shape=shape
            )
        cache = self.path.with_name(self.path.name + ".images.npy")
        return cached_array(
            cache, shape, np.uint8, lambda out: _decompress(self.path, out), self.path
        )


def _images_member(path: Path, *, sizes: tuple[int, ...], variant: Variant) -> NpyMember:
    """The ``images`` member of ``path`` from its ``.npy`` header, checked against ``sizes``.

    Reads only the zip directory and the header (dtype, shape; stored or deflated alike), so it
    also checks a finished download. Raises :class:`DatasetFormatError` unless the member is
    uint8 ``(prod(sizes), 64, 64, 3)`` and its data is all there.
    """
    member = npz_member(path, "images")
    if len(member.shape) != 4 or member.shape[1:] != (64, 64, 3) or member.dtype != np.uint8:
        raise DatasetFormatError(
            f"{path}: images is {member.dtype} {member.shape}; MPI3D images are uint8 "
            "(N, 64, 64, 3)."
        )
    if len(sizes) != len(FACTOR_NAMES) or math.prod(sizes) != member.shape[0]:
        raise DatasetFormatError(
            f"{path} holds {member.shape[0]} images, but the factor grid {list(sizes)} "
            f"has {math.prod(sizes)}. The official {variant} file has "
            f"{math.prod(_OFFICIAL_SIZES[variant])} images; a 460,800-image toy/realistic "
            "file is the legacy challenge version: download the current file."
        )
    return member


def _decompress(path: Path, out: npt.NDArray[np.uint8]) -> None:
    for start, rows in iter_npz_rows(path, "images", _ROWS_PER_CHUNK):
        out[start : start + rows.shape[0]] = rows
