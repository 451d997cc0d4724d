"""Which gaps between a sweep's rows are larger than their seeds' spread: Welch's t-test.

A rank on means (`Summary.rank`) says nothing about whether another set of seeds would keep it.
`versus` compares one row with every other, score by score, with Welch's unequal-variance
two-sided t-test on the rows' per-seed scores (Welch 1947; ``scipy.stats.ttest_ind`` with
``equal_var=False``). With three seeds a row the test calls different at p < 0.05 differs by
several spreads; most gaps between disentanglement methods at this budget are not that large, and
the tables say so instead of ranking noise.

Needs SciPy (the ``metrics`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from learnable_weights.study.results import (
    DISENTANGLEMENT_SCORES,
    LOWER_IS_BETTER,
    scores_by_label,
)

__all__ = ["SIGNIFICANCE_LEVEL", "Gap", "versus", "versus_markdown"]

SIGNIFICANCE_LEVEL = 0.05
"""The p-value below which `versus_markdown` counts a gap as larger than the seeds' spread."""


@dataclass(frozen=True)
class Gap:
    """One score of the reference row against one other row.

    Attributes:
        difference: mean of the reference row minus mean of the other (raw, in the score's units).
        p_value: Welch's two-sided p; NaN where it is undefined (fewer than two seeds in a row,
            or no spread in either).
        better: whether the reference row's mean is the better one (`LOWER_IS_BETTER` decides
            the direction); ``None`` for equal means.
    """

    difference: float
    p_value: float
    better: bool | None

    @property
    def significant(self) -> bool:
        """``p_value < SIGNIFICANCE_LEVEL`` (False where the test is undefined)."""
        return self.p_value < SIGNIFICANCE_LEVEL


def versus(
    records: Sequence[Mapping[str, Any]], label: str, scores: Sequence[str]
) -> dict[str, dict[str, Gap]]:
    """``other label -> score -> Gap`` of row ``label`` against every other row of ``records``.

    Args:
        records: result records (`load_results`' values), several seeds per label.
        label: the reference row.
        scores: the scores to compare; a score missing from either row is left out.

    Raises:
        ValueError: when no record has ``label``.
    """
    from scipy.stats import ttest_ind

    values = {
        name: {key: [v for v in seeds if math.isfinite(v)] for key, seeds in row.items()}
        for name, row in scores_by_label(records).items()
    }
    if label not in values:
        raise ValueError(f"no result has the label {label!r}; the labels are {sorted(values)}")
    reference = values[label]
    gaps: dict[str, dict[str, Gap]] = {}
    for other, row in values.items():
        if other == label:
            continue
        gaps[other] = {}
        for key in scores:
            if not reference.get(key) or not row.get(key):
                continue
            a, b = reference[key], row[key]
            difference = sum(a) / len(a) - sum(b) / len(b)
            p_value = float("nan")
            if len(a) > 1 and len(b) > 1:
                p_value = float(ttest_ind(a, b, equal_var=False).pvalue)
            better = None if difference == 0 else (difference < 0) == (key in LOWER_IS_BETTER)
            gaps[other][key] = Gap(difference, p_value, better)
    return gaps


def versus_markdown(
    gaps: Mapping[str, Mapping[str, Gap]], label: str, scores: Sequence[str]
) -> str:
    """A markdown table of `versus`: one row per other label, ``difference (p)`` per score, the
    difference marked ``**`` where p < `SIGNIFICANCE_LEVEL`; then, per disentanglement metric,
    which rows are better and which worse than ``label`` beyond their spread (at that level).

    ``label`` cannot be best or second best on a metric where two or more rows are better
    beyond their spread; where none is, its rank on means may be noise either way.
    """
    lines = [
        f"`{label}` minus each row (mean over seeds), Welch's two-sided p in brackets; "
        f"** where p < {SIGNIFICANCE_LEVEL}.",
        "",
        "| row | " + " | ".join(scores) + " |",
        "|" + "---|" * (len(scores) + 1),
    ]
    for other, row in gaps.items():
        cells = []
        for key in scores:
            gap = row.get(key)
            if gap is None:
                cells.append("–")
                continue
            mark = "**" if gap.significant else ""
            p_text = "–" if math.isnan(gap.p_value) else f"{gap.p_value:.2g}"
            cells.append(f"{mark}{gap.difference:+.3g}{mark} ({p_text})")
        lines.append(f"| `{other}` | " + " | ".join(cells) + " |")
    counted = [key for key in scores if key in DISENTANGLEMENT_SCORES]
    if counted:
        lines += ["", f"Rows beyond their spread (p < {SIGNIFICANCE_LEVEL}) per metric:", ""]
        for key in counted:
            sides: dict[bool, list[str]] = {True: [], False: []}  # `label` better, worse
            for other, row in gaps.items():
                gap = row.get(key)
                if gap is not None and gap.significant and gap.better is not None:
                    sides[gap.better].append(f"`{other}`")
            lines.append(
                f"- {key}: better than `{label}`: {len(sides[False])}"
                f" ({', '.join(sides[False]) or 'none'}); worse: {len(sides[True])}"
                f" ({', '.join(sides[True]) or 'none'})"
            )
    return "\n".join(lines) + "\n"
