"""File-system details shared by the checkpoint and run-folder writers."""

from __future__ import annotations

import os

__all__ = ["readable_mode"]


def readable_mode() -> int:
    """``0o666`` less the process umask: the mode ``open`` gives a new file. Temporary files from
    ``tempfile.mkstemp`` are private (``0o600``); written outputs get this mode before the rename.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
