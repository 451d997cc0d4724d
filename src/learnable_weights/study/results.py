"""Per-run result files of a sweep, and the tables that aggregate them over seeds.

Each finished run leaves ``<sweep>/runs/<run_id>/result.json``, written atomically, holding the
run's model, options, seed, the sweep's budget (everything that must be equal for runs to be
compared) and its scores. A sweep resumes by skipping every run whose file exists with the same
budget, and the tables are made from the files alone, so shards run on different machines merge by
copying their ``runs/`` folders together.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learnable_weights.study.plan import RunSpec
from learnable_weights.training.files import readable_mode

__all__ = [
    "DISENTANGLEMENT_SCORES",
    "LOWER_IS_BETTER",
    "UNRANKED",
    "BudgetMismatchError",
    "Summary",
    "load_results",
    "result_path",
    "scores_at_step",
    "scores_by_label",
    "summarize",
    "to_csv",
    "to_markdown",
    "write_bytes_atomic",
    "write_result",
    "write_text_atomic",
]

LOWER_IS_BETTER = frozenset({"recon_bce", "recon_sse", "recon_loss", "wall_time_s"})
"""Scores for which a smaller value ranks higher; every other score ranks larger-is-better."""


UNRANKED = frozenset({"kl", "beta"})
"""Descriptive scores (how much KL a model kept, the β it ended with): shown, never ranked."""


DISENTANGLEMENT_SCORES = frozenset(
    {"beta_vae", "factor_vae", "mig", "dci", "sap", "modularity_explicitness"}
)
"""The disentanglement metrics' headlines: the scores that `Summary.top_two` counts (the L-VAE
paper's claim is "best or second best" on these; reconstruction errors are not among them)."""


class BudgetMismatchError(ValueError):
    """A result file was made with another budget than the sweep asks for."""


def result_path(sweep_dir: Path, run: RunSpec) -> Path:
    """Where ``run``'s result file lives."""
    return sweep_dir / "runs" / run.run_id / "result.json"


