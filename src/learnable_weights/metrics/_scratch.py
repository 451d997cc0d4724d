"""Scratch arrays kept between calls of a metric, one set per thread.

A fresh large array is mapped anew by the allocator on every call (glibc serves allocations above
its mmap threshold that way), and the first touch of each page costs a page fault: for IRS at the
study's sizes that took up to a third of a call's time on the 2-core machine the figures come from.
Reusing a few named buffers avoids it.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["KEPT_BYTES", "scratch"]

#: Buffers up to this many bytes are kept; larger requests get a fresh array.
KEPT_BYTES = 16 << 20

_buffers = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> NDArray[Any]:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` in this thread's buffer
    called ``name``.

    The array stays valid until the next request for the same name in the same thread, so a
    caller uses each name once per call and never returns the array (or a view of it).
    """
    size = math.prod(shape)
    if size * dtype.itemsize > KEPT_BYTES:
        return np.empty(shape, dtype)
    kept: dict[tuple[str, np.dtype[Any]], NDArray[Any]]
    kept = _buffers.__dict__.setdefault("buffers", {})
    buffer = kept.get((name, dtype))
    if buffer is None or buffer.size < size:
        buffer = kept[name, dtype] = np.empty(size, dtype)
    return buffer[:size].reshape(shape)
