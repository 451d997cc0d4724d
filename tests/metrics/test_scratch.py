"""scratch: one kept buffer per name, dtype and thread; fresh arrays above the size cap."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from learnable_weights.metrics import _scratch
from learnable_weights.metrics._scratch import scratch


def test_a_name_reuses_its_buffer_and_grows_it_when_needed() -> None:
    first = scratch("test-reuse", (4, 5), np.dtype(np.float32))
    assert first.shape == (4, 5) and first.dtype == np.float32 and first.flags.c_contiguous
    smaller = scratch("test-reuse", (3, 2), np.dtype(np.float32))
    assert np.shares_memory(first, smaller)
    larger = scratch("test-reuse", (10, 10), np.dtype(np.float32))
    assert larger.shape == (10, 10) and not np.shares_memory(first, larger)
    assert np.shares_memory(larger, scratch("test-reuse", (4, 5), np.dtype(np.float32)))


def test_names_dtypes_and_threads_get_their_own_buffers() -> None:
    mine = scratch("test-own", (8,), np.dtype(np.float64))
    assert not np.shares_memory(mine, scratch("test-other", (8,), np.dtype(np.float64)))
    assert not np.shares_memory(mine, scratch("test-own", (8,), np.dtype(np.float32)))
    theirs: list[np.ndarray] = []
    thread = threading.Thread(
        target=lambda: theirs.append(scratch("test-own", (8,), np.dtype(np.float64)))
    )
    thread.start()
    thread.join()
    assert not np.shares_memory(mine, theirs[0])


def test_requests_above_the_cap_get_a_fresh_array(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_scratch, "KEPT_BYTES", 64)
    big = scratch("test-cap", (100,), np.dtype(np.float64))
    again = scratch("test-cap", (100,), np.dtype(np.float64))
    assert big.shape == (100,) and not np.shares_memory(big, again)
