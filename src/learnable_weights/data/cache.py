"""Dataset files on disk: where they live, how they are written safely, how they are read.

The cache folder is ``$LEARNABLE_WEIGHTS_DATA`` if set, else ``~/.cache/learnable_weights``;
each dataset has its own folder ``<cache>/<name>/`` holding the official file names. Every file
the library writes there appears by an atomic rename of a finished temporary file in the same
folder, so a crash or a failed conversion never leaves a half-written file where a good one
belongs (and never replaces a good one). Derived arrays (unpacked, resized, decompressed) are
cached beside the originals as memory-mappable ``.npy`` files (:func:`cached_array`), and the
helpers at the end read ``.npz`` members in place and check factor labels.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import torch

__all__ = [
    "DATA_ENV",
    "FILE_MODE",
    "MIRROR_ENV",
    "DatasetFormatError",
    "LazyArray",
    "NpyMember",
    "atomic_output",
    "atomic_save_npy",
    "atomic_write_with",
    "cache_home",
    "cached_array",
    "check_grid_order",
    "classes_from_values",
    "dataset_root",
    "hdf5_rows_per_read",
    "iter_npz_rows",
    "mirror_base_url",
    "npz_member",
    "optional_import",
    "uint8_images_to_tensor",
]


_ScalarT = TypeVar("_ScalarT", bound=np.generic)


class DatasetFormatError(ValueError):
    """A dataset file exists but is not what the loader expects (truncated, wrong key/shape...)."""


DATA_ENV = "LEARNABLE_WEIGHTS_DATA"
"""Environment variable naming the cache folder."""

MIRROR_ENV = "LEARNABLE_WEIGHTS_MIRROR"
"""Environment variable naming a mirror base URL (files at ``<mirror>/<dataset>/<file>``)."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
"""Permissions of the files written here: what ``open()`` would give under this process's umask
(``tempfile.mkstemp`` alone would leave them private to the user, 0600)."""


def cache_home() -> Path:
    """The cache folder: ``$LEARNABLE_WEIGHTS_DATA`` if set, else ``~/.cache/learnable_weights``."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "learnable_weights"


def dataset_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    """The folder holding a dataset's official files: ``root`` if given, else ``<cache>/<name>``."""
    if root is not None:
        folder = Path(root).expanduser()
        if folder.is_file():
            raise NotADirectoryError(
                f"root={folder} is a file; root is the folder that holds the official files "
                "(DSprites also takes file= for one explicit file)."
            )
        return folder
    return cache_home() / name


def mirror_base_url(mirror: str | None) -> str | None:
    """The mirror base URL to use: the argument if given, else ``$LEARNABLE_WEIGHTS_MIRROR``.

    Returns ``None`` when neither is set (download from the official sources). A trailing
    slash is removed so that ``f"{base}/{dataset}/{file}"`` is well formed.
    """
    chosen = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if not chosen:
        return None
    return chosen.rstrip("/")


