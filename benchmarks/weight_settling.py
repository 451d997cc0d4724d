"""How fast Adam brings L-VAE's learned weights to their settling point, by learning rate and β2.

The learned log-variances follow their gradient ½(1 − e^{−s}L) (Kendall form). At initialisation
s = 0 while the reconstruction term of a 64x64 binary image is thousands of nats, so the first
gradients are in the thousands. Adam divides each step by the root of an exponential average of
squared gradients with time constant 1/(1 − β2) steps (1,000 for the default 0.999): after those
first steps its estimate stays large for thousands of steps, and each later step is a small
fraction of the learning rate. The weights then lag far behind the settling point that
docs/objective.md derives, and the β a run applies is set by the optimizer, not by the objective.

This script replays term trajectories shaped like a reference-network run on procedural dSprites
(open loop: the terms do not react to the weights; R falls from 2,900 to 112 nats with a time
constant of 60 steps, the KL rises from 1 to 24 with one of 30 steps, the first 640 steps of
``studies/ablation/runs/l-vae__seed0``) through `LearnableWeightedLoss` (Kendall, log-spread,
λ = 0.25) under Adam with several learning rates and β2, and prints the β applied at chosen steps
against the closed-form settling β of the final terms. About a minute on one CPU core:

    python benchmarks/weight_settling.py [--steps 8000] [--bias-penalty 0.25]

With ``--runs FOLDER`` it checks finished runs instead (seconds): for every result file of a sweep
folder whose model is a two-term Kendall/log-spread L-VAE on the summed terms, the β it ended on
against the settling β of its own training terms (the mean reconstruction and KL of its last
``--tail`` logged records, 80 steps each at 8,000 steps), with λ read from the run's recorded
configuration. The weights see the reconstruction term less its irreducible part
(``likelihood.irreducible``: the targets' own entropy under the Bernoulli likelihood, 0 for binary
images, docs/objective.md), which the logged reconstruction includes; so the column ``H`` is that
part's mean over ``--irreducible-images`` images of the run's dataset (seed 0), and the settling
β is that of ``R − H`` against the KL:

    python benchmarks/weight_settling.py --runs studies/ablation
    python benchmarks/weight_settling.py --runs studies/claim-color-dsprites
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learnable_weights import LearnableWeightedLoss
from learnable_weights.data import GroundTruthDataset, load
from learnable_weights.likelihoods import make_likelihood
from learnable_weights.weighted_loss import DEFAULT_BIAS_PENALTY


def terms_at(step: int) -> tuple[float, float]:
    """The replayed (reconstruction, KL) in nats at ``step`` (0-based)."""
    recon = 112.0 + 2800.0 * math.exp(-step / 60.0)
    kl = 1.0 + 23.0 * (1.0 - math.exp(-step / 30.0))
    return recon, kl


def settling_beta(recon: float, kl: float, bias_penalty: float) -> float:
    """β where the Kendall/log-spread gradient vanishes for constant terms (docs/objective.md):
    β = (R/KL)·(1 − 2λd)/(1 + 2λd) with d = ln β, solved by bisection on d."""
    ratio_log = math.log(recon / kl)
    half_width = 1.0 / (2 * bias_penalty) if bias_penalty else 50.0
    low, high = -half_width + 1e-12, half_width - 1e-12  # the open interval |2λd| < 1
    for _ in range(200):
        d = 0.5 * (low + high)
        residual = d - ratio_log - math.log((1 - 2 * bias_penalty * d) / (1 + 2 * bias_penalty * d))
        low, high = (d, high) if residual < 0 else (low, d)
    return math.exp(0.5 * (low + high))


def replay(
    lr: float, beta2: float, steps: int, bias_penalty: float, report: list[int]
) -> list[float]:
    """β applied at each step of ``report`` under Adam(lr, betas=(0.9, beta2))."""
    loss = LearnableWeightedLoss(names=("recon", "kl"), bias_penalty=bias_penalty)
    optimizer = torch.optim.Adam(loss.parameters(), lr=lr, betas=(0.9, beta2))
    betas = []
    for step in range(steps):
        recon, kl = terms_at(step)
        objective = loss(torch.tensor(recon), torch.tensor(kl))
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        if step + 1 in report:
            betas.append(float(loss.beta))
    return betas


_KENDALL_LOG_SPREAD = re.compile(
    r"LearnableWeightedLoss\(names=\('recon', 'kl'\), group_sizes=\(1, 1\), "
    r"uncertainty='kendall', bias_penalty=([0-9.e+-]+), bias_regularizer=log_spread"
)


def _kendall_log_spread_penalty(record: dict[str, Any]) -> float | None:
    """λ of a two-term L-VAE run with the Kendall form and the log-spread regularizer on summed
    terms, read from the configuration its result file records; for files written before
    configurations were recorded, from its options over the defaults of this library (as a sweep
    accepts such files); ``None`` for any other run."""
    if "configuration" in record:
        model = str(record["configuration"].get("model", ""))
        match = _KENDALL_LOG_SPREAD.search(model)
        return None if match is None or "recon_scale=" in model else float(match.group(1))
    options = record.get("options", {})
    other_form = {"uncertainty", "bias_regularizer", "parameterization", "recon_scale", "kl_scale"}
    if record.get("model") != "l-vae" or other_form & set(options):
        return None
    return float(options.get("bias_penalty", DEFAULT_BIAS_PENALTY))


def mean_irreducible(
    dataset: str, dataset_options: dict[str, Any], likelihood: str, images: int
) -> float:
    """The mean over ``images`` images of ``dataset`` (drawn with seed 0, 500 at a time) of the
    part of ``likelihood``'s reconstruction term that no decoder removes, nats per image."""
    data = load(dataset, download=False, **dataset_options)
    if not isinstance(data, GroundTruthDataset):
        raise ValueError(f"{dataset} has no ground-truth factors to draw images from")
    term = make_likelihood(likelihood)
    random_state = np.random.RandomState(0)
    total = 0.0
    for start in range(0, images, 500):
        count = min(500, images - start)
        factors = data.sample_factors(count, random_state)
        observations = data.sample_observations_from_factors(factors, random_state)
        total += float(term.irreducible(observations)) * count
    return total / images


