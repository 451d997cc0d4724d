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
import json
from pathlib import Path

from learnable_weights import data, models
from learnable_weights.data.ground_truth import GroundTruthDataset
from learnable_weights.nets import reference_networks
from learnable_weights.study.runner import TRAINING_OPTIONS
from learnable_weights.training.checkpoint import latest_checkpoint, load_checkpoint
from learnable_weights.viz import save_run_pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a study run's folder (runs/<run_id>)")
    parser.add_argument("--out", type=Path, required=True, help="where the pictures go")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the observations drawn")
    args = parser.parse_args()

    result_file = args.run_dir / "result.json"
    if not result_file.is_file():
        parser.error(f"{result_file} is missing: the run has not finished (or is not a run)")
    checkpoint = latest_checkpoint(args.run_dir / "checkpoints")
    if checkpoint is None:
        parser.error(f"{args.run_dir / 'checkpoints'} holds no checkpoint to draw from")
    record = json.loads(result_file.read_text())
    budget = record["budget"]
    dataset = data.load(budget["dataset"], **budget.get("dataset_options", {}))
    if not isinstance(dataset, GroundTruthDataset):
        parser.error(f"{budget['dataset']!r} has no ground-truth factors: not a study's dataset")
    options = {k: v for k, v in record["options"].items() if k not in TRAINING_OPTIONS}
    channels = int(dataset.observation_shape[0])
    encoder, decoder = reference_networks(channels, budget["latent_dim"])
    model = models.build(
        record["model"], encoder, decoder, latent_dim=budget["latent_dim"], **options
    )
    state = load_checkpoint(checkpoint)
    model.load_state_dict(state["model"])
    written = save_run_pictures(
        model.to(args.device), dataset, args.out, state["history"], device=args.device,
        seed=args.seed,
    )  # fmt: skip
    print(f"{record['run_id']} at step {state['step']} ({checkpoint.name}):")
    for path in written.values():
        print(f"  {path}")


if __name__ == "__main__":
    main()