def optional_import(module: str, purpose: str) -> Any:
    """Import an optional dependency of the ``data`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{purpose} needs {module}: pip install "learnable-weights[data]"'
        ) from error


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb") -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it onto ``path``.

    If the body raises, the temporary file is deleted and ``path`` is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def atomic_save_npy(path: Path, array: npt.NDArray[np.generic]) -> None:
    """Write ``array`` as a ``.npy`` file at ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as stream:
        np.save(stream, array, allow_pickle=False)


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` and atomically rename the result onto ``path``.

    For writers (h5py, numpy memmaps) that need a file name rather than a stream. The
    temporary file sits in the same folder, so the rename is atomic on POSIX and Windows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def cached_array(
    path: Path,
    shape: tuple[int, ...],
    dtype: npt.DTypeLike,
    fill: Callable[[npt.NDArray[Any]], None],
    source: Path | None = None,
    *,
    in_memory_if_read_only: bool = False,
) -> npt.NDArray[Any]:
    """A read-only memory map of the ``.npy`` cache at ``path``, building it once if needed.

    If ``path`` holds an array of the given shape and dtype it is mapped as is. Otherwise
    ``fill(out)`` writes the contents into a writable memory map of a temporary file beside
    ``path``, which then replaces ``path`` atomically; a ``fill`` that raises leaves any
    existing file untouched. Concurrent processes build it once, under ``<path>.lock``.

    Args:
        path: the cache file (``.npy``).
        shape: its expected shape.
        dtype: its expected dtype.
        fill: writes the full array into the ``(shape, dtype)`` memory map it is given.
        source: the file the cache is derived from. Its size and modification time are
            recorded in ``<path>.source``; a cache built from another version is rebuilt.
        in_memory_if_read_only: when writing the cache raises :class:`PermissionError` (a
            read-only dataset folder), ``fill`` an in-memory array and return it instead of
            raising; nothing is cached, so the next process fills its own.
    """
    try:
        return _cached_array_file(path, shape, dtype, fill, source)
    except PermissionError:
        if not in_memory_if_read_only:
            raise
        array = np.empty(shape, dtype=dtype)
        fill(array)
        return array


def _cached_array_file(
    path: Path,
    shape: tuple[int, ...],
    dtype: npt.DTypeLike,
    fill: Callable[[npt.NDArray[Any]], None],
    source: Path | None,
) -> npt.NDArray[Any]:
    wanted = np.dtype(dtype)
    existing = _mapped_if_valid(path, shape, wanted, source)
    if existing is not None:
        return existing
    from learnable_weights.data.locking import exclusive

    with exclusive(path.with_name(path.name + ".lock")):
        existing = _mapped_if_valid(path, shape, wanted, source)
        if existing is not None:
            return existing

        def write(temporary: Path) -> None:
            out = np.lib.format.open_memmap(temporary, mode="w+", dtype=wanted, shape=shape)
            fill(out)
            out.flush()
            del out

        stamp = _source_stamp(source)
        atomic_write_with(path, write)
        if source is not None:
            with atomic_output(_stamp_path(path)) as stream:
                stream.write(stamp.encode())
    mapped = _mapped_if_valid(path, shape, wanted, None)
    if mapped is None:  # pragma: no cover - only if the file vanished right after its rename
        raise DatasetFormatError(f"{path} could not be read back after it was written.")
    return mapped


class LazyArray(Generic[_ScalarT]):
    """An array made on first use in the process that uses it; pickles without its contents.

    A dataset holds its images (usually a memory map of a :func:`cached_array` file) in one of
    these rather than in a plain attribute. Nothing is read or built until :meth:`get` is first
    called, and a pickled copy, such as the one each DataLoader worker process receives, starts
    empty again: every worker maps the cache file itself, sharing one copy of the pixels through
    the page cache, instead of unpickling the whole array or an open map.
    """

    def __init__(self) -> None:
        self._array: npt.NDArray[_ScalarT] | None = None

    def get(self, make: Callable[[], npt.NDArray[_ScalarT]]) -> npt.NDArray[_ScalarT]:
        """The array, calling ``make()`` to build or map it if this process has not yet."""
        if self._array is None:
            self._array = make()
        return self._array

    def __reduce__(self) -> tuple[type[LazyArray[_ScalarT]], tuple[()]]:
        return type(self), ()  # the array stays behind; the copy makes its own on first use


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".source")


def _source_stamp(source: Path | None) -> str:
    """Size and modification time of the source a cache was built from."""
    if source is None:
        return ""
    status = source.stat()
    return f"{status.st_size} {status.st_mtime_ns}\n"


def _mapped_if_valid(
    path: Path, shape: tuple[int, ...], dtype: np.dtype[Any], source: Path | None
) -> npt.NDArray[Any] | None:
    if not path.is_file():
        return None
    if source is not None:
        stamp = _stamp_path(path)
        if not stamp.is_file() or stamp.read_text() != _source_stamp(source):
            return None  # built from another version of the source (or never finished)
    try:
        mapped: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return None  # unreadable or truncated: rebuild it
    if mapped.shape != shape or mapped.dtype != dtype:
        return None
    return mapped


# --------------------------------------------------------------------------- archive members
@dataclass(frozen=True)
class NpyMember:
    """Where the array of one ``.npy`` member of an ``.npz`` (zip) archive lies.

    Attributes:
        shape: the array's shape.
        dtype: its dtype.
        data_offset: byte offset of the raw array data in the archive file; meaningful only
            when ``stored`` (an uncompressed member), where it allows a memory map.
        stored: whether the member is stored uncompressed (``np.savez``) rather than
            deflated (``np.savez_compressed``).
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    data_offset: int
    stored: bool


def npz_member(archive: Path, key: str) -> NpyMember:
    """Read the ``.npy`` header of member ``key`` of the ``.npz`` file ``archive``.

    The data offset follows the zip local file header (30 bytes + name length + extra-field
    length, read from that header; ``np.savez`` writes a ZIP64 extra field) and the ``.npy``
    header (``numpy.lib.format``). Raises :class:`DatasetFormatError` naming the file when the
    archive is truncated, the key is missing or the member is not a plain ``.npy`` array.
    """
    member_name = f"{key}.npy"
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            if member_name not in names:
                keys = sorted(name.removesuffix(".npy") for name in names)
                raise DatasetFormatError(
                    f"{archive} has no array '{key}' (it holds {keys}); is it the right file?"
                )
            info = bundle.getinfo(member_name)
            with bundle.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                header_bytes = stream.tell() if stream.seekable() else None
            with open(archive, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise DatasetFormatError(f"{archive}: corrupt zip header for '{member_name}'.")
            name_length, extra_length = struct.unpack("<HH", local[26:30])
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, DatasetFormatError):
            raise
        raise DatasetFormatError(
            f"{archive} is not a readable .npz archive ({type(error).__name__}: {error}); it "
            "may be truncated by an interrupted download: delete it and download it again."
        ) from error
    if fortran or dtype.hasobject:
        raise DatasetFormatError(
            f"{archive}: array '{key}' is {'Fortran-ordered' if fortran else 'of objects'}; "
            "expected a C-ordered numeric array as in the official release."
        )
    if header_bytes is None:  # pragma: no cover - zipfile streams are seekable on Python >= 3.7
        raise DatasetFormatError(f"{archive}: cannot locate the data of '{member_name}'.")
    data_offset = info.header_offset + 30 + name_length + extra_length + header_bytes
    stored = info.compress_type == zipfile.ZIP_STORED
    expected_bytes = math.prod(shape) * dtype.itemsize
    if info.file_size != header_bytes + expected_bytes:
        raise DatasetFormatError(
            f"{archive}: member '{member_name}' holds {info.file_size - header_bytes} data "
            f"bytes, but its header announces {shape} {dtype} = {expected_bytes} bytes."
        )
    if stored and archive.stat().st_size < data_offset + expected_bytes:
        raise DatasetFormatError(
            f"{archive} is truncated: array '{key}' needs {data_offset + expected_bytes} bytes, "
            f"the file has {archive.stat().st_size}. Delete it and download it again."
        )
    return NpyMember(tuple(int(n) for n in shape), np.dtype(dtype), data_offset, stored)


# --------------------------------------------------------------------------- factor labels
def check_grid_order(classes: npt.NDArray[np.int64], sizes: Sequence[int], file: Path) -> None:
    """Check that row ``i`` of ``classes`` ``(N, K)`` is the ``i``-th point of the grid ``sizes``.

    Mixed radix, last factor fastest: index ``= classes @ bases`` with ``bases[k] =
    prod(sizes[k + 1:])``, disentanglement_lib's ``factor_bases = prod(sizes) / cumprod(sizes)``
    (``data/ground_truth/dsprites.py``). Raises :class:`DatasetFormatError` naming ``file`` and
    the first row out of order.
    """
    count = math.prod(sizes)
    if classes.shape != (count, len(sizes)):
        raise DatasetFormatError(
            f"{file}: the labels have shape {classes.shape}, expected ({count}, {len(sizes)}) "
            f"for the factor grid {list(sizes)}."
        )
    bases = np.array([math.prod(sizes[k + 1 :]) for k in range(len(sizes))], dtype=np.int64)
    in_range = ((classes >= 0) & (classes < np.asarray(sizes))).all(axis=1)
    wrong = ~in_range | (classes @ bases != np.arange(count, dtype=np.int64))
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise DatasetFormatError(
            f"{file}: row {row} has factor classes {classes[row].tolist()}, but the grid "
            f"{list(sizes)} (last factor fastest) puts "
            f"{[int(c) for c in np.unravel_index(row, tuple(sizes))]} there; the file is not in "
            "the official order."
        )


def classes_from_values(
    values: npt.NDArray[np.floating[Any]], file: Path
) -> tuple[npt.NDArray[np.int64], tuple[int, ...]]:
    """Factor classes from factor values ``(N, K)``: the rank of each value in its column.

    Returns ``(classes (N, K) int64, sizes)`` where ``sizes[k]`` is the number of distinct
    values of column ``k`` (as TFDS derives 3D Shapes classes from its labels).
    """
    if values.ndim != 2 or values.shape[0] == 0:
        raise DatasetFormatError(f"{file}: expected labels of shape (N, K), got {values.shape}.")
    if not np.isfinite(values).all():
        raise DatasetFormatError(f"{file}: the labels contain NaN or infinite values.")
    classes = np.empty(values.shape, dtype=np.int64)
    sizes = []
    for k in range(values.shape[1]):
        unique, inverse = np.unique(values[:, k], return_inverse=True)
        classes[:, k] = inverse.reshape(-1)
        sizes.append(int(unique.size))
    return classes, tuple(sizes)


def iter_npz_rows(
    archive: Path, key: str, rows_per_chunk: int = 4096
) -> Iterator[tuple[int, npt.NDArray[Any]]]:
    """Stream member ``key`` of ``archive`` as ``(first_row, rows)`` blocks along axis 0.

    Works for stored and deflated members alike without holding the whole array in memory.
    Raises :class:`DatasetFormatError` naming the file when the data ends early or is corrupt.
    """
    member = npz_member(archive, key)
    row_shape = member.shape[1:]
    row_bytes = math.prod(row_shape) * member.dtype.itemsize
    try:
        with zipfile.ZipFile(archive) as bundle, bundle.open(f"{key}.npy") as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                np.lib.format.read_array_header_1_0(stream)
            else:
                np.lib.format.read_array_header_2_0(stream)
            for start in range(0, member.shape[0], rows_per_chunk):
                rows = min(rows_per_chunk, member.shape[0] - start)
                block = stream.read(rows * row_bytes)
                if len(block) != rows * row_bytes:
                    raise EOFError(f"'{key}' ends after {start * row_bytes + len(block)} bytes")
                yield start, np.frombuffer(block, dtype=member.dtype).reshape(rows, *row_shape)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        raise DatasetFormatError(
            f"{archive}: reading '{key}' failed ({type(error).__name__}: {error}); the archive "
            "is truncated or corrupt: delete it and download it again."
        ) from error


def uint8_images_to_tensor(images: npt.NDArray[np.uint8]) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` images in 0..255 -> float32 ``(N, C, H, W)`` in [0, 1]."""
    batch = torch.from_numpy(np.ascontiguousarray(images))
    return batch.permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()


def hdf5_rows_per_read(dataset: Any, default: int, limit: int = 65_536) -> int:
    """How many rows to read from an HDF5 dataset at a time when copying it out sequentially.

    A whole number of chunks along axis 0, so that each compressed chunk is decoded once (the
    official dSprites HDF5 is chunked 23,040 images deep); ``default`` for unchunked datasets
    or chunks deeper than ``limit`` rows.
    """
    chunks = getattr(dataset, "chunks", None)
    if not chunks or chunks[0] > limit:
        return default
    depth = int(chunks[0])
    return max(1, default // depth) * depth
