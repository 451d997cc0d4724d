"""Fetching official dataset files: resumable, verified, atomic, and run once across processes.

A :class:`RemoteFile` describes one official file: where it comes from (a plain HTTP(S) URL or
a Google Drive file id), its checksum and size where someone recorded them, and who did.
:func:`fetch` brings it into a dataset folder:

* partial data lives only in ``<file>.part``; an interrupted HTTP transfer resumes from it with a
  ``Range`` request (also on the next run);
* a finished transfer is checked in this order: the size floor and the format check, if the
  file has them (a file failing either is incomplete or not the file asked for: it is deleted);
  then its size and checksum against the record, if there is one. Every record says who made
  it. When the dataset's authors published the checksum, a mismatch deletes the part file
  (:class:`ChecksumMismatchError`). When it is a third party's record of an earlier copy (no
  author of the datasets used here publishes one), the file may be a faithful re-upload: it is
  kept as ``<file>.unverified`` and :class:`UnverifiedFileError` gives both checksums and how to
  accept it (rename it to ``<file>``, or list its name in ``$LEARNABLE_WEIGHTS_ACCEPT_UNVERIFIED``)
  or to discard it (delete it); gigabytes are never deleted without the user's word;
* where no record exists, the SHA-256 of this first download is recorded in ``<file>.sha256``
  and an :class:`UnverifiedDownloadWarning` is issued;
* the finished file appears by an atomic rename, so a half file never sits at ``<file>``;
* concurrent processes (e.g. several ranks under ``torchrun``) download once, under the lock
  ``<file>.lock`` (:func:`~learnable_weights.data.locking.exclusive`);
* a download that fails before its first byte leaves nothing behind: no part or lock file, and
  no folder that this call created;
* Google Drive files go through ``gdown``; with a mirror (argument or
  ``$LEARNABLE_WEIGHTS_MIRROR``) every file is read from ``<mirror>/<dataset>/<file>`` instead;
* when a download is refused, :class:`DownloadError` says which file to get, from where, and
  where to put it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib
import logging
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from learnable_weights.data.cache import (
    FILE_MODE,
    DatasetFormatError,
    atomic_output,
    mirror_base_url,
)
from learnable_weights.data.locking import exclusive

__all__ = [
    "ACCEPT_UNVERIFIED_ENV",
    "DRIVE_DOWNLOAD_URL",
    "ChecksumMismatchError",
    "DatasetFileMissingError",
    "DatasetFormatError",
    "DownloadError",
    "RemoteFile",
    "UnverifiedDownloadWarning",
    "UnverifiedFileError",
    "fetch",
    "file_digest",
    "require",
]

_LOG = logging.getLogger(__name__)

DRIVE_DOWNLOAD_URL = "https://drive.google.com/uc?id={id}"
"""The URL given to ``gdown`` for a Drive file id (gdown handles the confirm-token flow)."""

DRIVE_SHARE_URL = "https://drive.google.com/file/d/{id}/view"
"""The page a person opens to download a Drive file by hand."""

ACCEPT_UNVERIFIED_ENV = "LEARNABLE_WEIGHTS_ACCEPT_UNVERIFIED"
"""Comma-separated file names whose kept ``<file>.unverified`` the user accepts as ``<file>``."""

RETRY_DELAY_S = 1.0
"""Wait before the first resumption of a failed transfer; it doubles for each further one."""

_CHUNK_BYTES = 1 << 20
_USER_AGENT = "learnable-weights (https://pypi.org/project/learnable-weights)"


class DownloadError(RuntimeError):
    """A file could not be downloaded; the message says what to fetch by hand and where."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file failed its checks: checksum, size, size floor or format.

    The part file is deleted, except for a mismatch with a third party's record, which raises
    the subclass :class:`UnverifiedFileError` and keeps the file.
    """


class UnverifiedFileError(ChecksumMismatchError):
    """A download did not match a third party's record; it is kept as ``<file>.unverified``.

    Attributes:
        path: the kept file.
    """

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class DatasetFileMissingError(FileNotFoundError):
    """A dataset file is absent and downloading was not allowed (``download=False``)."""


class UnverifiedDownloadWarning(UserWarning):
    """A file was downloaded for which no checksum is published, so it could not be verified."""


@dataclass(frozen=True)
class RemoteFile:
    """One official dataset file.

    Attributes:
        dataset: the dataset's cache folder name (also the mirror sub-folder), e.g. ``"dsprites"``.
        filename: the official file name, kept on disk unchanged.
        url: plain HTTP(S) download URL, or ``None`` for Drive files.
        drive_id: Google Drive file id, or ``None`` for plain HTTP files.
        sha256: recorded SHA-256 in hex, if any.
        md5: recorded MD5 in hex, if any (used only when no SHA-256 is known).
        size: exact size in bytes, if recorded.
        checksum_source: who recorded ``sha256``/``md5``/``size`` (a URL); required with them.
        checksum_by_authors: whether that record is the dataset authors' own. Then a mismatch
            deletes the download; otherwise it is kept as ``<file>.unverified`` for the user to
            accept or delete.
        min_size: a lower bound on the size in bytes (below it the file is certainly
            incomplete), when nothing better is known.
        check: validates the finished file's format (e.g. the ``.npy`` header of an npz
            member); raises :class:`DatasetFormatError` saying what is wrong.
    """

    dataset: str
    filename: str
    url: str | None = None
    drive_id: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    checksum_source: str | None = None
    checksum_by_authors: bool = False
    min_size: int | None = None
    check: Callable[[Path], object] | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.drive_id is None):
            raise ValueError(f"{self.filename}: give exactly one of url= and drive_id=")
        recorded = self.sha256 is not None or self.md5 is not None or self.size is not None
        if recorded and not self.checksum_source:
            raise ValueError(
                f"{self.filename}: a checksum or size needs checksum_source= (who recorded it)"
            )

    @property
    def source(self) -> str:
        """Where a person can get the file by hand (a URL or a Drive page)."""
        if self.drive_id is not None:
            return DRIVE_SHARE_URL.format(id=self.drive_id)
        assert self.url is not None
        return self.url

    @property
    def verifiable(self) -> bool:
        """Whether a checksum is recorded for this file."""
        return self.sha256 is not None or self.md5 is not None

    @property
    def recorded_by(self) -> str:
        """Who recorded the checksum, for messages: the authors or the named third party."""
        return ("its authors" if self.checksum_by_authors else "a third party") + (
            f" ({self.checksum_source})"
        )


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def require(
    remote: RemoteFile,
    root: Path,
    *,
    download: bool,
    mirror: str | None = None,
    quiet: bool = False,
) -> Path:
    """Path of ``remote`` inside ``root``, downloading it first if absent and ``download``.

    A kept ``<file>.unverified`` (see :func:`fetch`) is accepted if the user said so, even with
    ``download`` false; otherwise :class:`UnverifiedFileError` says how to decide.

    Raises:
        DatasetFileMissingError: the file is absent and ``download`` is false.
        DownloadError: the download failed (the message says how to get the file by hand).
        UnverifiedFileError: the file is kept as ``<file>.unverified``, not yet accepted.
    """
    target = root / remote.filename
    if target.is_file():
        return target
    if _unverified_path(target).is_file():  # fetch accepts it or explains; it downloads nothing
        return fetch(remote, root, mirror=mirror, quiet=quiet)
    if not download:
        raise DatasetFileMissingError(
            f"{target} does not exist. Pass download=True to fetch it, or download "
            f"{remote.filename} yourself from {remote.source} and put it at {target}."
        )
    return fetch(remote, root, mirror=mirror, quiet=quiet)


def fetch(
    remote: RemoteFile,
    root: Path,
    *,
    mirror: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    quiet: bool = False,
) -> Path:
    """Download ``remote`` into ``root`` (if not already there) and return its path.

    Args:
        remote: the file to fetch.
        root: the dataset folder; created if needed (and removed again, with any parents
            created for it, if the download fails before its first byte).
        mirror: base URL of a mirror; files are read from ``<mirror>/<dataset>/<file>``.
            Defaults to ``$LEARNABLE_WEIGHTS_MIRROR``; unset means the official source.
        retries: how many times an interrupted HTTP transfer is resumed before giving up
            (the part file is kept, so a later call resumes too).
        timeout: socket timeout in seconds for plain HTTP transfers.
        quiet: no progress bars (tqdm's for HTTP, if installed, and gdown's).

    Raises:
        DownloadError: the transfer was refused or kept failing.
        ChecksumMismatchError: the data failed its checks (see the module docstring).
        UnverifiedFileError: the data did not match a third party's record and is kept as
            ``<file>.unverified`` (also raised, without downloading, while that file exists
            and is not accepted).
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    target = root / remote.filename
    part = target.with_name(target.name + ".part")
    with exclusive(target.with_name(target.name + ".lock")), _no_empty_part(part):
        if target.is_file():  # another process finished it while we waited for the lock
            return target
        if _unverified_path(target).is_file():
            return _accept_unverified(remote, target)
        base = mirror_base_url(mirror)
        if base is not None:
            url = f"{base}/{remote.dataset}/{remote.filename}"
            _LOG.info("downloading %s from mirror %s", remote.filename, url)
            _http_download(remote, url, part, target, retries=retries, timeout=timeout, quiet=quiet)
        elif remote.url is not None:
            _LOG.info("downloading %s from %s", remote.filename, remote.url)
            _http_download(
                remote, remote.url, part, target, retries=retries, timeout=timeout, quiet=quiet
            )
        else:
            _drive_download(remote, part, target, quiet=quiet)
        _verify(remote, part, target)
        os.chmod(part, FILE_MODE)  # gdown's temporary files are private (0600)
        os.replace(part, target)
    return target


