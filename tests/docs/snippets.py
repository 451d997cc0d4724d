"""Collects the fenced Python snippets of the Markdown pages and runs them, page by page.

A page reads top to bottom, so its snippets run in order in one namespace (a later snippet may use
what an earlier one made). HTML comments right before a snippet's fence, invisible on the rendered
page, steer it:

* ``<!-- snippet: illustrative (why) -->`` shows the reader an illustration that cannot run here
  (a download, a trained model, the study's sizes): the test skips it, naming the reason. Say so
  visibly in the page's text as well where the reader could be misled.
* ``<!-- snippet: needs cuda -->``: runs only where CUDA is available (skipped elsewhere).
* ``<!-- snippet-setup`` ... ``-->``: Python run right before the snippet, for the names the page
  takes as given (``my_encoder``, ``x``) at tiny sizes. The setup may use ``monkeypatch`` (pytest's,
  undone when the test ends) and the tiny settings defined here (``TINY_EVALUATION``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
PYTHON_INFO = re.compile(r"^(?:python|py)(?:\s|$)")
MARKER = re.compile(r"^<!--\s*snippet:\s*(?P<kind>illustrative|needs cuda)\b\s*(?P<why>.*?)\s*-->$")
SETUP = re.compile(r"^<!--\s*snippet-setup\b[^\n]*\n(?P<code>.*?)\n\s*-->$", re.DOTALL)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

#: Keyword arguments that make `learnable_weights.metrics.evaluate` small enough for a test (MIG
#: and fast DCI on 100 points): the study's sizes encode about 2.9 million images.
TINY_EVALUATION: dict[str, Any] = {
    "metrics": ("mig", "dci"),
    "settings": {
        "mig": {"num_train": 100},
        "dci": {"num_train": 100, "num_test": 50, "mode": "fast"},
    },
}


@dataclass(frozen=True)
class Snippet:
    """One fenced Python block of a page. ``line`` is the 1-based line of its first code line."""

    page: str
    line: int
    code: str
    setup: str = ""
    setup_line: int = 0
    illustrative: str | None = None
    needs_cuda: bool = False

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def pages(root: Path = REPO_ROOT) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def collect(text: str, page: str) -> list[Snippet]:
    """The Python snippets of the Markdown ``text``, with the markers in the comments before each.

    Raises:
        ValueError: a fence is never closed, or a marker comment is malformed.
    """
    lines = text.split("\n")
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        end = i + 1
        while end < len(lines) and not re.match(
            rf"^[ ]{{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[end]
        ):
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{i + 1}: the code fence opened here is never closed")
        if PYTHON_INFO.match(info):
            code = "\n".join(line[len(opening["indent"]) :] for line in lines[i + 1 : end])
            snippets.append(_with_markers(Snippet(page, i + 2, code), lines, i))
        i = end + 1
    return snippets


def _with_markers(snippet: Snippet, lines: list[str], fence_index: int) -> Snippet:
    """``snippet`` with what the HTML comments directly above its fence (line ``fence_index``) say."""
    comments = _comments_above(lines, fence_index)
    options: dict[str, Any] = {}
    for start, comment in comments:
        setup = SETUP.match(comment)
        marker = MARKER.match(comment)
        if setup is not None:
            options["setup"], options["setup_line"] = setup["code"], start + 2
        elif marker is not None and marker["kind"] == "illustrative":
            why = marker["why"].strip("() ")
            if not why:
                raise ValueError(f"{snippet.page}:{start + 1}: say why a snippet is illustrative")
            options["illustrative"] = why
        elif marker is not None:
            options["needs_cuda"] = True
        elif "snippet" in comment:
            raise ValueError(f"{snippet.page}:{start + 1}: unknown snippet marker {comment!r}")
    return Snippet(**{**snippet.__dict__, **options})


def _comments_above(lines: list[str], fence_index: int) -> list[tuple[int, str]]:
    """The HTML comments that end right above line ``fence_index`` (no other text between)."""
    found: list[tuple[int, str]] = []
    end = fence_index - 1
    while end >= 0 and lines[end].rstrip().endswith("-->"):
        start = end
        while start >= 0 and "<!--" not in lines[start]:
            start -= 1
        if start < 0 or not lines[start].lstrip().startswith("<!--"):
            break
        found.append((start, "\n".join(lines[start : end + 1]).strip()))
        end = start - 1
    return found[::-1]


def all_snippets(root: Path = REPO_ROOT) -> list[Snippet]:
    """Every Python snippet of README.md and docs/, in page order."""
    return [
        snippet
        for page in pages(root)
        for snippet in collect(page.read_text(encoding="utf-8"), str(page.relative_to(root)))
    ]


@dataclass
class PageRun:
    """The namespace a page's snippets share, and how many of them have run in it."""

    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__snippet__"})
    done: int = 0


def run(snippet: Snippet, namespace: dict[str, Any], **setup_names: Any) -> None:
    """Runs the snippet's setup, then the snippet, in ``namespace``.

    Tracebacks point at the page's own lines (``README.md`` line numbers).
    """
    if snippet.setup:
        setup_namespace = {**setup_names, "TINY_EVALUATION": TINY_EVALUATION}
        namespace.update(setup_namespace)
        _execute(snippet.setup, snippet.page, snippet.setup_line, namespace)
        for name in setup_namespace:
            namespace.pop(name, None)
    _execute(snippet.code, snippet.page, snippet.line, namespace)


def _execute(code: str, page: str, line: int, namespace: dict[str, Any]) -> None:
    padded = "\n" * (line - 1) + code
    exec(compile(padded, page, "exec"), namespace)


def runnable_before(snippets: list[Snippet], target: Snippet) -> Iterator[Snippet]:
    """The snippets of ``target``'s page that run before it (not illustrative, not skipped)."""
    for snippet in snippets:
        if snippet == target:
            return
        if snippet.page == target.page and skip_reason(snippet) is None:
            yield snippet


def skip_reason(snippet: Snippet) -> str | None:
    """Why the snippet does not run here, or ``None`` when it runs."""
    if snippet.illustrative is not None:
        return f"illustrative: {snippet.illustrative}"
    if snippet.needs_cuda and not torch.cuda.is_available():
        return "needs a CUDA device"
    return None
