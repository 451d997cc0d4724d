r"""Griffe extension for the documentation site: the docstrings' reStructuredText bits as Markdown.

The docstrings are Google style (``Args:``, ``Returns:``) with a few Sphinx roles and directives
in the prose. mkdocstrings renders docstrings as Markdown, so before it parses them this turns

* ``.. math::`` blocks into ``$$ ... $$`` display math (multi-line ones with ``&`` or ``\\`` in an
  ``aligned`` environment, as Sphinx wraps them in ``split``);
* ``:math:`...``` into ``$...$`` inline math (pymdownx.arithmatex hands both to MathJax);
* ``:class:`~pkg.Name```, ``:func:``, ``:meth:``, ``:attr:``, ``:data:``, ``:mod:``, ``:exc:``
  and ``:obj:`` into optional cross-references: a link when the target has an API entry, plain
  code otherwise (a private helper, or another library's name);
* simple tables (``====  ====`` borders) into Markdown tables;
* literal blocks (a paragraph ending in ``::`` and an indented block) into fenced Python code;
* ``#:`` comments above an attribute (Sphinx's doc-comments) into its docstring;
* an ``Args:`` entry for several parameters (``a, b: what they are``, NumPy's convention) into
  one entry per parameter, which Google-style parsing needs to match them to the signature.

``mkdocs.yml`` loads it with ``extensions: [scripts/griffe_rst.py]``. It changes what the site
shows, never the package: ``help()`` still shows the docstrings as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ROLE = re.compile(r":(?P<role>math|class|func|meth|attr|data|mod|exc|obj):`(?P<body>[^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>.*)$")
LITERAL_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<text>(?!\.\. ).*?)(?P<space>\s?)::[ \t]*$")
BARE_LABEL = re.compile(r"^[A-Za-z][\w ]*$")
TABLE_BORDER = re.compile(r"^(?P<indent>[ \t]*)=+(?:[ \t]+=+)+[ \t]*$")
PARAMETER_SECTION = re.compile(
    r"^(?P<indent>[ \t]*)(?:Args|Arguments|Parameters|Params|Other Parameters|"
    r"Keyword Args|Keyword Arguments):[ \t]*$"
)
SHARED_ENTRY = re.compile(
    r"^(?P<indent>[ \t]+)(?P<names>\w+(?:[ \t]*,[ \t]*\w+)+)[ \t]*:(?P<rest>.*)$"
)
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")

Resolver = Callable[[str], "str | None"]


def _indent_width(line: str) -> int:
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip())


def _take_indented_block(lines: list[str], start: int, indent: int) -> tuple[list[str], int, int]:
    """The lines from ``start`` that are blank or indented deeper than ``indent``.

    Returns the block without its leading and trailing blank lines, common indentation removed,
    the index after it, and how many blank lines trailed it.
    """
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent_width(lines[end]) > indent):
        end += 1
    block = lines[start:end]
    trailing = 0
    while block and not block[-1].strip():
        block.pop()
        trailing += 1
    while block and not block[0].strip():
        block.pop(0)
    common = min((_indent_width(line) for line in block if line.strip()), default=0)
    return [line.expandtabs()[common:] if line.strip() else "" for line in block], end, trailing


def _fence(content: list[str], indent: str, opening: str, closing: str) -> list[str]:
    return [
        indent + opening,
        *(indent + line if line else "" for line in content),
        indent + closing,
    ]


def convert_blocks(text: str) -> str:
    """``.. math::`` directives, literal blocks and simple tables of ``text`` in Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        math = MATH_DIRECTIVE.match(line)
        literal = None if math else LITERAL_MARKER.match(line)
        if math is not None:
            indent = math["indent"]
            body, i, trailing = _take_indented_block(lines, i + 1, _indent_width(line))
            if math["inline"].strip():
                body.insert(0, math["inline"].strip())
            if any("\\\\" in row or "&" in row for row in body):
                body = ["\\begin{aligned}", *body, "\\end{aligned}"]
            out.extend(_fence(body, indent, "$$", "$$"))
            out.extend([""] * max(trailing, int(i < len(lines))))
        elif literal is not None and i + 1 < len(lines) and not lines[i + 1].strip():
            indent, label = literal["indent"], literal["text"]
            body, i, trailing = _take_indented_block(lines, i + 1, _indent_width(line))
            if label:
                # "Example::" alone would read as a Google section header: keep it a label
                bare = BARE_LABEL.match(label) is not None
                out.append(f"{indent}**{label}:**" if bare else f"{indent}{label}:")
                out.append("")
            out.extend(_fence(body, indent, "```python", "```"))
            out.extend([""] * max(trailing, int(i < len(lines))))
        elif TABLE_BORDER.match(line):
            table, i = _simple_table(lines, i)
            out.extend(table)
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def _simple_table(lines: list[str], start: int) -> tuple[list[str], int]:
    """The simple table whose top border is ``lines[start]`` as Markdown, and the index after it.

    A table with a header has three borders (top, under the header, bottom); a row whose first
    column is blank continues the row above. A border without a header is left as it is.
    """
    border = lines[start]
    indent = TABLE_BORDER.match(border)["indent"]  # type: ignore[index]
    starts = [m.start() for m in re.finditer(r"=+", border)]
    borders = [start]
    j = start + 1
    while j < len(lines) and lines[j].strip() and len(borders) < 3:
        if TABLE_BORDER.match(lines[j]):
            borders.append(j)
        j += 1
    if len(borders) < 3:
        return [border], start + 1
    header = _table_rows(lines[start + 1 : borders[1]], starts)
    body = _table_rows(lines[borders[1] + 1 : borders[2]], starts)
    head = [" ".join(column).strip() for column in zip(*header, strict=True)]

    def row(cells: list[str]) -> str:
        return indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    table = [row(head), indent + "|" + "---|" * len(starts), *(row(cells) for cells in body)]
    return table, borders[2] + 1


