"""A run's output folder: claimed before anything is written, and described in JSON at the end.

`claim_output_folder` refuses an ``--out`` that holds files unless the run resumes (and the
folder holds a run) or ``overwrite`` is given (and the folder holds nothing but a run's files),
so nothing is overwritten silently. `environment` and `dataset_provenance` give what
``results.json`` records: versions, git commit, device, the data's source and checksum.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learnable_weights.training.files import readable_mode

__all__ = [
    "RUN_FILE",
    "OutputFolderError",
    "claim_output_folder",
    "environment",
    "file_checksums",
    "write_json",
]

RUN_FILE = "run.json"
"""Written first into a run's folder: marks it as a run's (and holds its configuration)."""

RUN_CONTENTS = frozenset(
    {
        RUN_FILE,
        "results.json",
        "log.jsonl",
        "log.jsonl.tmp",
        "evaluations.jsonl",
        "evaluations.jsonl.tmp",
        "checkpoints",
        "tensorboard",
        "pictures",
    }
)
"""Every name a run writes at the top of its folder (``--overwrite`` deletes only these)."""


class OutputFolderError(RuntimeError):
    """The output folder cannot be used as asked (it holds another run, or other files)."""


def claim_output_folder(
    folder: Path, *, resume: bool, overwrite: bool, run_info: Mapping[str, Any]
) -> None:
    """Makes ``folder`` ready for a run, writing ``run.json``.

    - empty or absent: created;
    - holds a run and ``resume``: kept as it is (``run.json`` is not rewritten);
    - holds a run and ``overwrite``: the run's files are deleted first;
    - anything else: `OutputFolderError`, saying what to do.
    """
    if resume and overwrite:
        raise OutputFolderError("give either --resume or --overwrite, not both")
    entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"--out {folder} is a file, not a folder")
    is_run = RUN_FILE in entries
    if resume:
        if not is_run:
            raise OutputFolderError(
                f"--resume: {folder} holds no run to resume (no {RUN_FILE}); drop --resume to "
                "start a new run there"
            )
        return
    if entries:
        foreign = [name for name in entries if name not in RUN_CONTENTS]
        if not overwrite:
            what = "another run's files" if is_run else f"files ({', '.join(entries[:5])})"
            raise OutputFolderError(
                f"--out {folder} already holds {what}. Pass --resume to continue that run, "
                "--overwrite to replace it, or choose another --out"
            )
        if not is_run or foreign:
            raise OutputFolderError(
                f"--overwrite: {folder} holds files that no run wrote "
                f"({', '.join(foreign[:5] or entries[:5])}); they are not deleted. Choose an "
                "empty or new --out"
            )
        for name in entries:
            target = folder / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / RUN_FILE, run_info)


def write_json(path: Path, value: Any) -> None:
    """Writes ``value`` as indented JSON through a temporary file and a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(value, stream, indent=2, default=_jsonable)
            stream.write("\n")
        os.chmod(temporary, readable_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | torch.Tensor):
        return value.tolist()
    return repr(value)


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, git commit and the device, as ``results.json`` records them."""
    from learnable_weights import __version__

    info: dict[str, Any] = {
        "learnable_weights": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info


def _git_commit() -> str | None:
    """The commit of the checkout the library was imported from (``None`` if not a checkout)."""
    here = Path(__file__).resolve().parent
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    commit = completed.stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
        text=True, timeout=10, check=False,
    ).stdout.strip()  # fmt: skip
    return commit + ("+dirty" if dirty else "")


def file_checksums(paths: Sequence[Path]) -> dict[str, str]:
    """``{path: sha256}`` of each file (folders are skipped: hashing millions of PNGs is not
    worth it; their label files are listed separately by the caller)."""
    from learnable_weights.data.download import file_digest

    return {str(path): file_digest(path) for path in paths if path.is_file()}
