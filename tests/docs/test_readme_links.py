"""README.md is not part of the site (mkdocs checks the links of docs/): its own links must hold."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def local_targets(text: str) -> list[str]:
    """The link targets of Markdown ``text`` that are paths in the repository (no URL, no anchor)."""
    targets = (match["target"].split("#", 1)[0] for match in LINK.finditer(text))
    return [target for target in targets if target and not re.match(r"^[a-z]+:", target)]


def test_local_targets() -> None:
    text = "[a](docs/a.md), [b](https://x.org/b.md), [c](docs/c.md#part), [d](#here)"
    assert local_targets(text) == ["docs/a.md", "docs/c.md"]


def test_readme_links_point_at_files() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [target for target in local_targets(readme) if not (REPO_ROOT / target).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
