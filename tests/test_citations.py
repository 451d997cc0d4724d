"""Sources, comments and docs cite public sources (papers, dataset and code repositories), never
the project's research notes, which are not part of the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTES = re.compile(
    r"(?<![\w-])research/|research notes|\b(?:paper|baselines|metrics|datasets|anchors)"
    r"\.md\s*§"
)


def _tracked_text_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "*.py", "*.md", "*.sh", "*.toml", "*.txt", "*.cfg"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [name for name in listed if name != "tests/test_citations.py"]


def test_no_file_cites_the_research_notes() -> None:
    citing = {
        name
        for name in _tracked_text_files()
        if NOTES.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))
    }
    assert not citing, sorted(citing)
