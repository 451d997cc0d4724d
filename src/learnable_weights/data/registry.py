"""Datasets by name: ``load("mpi3d-complex")`` for scripts, configs and the command line."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from learnable_weights.data.celeba import CelebA
from learnable_weights.data.color_dsprites import ColorDSprites
from learnable_weights.data.dsprites import DSprites
from learnable_weights.data.mpi3d import MPI3D
from learnable_weights.data.nvidia3d import Falcor3D, Isaac3D
from learnable_weights.data.procedural_dsprites import ProceduralDSprites
from learnable_weights.data.shapes3d import Shapes3D

__all__ = ["available", "load"]

Root = str | os.PathLike[str] | None
_Builder = Callable[[Root, bool, dict[str, Any]], Dataset[Any]]


def _procedural(root: Root, download: bool, options: dict[str, Any]) -> Dataset[Any]:
    del root, download  # rendered on demand: no files to find or fetch
    return ProceduralDSprites(**options)


def _color_dsprites(root: Root, download: bool, options: dict[str, Any]) -> Dataset[Any]:
    """``ColorDSprites`` over procedural dSprites (default) or, with ``source="real"``, over
    ``DSprites(root, download)``; ``transform`` goes to ColorDSprites, other options to the
    base."""
    source = options.pop("source", "procedural")
    transform = options.pop("transform", None)
    if source == "procedural":
        return ColorDSprites(ProceduralDSprites(**options), transform)
    if source == "real":
        return ColorDSprites(DSprites(root, download, **options), transform)
    raise ValueError(f"color-dsprites: source must be 'procedural' or 'real', got {source!r}.")


def _mpi3d(variant: str) -> _Builder:
    def build(root: Root, download: bool, options: dict[str, Any]) -> Dataset[Any]:
        if "variant" in options:
            raise TypeError(f"'mpi3d-{variant}' fixes the variant; use load('mpi3d-<variant>').")
        return MPI3D(root, download, variant=variant, **options)  # type: ignore[arg-type]

    return build


_BUILDERS: dict[str, _Builder] = {
    "dsprites": lambda root, download, options: DSprites(root, download, **options),
    "procedural-dsprites": _procedural,
    "color-dsprites": _color_dsprites,
    "shapes3d": lambda root, download, options: Shapes3D(root, download, **options),
    "mpi3d-toy": _mpi3d("toy"),
    "mpi3d-realistic": _mpi3d("realistic"),
    "mpi3d-real": _mpi3d("real"),
    "mpi3d-complex": _mpi3d("complex"),
    "falcor3d": lambda root, download, options: Falcor3D(root, download, **options),
    "isaac3d": lambda root, download, options: Isaac3D(root, download, **options),
    "celeba": lambda root, download, options: CelebA(root, download, **options),
}


def available() -> tuple[str, ...]:
    """The names :func:`load` accepts."""
    return tuple(_BUILDERS)


def load(name: str, root: Root = None, download: bool = True, **options: Any) -> Dataset[Any]:
    """Build a dataset by name.

    Args:
        name: one of :func:`available`: ``dsprites``, ``procedural-dsprites``,
            ``color-dsprites``, ``shapes3d``, ``mpi3d-toy``, ``mpi3d-realistic``,
            ``mpi3d-real``, ``mpi3d-complex``, ``falcor3d``, ``isaac3d``, ``celeba``.
        root: folder holding the dataset's official files; default ``<cache>/<name>``, where
            the cache is ``$LEARNABLE_WEIGHTS_DATA`` or ``~/.cache/learnable_weights``.
            Ignored by ``procedural-dsprites`` and the default ``color-dsprites``, which render
            their images.
        download: fetch missing files (ignored where ``root`` is).
        **options: keyword arguments of the dataset's class, e.g. ``transform=``,
            ``mirror=``, ``split=`` (CelebA), ``resolution=`` (Falcor3D, Isaac3D).
            ``color-dsprites`` (:class:`ColorDSprites`, disentanglement_lib's colour dSprites)
            takes ``source=``: ``"procedural"`` (default) colours :class:`ProceduralDSprites`,
            rendered offline with no download; ``"real"`` colours the real
            ``DSprites(root, download)``, whose files it shares with ``dsprites`` (default
            root ``<cache>/dsprites``). Its ``transform=`` applies to the coloured images;
            its other options go to the base class (e.g. ``supersample=``, ``file=``,
            ``mirror=``).

    Returns:
        The dataset: a :class:`GroundTruthDataset` for every name but ``celeba``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    key = name.strip().lower().replace("_", "-")
    if key not in _BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}.")
    return _BUILDERS[key](root, download, options)
