"""The inter-process lock: mutual exclusion across processes although each holder deletes the
lock file, and no lock file or created folder left behind."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from learnable_weights.data.locking import exclusive


def _hold_and_log(lock: str, log: str, rounds: int) -> None:
    for _ in range(rounds):
        with exclusive(Path(lock)):
            with open(log, "a") as stream:
                stream.write(f"enter {os.getpid()}\n")
            time.sleep(0.002)
            with open(log, "a") as stream:
                stream.write(f"leave {os.getpid()}\n")


def test_no_two_processes_hold_the_lock_at_once(tmp_path: Path) -> None:
    lock, log = tmp_path / "deep" / "file.lock", tmp_path / "log.txt"
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_hold_and_log, args=(str(lock), str(log), 30)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * 4
    lines = log.read_text().splitlines()
    assert len(lines) == 4 * 30 * 2
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        # every "enter" is followed by the same process's "leave": no overlap
        assert enter.startswith("enter ") and leave == "leave " + enter.removeprefix("enter ")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [log]  # no lock file remains


def test_created_folders_are_removed_only_when_empty(tmp_path: Path) -> None:
    with exclusive(tmp_path / "a" / "b" / "c" / "x.lock"):
        assert (tmp_path / "a" / "b" / "c" / "x.lock").is_file()
    assert list(tmp_path.iterdir()) == []
    with exclusive(tmp_path / "a" / "b" / "x.lock"):
        (tmp_path / "a" / "b" / "kept.bin").write_bytes(b"data")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "a",
        "a/b",
        "a/b/kept.bin",
    ]


def test_the_lock_is_released_and_deleted_when_the_body_raises(tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    lock = tmp_path / "existing" / "x.lock"
    with pytest.raises(RuntimeError, match="boom"), exclusive(lock):
        raise RuntimeError("boom")
    assert not lock.exists() and (tmp_path / "existing").is_dir()  # existing folders stay
    with exclusive(lock):  # takes it again at once
        pass
