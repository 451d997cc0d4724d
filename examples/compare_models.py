"""Compare registry models × seeds on one dataset, one architecture and one budget.

Trains every run of the sweep that has no result file yet (so a stopped sweep, or one continued
on another day or machine, redoes nothing), then writes the tables and the β figure from all
the result files in ``--out``:

- ``results.md`` and ``results.csv``: mean ± std over seeds of each score, and each model's rank;
- ``beta.png``: the β each model applied over training (mean over seeds);
- with ``--eval-steps``, ``results-step<STEP>.md``/``.csv``: the same scores at earlier steps.

``--table NAME`` writes ``NAME.md``, ``NAME.csv``, ``NAME-beta.png`` (``NAME-step<STEP>.md``)
instead, so that several tables share one sweep folder and reuse each other's runs (a run is
identified by its model, options and seed).

``--versus LABEL`` also writes ``NAME-versus.md``: row ``LABEL`` (e.g. ``l-vae``) minus every other
row on each ranked score with Welch's p over the seeds, and per disentanglement metric which rows
are better or worse than it beyond their spread (`learnable_weights.study.versus`).

    # the comparison: L-VAE against the paper's baselines, 3 seeds
    python examples/compare_models.py --out studies/claim-dsprites --seeds 0 1 2
    # an ablation table: one command, the learned model over a grid of its options
    python examples/compare_models.py --out studies/ablation --models l-vae vae \\
        --grid bias_penalty=0,0.1,0.25,0.5,1 --table lambda
    # rows no grid expresses: forms of one model side by side
    python examples/compare_models.py --out studies/ablation --models vae --table forms \\
        --variant l-vae uncertainty=liebel --variant l-vae parameterization=simplex bias_penalty=2
    # the schedules of the annealed VAE, ControlVAE and DynamicVAE fitted to the budget
    python examples/compare_models.py --out studies/fitted --steps 8000 --fit-schedules
    # the pilot: does the budget tell β-VAE (β = 4, 16) from the VAE?
    python examples/compare_models.py --out studies/pilot --models vae beta-vae \\
        --grid beta-vae:beta=4,16
    # the same trained models scored another way: runs another sweep trained identically
    # are evaluated here, not trained again
    python examples/compare_models.py --out studies/claim --evaluation study-fast-dci \
        --models vae --steps 8000 --reuse-training studies/ablation
    # a Slurm job array of 8 tasks, each one share of the runs; then the tables from all files
    python examples/compare_models.py --out studies/x --shard "$((SLURM_ARRAY_TASK_ID+1))/8"
    python examples/compare_models.py --out studies/x --tables-only

Every run of one ``--out`` must share the budget (``--dataset --steps --lr --batch-size
--latent-dim --weighting-lr --evaluation``); result files of another budget are refused.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from learnable_weights import models
from learnable_weights.optim import DEFAULT_WEIGHTING_LR
from learnable_weights.study import (
    EVALUATIONS,
    Budget,
    RunsFailedError,
    check_configurations,
    check_options,
    load_results,
    parse_option,
    parse_shard,
    plan_runs,
    run_sweep,
    scores_at_step,
    select_shard,
    summarize,
    to_csv,
    to_markdown,
    versus,
    versus_markdown,
)
from learnable_weights.study.figures import plot_beta_trajectories
from learnable_weights.study.results import UNRANKED, Summary, write_text_atomic
from learnable_weights.training.cli import weighting_lr_argument

DEFAULT_MODELS = (
    "l-vae",
    "vae",
    "beta-vae",
    "annealed-vae",
    "controlvae",
    "dynamicvae",
    "sigma-vae",
)
LEARNED = ("l-vae", "mdl-vae")
TABLE_SCORES = (
    "mig", "dci", "factor_vae", "beta_vae", "sap", "modularity_explicitness",
    "recon_bce", "recon_sse", "kl", "beta",
)  # fmt: skip


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the sweep's folder")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        choices=models.available(), metavar="MODEL")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--option", action="append", default=[], metavar="MODEL:NAME=VALUE",
                        help="a fixed option of one model, e.g. beta-vae:beta=16")  # fmt: skip
    parser.add_argument("--grid", action="append", default=[], metavar="[MODEL:]NAME=V1,V2",
                        help="sweep an option of one model (default: of l-vae and mdl-vae), "
                             "e.g. beta-vae:beta=4,16 or bias_penalty=0,0.25")  # fmt: skip
    parser.add_argument("--dataset", default="procedural-dsprites")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument(
        "--weighting-lr",
        type=weighting_lr_argument,
        default=DEFAULT_WEIGHTING_LR,
        metavar="LR",
        help=f"the learned weights' own rate (default {DEFAULT_WEIGHTING_LR}, the library's; "
        "'network': the network's, --lr)",
    )
    parser.add_argument("--evaluation", default="pilot", choices=sorted(EVALUATIONS))
    parser.add_argument("--eval-steps", nargs="+", type=int, default=[], metavar="STEP",
                        help="earlier steps at which each run is also scored; tables "
                        "results-step<STEP>.md/.csv")  # fmt: skip
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--storage", default="auto", choices=("auto", "uint8", "packed", "render"),
                        help="how the batch sampler holds the data (speed only)")  # fmt: skip
    parser.add_argument("--shard", type=_shard, default=(1, 1), metavar="I/N")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once on the device")
    parser.add_argument("--tables-only", action="store_true", help="no training: tables from files")
    parser.add_argument("--variant", action="append", nargs="+", default=[],
                        metavar="MODEL [NAME=VALUE ...]",
                        help="one more row: a model with its options (repeatable)")  # fmt: skip
    parser.add_argument("--fit-schedules", action="store_true",
                        help="fit the KL schedules of annealed-vae, controlvae and dynamicvae to "
                        "--steps (models.schedule_for_budget); the fitted lengths become options "
                        "of those rows, named in their labels; --eval-steps then scores the fitted run "
                        "early, which is not a shorter run's fit")  # fmt: skip
    parser.add_argument("--reuse-training", nargs="+", type=Path, default=[], metavar="SWEEP",
                        help="other sweep folders: a run one of them trained identically (same "
                        "model, seed, resolved configuration, dataset, steps, lr, batch size, "
                        "latent size; its final checkpoint kept) is evaluated here instead of "
                        "trained, once a replay of its first logged steps matches; its result "
                        "file names that run (trained_in)")  # fmt: skip
    parser.add_argument("--table", default="results", help="the tables' and figure's file stem")
    parser.add_argument("--list", action="store_true", help="print this shard's runs and exit")
    parser.add_argument("--versus", metavar="LABEL",
                        help="also write NAME-versus.md: this row against every other, "
                        "with Welch's p over the seeds")  # fmt: skip
    args = parser.parse_args()

    fixed: dict[str, dict[str, object]] = {}
    for text in args.option:
        model, _, rest = text.partition(":")
        name, values = parse_option(rest)
        if model not in args.models or len(values) != 1:
            parser.error(f"--option {text!r}: write MODEL:NAME=VALUE for a model of --models")
        fixed.setdefault(model, {})[name] = values[0]
    grids: dict[str, dict[str, list[object]]] = {}
    for text in args.grid:
        model, _, rest = text.partition(":") if ":" in text.split("=")[0] else ("", "", text)
        name, values = parse_option(rest)
        targets = [model] if model else [m for m in LEARNED if m in args.models]
        if not targets or any(m not in args.models for m in targets):
            parser.error(f"--grid {text!r}: no model of --models to apply it to")
        for target in targets:
            grids.setdefault(target, {})[name] = values
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.table):
        parser.error(f"--table {args.table!r}: a file stem of letters, digits, '_', '.', '-'")
    variants: list[tuple[str, dict[str, object]]] = []
    for model, *settings in args.variant:
        if model not in models.available():
            parser.error(f"--variant {model!r}: not a model; choose from {models.available()}")
        options: dict[str, object] = {}
        for text in settings:
            name, values = parse_option(text)
            if len(values) != 1:
                parser.error(f"--variant {model} {text!r}: give one value (grids: --grid)")
            options[name] = values[0]
        variants.append((model, options))
    if args.fit_schedules:  # options given explicitly win
        for model in args.models:
            fitted = models.schedule_for_budget(model, args.steps)
            if fitted:
                fixed[model] = {**fitted, **fixed.get(model, {})}
        variants = [
            (model, {**models.schedule_for_budget(model, args.steps), **options})
            for model, options in variants
        ]
    try:
        runs = plan_runs(args.models, args.seeds, fixed=fixed, grids=grids, variants=variants)
        check_options(runs, args.latent_dim)  # a misspelt option fails now, not at its run
    except ValueError as error:
        parser.error(str(error))
    labels = list(dict.fromkeys(run.label for run in runs))
    if args.versus is not None and args.versus not in labels:
        parser.error(f"--versus {args.versus!r}: not a row of this sweep; its rows: {labels}")
    budget = Budget(
        dataset=args.dataset, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
        latent_dim=args.latent_dim, weighting_lr=args.weighting_lr, evaluation=args.evaluation,
        eval_steps=tuple(args.eval_steps),
    )  # fmt: skip

    if args.list:
        for run in select_shard(runs, *args.shard):
            print(run.run_id)
        return
    failure: RunsFailedError | None = None
    if not args.tables_only:
        try:
            run_sweep(
                select_shard(runs, *args.shard), budget, args.out, device=args.device,
                jobs=args.jobs, progress=True, storage=args.storage, reuse=args.reuse_training,
            )  # fmt: skip
        except RunsFailedError as error:  # the tables of what finished, then the error
            failure = error
    records = load_results(args.out, runs, budget.as_dict())
    check_configurations(records, runs, budget)
    ordered = [records[run.run_id] for run in runs if run.run_id in records]
    if not ordered:
        print("no result files yet")
        if failure is not None:
            sys.exit(f"error: {failure}")
        return
    stem = args.table
    for step in budget.eval_steps:
        at_step = scores_at_step(ordered, step)
        if at_step:
            header = f"{len(at_step)} of {len(runs)} runs, scored at step {step}; "
            _write_tables(at_step, args.out, f"{stem}-step{step}", header)
    summary = _write_tables(ordered, args.out, stem, f"{len(ordered)} of {len(runs)} runs; ")
    figure = args.out / ("beta.png" if stem == "results" else f"{stem}-beta.png")
    plot_beta_trajectories(ordered, figure)
    print(to_markdown(summary))
    print(f"tables: {args.out / f'{stem}.md'}, {args.out / f'{stem}.csv'}; figure: {figure}")
    if args.versus is not None and args.versus not in summary.labels:
        print(f"--versus {args.versus!r}: no result files of that row yet; no gaps table")
    elif args.versus is not None:
        ranked = [key for key in summary.scores if key not in UNRANKED]
        text = versus_markdown(versus(ordered, args.versus, ranked), args.versus, ranked)
        write_text_atomic(
            args.out / f"{stem}-versus.md", f"{len(ordered)} of {len(runs)} runs\n\n{text}"
        )
        print(text)
        print(f"gaps: {args.out / f'{stem}-versus.md'}")
    if failure is not None:
        sys.exit(f"error: {failure}")


def _write_tables(records: list[dict[str, Any]], out: Path, name: str, header: str) -> Summary:
    summary = summarize(
        records, scores=[s for s in TABLE_SCORES if any(s in r["scores"] for r in records)]
    )
    budget = records[0]["budget"]
    text = f"{header}budget: {budget}\n\n"
    write_text_atomic(out / f"{name}.md", text + to_markdown(summary))
    write_text_atomic(out / f"{name}.csv", to_csv(summary))
    return summary


if __name__ == "__main__":
    main()
