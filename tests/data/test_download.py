"""The download code, run for real against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from http_server import FileServer, base_url
from typing_extensions import TypedDict, Unpack

from learnable_weights.data import cache, download
from learnable_weights.data.cache import DatasetFormatError
from learnable_weights.data.download import (
    ACCEPT_UNVERIFIED_ENV,
    ChecksumMismatchError,
    DownloadError,
    RemoteFile,
    UnverifiedDownloadWarning,
    UnverifiedFileError,
    fetch,
    require,
)

PAYLOAD = bytes(range(256)) * 4000  # 1 MB, not a multiple of the 1 MiB read size
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
UNREACHABLE = "http://127.0.0.1:9/never-used"  # the official URL when a mirror is given
RECORD = "https://example.org/checksums.tsv"  # who recorded the checksums of the test files


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.0)


class _Checks(TypedDict, total=False):
    """The keyword arguments of `RemoteFile` that a test varies."""

    sha256: str
    md5: str
    size: int
    checksum_by_authors: bool
    min_size: int
    check: Callable[[Path], object]


def _remote(**checks: Unpack[_Checks]) -> RemoteFile:
    return RemoteFile("toy", "payload.bin", url=UNREACHABLE, checksum_source=RECORD, **checks)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())  # lock files included: none may remain


def test_mirror_download_is_verified_and_renamed_into_place(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    path = fetch(_remote(sha256=SHA256, size=len(PAYLOAD)), tmp_path, mirror=base_url(server))
    assert path == tmp_path / "payload.bin"
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["payload.bin"]
    assert server.requests == [("/toy/payload.bin", None)]
    # present now: no second request
    assert fetch(_remote(sha256=SHA256), tmp_path, mirror=base_url(server)) == path
    assert len(server.requests) == 1


def test_official_url_and_mirror_from_the_environment(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/direct/payload.bin"] = PAYLOAD
    server.files["/toy/payload.bin"] = PAYLOAD
    direct = RemoteFile(
        "toy",
        "payload.bin",
        url=f"{base_url(server)}/direct/payload.bin",
        md5=MD5,
        checksum_source=RECORD,
    )
    assert fetch(direct, tmp_path / "a").read_bytes() == PAYLOAD
    monkeypatch.setenv("LEARNABLE_WEIGHTS_MIRROR", base_url(server) + "/")
    assert fetch(_remote(md5=MD5), tmp_path / "b").read_bytes() == PAYLOAD
    assert [path for path, _ in server.requests] == ["/direct/payload.bin", "/toy/payload.bin"]


def test_mismatch_with_the_authors_checksum_deletes_the_part_file(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD[:-1] + b"\x00"
    with pytest.raises(ChecksumMismatchError) as error:
        fetch(_remote(sha256=SHA256, checksum_by_authors=True), tmp_path, mirror=base_url(server))
    assert not isinstance(error.value, UnverifiedFileError)
    message = str(error.value)
    assert "payload.bin" in message
    assert SHA256 in message
    assert str(tmp_path / "payload.bin") in message  # where to put a copy fetched by hand
    assert _leftovers(tmp_path) == []


def test_md5_and_size_mismatch_with_the_authors_record_are_rejected(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    with pytest.raises(ChecksumMismatchError, match="MD5"):
        fetch(_remote(md5="0" * 32, checksum_by_authors=True), tmp_path, mirror=base_url(server))
    with pytest.raises(ChecksumMismatchError, match=f"has {len(PAYLOAD)} bytes, expected 5"):
        fetch(_remote(size=5, checksum_by_authors=True), tmp_path, mirror=base_url(server))
    assert _leftovers(tmp_path) == []


def test_mismatch_with_a_third_party_record_keeps_the_file_until_the_user_decides(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reupload = PAYLOAD[:-1] + b"\x00"
    server.files["/toy/payload.bin"] = reupload
    remote = _remote(sha256=SHA256)
    with pytest.raises(UnverifiedFileError) as error:
        fetch(remote, tmp_path, mirror=base_url(server))
    kept = tmp_path / "payload.bin.unverified"
    assert error.value.path == kept
    assert kept.read_bytes() == reupload  # kept, not deleted
    assert _leftovers(tmp_path) == ["payload.bin.unverified"]
    message = str(error.value)
    for needed in (
        hashlib.sha256(reupload).hexdigest(),  # both hashes
        SHA256,
        RECORD,  # who recorded it
        "a third party",
        f"mv '{kept}' '{tmp_path / 'payload.bin'}'",  # how to accept it
        f"{ACCEPT_UNVERIFIED_ENV}=payload.bin",
        "delete it",  # how to discard it
    ):
        assert needed in message
    # later calls download nothing while the kept file is there, and say why
    with pytest.raises(UnverifiedFileError, match="earlier download") as again:
        fetch(remote, tmp_path, mirror=base_url(server))
    assert f"{ACCEPT_UNVERIFIED_ENV}=payload.bin" in str(again.value)
    with pytest.raises(UnverifiedFileError):
        require(remote, tmp_path, download=False)
    assert len(server.requests) == 1
    # accepted through the environment: renamed into place, its SHA-256 recorded
    monkeypatch.setenv(ACCEPT_UNVERIFIED_ENV, "other.bin, payload.bin")
    with pytest.warns(UnverifiedDownloadWarning, match="accepted on your word"):
        path = require(remote, tmp_path, download=False)
    assert path.read_bytes() == reupload
    assert (tmp_path / "payload.bin.sha256").read_text() == (
        f"{hashlib.sha256(reupload).hexdigest()}  payload.bin\n"
    )
    assert _leftovers(tmp_path) == ["payload.bin", "payload.bin.sha256"]
    assert len(server.requests) == 1


def test_third_party_md5_or_size_mismatch_shows_both_values_and_the_sha256(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    with pytest.raises(UnverifiedFileError) as error:
        fetch(_remote(md5="0" * 32), tmp_path / "a", mirror=base_url(server))
    assert all(text in str(error.value) for text in (MD5, "0" * 32, SHA256))
    with pytest.raises(UnverifiedFileError) as error:
        fetch(_remote(size=5, md5="0" * 32), tmp_path / "b", mirror=base_url(server))
    assert f"has {len(PAYLOAD)} bytes, expected 5, and its MD5 is {MD5}" in str(error.value)


def test_a_kept_file_renamed_by_hand_is_used(server: FileServer, tmp_path: Path) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    with pytest.raises(UnverifiedFileError) as error:
        fetch(_remote(sha256="0" * 64), tmp_path, mirror=base_url(server))
    error.value.path.rename(tmp_path / "payload.bin")
    path = require(_remote(sha256="0" * 64), tmp_path, download=True, mirror=base_url(server))
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 1


def test_a_record_must_name_who_made_it() -> None:
    with pytest.raises(ValueError, match="checksum_source"):
        RemoteFile("toy", "payload.bin", url=UNREACHABLE, sha256=SHA256)
    with pytest.raises(ValueError, match="checksum_source"):
        RemoteFile("toy", "payload.bin", url=UNREACHABLE, size=5)


def test_a_file_failing_its_format_check_is_deleted(server: FileServer, tmp_path: Path) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD

    def reject(path: Path) -> None:
        assert path.read_bytes() == PAYLOAD
        raise DatasetFormatError(f"{path}: not the expected format")

    with pytest.raises(ChecksumMismatchError, match="not the expected format") as error:
        fetch(_remote(check=reject), tmp_path, mirror=base_url(server))
    assert not isinstance(error.value, UnverifiedFileError)
    assert _leftovers(tmp_path) == []


def test_transfer_cut_halfway_resumes_with_a_range_request(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    server.cut_once.add("/toy/payload.bin")
    path = fetch(_remote(sha256=SHA256), tmp_path, mirror=base_url(server), retries=1)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [
        ("/toy/payload.bin", None),
        ("/toy/payload.bin", f"bytes={len(PAYLOAD) // 2}-"),
    ]
    assert _leftovers(tmp_path) == ["payload.bin"]


def test_interrupted_download_keeps_the_part_file_for_the_next_run(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    server.cut_once.add("/toy/payload.bin")
    with pytest.raises(DownloadError, match="failed or was interrupted") as error:
        fetch(_remote(sha256=SHA256), tmp_path, mirror=base_url(server), retries=0)
    part = tmp_path / "payload.bin.part"
    assert str(part) in str(error.value)
    assert part.read_bytes() == PAYLOAD[: len(PAYLOAD) // 2]
    assert not (tmp_path / "payload.bin").exists()  # never a half file under the final name
    path = fetch(_remote(sha256=SHA256), tmp_path, mirror=base_url(server), retries=0)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/toy/payload.bin", f"bytes={len(PAYLOAD) // 2}-")


def test_server_without_range_support_restarts_from_zero(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    server.ignore_range = True  # answers 200 with the whole file to a Range request
    (tmp_path / "payload.bin.part").write_bytes(b"stale bytes of an earlier attempt")
    path = fetch(_remote(sha256=SHA256), tmp_path, mirror=base_url(server))
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [("/toy/payload.bin", "bytes=33-")]


def test_complete_part_file_is_finished_without_a_transfer(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    (tmp_path / "payload.bin.part").write_bytes(PAYLOAD)  # e.g. killed before the rename
    path = fetch(_remote(sha256=SHA256), tmp_path, mirror=base_url(server))
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [("/toy/payload.bin", f"bytes={len(PAYLOAD)}-")]  # answered 416


def test_missing_file_says_what_to_fetch_and_where(server: FileServer, tmp_path: Path) -> None:
    remote = RemoteFile("toy", "payload.bin", url=f"{base_url(server)}/gone/payload.bin")
    with pytest.raises(DownloadError) as error:
        fetch(remote, tmp_path)
    message = str(error.value)
    assert "HTTP 404" in message
    assert f"{base_url(server)}/gone/payload.bin" in message
    assert str(tmp_path / "payload.bin") in message
    assert _leftovers(tmp_path) == []


def test_failed_download_into_a_new_folder_leaves_nothing(
    server: FileServer, tmp_path: Path
) -> None:
    root = tmp_path / "cache" / "toy"
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(_remote(sha256=SHA256), root, mirror=base_url(server))  # nothing is served
    assert _leftovers(tmp_path) == []  # no lock file, no empty folders
    with pytest.raises(DownloadError, match="failed or was interrupted"):
        fetch(_remote(sha256=SHA256), root, retries=0)  # nothing listens on port 9
    assert _leftovers(tmp_path) == []
    # an existing folder is left in place, as it was
    root.mkdir(parents=True)
    with pytest.raises(DownloadError):
        fetch(_remote(sha256=SHA256), root, mirror=base_url(server))
    assert _leftovers(root) == []


def test_a_failed_download_keeps_its_folder_when_bytes_arrived(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    server.cut_once.add("/toy/payload.bin")
    root = tmp_path / "cache" / "toy"
    with pytest.raises(DownloadError):
        fetch(_remote(sha256=SHA256), root, mirror=base_url(server), retries=0)
    assert _leftovers(root) == ["payload.bin.part"]  # kept to resume from


def test_unpublished_checksum_records_sha256_and_warns(server: FileServer, tmp_path: Path) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    with pytest.warns(UnverifiedDownloadWarning, match="could not be verified"):
        fetch(_remote(min_size=1000), tmp_path, mirror=base_url(server))
    record = (tmp_path / "payload.bin.sha256").read_text()
    assert record == f"{SHA256}  payload.bin\n"
    with pytest.raises(ChecksumMismatchError, match="expected at least"):
        fetch(_remote(min_size=len(PAYLOAD) + 1), tmp_path / "small", mirror=base_url(server))


def test_require_without_download_names_the_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        require(_remote(), tmp_path, download=False)
    assert UNREACHABLE in str(error.value)
    assert str(tmp_path / "payload.bin") in str(error.value)


def test_drive_files_go_through_gdown(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gdown")
    server.files["/drive/FILE-ID"] = PAYLOAD
    monkeypatch.setattr(download, "DRIVE_DOWNLOAD_URL", base_url(server) + "/drive/{id}")
    remote = RemoteFile(
        "toy", "payload.bin", drive_id="FILE-ID", sha256=SHA256, checksum_source=RECORD
    )
    path = fetch(remote, tmp_path, quiet=True)
    assert path.read_bytes() == PAYLOAD
    assert [p for p, _ in server.requests] == ["/drive/FILE-ID"]
    assert _leftovers(tmp_path) == ["payload.bin"]


def test_refused_drive_download_says_what_to_fetch_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gdown = pytest.importorskip("gdown")

    def refuse(**kwargs: object) -> str:
        raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed or downloaded")

    monkeypatch.setattr(gdown, "download", refuse)
    remote = RemoteFile("toy", "big.zip", drive_id="FILE-ID", sha256=SHA256, checksum_source=RECORD)
    with pytest.raises(DownloadError) as error:
        fetch(remote, tmp_path, quiet=True)
    message = str(error.value)
    assert "Too many users" in message
    assert "https://drive.google.com/file/d/FILE-ID/view" in message
    assert str(tmp_path / "big.zip") in message


def _fetch_in_child(base: str, root: str) -> None:
    fetch(_remote(sha256=SHA256), Path(root), mirror=base)


def test_concurrent_processes_download_once(server: FileServer, tmp_path: Path) -> None:
    server.files["/toy/payload.bin"] = PAYLOAD
    server.delay = 0.3  # keep the first transfer busy while the others wait on the lock
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_fetch_in_child, args=(base_url(server), str(tmp_path)))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert server.requests == [("/toy/payload.bin", None)]
    assert (tmp_path / "payload.bin").read_bytes() == PAYLOAD


def test_concurrent_processes_that_all_fail_leave_nothing(
    server: FileServer, tmp_path: Path
) -> None:
    server.delay = 0.2  # the others wait on the lock of the first, which is deleted on release
    root = tmp_path / "cache" / "toy"
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_fetch_in_child, args=(base_url(server), str(root)))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [1, 1, 1]  # each raised DownloadError
    assert len(server.requests) == 3  # one at a time, each under the lock
    assert _leftovers(tmp_path) == []


def test_mirror_serves_drive_files_without_gdown(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gdown = pytest.importorskip("gdown")

    def unexpected(**kwargs: object) -> str:
        raise AssertionError("gdown must not be used when a mirror is given")

    monkeypatch.setattr(gdown, "download", unexpected)
    server.files["/toy/big.zip"] = PAYLOAD
    remote = RemoteFile("toy", "big.zip", drive_id="FILE-ID", sha256=SHA256, checksum_source=RECORD)
    assert fetch(remote, tmp_path, mirror=base_url(server)).read_bytes() == PAYLOAD


# --------------------------------------------------------------------------- cache helpers
def test_cache_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNABLE_WEIGHTS_DATA", str(tmp_path))
    assert cache.dataset_root("mpi3d-complex", None) == tmp_path / "mpi3d-complex"
    assert cache.dataset_root("dsprites", tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.delenv("LEARNABLE_WEIGHTS_DATA")
    assert cache.cache_home() == Path.home() / ".cache" / "learnable_weights"
    (tmp_path / "a.npz").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is a file"):
        cache.dataset_root("dsprites", tmp_path / "a.npz")


def test_atomic_output_never_leaves_a_half_file(tmp_path: Path) -> None:
    target = tmp_path / "labels.npy"
    target.write_bytes(b"good")

    def fail_halfway() -> None:
        with cache.atomic_output(target) as stream:
            stream.write(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fail_halfway()
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.npy"]
    with cache.atomic_output(target) as stream:
        stream.write(b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == cache.FILE_MODE  # not mkstemp's private 0600


def test_cached_array_is_built_once_and_rebuilt_when_the_source_changes(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"v1")
    calls: list[int] = []

    def fill(out: np.ndarray) -> None:
        calls.append(1)
        out[:] = len(calls)

    path = tmp_path / "derived.npy"
    first = cache.cached_array(path, (3, 2), np.uint8, fill, source)
    again = cache.cached_array(path, (3, 2), np.uint8, fill, source)
    assert isinstance(again, np.memmap)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, np.ones((3, 2)))
    os.utime(source, ns=(path.stat().st_mtime_ns + 10**12,) * 2)  # even from the future
    np.testing.assert_array_equal(cache.cached_array(path, (3, 2), np.uint8, fill, source), 2)
    np.testing.assert_array_equal(cache.cached_array(path, (3, 2), np.uint8, fill, source), 2)
    assert len(calls) == 2


def test_downloaded_files_get_ordinary_permissions(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gdown")
    server.files["/drive/FILE-ID"] = PAYLOAD
    monkeypatch.setattr(download, "DRIVE_DOWNLOAD_URL", base_url(server) + "/drive/{id}")
    remote = RemoteFile(
        "toy", "payload.bin", drive_id="FILE-ID", sha256=SHA256, checksum_source=RECORD
    )
    assert fetch(remote, tmp_path, quiet=True).stat().st_mode & 0o777 == cache.FILE_MODE


def test_no_network_says_what_to_fetch_and_where(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as error:
        fetch(_remote(sha256=SHA256), tmp_path, retries=1)  # nothing listens on port 9
    message = str(error.value)
    assert "URLError" in message
    assert UNREACHABLE in message
    assert str(tmp_path / "payload.bin") in message
    assert _leftovers(tmp_path) == []


def test_hdf5_reads_cover_whole_chunks() -> None:
    class Dataset:
        def __init__(self, chunks: tuple[int, ...] | None) -> None:
            self.chunks = chunks

    assert cache.hdf5_rows_per_read(Dataset((23040, 2, 4)), 8192) == 23040  # dSprites' HDF5
    assert cache.hdf5_rows_per_read(Dataset((1000, 64, 64)), 8192) == 8000
    assert cache.hdf5_rows_per_read(Dataset(None), 8192) == 8192
    assert cache.hdf5_rows_per_read(Dataset((480_000, 64, 64, 3)), 4096) == 4096
