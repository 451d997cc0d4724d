"""DCI disentanglement in its fast and exact modes on trained study runs.

For each run folder of a sweep (``studies/<sweep>/runs/<run_id>``, with its ``result.json`` and
final checkpoint) the script rebuilds the model, loads the checkpoint and scores DCI on the
pilot's sizes (10,000 training and 5,000 test points, seed 0) twice: with the fast random-forest
importances the study's ``pilot`` evaluation uses, and with the reference's exact
gradient-boosted trees. It prints both scores and their seconds, to check that the fast mode
orders trained models as the exact one does, with DCI's completeness and informativeness (the
importance model's accuracy on the test points; a code that carries no information scores the
factors' chance accuracy, and its disentanglement is then noise).

    python benchmarks/dci_modes_on_runs.py studies/pilot-16000/runs/vae__seed0 \\
        studies/pilot-16000/runs/beta-vae_beta=4__seed0
    python benchmarks/dci_modes_on_runs.py --mode fast studies/ablation/runs/vae__seed0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from learnable_weights.metrics import evaluate
from learnable_weights.study import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of a sweep")
    parser.add_argument("--mode", choices=("fast", "exact", "both"), default="both")
    args = parser.parse_args()
    for run_dir in args.runs:
        run = load_run(run_dir)
        model, dataset, checkpoint = run.model.eval(), run.dataset, run.checkpoint
        print(f"{run_dir.name} ({checkpoint.stem}):", flush=True)
        for mode in ("fast", "exact") if args.mode == "both" else (args.mode,):
            started = time.perf_counter()
            settings = {"dci": {"num_train": 10000, "num_test": 5000, "mode": mode}}
            result = evaluate(dataset, model, metrics=("dci",), seed=0, settings=settings,
                              progress=False)  # fmt: skip
            dci = result.scores["dci"]
            print(
                f"  {mode}: disentanglement {dci['disentanglement']:.4f}, completeness "
                f"{dci['completeness']:.4f}, informativeness test {dci['informativeness_test']:.4f}"
                f" (train {dci['informativeness_train']:.4f}), "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
