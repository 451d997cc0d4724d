"""The shared command line of examples/train_*.py: flags, output folders, resume, results."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from fixtures import write_dsprites_npz
from scripts import TINY, results, run_script

from learnable_weights.data import ProceduralDataWarning
from learnable_weights.data import download as download_module
from learnable_weights.training import evaluation
from learnable_weights.training.checkpoint import load_checkpoint

DSPRITES_NPZ = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


@pytest.fixture
def dsprites_root(tmp_path: Path) -> Path:
    """A format-exact dSprites npz on a reduced grid (3 shapes x 2 x 2 x 2 x 2 = 48 images)."""
    root = tmp_path / "data"
    write_dsprites_npz(root / DSPRITES_NPZ, (1, 3, 2, 2, 2, 2))
    return root


def test_a_few_steps_on_the_dsprites_file(tmp_path: Path, dsprites_root: Path) -> None:
    out = tmp_path / "run"
    status = run_script("train_dsprites", *TINY, "--data-root", str(dsprites_root),
                        "--out", str(out), "--eval", "none")  # fmt: skip
    assert status == 0
    found = results(out)
    assert found["dataset"]["source"] == "official file"
    assert found["dataset"]["factor_sizes"] == [3, 2, 2, 2, 2]
    [(path, digest)] = found["dataset"]["sha256"].items()
    assert path == str(dsprites_root / DSPRITES_NPZ) and len(digest) == 64
    assert found["steps"] == 3 and found["likelihood"] == "bernoulli"
    assert found["environment"]["torch"] == torch.__version__
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    for record in records:
        assert len(record["kl_per_dim"]) == 2 and len(record["weights"]) == 2
        assert isinstance(record["beta"], float)
        assert record["beta"] == pytest.approx(record["weights"][1] / record["weights"][0])
    assert load_checkpoint(Path(found["checkpoint"]))["step"] == 3
    pictures = {name: Path(path) for name, path in found["pictures"].items()}
    assert {path.name for path in pictures.values()} == {
        "traversal.png", "traversal.gif", "reconstructions.png", "training_curves.png"
    }  # fmt: skip
    assert all(
        path.parent == out / "pictures" and path.stat().st_size for path in pictures.values()
    )


def test_offline_without_a_file_falls_back_to_procedural_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNABLE_WEIGHTS_MIRROR", "http://127.0.0.1:9")  # refused at once
    monkeypatch.setattr(download_module, "RETRY_DELAY_S", 0.0)
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = run_script("train_dsprites", *TINY, "--data-root", str(tmp_path / "empty"),
                            "--out", str(out), "--eval", "none", "--steps", "1")  # fmt: skip
    assert status == 0
    procedural = [w for w in caught if issubclass(w.category, ProceduralDataWarning)]
    assert len(procedural) == 1, [str(w.message) for w in caught]
    found = results(out)["dataset"]
    assert found["source"] == "procedural" and "could be read or downloaded" in found["note"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--steps", "0"], "expected a positive integer"),
        (["--steps", "ten"], "expected a positive integer"),
        (["--lr", "-1"], "expected a positive number"),
        (["--model", "gan"], "invalid choice"),
        (["--preset", "slow"], "invalid choice"),
        (["--eval", "some"], "invalid choice"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["--option", "bias_penalty"], "write NAME=VALUE"),
        (["--weighting-lr", "fast"], "a positive number or 'network'"),
        (["--weighting-lr", "0"], "a positive number or 'network'"),
    ],
)
def test_bad_flags_are_argparse_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        run_script("train_dsprites", *flags)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_an_occupied_out_is_refused_unless_resume_or_overwrite(
    tmp_path: Path, dsprites_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [*TINY, "--data-root", str(dsprites_root), "--eval", "none"]
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    assert run_script("train_dsprites", *common, "--out", str(foreign)) == 2
    assert "already holds files (thesis.tex)" in capsys.readouterr().err
    assert run_script("train_dsprites", *common, "--out", str(foreign), "--overwrite") == 2
    assert "they are not deleted" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "keep me"

    out = tmp_path / "run"
    assert run_script("train_dsprites", *common, "--out", str(out)) == 0
    first = (out / "results.json").read_text()
    assert run_script("train_dsprites", *common, "--out", str(out)) == 2
    assert "already holds another run's files" in capsys.readouterr().err
    assert (out / "results.json").read_text() == first  # untouched

    assert run_script("train_dsprites", *common, "--out", str(out), "--overwrite") == 0
    assert results(out)["steps"] == 3


def test_resume_continues_to_more_steps_bitwise(tmp_path: Path, dsprites_root: Path) -> None:
    common = [*TINY, "--data-root", str(dsprites_root), "--eval", "none",
              "--checkpoint-every", "2"]  # fmt: skip
    through, stopped = tmp_path / "through", tmp_path / "stopped"
    assert run_script("train_dsprites", *common, "--out", str(through), "--steps", "5") == 0
    assert run_script("train_dsprites", *common, "--out", str(stopped), "--steps", "3") == 0
    assert run_script("train_dsprites", *common, "--out", str(stopped), "--steps", "5",
                      "--resume") == 0  # fmt: skip
    expected = load_checkpoint(through / "checkpoints" / "step-000000005.pt")["model"]
    actual = load_checkpoint(stopped / "checkpoints" / "step-000000005.pt")["model"]
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_model_options_reach_the_model_and_bad_ones_are_refused(
    tmp_path: Path, dsprites_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [*TINY, "--data-root", str(dsprites_root), "--eval", "none"]
    out = tmp_path / "simplex"
    assert run_script("train_dsprites", *common, "--out", str(out),
                      "--option", "parameterization=simplex", "--option", "bias_penalty=2") == 0  # fmt: skip
    assert results(out)["options"] == {"parameterization": "simplex", "bias_penalty": 2}
    assert results(out)["config"]["weighting_lr"] == 0.05  # the library's rate for the weights
    assert run_script("train_dsprites", *common, "--out", str(out), "--resume",
                      "--option", "parameterization=simplex") == 2  # fmt: skip
    assert (
        "options {'parameterization': 'simplex', 'bias_penalty': 2} ->" in capsys.readouterr().err
    )
    bad = tmp_path / "bad"
    assert run_script("train_dsprites", *common, "--out", str(bad), "--option", "beta=3") == 2
    assert "does not take the option(s) ['beta']" in capsys.readouterr().err
    assert not bad.exists()  # nothing written for a run that cannot start


def test_resume_with_other_settings_is_refused(
    tmp_path: Path, dsprites_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [*TINY, "--data-root", str(dsprites_root), "--eval", "none", "--out",
              str(tmp_path / "run")]  # fmt: skip
    assert run_script("train_dsprites", *common) == 0
    assert run_script("train_dsprites", *common, "--resume", "--model", "beta-vae") == 2
    assert "model 'l-vae' -> 'beta-vae'" in capsys.readouterr().err
    assert run_script("train_dsprites", *common[:-2], "--out", str(tmp_path / "new"),
                      "--resume") == 2  # fmt: skip
    assert "holds no run to resume" in capsys.readouterr().err


def test_quick_evaluation_is_recorded(
    tmp_path: Path, dsprites_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small: dict[str, dict[str, int | str]] = {
        name: {"num_train": 40, "num_eval": 20} for name in ("beta_vae", "factor_vae")
    }
    small["factor_vae"]["num_variance_estimate"] = 100
    for name in ("mig", "irs"):
        small[name] = {"num_train": 100}
    for name in ("dci", "sap", "modularity_explicitness"):
        small[name] = {"num_train": 100, "num_test": 50}
    small["dci"]["mode"] = "fast"
    monkeypatch.setattr(evaluation, "QUICK_SETTINGS", small)
    out = tmp_path / "run"
    assert run_script("train_dsprites", *TINY, "--data-root", str(dsprites_root),
                      "--out", str(out), "--eval", "quick", "--steps", "1") == 0  # fmt: skip
    metrics = results(out)["metrics"]
    assert metrics["mode"] == "quick" and metrics["step"] == 1
    for name in ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity_explicitness", "irs"):
        assert 0.0 <= metrics[name] <= 1.0, name
    lines = (out / "evaluations.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["mig"] == metrics["mig"]


def test_amp_runs_in_bfloat16_and_keeps_the_loss_terms_finite(
    tmp_path: Path, dsprites_root: Path
) -> None:
    out = tmp_path / "run"
    assert run_script("train_dsprites", *TINY, "--data-root", str(dsprites_root),
                      "--out", str(out), "--eval", "none", "--amp", "--steps", "2") == 0  # fmt: skip
    found = results(out)
    assert found["config"]["amp"] is True
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["kl"]) for r in records)