@contextlib.contextmanager
def _no_empty_part(part: Path) -> Iterator[None]:
    """On failure, delete ``part`` if it holds no byte (nothing to resume from)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            if part.stat().st_size == 0:
                part.unlink()
        raise


def _manual_instructions(remote: RemoteFile, target: Path) -> str:
    return (
        f"Download {remote.filename} by hand from {remote.source} and put it at {target} "
        "(or point $LEARNABLE_WEIGHTS_MIRROR at a mirror), then run again."
    )


def _http_download(
    remote: RemoteFile,
    url: str,
    part: Path,
    target: Path,
    *,
    retries: int,
    timeout: float,
    quiet: bool,
) -> None:
    """Transfer ``url`` into ``part``, resuming with ``Range`` requests after interruptions."""
    for attempt in range(retries + 1):
        try:
            if _http_transfer(url, part, timeout=timeout, quiet=quiet):
                return
            reason = "the connection closed before the announced length was received"
        except urllib.error.HTTPError as error:
            raise DownloadError(
                f"Downloading {remote.filename} from {url} failed: HTTP {error.code} "
                f"{error.reason}. {_manual_instructions(remote, target)}"
            ) from error
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = f"{type(error).__name__}: {error}"
        _LOG.warning(
            "transfer of %s failed (%s); attempt %d of %d",
            remote.filename,
            reason,
            attempt + 1,
            retries + 1,
        )
        if attempt < retries:
            time.sleep(RETRY_DELAY_S * 2**attempt)
    received = part.stat().st_size if part.exists() else 0
    kept = (
        f"; {received} bytes are kept in {part} and the next attempt resumes from there"
        if received
        else ""
    )
    raise DownloadError(
        f"Downloading {remote.filename} from {url} failed or was interrupted ({reason}){kept}. "
        + _manual_instructions(remote, target)
    )


def _http_transfer(url: str, part: Path, *, timeout: float, quiet: bool) -> bool:
    """One HTTP request appending to ``part``; returns whether the whole file has arrived."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to send: the part file is complete
            return True
        raise
    with response:
        resumed = offset > 0 and response.status == 206
        announced = response.headers.get("Content-Length")
        start = offset if resumed else 0
        total = None if announced is None else start + int(announced)
        received = 0
        with (
            open(part, "ab" if resumed else "wb") as stream,
            _progress(part.name.removesuffix(".part"), total, start, quiet) as advance,
        ):
            try:
                for block in _blocks(response):
                    stream.write(block)
                    received += len(block)
                    advance(len(block))
            finally:
                stream.flush()
                os.fsync(stream.fileno())
    return announced is None or received >= int(announced)