def _table_rows(lines: list[str], starts: list[int]) -> list[list[str]]:
    """The cells of a simple table's rows; a line with a blank first column continues a row."""
    rows: list[list[str]] = []
    for line in lines:
        raw = line.expandtabs()
        cells = [raw[a:b].strip() for a, b in zip(starts, [*starts[1:], len(raw)], strict=True)]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def split_shared_entries(text: str) -> str:
    """``a, b: description`` entries of the parameter sections as one entry per name."""
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and section_indent is not None and _indent_width(line) <= section_indent:
            section_indent = None
        header = PARAMETER_SECTION.match(line)
        entry = SHARED_ENTRY.match(line) if section_indent is not None else None
        if header is not None:
            section_indent = _indent_width(line)
        if entry is None:
            out.append(line)
            i += 1
            continue
        end = i + 1
        while (
            end < len(lines)
            and lines[end].strip()
            and _indent_width(lines[end]) > _indent_width(line)
        ):
            end += 1
        for name in (part.strip() for part in entry["names"].split(",")):
            out.append(f"{entry['indent']}{name}:{entry['rest']}")
            out.extend(lines[i + 1 : end])
        i = end
    return "\n".join(out)


def convert_roles(text: str, resolve: Resolver) -> str:
    """Inline ``:math:`` as ``$...$`` and the cross-reference roles as optional autorefs.

    Args:
        text: a docstring (after `convert_blocks`).
        resolve: maps a target as written (``Name``, ``module.Name``, ``Name.method``) to the
            full dotted path of the object, or ``None`` when it cannot be resolved.
    """

    def replace(match: re.Match[str]) -> str:
        role, body = match["role"], match["body"]
        if role == "math":
            return f"${body.strip()}$"
        titled = EXPLICIT_TITLE.match(body)
        if titled is not None:
            title, target = titled["title"], titled["target"]
        else:
            target = body.lstrip("~")
            title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
        identifier = resolve(target) or target
        return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

    return ROLE.sub(replace, text)


def rst_to_markdown(text: str, resolve: Resolver) -> str:
    """The docstring ``text`` with its reStructuredText blocks and roles in Markdown."""
    return convert_roles(convert_blocks(split_shared_entries(text)), resolve)


def scope_resolver(obj: Any) -> Resolver:
    """Resolves a role's target in the scope of the griffe object ``obj`` (its module, parents)."""

    def resolve(target: str) -> str | None:
        if target.startswith("learnable_weights"):
            return target
        head, _, rest = target.partition(".")
        try:
            path = str(obj.resolve(head))
        except Exception:  # griffe's NameResolutionError, or an alias it cannot follow
            return None
        return f"{path}.{rest}" if rest else path

    return resolve


def doc_comment(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` comment lines right above line ``lineno`` (1-based) of ``lines``, joined."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        found.append(lines[index].lstrip()[2:].strip())
        index -= 1
    return "\n".join(reversed(found)) or None


try:
    from griffe import Docstring, Extension
except ImportError:  # the docs extra is not installed: the converters above still work
    Extension = object


class RstToMarkdown(Extension):  # type: ignore[misc,valid-type]
    """Rewrites each docstring once the package's object tree is complete."""

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.is_alias:
            return
        if obj.docstring is None and obj.is_attribute and obj.lineno is not None:
            comment = doc_comment(list(obj.lines_collection[obj.filepath]), obj.lineno)
            if comment is not None:
                obj.docstring = Docstring(comment, lineno=obj.lineno - 1, parent=obj)
        docstring = obj.docstring
        if docstring is not None:
            docstring.value = rst_to_markdown(docstring.value, scope_resolver(obj))
