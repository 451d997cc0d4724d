"""A run stopped between checkpoints and resumed ends bit for bit where an uninterrupted one does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import parameters, procedural_batches, tiny_model

from learnable_weights.training import TrainConfig, train
from learnable_weights.training.checkpoint import list_checkpoints


class Stop(Exception):
    """Stands in for a kill between two checkpoints."""


def stop_at(step: int):  # type: ignore[no-untyped-def]
    def callback(current: int) -> None:
        if current == step:
            raise Stop

    return callback


@pytest.mark.parametrize("name", ["l-vae", "mdl-vae", "controlvae", "dynamicvae"])
def test_stopped_and_resumed_run_equals_uninterrupted_run(tmp_path: Path, name: str) -> None:
    config = TrainConfig(steps=10, batch_size=8, lr=1e-2, log_every=3, checkpoint_every=4)
    through = train(
        tiny_model(name), procedural_batches(), config, out_dir=tmp_path / "a", progress=False
    )

    with pytest.raises(Stop):  # killed at step 6: the last checkpoint is step 4
        train(
            tiny_model(name), procedural_batches(), config, out_dir=tmp_path / "b",
            progress=False, on_step=stop_at(6),
        )  # fmt: skip
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "checkpoints")] == [
        "step-000000004.pt"
    ]
    torch.manual_seed(1234)  # the resumed run must not depend on the state it starts in
    resumed = train(
        tiny_model(name, seed=99), procedural_batches(seed=0), config,
        out_dir=tmp_path / "b", resume=True, progress=False,
    )  # fmt: skip

    expected, actual = parameters(through.model), parameters(resumed.model)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert _same_records(resumed.history, through.history)
    logged = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert [eval(line.replace("NaN", "float('nan')"))["step"] for line in logged] == [
        3, 6, 9, 10
    ]  # fmt: skip


def _same_records(first: list[dict], second: list[dict]) -> bool:  # type: ignore[type-arg]
    drop = {"images_per_s", "time"}
    return [{k: v for k, v in r.items() if k not in drop} for r in first] == [
        {k: v for k, v in r.items() if k not in drop} for r in second
    ]
