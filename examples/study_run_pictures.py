"""Draw the pictures of a finished study run: latent traversals, reconstructions, training curves.

A run of `examples/compare_models.py` keeps its result file and its last checkpoint
(``<sweep>/runs/<run_id>/``) but draws no pictures, so that a sweep spends its time on training.
This script rebuilds the run's model from its result file (model, options, latent size, dataset),
loads the checkpoint's weights and writes what `examples/train_dsprites.py` would have written
(`learnable_weights.viz.save_run_pictures`) into ``--out``:

    python examples/study_run_pictures.py studies/pilot-16000/runs/beta-vae_beta=4__seed0 \\
        --out pictures/beta4
"""

from __future__ import annotations

import argparse
from pathlib import Path

from learnable_weights.study import load_run
from learnable_weights.viz import save_run_pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a study run's folder (runs/<run_id>)")
    parser.add_argument("--out", type=Path, required=True, help="where the pictures go")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the observations drawn")
    args = parser.parse_args()

    try:
        run = load_run(args.run_dir)
    except FileNotFoundError as error:
        parser.error(str(error))
    written = save_run_pictures(
        run.model.to(args.device), run.dataset, args.out, run.state["history"],
        device=args.device, seed=args.seed,
    )  # fmt: skip
    print(f"{run.record['run_id']} at step {run.state['step']} ({run.checkpoint.name}):")
    for path in written.values():
        print(f"  {path}")


if __name__ == "__main__":
    main()
