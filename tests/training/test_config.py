"""Training settings are checked when made; the presets hold the reference setting."""

from __future__ import annotations

import pytest

from learnable_weights.training import PRESETS, TrainConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [("steps", 0), ("batch_size", -1), ("log_every", 1.5), ("checkpoint_every", -1),
     ("lr", 0.0), ("weighting_lr", -1e-3), ("weight_decay", -0.1), ("steps", True),
     ("eval_at", (100, 0)), ("eval_at", (2.5,)), ("eval_at", 4000), ("eval_at", "4000")],
)  # fmt: skip
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{"steps": 10, field: value})  # type: ignore[arg-type]


def test_paper_preset_is_the_reference_setting() -> None:
    paper = PRESETS["paper"]
    assert (paper.steps, paper.batch_size, paper.lr, paper.latent_dim, paper.eval) == (
        300_000, 64, 1e-4, 10, "full"
    )  # fmt: skip
