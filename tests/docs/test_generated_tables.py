"""A table the docs copy from a study's files is that file's table, line for line.

A page marks such a table with ``<!-- table: studies/<sweep>/<name>.md -->`` on the line before
it; `compare_models.py` wrote the file, so the page's numbers are the result files' numbers and
go stale loudly when the study's runs change them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- table: (?P<path>\S+) -->$")


def _table_after(lines: list[str], start: int) -> list[str]:
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


def stale_tables(page: Path, root: Path) -> list[str]:
    """One message per marked table of ``page`` that differs from (or lacks) its file."""
    problems = []
    lines = page.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = MARKER.match(line)
        if match is None:
            continue
        source = root / match["path"]
        if not source.is_file():
            problems.append(f"{page.name}:{number + 1}: {match['path']} does not exist")
            continue
        copied = _table_after(lines, number + 1)
        text = source.read_text(encoding="utf-8")
        generated = [line for line in text.splitlines() if line.startswith("|")]
        if not copied:
            problems.append(f"{page.name}:{number + 1}: no table follows the marker")
        elif copied != generated:
            problems.append(
                f"{page.name}:{number + 1}: the table differs from {match['path']}; "
                "copy it again (bash studies/claim.sh --tables-only writes it)"
            )
    return problems


def test_marked_tables_equal_their_files() -> None:
    problems = [
        problem
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for problem in stale_tables(page, ROOT)
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("copied", "expected"),
    [
        ("| a | b |\n|---|---|\n| x | 1 |\n", []),
        ("| a | b |\n|---|---|\n| x | 2 |\n", ["the table differs from studies/s/t.md"]),
        ("no table here\n", ["no table follows the marker"]),
    ],
)
def test_a_stale_copy_is_found(tmp_path: Path, copied: str, expected: list[str]) -> None:
    (tmp_path / "studies/s").mkdir(parents=True)
    (tmp_path / "studies/s/t.md").write_text(
        "3 of 3 runs; budget: {}\n\n| a | b |\n|---|---|\n| x | 1 |\n"
    )
    page = tmp_path / "page.md"
    page.write_text(f"Text.\n\n<!-- table: studies/s/t.md -->\n{copied}\nMore text.\n")
    problems = stale_tables(page, tmp_path)
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_a_marker_naming_a_missing_file_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- table: studies/none.md -->\n| a |\n")
    assert stale_tables(page, tmp_path) == ["page.md:1: studies/none.md does not exist"]