def write_result(
    sweep_dir: Path,
    run: RunSpec,
    budget: Mapping[str, Any],
    scores: Mapping[str, float],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Writes ``run``'s result file atomically (temporary file, then rename) and returns its path."""
    path = result_path(sweep_dir, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run_id": run.run_id,
        "label": run.label,
        "model": run.model,
        "seed": run.seed,
        "options": run.options_dict(),
        "budget": dict(budget),
        "scores": {key: float(value) for key, value in scores.items()},
        **(dict(extra) if extra else {}),
    }
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=True) + "\n")
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically: see `write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, content: bytes) -> None:
    """Writes ``content`` to ``path`` through a temporary file in the same folder and a rename,
    so that a reader (or a run killed mid-write) never sees half a file. The file gets the mode
    ``open`` would give it (``0o666`` less the umask), not the temporary file's private 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, readable_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_results(
    sweep_dir: Path, runs: Sequence[RunSpec], budget: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``run_id -> record`` for every run of ``runs`` that has a result file.

    Raises:
        BudgetMismatchError: a file exists but was made with another budget (comparing it with
            this sweep's runs would be wrong; use another sweep folder).
        ValueError: a file is not valid JSON (named, with what to do).
    """
    found: dict[str, dict[str, Any]] = {}
    wanted = json.loads(json.dumps(dict(budget)))  # the form a file round-trips to
    for run in runs:
        path = result_path(sweep_dir, run)
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path} is not valid JSON ({error}); delete it to rerun that run"
            ) from None
        if record.get("budget") != wanted:
            differing = sorted(
                key
                for key in set(wanted) | set(record.get("budget", {}))
                if wanted.get(key) != record.get("budget", {}).get(key)
            )
            raise BudgetMismatchError(
                f"{path} was made with another budget (differs in {differing}); a sweep compares "
                "runs of one budget: give this sweep another --out, or delete the file"
            )
        found[run.run_id] = record
    return found


def scores_at_step(records: Sequence[Mapping[str, Any]], step: int) -> list[dict[str, Any]]:
    """The records as they stood at ``step``: each one's ``scores`` replaced by those of its
    milestone at ``step`` (see `learnable_weights.study.Budget.eval_steps`); records without one
    are left out. A record's final step (``budget["steps"]``) gives its own scores."""
    found: list[dict[str, Any]] = []
    for record in records:
        if int(record["budget"]["steps"]) == step:
            found.append(dict(record))
            continue
        for milestone in record.get("milestones", ()):
            if int(milestone["step"]) == step:
                found.append({**record, "scores": dict(milestone["scores"])})
    return found


@dataclass(frozen=True)
class Summary:
    """Mean ± standard deviation (over seeds) of each score, per label, with ranks.

    Attributes:
        labels: the rows, in sweep order.
        scores: the columns.
        mean, std, count: ``label -> score -> value``; ``std`` is the sample standard deviation
            (0 for one seed); ``count`` the number of seeds with that score.
        rank: ``label -> score -> rank`` of the mean (1 is best; ties share the better rank);
            the descriptive scores of `UNRANKED` have none.
    """

    labels: tuple[str, ...]
    scores: tuple[str, ...]
    mean: dict[str, dict[str, float]]
    std: dict[str, dict[str, float]]
    count: dict[str, dict[str, int]]
    rank: dict[str, dict[str, int]]

    def top_two(self, label: str) -> tuple[int, int]:
        """``(k, n)``: ``label`` ranks first or second on ``k`` of the ``n`` disentanglement
        metrics (`DISENTANGLEMENT_SCORES`) that it has a score for."""
        ranked = [key for key in self.scores if key in DISENTANGLEMENT_SCORES]
        ranks = [self.rank[label][key] for key in ranked if key in self.rank[label]]
        return sum(rank <= 2 for rank in ranks), len(ranks)


def scores_by_label(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """``label -> score -> values``, one value per record (seed), labels in first-seen order."""
    values: dict[str, dict[str, list[float]]] = {}
    for record in records:
        row = values.setdefault(str(record["label"]), {})
        for key, value in record["scores"].items():
            row.setdefault(key, []).append(float(value))
    return values


def summarize(records: Sequence[Mapping[str, Any]], scores: Sequence[str] | None = None) -> Summary:
    """Aggregates result records by label (see `Summary`). Scores default to every score found."""
    values = scores_by_label(records)
    labels = list(values)
    if scores is None:
        scores = sorted({key for row in values.values() for key in row})
    mean: dict[str, dict[str, float]] = {}
    std: dict[str, dict[str, float]] = {}
    count: dict[str, dict[str, int]] = {}
    for label in labels:
        mean[label], std[label], count[label] = {}, {}, {}
        for key in scores:
            finite = [v for v in values[label].get(key, []) if math.isfinite(v)]
            count[label][key] = len(finite)
            if finite:
                average = sum(finite) / len(finite)
                spread = (
                    math.sqrt(sum((v - average) ** 2 for v in finite) / (len(finite) - 1))
                    if len(finite) > 1
                    else 0.0
                )
                mean[label][key], std[label][key] = average, spread
    rank: dict[str, dict[str, int]] = {label: {} for label in labels}
    for key in (k for k in scores if k not in UNRANKED):
        present = [label for label in labels if key in mean[label]]
        sign = 1.0 if key in LOWER_IS_BETTER else -1.0
        ordered = sorted(sign * mean[label][key] for label in present)
        for label in present:
            rank[label][key] = 1 + ordered.index(sign * mean[label][key])
    return Summary(tuple(labels), tuple(scores), mean, std, count, rank)


def to_markdown(summary: Summary, digits: int = 3) -> str:
    """A markdown table: one row per label, ``mean ± std (rank)`` per score (no rank for the
    descriptive scores), the seed count and, when the table holds disentanglement metrics and
    more than two rows, on how many of them the row is best or second best (`Summary.top_two`;
    in a table of two rows every row is, so the column would say nothing)."""
    counted = len(summary.labels) > 2 and any(
        key in DISENTANGLEMENT_SCORES for key in summary.scores
    )
    header = ["model", "seeds", *summary.scores, *(["top 2"] if counted else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label in summary.labels:
        seeds = max(summary.count[label].values(), default=0)
        cells = [f"`{label}`", str(seeds)]
        for key in summary.scores:
            if key not in summary.mean[label]:
                cells.append("–")
                continue
            mean, std = summary.mean[label][key], summary.std[label][key]
            rank = summary.rank[label].get(key)
            suffix = "" if rank is None else f" ({rank})"
            cells.append(f"{mean:.{digits}g} ± {std:.{digits}g}{suffix}")
        if counted:
            best, metrics = summary.top_two(label)
            cells.append(f"{best} of {metrics}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(summary: Summary) -> str:
    """CSV with columns ``label, score, mean, std, seeds, rank`` (one row per label and score)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "score", "mean", "std", "seeds", "rank"])
    for label in summary.labels:
        for key in summary.scores:
            if key in summary.mean[label]:
                writer.writerow(
                    [
                        label,
                        key,
                        repr(summary.mean[label][key]),
                        repr(summary.std[label][key]),
                        summary.count[label][key],
                        summary.rank[label].get(key, ""),
                    ]
                )
    return buffer.getvalue()
