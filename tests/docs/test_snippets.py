"""Every Python snippet of README.md and docs/ runs (tests/docs/snippets.py says how)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.docs.snippets import (
    PageRun,
    Snippet,
    all_snippets,
    collect,
    run,
    runnable_before,
    skip_reason,
)

SNIPPETS = all_snippets()
_page_runs: dict[str, PageRun] = {}


@pytest.fixture(autouse=True)
def _quiet_place(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Snippets write into a scratch folder and find no dataset cache (nothing downloads)."""
    scratch = tmp_path_factory.mktemp("snippets")
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("LEARNABLE_WEIGHTS_DATA", str(scratch / "data"))
    monkeypatch.delenv("LEARNABLE_WEIGHTS_MIRROR", raising=False)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.name for s in SNIPPETS])
def test_snippet_runs(snippet: Snippet, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = skip_reason(snippet)
    if reason is not None:
        pytest.skip(reason)
    earlier = list(runnable_before(SNIPPETS, snippet))
    page = _page_runs.get(snippet.page)
    if page is None or page.done != len(earlier):
        # run alone (-k) or after a failure: replay the page up to here in a fresh namespace
        page = PageRun()
        for before in earlier:
            run(before, page.namespace, monkeypatch=monkeypatch)
    _page_runs.pop(snippet.page, None)
    run(snippet, page.namespace, monkeypatch=monkeypatch)
    page.done = len(earlier) + 1
    _page_runs[snippet.page] = page


def test_pages_have_snippets() -> None:
    """The collector finds the pages' snippets (a broken collector would pass every page)."""
    pages = {snippet.page for snippet in SNIPPETS}
    assert {"README.md", "docs/getting_started.md", "docs/objective.md"} <= pages


PAGE = """\
Text.

```python
x = 1
```

<!-- snippet: illustrative (needs a trained model) -->
```python
raise RuntimeError("never runs")
```

<!-- snippet-setup (tiny sizes)
y = 41
-->
```py
x = x + y
```

```bash
not python
```
"""


def test_collect_reads_fences_and_markers() -> None:
    first, illustrative, with_setup = collect(PAGE, "page.md")
    assert (first.line, first.code, first.illustrative, first.setup) == (4, "x = 1", None, "")
    assert illustrative.illustrative == "needs a trained model"
    assert illustrative.line == 9
    assert (with_setup.setup, with_setup.setup_line, with_setup.code) == ("y = 41", 13, "x = x + y")


def test_page_snippets_share_a_namespace() -> None:
    snippets = collect(PAGE, "page.md")
    namespace: dict[str, Any] = {}
    for snippet in snippets:
        if skip_reason(snippet) is None:
            run(snippet, namespace)
    assert namespace["x"] == 42


def test_a_raising_snippet_fails_with_the_page_line() -> None:
    (snippet,) = collect("# Page\n\n```python\nvalue = 1\n1 / 0\n```\n", "docs/bad.md")
    with pytest.raises(ZeroDivisionError) as failure:
        run(snippet, {})
    frame = failure.traceback[-1]
    assert (str(frame.path), frame.lineno + 1) == ("docs/bad.md", 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```python\nx = 1\n", "never closed"),
        ("<!-- snippet: illustrative -->\n```python\nx = 1\n```\n", "say why"),
        ("<!-- snippet: ilustrative (typo) -->\n```python\nx = 1\n```\n", "unknown snippet marker"),
    ],
)
def test_collect_rejects_malformed_pages(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        collect(text, "page.md")


def test_every_page_is_collected(tmp_path: Path) -> None:
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "README.md").write_text("```python\na = 1\n```\n")
    (tmp_path / "docs" / "sub" / "page.md").write_text("```python\nb = 2\n```\n")
    names = [snippet.name for snippet in all_snippets(tmp_path)]
    assert names == ["README.md:2", "docs/sub/page.md:2"]