def check_runs(folder: Path, tail: int, irreducible_images: int) -> None:
    """Prints, per qualifying run of ``folder``, λ, the mean terms of its last ``tail`` records,
    the mean irreducible part of the reconstruction, the settling β and the β the run ended on."""
    print(f"{'run':<60} {'λ':>5} {'R':>7} {'H':>7} {'KL':>6} {'settling β':>10} {'final β':>8}")
    irreducible: dict[str, float] = {}
    for path in sorted(folder.glob("runs/*/result.json")):
        record = json.loads(path.read_text())
        bias_penalty = _kendall_log_spread_penalty(record)
        if bias_penalty is None or not record.get("trajectory"):
            continue
        budget = record["budget"]
        likelihood = str(record.get("options", {}).get("likelihood", "bernoulli"))
        options = budget.get("dataset_options", {})
        key = json.dumps([budget["dataset"], options, likelihood], sort_keys=True)
        if key not in irreducible:
            irreducible[key] = mean_irreducible(
                budget["dataset"], options, likelihood, irreducible_images
            )
        last = record["trajectory"][-tail:]
        recon = sum(point["recon_loss"] for point in last) / len(last)
        kl = sum(point["kl"] for point in last) / len(last)
        entropy = irreducible[key]
        recon_seen = max(recon - entropy, 0.0)
        if kl <= 0 or bias_penalty == 0:
            settling = recon_seen / kl if kl > 0 else math.inf
        else:
            settling = settling_beta(recon_seen, kl, bias_penalty)
        final = float(record["trajectory"][-1]["beta"])
        print(
            f"{path.parent.name:<60} {bias_penalty:5.2f} {recon:7.1f} {entropy:7.1f} {kl:6.1f} "
            f"{settling:10.3g} {final:8.3g}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--bias-penalty", type=float, default=0.25)
    parser.add_argument("--runs", type=Path, help="a sweep folder: check its finished runs")
    parser.add_argument("--tail", type=int, default=10, help="records averaged (with --runs)")
    parser.add_argument(
        "--irreducible-images",
        type=int,
        default=5000,
        help="images of a run's dataset that estimate the reconstruction's irreducible part",
    )
    args = parser.parse_args()
    if args.runs is not None:
        check_runs(args.runs, args.tail, args.irreducible_images)
        return
    report = [s for s in (100, 500, 1000, 2000, 4000, 8000, 16000) if s <= args.steps]
    target = settling_beta(*terms_at(args.steps), args.bias_penalty)
    print(f"settling beta of the final terms (R, KL) = {terms_at(args.steps)}: {target:.3f}")
    print(f"{'lr':>8} {'beta2':>6} " + " ".join(f"{'@' + str(s):>7}" for s in report))
    for lr in (5e-4, 5e-3, 5e-2):
        for beta2 in (0.999, 0.99, 0.9):
            betas = replay(lr, beta2, args.steps, args.bias_penalty, report)
            print(f"{lr:8.0e} {beta2:6.3f} " + " ".join(f"{b:7.3f}" for b in betas))


if __name__ == "__main__":
    main()
