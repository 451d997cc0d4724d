"""Benchmark datasets for disentanglement, and how to get them onto the training device.

Ground-truth datasets (full factorial grids; disentanglement_lib's duck type and map-style torch
datasets): :class:`DSprites`, :class:`ProceduralDSprites`, :class:`ColorDSprites` (random
colours, as disentanglement_lib's colour dSprites), :class:`Shapes3D`, :class:`MPI3D`,
:class:`Falcor3D`, :class:`Isaac3D`, all subclasses of :class:`GroundTruthDataset`. Images only:
:class:`CelebA`. By name: :func:`load` and :func:`available`. Device-resident batches:
:class:`DeviceBatchSampler`. Files are cached under ``$LEARNABLE_WEIGHTS_DATA`` (default
``~/.cache/learnable_weights``); see docs/data/datasets.md.
"""

from learnable_weights.data.cache import DatasetFormatError
from learnable_weights.data.celeba import CelebA
from learnable_weights.data.color_dsprites import ColorDSprites
from learnable_weights.data.device_sampler import DeviceBatchSampler
from learnable_weights.data.download import (
    ChecksumMismatchError,
    DatasetFileMissingError,
    DownloadError,
    UnverifiedDownloadWarning,
)
from learnable_weights.data.dsprites import DSprites, ProceduralDataWarning
from learnable_weights.data.ground_truth import GroundTruthDataset
from learnable_weights.data.mpi3d import MPI3D
from learnable_weights.data.nvidia3d import Falcor3D, Isaac3D
from learnable_weights.data.procedural_dsprites import ProceduralDSprites
from learnable_weights.data.registry import available, load
from learnable_weights.data.shapes3d import Shapes3D

__all__ = [
    "MPI3D",
    "CelebA",
    "ChecksumMismatchError",
    "ColorDSprites",
    "DSprites",
    "DatasetFileMissingError",
    "DatasetFormatError",
    "DeviceBatchSampler",
    "DownloadError",
    "Falcor3D",
    "GroundTruthDataset",
    "Isaac3D",
    "ProceduralDSprites",
    "ProceduralDataWarning",
    "Shapes3D",
    "UnverifiedDownloadWarning",
    "available",
    "load",
]
