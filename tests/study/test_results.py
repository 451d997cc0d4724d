"""Result files: atomic, resumable, refused across budgets; tables with mean ± std and ranks."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from learnable_weights.study import (
    BudgetMismatchError,
    load_results,
    plan_runs,
    result_path,
    scores_at_step,
    summarize,
    to_csv,
    to_markdown,
    write_result,
)

BUDGET = {"dataset": "procedural-dsprites", "steps": 4000, "lr": 5e-4}


def test_results_round_trip_and_resume_skips_only_finished_runs(tmp_path: Path) -> None:
    runs = plan_runs(["vae", "l-vae"], [0, 1])
    write_result(tmp_path, runs[0], BUDGET, {"mig": 0.1})
    write_result(tmp_path, runs[3], BUDGET, {"mig": 0.3}, extra={"wall_time_s": 12.0})
    found = load_results(tmp_path, runs, BUDGET)
    assert sorted(found) == sorted([runs[0].run_id, runs[3].run_id])
    assert found[runs[3].run_id]["scores"] == {"mig": 0.3}
    assert found[runs[3].run_id]["wall_time_s"] == 12.0
    assert not list(result_path(tmp_path, runs[0]).parent.glob(".result.json.*"))  # no temp left


def test_other_budget_is_refused_with_the_differing_keys(tmp_path: Path) -> None:
    runs = plan_runs(["vae"], [0])
    write_result(tmp_path, runs[0], BUDGET, {"mig": 0.1})
    with pytest.raises(BudgetMismatchError, match=r"differs in \['steps'\]"):
        load_results(tmp_path, runs, {**BUDGET, "steps": 8000})


def test_corrupt_result_file_is_named(tmp_path: Path) -> None:
    runs = plan_runs(["vae"], [0])
    path = result_path(tmp_path, runs[0])
    path.parent.mkdir(parents=True)
    path.write_text('{"scores": ')
    with pytest.raises(ValueError, match="delete it to rerun"):
        load_results(tmp_path, runs, BUDGET)


def _records() -> list[dict[str, object]]:
    rows = [
        ("vae", {"mig": 0.01, "recon_loss": 30.0}),
        ("vae", {"mig": 0.03, "recon_loss": 32.0}),
        ("beta-vae", {"mig": 0.20, "recon_loss": 40.0}),
        ("beta-vae", {"mig": 0.10, "recon_loss": 44.0}),
        ("l-vae", {"mig": 0.05, "recon_loss": float("nan")}),
    ]
    return [{"label": label, "scores": scores} for label, scores in rows]


def test_summary_by_hand() -> None:
    summary = summarize(_records())
    assert summary.labels == ("vae", "beta-vae", "l-vae")
    assert summary.mean["vae"]["mig"] == pytest.approx(0.02)
    assert summary.std["vae"]["mig"] == pytest.approx(math.sqrt(2 * 0.01**2))  # ddof = 1
    assert summary.std["l-vae"]["mig"] == 0.0 and summary.count["l-vae"]["mig"] == 1
    assert "recon_loss" not in summary.mean["l-vae"]  # non-finite scores are left out
    # MIG: larger is better; reconstruction: smaller is better
    assert [summary.rank[x]["mig"] for x in summary.labels] == [3, 1, 2]
    assert summary.rank["vae"]["recon_loss"] == 1 and summary.rank["beta-vae"]["recon_loss"] == 2


def test_descriptive_scores_are_not_ranked() -> None:
    records = [
        {"label": "vae", "scores": {"mig": 0.1, "kl": 25.0}},
        {"label": "beta-vae", "scores": {"mig": 0.2, "kl": 13.0}},
    ]
    summary = summarize(records)
    assert "kl" not in summary.rank["vae"] and summary.rank["beta-vae"]["mig"] == 1
    assert "| `vae` | 1 | 25 ± 0 | 0.1 ± 0 (2) |\n" in to_markdown(summary)
    assert "vae,kl,25.0,0.0,1,\n" in to_csv(summary)


def test_top_two_counts_only_disentanglement_metrics_and_shares_ties() -> None:
    records = [
        {"label": "a", "scores": {"mig": 0.3, "dci": 0.1, "sap": 0.2, "recon_bce": 10.0}},
        {"label": "b", "scores": {"mig": 0.2, "dci": 0.3, "sap": 0.2, "recon_bce": 20.0}},
        {"label": "c", "scores": {"mig": 0.1, "dci": 0.2, "sap": 0.1, "recon_bce": 30.0}},
    ]
    summary = summarize(records)
    # a: MIG 1st, DCI 3rd, SAP tied 1st; reconstruction (a is 1st) is not counted
    assert summary.top_two("a") == (2, 3)
    assert summary.top_two("b") == (3, 3)
    assert summary.top_two("c") == (1, 3)
    assert "| 1 of 3 |" in to_markdown(summary).splitlines()[-1]
    without = summarize([{"label": "a", "scores": {"recon_bce": 1.0}}])
    assert without.top_two("a") == (0, 0) and "top 2" not in to_markdown(without)
    # of two rows both are in the top two on every metric: the column is left out
    two = summarize(records[:2])
    assert two.top_two("a") == (3, 3) and "top 2" not in to_markdown(two)


def test_scores_at_step_takes_each_runs_milestone_or_final_scores() -> None:
    budget = {"steps": 16000}
    scored = {"label": "vae", "budget": budget, "scores": {"mig": 0.3},
              "milestones": [{"step": 8000, "scores": {"mig": 0.1}}]}  # fmt: skip
    unscored = {"label": "beta-vae", "budget": budget, "scores": {"mig": 0.4}}
    assert [r["scores"] for r in scores_at_step([scored, unscored], 8000)] == [{"mig": 0.1}]
    assert [r["scores"] for r in scores_at_step([scored, unscored], 16000)] == [
        {"mig": 0.3},
        {"mig": 0.4},
    ]
    assert scores_at_step([scored], 4000) == []
    assert scored["scores"] == {"mig": 0.3}  # the records are not changed


def test_markdown_and_csv_tables() -> None:
    summary = summarize(_records(), scores=["mig", "recon_loss"])
    table = to_markdown(summary)
    assert table.splitlines()[0] == "| model | seeds | mig | recon_loss | top 2 |"
    assert "| `beta-vae` | 2 | 0.15 ± 0.0707 (1) | 42 ± 2.83 (2) | 1 of 1 |" in table
    assert "| `l-vae` | 1 | 0.05 ± 0 (2) | – | 1 of 1 |" in table
    rows = list(csv.DictReader(io.StringIO(to_csv(summary))))
    assert len(rows) == 5  # l-vae has no recon_loss
    first = rows[0]
    assert first["label"] == "vae" and first["score"] == "mig"
    assert float(first["mean"]) == pytest.approx(0.02) and first["rank"] == "3"


def test_written_files_get_the_usual_file_mode_not_a_temporary_files(tmp_path: Path) -> None:
    """``tempfile.mkstemp`` makes 0600 files: tables written through it were private."""
    import os

    from learnable_weights.study.results import write_text_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "table.md"
    write_text_atomic(path, "| a |\n")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert path.read_text() == "| a |\n"
