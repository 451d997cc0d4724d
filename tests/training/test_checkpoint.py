"""Checkpoint files: atomic writes, the last K kept, clear errors for damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import parameters, procedural_batches, tiny_model

from learnable_weights.training import CheckpointError, TrainConfig, train
from learnable_weights.training.checkpoint import (
    CHECKPOINT_FORMAT,
    checkpoint_path,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

STATE = {"format": CHECKPOINT_FORMAT, "step": 0, "model": {}, "optimizer": {}, "ranks": []}


def test_last_k_are_kept_in_step_order(tmp_path: Path) -> None:
    for step in (5, 10, 100, 1000):
        save_checkpoint({**STATE, "step": step}, tmp_path, step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step-000000100.pt",
        "step-000001000.pt",
    ]
    assert load_checkpoint(tmp_path / "step-000001000.pt")["step"] == 1000


def test_checkpoint_step_reads_back_the_step_in_the_name(tmp_path: Path) -> None:
    for step in (0, 7, 123_456_789, 10**10):  # past 9 digits the name just grows
        assert checkpoint_step(checkpoint_path(tmp_path, step)) == step
    for name in ("step-000000100.pt.abc.tmp", "step-.pt", "last.pt"):
        with pytest.raises(ValueError, match=r"name should be step-<step>\.pt"):
            checkpoint_step(tmp_path / name)


def test_a_run_killed_while_writing_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_checkpoint({**STATE, "step": 1}, tmp_path, 1, keep=1)

    def killed(obj: object, stream: object) -> None:
        stream.write(b"PK\x03\x04 half a checkpoint")  # type: ignore[attr-defined]
        raise KeyboardInterrupt  # the process dies in the middle of torch.save

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({**STATE, "step": 2}, tmp_path, 2, keep=1)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["step-000000001.pt"]
    assert load_checkpoint(tmp_path / "step-000000001.pt")["step"] == 1


def test_stray_temporary_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    save_checkpoint({**STATE, "step": 1}, tmp_path, 1, keep=3)
    stray = tmp_path / "step-000000002.pt.abc123.tmp"  # what a SIGKILL mid-write leaves
    stray.write_bytes(b"partial")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000001.pt"]
    save_checkpoint({**STATE, "step": 3}, tmp_path, 3, keep=3)
    assert not stray.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoint_names_itself_and_the_previous_one(tmp_path: Path, damage: str) -> None:
    first = save_checkpoint({**STATE, "step": 1}, tmp_path, 1, keep=3)
    second = save_checkpoint({**STATE, "step": 2}, tmp_path, 2, keep=3)
    data = second.read_bytes()
    second.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"\x00" * len(data), "empty": b""}[damage]
    )
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(second)
    message = str(raised.value)
    assert str(second) in message and "truncated or corrupt" in message
    assert str(first) in message
    assert load_checkpoint(first)["step"] == 1


def test_a_file_that_is_not_a_training_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "step-000000001.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a learnable_weights training checkpoint"):
        load_checkpoint(path)


def test_resume_from_corrupt_latest_fails_then_previous_resumes_exactly(tmp_path: Path) -> None:
    config = TrainConfig(steps=6, batch_size=8, lr=1e-2, log_every=2, checkpoint_every=2)
    through = train(tiny_model(), procedural_batches(), config, progress=False)

    short = TrainConfig(steps=4, batch_size=8, lr=1e-2, log_every=2, checkpoint_every=2)
    train(tiny_model(), procedural_batches(), short, out_dir=tmp_path, progress=False)
    latest = tmp_path / "checkpoints" / "step-000000004.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"step-000000004\.pt") as raised:
        train(tiny_model(), procedural_batches(), config, out_dir=tmp_path, resume=True,
              progress=False)  # fmt: skip
    previous = tmp_path / "checkpoints" / "step-000000002.pt"
    assert str(previous) in str(raised.value)

    resumed = train(
        tiny_model(), procedural_batches(), config, out_dir=tmp_path, resume=previous,
        progress=False,
    )  # fmt: skip
    expected, actual = parameters(through.model), parameters(resumed.model)
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    config = TrainConfig(steps=2, batch_size=8)
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        train(tiny_model(), procedural_batches(), config, out_dir=tmp_path, resume=True,
              progress=False)  # fmt: skip


def test_checkpoints_get_the_usual_file_mode(tmp_path: Path) -> None:
    path = save_checkpoint(STATE, tmp_path, 1, keep=1)
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask
