"""scripts/griffe_rst.py: the docstrings' reStructuredText bits become the Markdown the site renders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "griffe_rst.py"


@pytest.fixture(scope="module")
def rst() -> ModuleType:
    spec = importlib.util.spec_from_file_location("griffe_rst", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["griffe_rst"] = module
    spec.loader.exec_module(module)
    return module


def no_resolution(target: str) -> None:
    return None


def test_inline_math(rst: ModuleType) -> None:
    text = r"weights :math:`w_i = \tfrac12 e^{-s_i}` and :math:` \beta `."
    assert rst.rst_to_markdown(text, no_resolution) == (
        r"weights $w_i = \tfrac12 e^{-s_i}$ and $\beta$."
    )


def test_math_directive_becomes_display_math_at_its_indent(rst: ModuleType) -> None:
    text = "The objective\n\n    .. math::\n\n        L = a + b\n\n    where a is R.\n"
    assert rst.convert_blocks(text) == (
        "The objective\n\n    $$\n    L = a + b\n    $$\n\n    where a is R.\n"
    )


def test_aligned_math_gets_an_aligned_environment(rst: ModuleType) -> None:
    text = ".. math::\n\n    a &= 1 \\\\\n    b &= 2\n"
    assert rst.convert_blocks(text) == (
        "$$\n\\begin{aligned}\na &= 1 \\\\\nb &= 2\n\\end{aligned}\n$$\n"
    )


def test_math_directive_at_the_end_of_the_text(rst: ModuleType) -> None:
    assert rst.convert_blocks(".. math:: x^2") == "$$\nx^2\n$$"


def test_literal_block_becomes_fenced_python(rst: ModuleType) -> None:
    text = "Groups for the optimizer. Example::\n\n    opt = Adam(groups)\n    opt.step()\n\nMore."
    assert rst.convert_blocks(text) == (
        "Groups for the optimizer. Example:\n\n```python\nopt = Adam(groups)\nopt.step()\n```\n\nMore."
    )


def test_bare_literal_label_is_not_a_google_section(rst: ModuleType) -> None:
    text = "Example::\n\n    run()\n"
    assert rst.convert_blocks(text) == "**Example:**\n\n```python\nrun()\n```\n"


def test_simple_table_with_continuation_rows(rst: ModuleType) -> None:
    text = (
        "Models:\n\n"
        "======  ==========  ==========\n"
        "name    objective   defaults\n"
        "======  ==========  ==========\n"
        "``a``   R + KL      β = 1\n"
        "``b``   R + |KL|    ``x=1,\n"
        "                    y=2``\n"
        "======  ==========  ==========\n"
        "\nAfter."
    )
    assert rst.convert_blocks(text) == (
        "Models:\n\n"
        "| name | objective | defaults |\n"
        "|---|---|---|\n"
        "| ``a`` | R + KL | β = 1 |\n"
        "| ``b`` | R + \\|KL\\| | ``x=1, y=2`` |\n"
        "\nAfter."
    )


def test_cross_reference_roles_become_optional_autorefs(rst: ModuleType) -> None:
    paths = {"Evaluation": "learnable_weights.metrics.evaluate.Evaluation"}
    text = ":class:`Evaluation`, :func:`~learnable_weights.metrics.mig.mig`, :mod:`os.path`"
    assert rst.convert_roles(text, paths.get) == (
        '<autoref identifier="learnable_weights.metrics.evaluate.Evaluation" optional>'
        "<code>Evaluation</code></autoref>, "
        '<autoref identifier="learnable_weights.metrics.mig.mig" optional><code>mig</code></autoref>, '
        '<autoref identifier="os.path" optional><code>os.path</code></autoref>'
    )


def test_explicit_title_role(rst: ModuleType) -> None:
    assert rst.convert_roles(":func:`the loader <load>`", no_resolution) == (
        '<autoref identifier="load" optional><code>the loader</code></autoref>'
    )


def test_shared_parameter_entries_are_split(rst: ModuleType) -> None:
    text = (
        "Builds it.\n\nArgs:\n    name: which.\n    encoder, decoder: as for `LVAE`,\n"
        "        any modules.\n    depth: how deep.\n\nReturns:\n    a, b: not parameters.\n"
    )
    assert rst.split_shared_entries(text) == (
        "Builds it.\n\nArgs:\n    name: which.\n    encoder: as for `LVAE`,\n        any modules.\n"
        "    decoder: as for `LVAE`,\n        any modules.\n    depth: how deep.\n\n"
        "Returns:\n    a, b: not parameters.\n"
    )


def test_doc_comment(rst: ModuleType) -> None:
    lines = ["x = 1", "#: The metrics run by default:", "#: all of them.", "DEFAULT = ()", "Y = 2"]
    assert rst.doc_comment(lines, 4) == "The metrics run by default:\nall of them."
    assert rst.doc_comment(lines, 5) is None


def test_package_docstrings_leave_no_rst_behind(rst: ModuleType) -> None:
    """Every docstring of the package converts to text without roles or directives left."""
    import inspect
    import pkgutil

    import learnable_weights

    names = ["learnable_weights"] + [
        info.name
        for info in pkgutil.walk_packages(learnable_weights.__path__, "learnable_weights.")
    ]
    leftovers = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a module whose optional extra is not installed here
            continue
        objects = [module, *vars(module).values()]
        for obj in objects:
            doc = inspect.getdoc(obj) if _documentable(obj) else None
            if not doc:
                continue
            converted = rst.rst_to_markdown(doc, no_resolution)
            if any(mark in converted for mark in (":math:`", ":class:`", ":func:`", ".. math::")):
                leftovers.append(f"{name}: {getattr(obj, '__qualname__', obj)}")
    assert not leftovers


def _documentable(obj: object) -> bool:
    import inspect

    return inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)