@contextlib.contextmanager
def _progress(
    name: str, total: int | None, initial: int, quiet: bool
) -> Iterator[Callable[[int], object]]:
    """A byte progress bar (tqdm, if installed and not ``quiet``); yields its update function."""
    try:
        tqdm = None if quiet else importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        tqdm = None
    if tqdm is None:
        yield lambda count: None
        return
    with tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name
    ) as bar:
        yield bar.update


def _blocks(response: Any) -> Iterator[bytes]:
    while block := response.read(_CHUNK_BYTES):
        yield block


def _drive_download(remote: RemoteFile, part: Path, target: Path, *, quiet: bool) -> None:
    """Fetch a Google Drive file into ``part`` with gdown (which resumes its own partial file)."""
    try:
        import gdown
    except ImportError as error:
        raise ImportError(
            f"Downloading {remote.filename} from Google Drive needs gdown: "
            'pip install "learnable-weights[data]". ' + _manual_instructions(remote, target)
        ) from error
    url = DRIVE_DOWNLOAD_URL.format(id=remote.drive_id)
    try:
        result = gdown.download(url=url, output=str(part), quiet=quiet, resume=True)
    except Exception as error:  # gdown raises its own, requests' and OS errors alike
        raise DownloadError(
            f"Google Drive refused or failed the download of {remote.filename} "
            f"({type(error).__name__}: {error}). Drive often limits large files to a few "
            f"downloads a day. {_manual_instructions(remote, target)}"
        ) from error
    if result is None or not part.is_file():
        raise DownloadError(
            f"gdown did not produce {remote.filename}. {_manual_instructions(remote, target)}"
        )


def _unverified_path(target: Path) -> Path:
    return target.with_name(target.name + ".unverified")


