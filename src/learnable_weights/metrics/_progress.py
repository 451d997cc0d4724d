"""Progress bars for the long metric passes: tqdm's when it is installed, nothing otherwise.

tqdm is optional (the ``examples`` extra installs it); without it, or with ``enabled=False``,
:func:`progress_bar` returns a bar that does nothing, so callers never branch on it.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(Protocol):
    """What the metrics call on a bar (tqdm's names)."""

    def update(self, n: int = 1) -> Any: ...

    def close(self) -> Any: ...


class _SilentBar:
    """The bar when tqdm is missing or progress is off."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(description: str, total: int, enabled: bool) -> ProgressBar:
    """A bar counting ``total`` observations, labelled ``description`` (e.g. ``"beta_vae"``).

    tqdm's bar on stderr, redrawn at most once a second and removed when closed, if ``enabled``
    and tqdm is importable; otherwise one that does nothing.
    """
    if not enabled:
        return _SilentBar()
    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm  # optional, untyped
    except ImportError:
        return _SilentBar()
    bar: ProgressBar = tqdm(
        total=total,
        desc=description,
        unit="obs",
        unit_scale=True,
        mininterval=1.0,
        leave=False,
        dynamic_ncols=True,
    )
    return bar
