"""Welch's t-test of one row against the others (`learnable_weights.study.significance`)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from learnable_weights.study import versus, versus_markdown


def _records(rows: dict[str, dict[str, list[float]]]) -> list[dict[str, Any]]:
    records = []
    for label, scores in rows.items():
        seeds = len(next(iter(scores.values())))
        for seed in range(seeds):
            records.append(
                {"label": label, "scores": {key: values[seed] for key, values in scores.items()}}
            )
    return records


def _student_t4_two_sided(t: float) -> float:
    """Two-sided p of Student's t with 4 degrees of freedom, from its closed-form CDF
    F(t) = ½ + (3/8)·t/√(1 + t²/4)·(1 − t²/(12(1 + t²/4)))."""
    u = 1 + t * t / 4
    cdf = 0.5 + 3 / 8 * abs(t) / math.sqrt(u) * (1 - t * t / (12 * u))
    return 2 * (1 - cdf)


def test_welch_p_by_hand() -> None:
    # equal variances (1) and sizes (3): t = (2 − 5)/√(1/3 + 1/3) and Welch's df is exactly 4
    gaps = versus(_records({"a": {"mig": [1, 2, 3]}, "b": {"mig": [4, 5, 6]}}), "a", ["mig"])
    gap = gaps["b"]["mig"]
    assert gap.difference == pytest.approx(-3.0)
    t = -3.0 / math.sqrt(2 / 3)
    assert gap.p_value == pytest.approx(_student_t4_two_sided(t), rel=1e-9)
    assert gap.p_value == pytest.approx(0.0213116, rel=1e-5)
    assert gap.significant and gap.better is False


def test_unequal_variances_use_welchs_degrees_of_freedom() -> None:
    # n = 3 with variance 3 against n = 5 with variance 2.5: s²/n are 1 and 0.5, and
    # Welch–Satterthwaite's df = (1 + 0.5)² / (1²/2 + 0.5²/4) = 4 exactly (Student's pooled test
    # would use 6 and another standard error)
    root3 = math.sqrt(3)
    records = _records({"a": {"mig": [10 - root3, 10, 10 + root3]}, "b": {"mig": [0, 1, 2, 3, 4]}})
    gap = versus(records, "a", ["mig"])["b"]["mig"]
    assert gap.difference == pytest.approx(8.0)
    assert gap.p_value == pytest.approx(_student_t4_two_sided(8 / math.sqrt(1.5)), rel=1e-9)
    assert gap.better is True


def test_direction_follows_lower_is_better() -> None:
    records = _records(
        {
            "a": {"recon_bce": [30.0, 31.0, 32.0], "mig": [0.1, 0.2, 0.3]},
            "b": {"recon_bce": [40.0, 41.0, 42.0], "mig": [0.1, 0.2, 0.3]},
        }
    )
    gaps = versus(records, "a", ["recon_bce", "mig"])["b"]
    assert gaps["recon_bce"].better is True  # lower reconstruction error is better
    assert gaps["mig"].better is None and gaps["mig"].p_value == pytest.approx(1.0)


def test_undefined_tests_are_nan_and_never_significant() -> None:
    records = _records({"a": {"mig": [0.1]}, "b": {"mig": [0.5]}})
    gap = versus(records, "a", ["mig"])["b"]["mig"]
    assert math.isnan(gap.p_value) and not gap.significant
    # a score missing from either row is left out, non-finite seeds are dropped
    records = _records({"a": {"mig": [0.1, math.nan, 0.3]}, "b": {"mig": [0.5, 0.6, 0.7]}})
    gaps = versus(records, "a", ["mig", "dci"])["b"]
    assert set(gaps) == {"mig"} and gaps["mig"].difference == pytest.approx(0.2 - 0.6)


def test_unknown_label_is_an_error_naming_the_labels() -> None:
    with pytest.raises(ValueError, match=r"no result has the label 'c'; the labels are \['a'\]"):
        versus(_records({"a": {"mig": [0.1, 0.2]}}), "c", ["mig"])


def test_markdown_marks_and_counts_the_gaps_beyond_the_spread() -> None:
    records = _records(
        {
            "ref": {"mig": [0.10, 0.11, 0.12], "dci": [0.5, 0.6, 0.7]},
            "strong": {"mig": [0.30, 0.31, 0.32], "dci": [0.5, 0.7, 0.6]},
            "weak": {"mig": [0.01, 0.02, 0.03], "dci": [0.4, 0.8, 0.6]},
        }
    )
    scores = ["mig", "dci"]
    text = versus_markdown(versus(records, "ref", scores), "ref", scores)
    assert "| `strong` | **-0.2** (" in text  # 0.11 − 0.31, far beyond a spread of 0.01
    assert "| `weak` | **+0.09** (" in text
    assert "- mig: better than `ref`: 1 (`strong`); worse: 1 (`weak`)" in text
    assert "- dci: better than `ref`: 0 (none); worse: 0 (none)" in text