def _verify(remote: RemoteFile, part: Path, target: Path) -> None:
    """Check the finished ``part`` (module docstring); delete or keep it when it fails."""
    size = part.stat().st_size
    problem: str | None = None
    if remote.min_size is not None and size < remote.min_size:
        problem = f"it has {size} bytes, expected at least {remote.min_size}"
    elif remote.check is not None:
        try:
            remote.check(part)
        except DatasetFormatError as error:
            problem = f"it is not a valid {remote.filename} ({error})"
    if problem is None:
        mismatch = _record_mismatch(remote, part, size)
        if mismatch is not None and not remote.checksum_by_authors:
            _keep_unverified(remote, part, target, mismatch)
        problem = mismatch
    if problem is not None:
        part.unlink()
        raise ChecksumMismatchError(
            f"The download of {remote.filename} is corrupt: {problem}. The partial file was "
            f"deleted; run again to retry. {_manual_instructions(remote, target)}"
        )
    if not remote.verifiable:
        digest = file_digest(part, "sha256")
        _record_sha256(target, digest)
        sized = remote.min_size is not None or remote.size is not None
        checks = [
            name for name, done in (("size", sized), ("format", remote.check is not None)) if done
        ]
        checked = f" (only its {' and '.join(checks)} could be checked)" if checks else ""
        warnings.warn(
            f"No checksum is published for {remote.filename}, so the download of {size} bytes "
            f"could not be verified{checked}. Its SHA-256 {digest} is recorded in "
            f"{_sha256_record(target)}.",
            UnverifiedDownloadWarning,
            stacklevel=4,
        )


def _record_mismatch(remote: RemoteFile, part: Path, size: int) -> str | None:
    """How ``part`` differs from the record of ``remote`` (both values), or ``None``."""
    algorithm, expected = ("sha256", remote.sha256) if remote.sha256 else ("md5", remote.md5)
    actual = None if expected is None else file_digest(part, algorithm)
    if remote.size is not None and size != remote.size:
        problem = f"it has {size} bytes, expected {remote.size}"
        if expected is not None and actual != expected:
            problem += f", and its {algorithm.upper()} is {actual}, expected {expected}"
        return problem
    if expected is not None and actual != expected:
        return f"its {algorithm.upper()} is {actual}, expected {expected}"
    return None


def _keep_unverified(remote: RemoteFile, part: Path, target: Path, mismatch: str) -> NoReturn:
    """Keep ``part`` as ``<file>.unverified`` and raise :class:`UnverifiedFileError`."""
    kept = _unverified_path(target)
    os.chmod(part, FILE_MODE)
    os.replace(part, kept)
    digest = file_digest(kept, "sha256") if remote.sha256 is None else None
    also = f" Its SHA-256 is {digest}." if digest is not None else ""
    raise UnverifiedFileError(
        f"The download of {remote.filename} does not match the checksum recorded by "
        f"{remote.recorded_by}: {mismatch}.{also} The dataset's authors publish no checksum, and "
        "the record may describe an earlier copy, so the file may well be a faithful re-upload; "
        f"it was kept, not deleted, as {kept}. {_acceptance(remote, target)}",
        kept,
    )


def _acceptance(remote: RemoteFile, target: Path) -> str:
    kept = _unverified_path(target)
    return (
        f"To use it, rename it to {target} (mv '{kept}' '{target}') or set "
        f"{ACCEPT_UNVERIFIED_ENV}={remote.filename} and run again; to download it again instead, "
        "delete it."
    )


def _accept_unverified(remote: RemoteFile, target: Path) -> Path:
    """Promote a kept ``<file>.unverified`` the user accepted; otherwise say how to decide."""
    kept = _unverified_path(target)
    accepted = os.environ.get(ACCEPT_UNVERIFIED_ENV, "")
    if remote.filename not in {name.strip() for name in accepted.split(",")}:
        raise UnverifiedFileError(
            f"An earlier download of {remote.filename} did not match the checksum recorded by "
            f"{remote.recorded_by} and is kept as {kept}; nothing is downloaded while it is "
            f"there. {_acceptance(remote, target)}",
            kept,
        )
    digest = file_digest(kept, "sha256")
    os.replace(kept, target)
    _record_sha256(target, digest)
    warnings.warn(
        f"{remote.filename} was accepted on your word (${ACCEPT_UNVERIFIED_ENV}) although it does "
        f"not match the checksum recorded by {remote.recorded_by}; its SHA-256 {digest} is "
        f"recorded in {_sha256_record(target)}.",
        UnverifiedDownloadWarning,
        stacklevel=4,
    )
    return target


def _sha256_record(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _record_sha256(target: Path, digest: str) -> None:
    with atomic_output(_sha256_record(target)) as stream:
        stream.write(f"{digest}  {target.name}\n".encode())
