"""An inter-process lock on a path that leaves nothing behind: no lock file, no empty folder.

:func:`exclusive` serialises the processes that download a file or build a cache (for example the
ranks of a ``torchrun`` job) on the lock file ``<path>``. On POSIX it is an ``flock`` on that file,
and the holder deletes the file *before* it unlocks. A process that opened the file earlier and
was waiting then holds a lock on an unlinked file; it notices that the path no longer names the
file it locked (``os.path.samestat``) and starts over on a fresh one, so two processes never
both hold the lock. Every process that takes the lock must use this function (a lock that
keeps its file, such as ``filelock``'s on POSIX, would not notice the deletion).

The folders the lock file needed are created, and those of them that are empty when the lock is
released are removed again (still under the lock), so a download that failed before receiving a
byte leaves the disk as it found it. (A process that arrives in the instant between the deletion
of the lock file and that of its folder keeps the folder: it found it there.) Without ``fcntl``
(Windows) the ``filelock`` package locks instead; its Windows lock deletes its file on release.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive"]

_LOG = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_NO_FLOCK = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK}


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock named ``lock_path`` for the body of the ``with`` block.

    Creates the missing folders above ``lock_path``; on exit deletes the lock file and those
    created folders that are empty by then (deepest first).

    Raises:
        PermissionError: the folder is read-only (the lock file cannot be created).
    """
    created: list[Path] = []
    if fcntl is None:  # pragma: no cover - Windows
        try:
            with _filelock(lock_path, created):
                yield
        finally:
            _remove_empty(created)
        return
    descriptor = _acquire(lock_path, created)
    try:
        yield
    finally:
        _release(lock_path, descriptor, created)


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, appending each one made to ``created``."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        created.append(path)


def _acquire(lock_path: Path, created: list[Path]) -> int:
    """Open and ``flock`` the lock file ``lock_path``; returns its descriptor."""
    assert fcntl is not None
    while True:
        _make_folders(lock_path.parent, created)
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # another process removed the (empty) folder meanwhile
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(descriptor), os.stat(lock_path)):
                return descriptor
        except FileNotFoundError:  # the holder deleted the file we waited on: start over
            pass
        except OSError as error:
            if error.errno not in _NO_FLOCK:
                os.close(descriptor)
                raise
            _LOG.warning(
                "%s: this file system does not support flock (%s); going on without a lock, "
                "so do not let several processes fetch the same file at once",
                lock_path,
                error,
            )
            return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


def _release(lock_path: Path, descriptor: int, created: list[Path]) -> None:
    """Delete the lock file and the empty created folders while still holding the lock, then
    unlock: a process waiting on this lock file then finds it gone and makes its own."""
    try:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
        _remove_empty(created)
        if fcntl is not None:
            with contextlib.suppress(OSError):  # e.g. flock unsupported: nothing to unlock
                fcntl.flock(descriptor, fcntl.LOCK_UN)  # also for copies in forked children
    finally:
        os.close(descriptor)


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders in ``created`` that are empty, deepest first."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):  # not empty (or gone): keep it
            folder.rmdir()


@contextlib.contextmanager
def _filelock(lock_path: Path, created: list[Path]) -> Iterator[None]:  # pragma: no cover
    try:
        import filelock
    except ImportError as error:
        raise ImportError(
            "Locking dataset files needs filelock on this platform: "
            'pip install "learnable-weights[data]"'
        ) from error
    _make_folders(lock_path.parent, created)
    with filelock.FileLock(str(lock_path)):
        yield
