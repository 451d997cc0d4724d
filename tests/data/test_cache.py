"""Tests of the cache helpers shared by the dataset loaders (learnable_weights.data.cache)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from learnable_weights.data import cache
from learnable_weights.data.cache import LazyArray, cached_array


def test_lazy_array_makes_its_array_once_and_pickles_empty() -> None:
    calls: list[int] = []

    def make() -> npt.NDArray[np.uint8]:
        calls.append(1)
        return np.full((1000, 100), 7, dtype=np.uint8)

    lazy: LazyArray[np.uint8] = LazyArray()
    first = lazy.get(make)
    assert lazy.get(make) is first
    assert len(calls) == 1
    blob = pickle.dumps(lazy)
    assert len(blob) < 200  # the 100,000 bytes of the array stay behind
    unpickled = pickle.loads(blob)
    np.testing.assert_array_equal(unpickled.get(make), first)
    assert len(calls) == 2  # the unpickled copy made its own


def _refuse_writes(path: Path, write: object) -> None:
    raise PermissionError(f"[Errno 13] Permission denied: '{path.parent}'")


def test_read_only_folder_gives_an_in_memory_array_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Running as root, chmod cannot make a folder read-only; refuse the write where it happens.
    monkeypatch.setattr(cache, "atomic_write_with", _refuse_writes)
    target = tmp_path / "values.npy"
    expected = np.arange(12, dtype=np.int32).reshape(3, 4)

    def fill(out: npt.NDArray[np.int32]) -> None:
        out[...] = expected

    with pytest.raises(PermissionError, match="Permission denied"):
        cached_array(target, (3, 4), np.int32, fill)
    array = cached_array(target, (3, 4), np.int32, fill, in_memory_if_read_only=True)
    np.testing.assert_array_equal(array, expected)
    assert array.dtype == np.int32
    assert not isinstance(array, np.memmap)
    assert not target.exists()
