"""Every public name has an entry on the API pages (docs/api/), and the entries name real objects.

An API page lists objects one by one (``::: learnable_weights.data.DSprites``), or a whole module
with ``::: learnable_weights.training`` and no ``members:`` option, which renders every name in
its ``__all__``. ``mkdocs build --strict`` (in .ci/run) renders them from the docstrings and fails
when a page is missing from the nav. A name a module adds to ``__all__`` without an entry fails
this test, naming what to add.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import learnable_weights

API_DIR = Path(__file__).resolve().parents[2] / "docs" / "api"
ENTRY = re.compile(
    r"^:::[ \t]+(?P<identifier>[\w.]+)[ \t]*\n(?P<options>(?:[ \t]+\S.*\n?)*)", re.MULTILINE
)


def public_modules() -> list[str]:
    """``learnable_weights`` and each of its modules and subpackages not named ``_private``."""
    found = [
        f"learnable_weights.{info.name}"
        for info in pkgutil.iter_modules(learnable_weights.__path__)
        if not info.name.startswith("_")
    ]
    return ["learnable_weights", *sorted(found)]


def api_entries() -> dict[str, str]:
    """identifier -> the page that has ``::: identifier``."""
    return {identifier: page for identifier, (page, _) in _entries().items()}


def whole_modules() -> set[str]:
    """The modules whose entry renders all their members (no ``members:`` option)."""
    return {
        identifier
        for identifier, (_, options) in _entries().items()
        if "members:" not in options and isinstance(resolve(identifier), ModuleType)
    }


def _entries() -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    for page in sorted(API_DIR.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in ENTRY.finditer(text if text.endswith("\n") else text + "\n"):
            entries[match["identifier"]] = (page.name, match["options"])
    return entries


def resolve(identifier: str) -> object:
    """The object a dotted identifier names: the longest importable module, then attributes."""
    parts = identifier.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(identifier)


def documented_objects() -> list[object]:
    return [resolve(identifier) for identifier in api_entries()]


def test_every_api_entry_names_an_object() -> None:
    for identifier, page in api_entries().items():
        try:
            resolve(identifier)
        except (ImportError, AttributeError) as error:
            pytest.fail(f"docs/api/{page}: `::: {identifier}` names nothing ({error})")


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_name_has_an_api_entry(module_name: str) -> None:
    module = importlib.import_module(module_name)
    public = getattr(module, "__all__", None)
    assert public is not None, f"{module_name} has no __all__: say which names are public"
    if module_name in whole_modules():
        return
    documented = documented_objects()
    missing = [
        name
        for name in public
        if not any(getattr(module, name) is obj for obj in documented)
        and f"{module_name}.{name}" not in api_entries()
    ]
    assert not missing, (
        f"{module_name}: {missing} are public but no API page has an entry for them: add "
        f"`::: {module_name}.<name>` to a page of docs/api/, or a page holding "
        f"`::: {module_name}` (every name in its __all__) and its line in mkdocs.yml's nav"
    )


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_class_and_function_has_a_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    undocumented = [
        name
        for name in getattr(module, "__all__", ())
        if _is_code(obj := getattr(module, name)) and not (obj.__doc__ or "").strip()
    ]
    assert not undocumented, f"{module_name}: {undocumented} have no docstring"


def _is_code(obj: object) -> bool:
    return isinstance(obj, ModuleType) or inspect.isclass(obj) or inspect.isroutine(obj)


def test_the_checks_see_a_missing_entry() -> None:
    """The identity check tells a documented object from one that is not."""
    documented = documented_objects()
    assert any(obj is learnable_weights.LVAE for obj in documented)
    assert not any(obj is pkgutil.iter_modules for obj in documented)


def test_entries_read_their_options() -> None:
    """A module entry with ``members: false`` (an introduction) does not cover its members."""
    assert "learnable_weights.data" in api_entries()
    assert "learnable_weights.data" not in whole_modules()
