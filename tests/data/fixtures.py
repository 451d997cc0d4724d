"""Small, format-exact dataset files for the loader tests (never the real data).

Each writer produces the official file layout (names, keys, dtypes, shapes, label formats, as
each loader's module docstring describes them from the dataset's repository) on a *reduced factor
grid*, so the files are kilobytes yet go through the
same reader code paths as the real ones. Pixels are random but seeded, and each image carries
its own index in its first pixels (:func:`index_stamp`), so a test can check that the image a
loader returns for an index is the one stored at that index.

Usage (tests run with --import-mode=importlib)::

    from fixtures import write_dsprites_npz, ...
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "CELEBA_ATTRIBUTE_NAMES",
    "DSPRITES_LATENT_NAMES",
    "FALCOR3D_SMALL_SIZES",
    "ISAAC3D_SMALL_SIZES",
    "dsprites_metadata",
    "dsprites_values",
    "grid_classes",
    "import_dlib_ground_truth",
    "index_stamp",
    "python2_pickle",
    "stamped_images",
    "write_celeba",
    "write_dsprites_hdf5",
    "write_dsprites_npz",
    "write_mpi3d",
    "write_nvidia_release",
    "write_shapes3d",
]

DSPRITES_LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
_DSPRITES_VALUES = {
    "color": np.array([1.0]),
    "shape": np.array([1.0, 2.0, 3.0]),
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": np.linspace(0.0, 2 * np.pi, 40),
    "posX": np.linspace(0.0, 1.0, 32),
    "posY": np.linspace(0.0, 1.0, 32),
}
_SHAPES3D_VALUES = (
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.array([0.0, 1.0, 2.0, 3.0]),
    np.linspace(-30.0, 30.0, 15),
)
FALCOR3D_SMALL_SIZES = (2, 1, 2, 1, 1, 2, 3)
ISAAC3D_SMALL_SIZES = (2, 2, 1, 1, 1, 1, 1, 2, 3)
_FALCOR3D_SIZES = (5, 6, 6, 6, 6, 6, 6)
_ISAAC3D_SIZES = (3, 8, 5, 4, 4, 4, 6, 4, 4)
CELEBA_ATTRIBUTE_NAMES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]


def grid_classes(sizes: Sequence[int]) -> npt.NDArray[np.int64]:
    """All class combinations of ``sizes`` in mixed-radix order, last fastest: ``(N, K)``."""
    grid = np.indices(tuple(sizes)).reshape(len(sizes), -1)
    classes: npt.NDArray[np.int64] = grid.T.astype(np.int64)  # mypy reads ndarray.T as Any
    return classes


def index_stamp(index: int) -> npt.NDArray[np.uint8]:
    """The 16 bits of ``index`` (little-endian) as 0/1 values: stamped into image pixels."""
    return ((index >> np.arange(16)) & 1).astype(np.uint8)


def stamped_images(
    count: int, shape: tuple[int, ...], binary: bool, seed: int = 0
) -> npt.NDArray[np.uint8]:
    """Random uint8 images ``(count, *shape)`` whose first 16 values encode their index."""
    rng = np.random.default_rng(seed)
    high = 2 if binary else 256
    images = rng.integers(0, high, size=(count, *shape), dtype=np.uint8)
    flat = images.reshape(count, -1)
    scale = 1 if binary else 255
    for index in range(count):
        flat[index, :16] = index_stamp(index) * scale
    return images


# --------------------------------------------------------------------------- dSprites
class _Python2Pickler(pickle._Pickler):
    """Pickles ``bytes`` with the Python 2 ``str`` opcodes, as the real dSprites metadata is.

    Python 2 wrote numpy array buffers as ``str``; Python 3 can load them only with
    ``encoding='latin1'`` (what the loader must use), so this makes the fixture faithful.
    """

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)
    # Set up by pickle._Pickler (undocumented) but missing from typeshed's stub of it:
    write: Callable[[bytes], object]
    memoize: Callable[[object], None]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def python2_pickle(obj: Any) -> bytes:
    """Pickle ``obj`` (protocol 2) with byte strings written as Python 2 ``str``."""
    stream = io.BytesIO()
    _Python2Pickler(stream, protocol=2).dump(obj)
    return stream.getvalue()


def _npy_bytes(array: npt.NDArray[Any]) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array, allow_pickle=False)
    return stream.getvalue()


def _object_npy_bytes(payload: bytes) -> bytes:
    """A ``.npy`` file holding a 0-d object array, ``payload`` being the array's pickle."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        stream, {"descr": "|O", "fortran_order": False, "shape": ()}
    )
    return stream.getvalue() + payload


