"""Which factors the latents of trained study runs carry: MIG's mutual-information matrix.

For each run folder of a sweep (``studies/<sweep>/runs/<run_id>``, with its ``result.json`` and
final checkpoint) the script rebuilds the model, loads the checkpoint and scores MIG as the
study's ``pilot`` evaluation does (10,000 points, seed 0, 20-bin histograms of the posterior
means, disentanglement_lib's discretisation). It prints the run's MIG and, for every latent whose
mutual information with some factor reaches ``--min-nats``, the mutual information (nats) with
each factor, so that a high MIG can be read: one factor per latent, or several factors sharing
latents.

    python benchmarks/latent_factors_on_runs.py \\
        "studies/ablation/runs/l-vae_bias_penalty=5_network_objective=weighted_parameterization=simplex_weighting_lr=0.05__seed1"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from learnable_weights.metrics import evaluate
from learnable_weights.study import EVALUATIONS, load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of a sweep")
    parser.add_argument(
        "--min-nats", type=float, default=0.5, help="list latents with at least this much MI"
    )
    args = parser.parse_args()
    settings = {"mig": dict(EVALUATIONS["pilot"]["mig"])}
    for run_dir in args.runs:
        run = load_run(run_dir)
        result = evaluate(
            run.dataset, run.model.eval(), metrics=("mig",), seed=0, settings=settings,
            progress=False,
        )  # fmt: skip
        mig = result.scores["mig"]
        information = np.asarray(mig["mutual_information"], dtype=np.float64)  # (D, K)
        names = list(run.dataset.factor_names)
        print(f"{run_dir.name} ({run.checkpoint.stem}): MIG {mig['discrete_mig']:.4f}")
        for latent in np.flatnonzero(information.max(axis=1) >= args.min_nats):
            row = ", ".join(
                f"{name} {value:.2f}"
                for name, value in zip(names, information[latent], strict=True)
            )
            print(f"  z{latent}: {row}")


if __name__ == "__main__":
    main()
