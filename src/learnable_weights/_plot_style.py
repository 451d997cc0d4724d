"""Line styles shared by the library's figures (`learnable_weights.viz`, `learnable_weights.study`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

OPEN_DASHES = (0, (3, 5))
"""Wide-gapped dashes: drawn over an equal earlier line, they let it show through."""


def equal_earlier(series: Sequence[ArrayLike], index: int) -> int | None:
    """The first ``j < index`` whose series has ``series[index]``'s shape and values (to a
    relative 1e-6), or ``None``: a line drawn over such a twin would hide it."""
    current = np.asarray(series[index], dtype=np.float64)
    for j in range(index):
        earlier = np.asarray(series[j], dtype=np.float64)
        if earlier.shape == current.shape and np.allclose(earlier, current, rtol=1e-6, atol=0.0):
            return j
    return None
