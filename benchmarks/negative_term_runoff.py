"""What a negative term does to learned weights: L-VAE with the σ-VAE likelihood, check disabled.

`LVAE` refuses learned weights with a likelihood that can be negative (docs/objective.md, "The terms
must be non-negative"). This script shows why: it builds the refused combination anyway through
the documented opt-out (``allow_negative_terms=True``), trains the reference 64x64 networks on
procedural dSprites (batch 64, Adam; the weights at their own learning rate, 0.05 by default, so
that they move within a few hundred steps: Adam moves a parameter by about its learning rate per
step) and prints the reconstruction term, its log-variance, β and
the loss as they run off.

    python benchmarks/negative_term_runoff.py [--steps 600] [--lr 5e-4] [--weighting-lr 0.05]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from learnable_weights import LVAE, LearnableWeightedLoss, data, parameter_groups
from learnable_weights.nets import reference_networks
from learnable_weights.weighting import LearnedWeighting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--weighting-lr", type=float, default=0.05)
    parser.add_argument("--likelihood", default="sigma-optimal")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    dataset = data.load("procedural-dsprites")
    assert isinstance(dataset, data.GroundTruthDataset)
    random_state = np.random.RandomState(args.seed)
    loss = LearnableWeightedLoss(names=("recon", "kl"), allow_negative_terms=True)
    model = LVAE(
        *reference_networks(1, 10), 10, likelihood=args.likelihood, weighting=LearnedWeighting(loss)
    )
    groups = parameter_groups(model, weighting_lr=args.weighting_lr)
    optimizer = torch.optim.Adam(groups, lr=args.lr)
    print(f"{'step':>5} {'R':>10} {'s_R':>7} {'beta':>10} {'loss':>12}")
    for step in range(1, args.steps + 1):
        _, images = dataset.sample(64, random_state)
        out = model(torch.as_tensor(images))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        if step in (1, 25, 50, 100) or step % 100 == 0:
            s_recon = loss.log_variances[0].clamp(-30, 30).item()
            print(
                f"{step:5d} {out.recon_loss.item():10.1f} {s_recon:7.2f} "
                f"{out.beta.item():10.3g} {out.loss.item():12.4g}"
            )


if __name__ == "__main__":
    main()