def dsprites_metadata(sizes: Sequence[int]) -> dict[str, Any]:
    """The official metadata dict for a (reduced) dSprites grid: the first values of each latent."""
    return {
        "description": "test fixture in the dSprites layout",
        "latents_sizes": np.array(sizes, dtype=np.int64),
        "latents_names": DSPRITES_LATENT_NAMES,
        "latents_possible_values": {
            name: _DSPRITES_VALUES[name][:size]
            for name, size in zip(DSPRITES_LATENT_NAMES, sizes, strict=True)
        },
        "title": "dSprites dataset",
        "date": "April 2017",
        "version": 1,
        "author": "lmatthey@google.com",
    }


def dsprites_values(classes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Official latent values ``(N, 6)`` of latent classes ``(N, 6)``: ``latents_possible_values``
    as printed in ``dsprites_reloading_example.ipynb`` (https://github.com/google-deepmind/dsprites-dataset)."""
    values = np.zeros(classes.shape, dtype=np.float64)
    for column, name in enumerate(DSPRITES_LATENT_NAMES[: classes.shape[1]]):
        grid = _DSPRITES_VALUES[name]
        values[:, column] = grid[np.clip(classes[:, column], 0, grid.size - 1)]
    return values


def write_dsprites_npz(
    path: Path,
    sizes: Sequence[int] = (1, 3, 2, 2, 2, 2),
    *,
    images: npt.NDArray[np.uint8] | None = None,
    classes: npt.NDArray[np.int64] | None = None,
    metadata: dict[str, Any] | None = None,
    values: npt.NDArray[np.float64] | None = None,
    extra: dict[str, npt.NDArray[Any]] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a dSprites npz: ``imgs``, ``latents_classes``, ``latents_values`` (by default the
    official values of ``classes``) and a Python 2 pickled ``metadata``, each member deflated
    as ``np.savez_compressed`` does."""
    count = math.prod(sizes)
    images = stamped_images(count, (64, 64), binary=True) if images is None else images
    classes = grid_classes(sizes) if classes is None else classes
    metadata = dsprites_metadata(sizes) if metadata is None else metadata
    values = dsprites_values(classes) if values is None else values
    members = {
        "imgs.npy": _npy_bytes(images),
        "latents_classes.npy": _npy_bytes(classes),
        "latents_values.npy": _npy_bytes(values),
        "metadata.npy": _object_npy_bytes(python2_pickle(np.array(metadata, dtype=object))),
    }
    for key, array in (extra or {}).items():
        members[f"{key}.npy"] = _npy_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def write_dsprites_hdf5(
    path: Path,
    sizes: Sequence[int] = (1, 3, 2, 2, 2, 2),
    *,
    images: npt.NDArray[np.uint8] | None = None,
) -> Path:
    """Write a dSprites HDF5 file: ``imgs``, ``latents/classes``, ``latents/values``."""
    import h5py

    count = math.prod(sizes)
    images = stamped_images(count, (64, 64), binary=True) if images is None else images
    classes = grid_classes(sizes)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as store:
        store.create_dataset("imgs", data=images, compression="gzip")
        store.create_dataset("latents/classes", data=classes)
        store.create_dataset("latents/values", data=classes.astype(np.float64))
    return path


# --------------------------------------------------------------------------- 3D Shapes
def write_shapes3d(
    path: Path,
    sizes: Sequence[int] = (2, 1, 2, 1, 2, 3),
    *,
    labels: npt.NDArray[np.float64] | None = None,
    images: npt.NDArray[np.uint8] | None = None,
) -> Path:
    """Write ``3dshapes.h5``: ``images`` uint8 ``(N, 64, 64, 3)`` (gzip) and ``labels``
    float64 ``(N, 6)`` holding the first values of each factor's official value grid."""
    import h5py

    classes = grid_classes(sizes)
    if labels is None:
        labels = np.stack([_SHAPES3D_VALUES[k][classes[:, k]] for k in range(len(sizes))], axis=1)
    images = stamped_images(len(classes), (64, 64, 3), binary=False) if images is None else images
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as store:
        store.create_dataset(
            "images", data=images, compression="gzip", chunks=(1, *images.shape[1:])
        )
        store.create_dataset("labels", data=labels)
    return path


# --------------------------------------------------------------------------- MPI3D
def write_mpi3d(
    path: Path,
    sizes: Sequence[int] = (2, 2, 1, 1, 1, 2, 3),
    *,
    compressed: bool = False,
) -> Path:
    """Write an MPI3D npz with the single key ``images`` uint8 ``(N, 64, 64, 3)``, stored
    uncompressed by ``np.savez`` as the official files are (``compressed`` re-saves it)."""
    images = stamped_images(math.prod(sizes), (64, 64, 3), binary=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        (np.savez_compressed if compressed else np.savez)(stream, images=images)
    return path


# --------------------------------------------------------------------------- Falcor3D / Isaac3D
def write_nvidia_release(
    root: Path,
    folder: str,
    labels_name: str,
    small_sizes: Sequence[int],
    official_sizes: Sequence[int],
    *,
    as_zip: bool,
    side: int = 128,
) -> npt.NDArray[np.uint8]:
    """Write a 128x128 release (``<folder>/images/NNNNNN.png`` + the label ``.npy``), as a folder
    or as ``<folder>.zip``; labels hold ``k / (m - 1)`` with ``m`` the official factor sizes.

    Returns the RGB images ``(N, side, side, 3)`` that were written.
    """
    from PIL import Image

    classes = grid_classes(small_sizes)
    labels = classes / (np.asarray(official_sizes, dtype=np.float64) - 1.0)
    images = stamped_images(len(classes), (side, side, 3), binary=False)
    members: dict[str, bytes] = {f"{folder}/{labels_name}": _npy_bytes(labels)}
    for index, image in enumerate(images):
        stream = io.BytesIO()
        Image.fromarray(image, "RGB").save(stream, format="PNG")
        members[f"{folder}/images/{index:06d}.png"] = stream.getvalue()
    root.mkdir(parents=True, exist_ok=True)
    if as_zip:
        with zipfile.ZipFile(root / f"{folder}.zip", "w") as bundle:
            for name, data in members.items():
                bundle.writestr(name, data)
    else:
        for name, data in members.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return images


# --------------------------------------------------------------------------- CelebA
def write_celeba(
    root: Path, splits: Sequence[int] = (0, 0, 0, 1, 2), *, as_zip: bool = True
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Write fake CelebA files in the official formats (made-up pixels and values).

    ``img_align_celeba.zip`` (or the folder) with ``000001.jpg``... RGB 178 wide x 218 high,
    each image a flat colour (so JPEG keeps it nearly exact); ``list_eval_partition.txt``
    (``<file> <split>``); ``list_attr_celeba.txt`` (count line, 40 names, ``<file>`` + 40
    values in {-1, 1} separated by runs of spaces, as in the official file).

    Returns ``(colours (N, 3) uint8, attributes (N, 40) in {0, 1})``.
    """
    from PIL import Image

    rng = np.random.default_rng(1)
    count = len(splits)
    colours = rng.integers(0, 256, size=(count, 3), dtype=np.uint8)
    attributes = rng.integers(0, 2, size=(count, 40), dtype=np.int64)
    names = [f"{index + 1:06d}.jpg" for index in range(count)]
    root.mkdir(parents=True, exist_ok=True)
    jpegs = {}
    for name, colour in zip(names, colours, strict=True):
        stream = io.BytesIO()
        Image.new("RGB", (178, 218), tuple(int(c) for c in colour)).save(
            stream, format="JPEG", quality=95
        )
        jpegs[f"img_align_celeba/{name}"] = stream.getvalue()
    if as_zip:
        with zipfile.ZipFile(root / "img_align_celeba.zip", "w") as bundle:
            for name, data in jpegs.items():
                bundle.writestr(name, data)
    else:
        for name, data in jpegs.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{name} {split}\n" for name, split in zip(names, splits, strict=True))
    )
    rows = [
        name + "".join(f"{'  1' if a else ' -1'}" for a in row)
        for name, row in zip(names, attributes, strict=True)
    ]
    (root / "list_attr_celeba.txt").write_text(
        f"{count}\n" + " ".join(CELEBA_ATTRIBUTE_NAMES) + " \n" + "\n".join(rows) + "\n"
    )
    return colours, attributes


# --------------------------------------------------------------------------- reference library
def import_dlib_ground_truth(module: str) -> Any:
    """Import ``disentanglement_lib.data.ground_truth.<module>`` without TensorFlow.

    disentanglement_lib imports TensorFlow only for file access (``gfile``); the tests stub it
    with the built-in ``open`` (the stub is installed in ``sys.modules`` for this import only,
    and the caller's monkeypatch should restore it). Skips the test if the library is absent.
    """
    import importlib
    import os.path
    import sys
    import types

    import pytest

    pytest.importorskip("disentanglement_lib")
    gfile = types.SimpleNamespace(Open=open, GFile=open, exists=os.path.exists)
    v1 = types.ModuleType("tensorflow.compat.v1")
    v1.gfile = gfile  # type: ignore[attr-defined]
    v1.io = types.SimpleNamespace(gfile=gfile)  # type: ignore[attr-defined]
    compat = types.ModuleType("tensorflow.compat")
    compat.v1 = v1  # type: ignore[attr-defined]
    tensorflow = types.ModuleType("tensorflow")
    tensorflow.compat = compat  # type: ignore[attr-defined]
    stubs = {"tensorflow": tensorflow, "tensorflow.compat": compat, "tensorflow.compat.v1": v1}
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        return importlib.import_module(f"disentanglement_lib.data.ground_truth.{module}")
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
