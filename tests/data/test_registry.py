"""The registry: every name builds its dataset from the official files, or says what is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures import (
    FALCOR3D_SMALL_SIZES,
    ISAAC3D_SMALL_SIZES,
    write_celeba,
    write_dsprites_npz,
    write_mpi3d,
    write_nvidia_release,
    write_shapes3d,
)

from learnable_weights import data
from learnable_weights.data import (
    MPI3D,
    CelebA,
    ColorDSprites,
    DatasetFileMissingError,
    DSprites,
    Falcor3D,
    GroundTruthDataset,
    Isaac3D,
    ProceduralDSprites,
    Shapes3D,
)

NAMES = (
    "dsprites",
    "procedural-dsprites",
    "color-dsprites",
    "shapes3d",
    "mpi3d-toy",
    "mpi3d-realistic",
    "mpi3d-real",
    "mpi3d-complex",
    "falcor3d",
    "isaac3d",
    "celeba",
)
MPI3D_SIZES = (2, 2, 1, 1, 1, 2, 3)


def test_available_lists_every_dataset() -> None:
    assert data.available() == NAMES


@pytest.mark.filterwarnings("ignore::learnable_weights.data.celeba.CelebALicenseNotice")
def test_load_builds_each_dataset_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNABLE_WEIGHTS_DATA", str(tmp_path))
    write_dsprites_npz(tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    write_shapes3d(tmp_path / "shapes3d" / "3dshapes.h5")
    for variant, name in (
        ("toy", "mpi3d_toy.npz"),
        ("realistic", "mpi3d_realistic.npz"),
        ("real", "mpi3d_real.npz"),
        ("complex", "real3d_complicated_shapes_ordered.npz"),
    ):
        write_mpi3d(tmp_path / f"mpi3d-{variant}" / name, MPI3D_SIZES)
    falcor = ("Falcor3D_down128", "train-rec.labels", FALCOR3D_SMALL_SIZES, (5, 6, 6, 6, 6, 6, 6))
    write_nvidia_release(tmp_path / "falcor3d", *falcor, as_zip=True)
    isaac = ("Isaac3D_down128", "labels.npy", ISAAC3D_SMALL_SIZES, (3, 8, 5, 4, 4, 4, 6, 4, 4))
    write_nvidia_release(tmp_path / "isaac3d", *isaac, as_zip=False)
    write_celeba(tmp_path / "celeba")

    expected = {
        "dsprites": DSprites,
        "procedural-dsprites": ProceduralDSprites,
        "color-dsprites": ColorDSprites,
        "shapes3d": Shapes3D,
        "falcor3d": Falcor3D,
        "isaac3d": Isaac3D,
        "celeba": CelebA,
    }
    for name in NAMES:
        options: dict[str, Any] = {"factor_sizes": MPI3D_SIZES} if name.startswith("mpi3d") else {}
        dataset = data.load(name, download=False, **options)
        assert isinstance(dataset, expected.get(name, MPI3D)), name
        if isinstance(dataset, MPI3D):
            assert dataset.variant == name.removeprefix("mpi3d-")
        if isinstance(dataset, GroundTruthDataset):
            factors, images = dataset.sample(3, np.random.RandomState(0))
            assert images.shape == (3, *dataset.observation_shape)
            assert factors.shape == (3, dataset.num_factors)
        else:
            assert dataset[0].shape == (3, 64, 64)


def test_explicit_root_and_options(tmp_path: Path) -> None:
    write_mpi3d(tmp_path / "mpi3d_toy.npz", MPI3D_SIZES)
    dataset = data.load("MPI3D_toy", root=tmp_path, download=False, factor_sizes=MPI3D_SIZES)
    assert isinstance(dataset, MPI3D)
    assert dataset.path == tmp_path / "mpi3d_toy.npz"
    with pytest.raises(TypeError, match="fixes the variant"):
        data.load("mpi3d-toy", root=tmp_path, download=False, variant="real")


@pytest.mark.filterwarnings("ignore::learnable_weights.data.celeba.CelebALicenseNotice")
@pytest.mark.parametrize(
    "name", [n for n in NAMES if n not in ("procedural-dsprites", "color-dsprites")]
)
def test_missing_files_give_an_actionable_error(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNABLE_WEIGHTS_DATA", str(tmp_path))
    with pytest.raises(DatasetFileMissingError) as error:
        data.load(name, download=False)
    message = str(error.value)
    assert str(tmp_path / name) in message
    assert "download=True" in message
    assert "http" in message


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; available: dsprites, "):
        data.load("mnist")


def test_core_import_needs_no_optional_dependency() -> None:
    """``import learnable_weights.data`` with h5py, PIL, gdown, filelock, scipy, sklearn blocked."""
    code = (
        "import sys\n"
        "for name in ('h5py', 'PIL', 'gdown', 'filelock', 'scipy', 'sklearn'):\n"
        "    sys.modules[name] = None\n"
        "import learnable_weights.data as d\n"
        "print(len(d.available()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(NAMES))


def test_missing_extra_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_shapes3d(tmp_path / "3dshapes.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r'pip install "learnable-weights\[data\]"'):
        Shapes3D(tmp_path, download=False)
