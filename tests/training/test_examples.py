"""Every example script trains a few steps on the small format-exact files of the data tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures import (
    FALCOR3D_SMALL_SIZES,
    ISAAC3D_SMALL_SIZES,
    write_celeba,
    write_mpi3d,
    write_nvidia_release,
    write_shapes3d,
)
from scripts import TINY, results, run_script


def shapes3d(root: Path) -> list[str]:
    write_shapes3d(root / "3dshapes.h5")
    return []


def mpi3d(root: Path) -> list[str]:
    write_mpi3d(root / "mpi3d_toy.npz", (2, 2, 1, 1, 1, 2, 3))
    return ["--variant", "toy", "--factor-sizes", "2,2,1,1,1,2,3"]


def falcor3d(root: Path) -> list[str]:
    write_nvidia_release(root, "Falcor3D_down128", "train-rec.labels", FALCOR3D_SMALL_SIZES,
                         (5, 6, 6, 6, 6, 6, 6), as_zip=True)  # fmt: skip
    return []


def isaac3d(root: Path) -> list[str]:
    write_nvidia_release(root, "Isaac3D_down128", "labels.npy", ISAAC3D_SMALL_SIZES,
                         (3, 8, 5, 4, 4, 4, 6, 4, 4), as_zip=False)  # fmt: skip
    return []


def celeba(root: Path) -> list[str]:
    write_celeba(root, splits=(0, 0, 0, 0, 1, 2))  # four training images
    return ["--batch-size", "2", "--workers", "0"]


CASES: dict[str, tuple[Callable[[Path], list[str]], str, str]] = {
    # script: (file writer, dataset name in the results, likelihood)
    "train_shapes3d": (shapes3d, "shapes3d", "bernoulli"),
    "train_mpi3d": (mpi3d, "mpi3d-toy", "bernoulli"),
    "train_falcor3d": (falcor3d, "falcor3d", "bernoulli"),
    "train_isaac3d": (isaac3d, "isaac3d", "bernoulli"),
    "train_celeba": (celeba, "celeba", "gaussian"),
}


@pytest.mark.filterwarnings("ignore::learnable_weights.data.celeba.CelebALicenseNotice")
@pytest.mark.parametrize("script", sorted(CASES))
def test_script_trains_on_the_small_files(tmp_path: Path, script: str) -> None:
    write, name, likelihood = CASES[script]
    root, out = tmp_path / "data", tmp_path / "run"
    extra = write(root)
    status = run_script(script, *TINY, "--data-root", str(root), "--out", str(out),
                        "--eval", "none", *extra)  # fmt: skip
    assert status == 0
    found = results(out)
    assert found["dataset"]["name"] == name and found["likelihood"] == likelihood
    assert found["steps"] == 3 and found["checkpoint"].endswith("step-000000003.pt")
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3]
    assert all(len(record["kl_per_dim"]) == 2 for record in records)
    assert (out / "pictures" / "traversal.png").is_file()
    if script == "train_celeba":
        assert "factor_sizes" not in found["dataset"] and found["eval"] == "none"
    else:
        assert found["dataset"]["sha256"], "the file read is checksummed"


@pytest.mark.parametrize("script", sorted(CASES))
def test_script_help_names_the_likelihood_and_presets(
    script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        run_script(script, "--help")
    assert raised.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Default likelihood" in text and "quick:" in text and "paper:" in text


def test_mpi3d_bad_factor_sizes_are_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_script("train_mpi3d", "--factor-sizes", "4,x")
    assert "expected sizes like" in capsys.readouterr().err


def test_a_missing_dataset_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEARNABLE_WEIGHTS_MIRROR", "http://127.0.0.1:9")  # refused at once
    monkeypatch.setattr("learnable_weights.data.download.RETRY_DELAY_S", 0.0)
    status = run_script("train_shapes3d", *TINY, "--data-root", str(tmp_path / "empty"),
                        "--out", str(tmp_path / "run"))  # fmt: skip
    assert status == 2
    assert "3dshapes.h5" in capsys.readouterr().err
