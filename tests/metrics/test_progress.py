"""Progress bars: tqdm's within each sampling metric when installed, silence otherwise or when
turned off."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TypedDict

import numpy as np
import pytest
from tests.metrics.fake_data import FakeGroundTruth, linear_representation, mixing_matrix

from learnable_weights.metrics import beta_vae_score, evaluate
from learnable_weights.metrics._progress import progress_bar


class _BetaVAESettings(TypedDict):
    batch_size: int
    num_train: int
    num_eval: int


BETA_VAE: _BetaVAESettings = {"batch_size": 4, "num_train": 40, "num_eval": 20}
SETTINGS: dict[str, Mapping[str, object]] = {
    "beta_vae": BETA_VAE,
    "factor_vae": {"batch_size": 4, "num_train": 40, "num_eval": 20, "num_variance_estimate": 50},
    "mig": {"num_train": 300},
}


def _evaluate(progress: bool, deterministic: bool = True) -> None:
    evaluate(
        FakeGroundTruth(deterministic=deterministic),
        linear_representation(mixing_matrix("identity")),
        metrics=list(SETTINGS),
        settings=SETTINGS,
        progress=progress,
    )


@pytest.mark.parametrize("deterministic", [True, False], ids=["cached", "uncached"])
def test_evaluate_shows_a_bar_per_sampling_metric_and_set(
    capsys: pytest.CaptureFixture[str], deterministic: bool
) -> None:
    pytest.importorskip("tqdm")
    _evaluate(progress=True, deterministic=deterministic)
    shown = capsys.readouterr().err
    assert "beta_vae" in shown and "factor_vae" in shown and "sampled set" in shown
    # The bars count observations: BetaVAE draws 2 x 4 per point, 60 points.
    assert "/480" in shown


def test_progress_false_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    _evaluate(progress=False)
    beta_vae_score(
        FakeGroundTruth(),
        linear_representation(mixing_matrix("identity")),
        np.random.RandomState(0),
        **BETA_VAE,
        progress=False,
    )
    assert capsys.readouterr().err == ""


def test_without_tqdm_the_bar_is_silent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import raises ImportError
    bar = progress_bar("beta_vae", 10, enabled=True)
    bar.update(5)
    bar.close()
    _evaluate(progress=True)
    assert capsys.readouterr().err == ""
