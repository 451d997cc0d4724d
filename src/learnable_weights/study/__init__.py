"""Sweeps of models × options × seeds: the plan, the runs, per-run result files, the tables.

Used by ``examples/compare_models.py``. `plan` expands a sweep into stably named runs and splits
it into shards; `runner` trains and evaluates each run under one `Budget`; `results` writes each
finished run's result file atomically, resumes from them, and aggregates them over seeds into
markdown and CSV tables with ranks; `significance` says which gaps between rows are larger than
their seeds' spread; `reuse` lets a sweep evaluate runs another sweep trained identically instead
of training them again.
"""

from learnable_weights.study.plan import (
    RunSpec,
    parse_option,
    parse_shard,
    plan_runs,
    select_shard,
)
from learnable_weights.study.results import (
    DISENTANGLEMENT_SCORES,
    BudgetMismatchError,
    Summary,
    load_results,
    result_path,
    scores_at_step,
    summarize,
    to_csv,
    to_markdown,
    write_result,
)
from learnable_weights.study.runner import (
    EVALUATIONS,
    Budget,
    ConfigurationMismatchError,
    RunsFailedError,
    TrainedRun,
    check_configurations,
    check_options,
    load_run,
    reconstruction_errors,
    run_configuration,
    run_lock,
    run_one,
    run_sweep,
)
from learnable_weights.study.significance import Gap, versus, versus_markdown

__all__ = [
    "DISENTANGLEMENT_SCORES",
    "EVALUATIONS",
    "Budget",
    "BudgetMismatchError",
    "ConfigurationMismatchError",
    "Gap",
    "RunSpec",
    "RunsFailedError",
    "Summary",
    "TrainedRun",
    "check_configurations",
    "check_options",
    "load_results",
    "load_run",
    "parse_option",
    "parse_shard",
    "plan_runs",
    "reconstruction_errors",
    "result_path",
    "run_configuration",
    "run_lock",
    "run_one",
    "run_sweep",
    "scores_at_step",
    "select_shard",
    "summarize",
    "to_csv",
    "to_markdown",
    "versus",
    "versus_markdown",
    "write_result",
]
