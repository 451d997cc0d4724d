"""Why σ-VAE collapses on dSprites: its Gaussian on ``sigmoid(logits)`` saturates the decoder.

σ-VAE (Rybkin et al. 2021; reference: orybkin/sigma-vae-pytorch, whose decoder also ends in a
sigmoid) models a pixel as N(sigmoid(l), σ²) with σ² the batch's mean squared error. The
gradient of its negative log-likelihood with respect to a logit is

    ∂/∂l [½((x − s)/σ)² + ln σ] = (s − x)/σ² · s(1 − s),      s = sigmoid(l),

which carries the factor s(1 − s): once a logit is far from 0 the pixel stops teaching the
decoder, whatever its error. Bernoulli's gradient, s − x, has no such factor. dSprites is
about 96 % black, so the first steps push every logit down; if a sprite pixel's logit goes far
below 0 before the decoder has learnt where sprites are, the error on it is invisible, the
reconstruction term stops pulling on the code and the KL term pulls the posterior onto the prior.

This script trains the reference networks (latent 10, batch 64, Adam) on procedural dSprites
(or colour dSprites) for a few hundred steps under several setups and prints, at chosen steps:
the mean logit on sprite pixels (target above 0.5: 1 on binary dSprites, the tint in [0.5, 1)
on colour dSprites) and on background pixels, the mean gate s(1 − s) on sprite pixels (for the
identity link: the fraction of sprite pixels whose output is above 0.5 instead), σ-VAE's ln σ,
the KL and the per-pixel MSE of the reconstruction in data space. Setups: ``sigma-vae`` at the
study's learning rate (5e-4) and at 1e-4, σ-VAE with a learned σ (``sigma-learned``, σ = 1 at
the start), σ-VAE whose Gaussian mean is the decoder output itself
(``sigma-optimal-identity``), and the plain VAE (Bernoulli) as the control. About four minutes
on one CPU core:

    python benchmarks/sigma_vae_saturation.py [--steps 400] [--dataset procedural-dsprites]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from learnable_weights import data, models
from learnable_weights.nets import reference_networks


@dataclass(frozen=True)
class Setup:
    label: str
    model: str
    likelihood: str | None
    lr: float


SETUPS = (
    Setup("sigma-vae, lr 5e-4 (the study)", "sigma-vae", None, 5e-4),
    Setup("sigma-vae, lr 1e-4", "sigma-vae", None, 1e-4),
    Setup("sigma-vae, learned σ, lr 5e-4", "sigma-vae", "sigma-learned", 5e-4),
    Setup("sigma-vae, identity link, lr 5e-4", "sigma-vae", "sigma-optimal-identity", 5e-4),
    Setup("vae (Bernoulli), lr 5e-4", "vae", None, 5e-4),
)


def run(
    setup: Setup, dataset: data.GroundTruthDataset, steps: int, report: set[int], seed: int
) -> None:
    torch.manual_seed(seed)
    channels = int(dataset.observation_shape[0])
    encoder, decoder = reference_networks(channels, 10)
    model = models.build(setup.model, encoder, decoder, latent_dim=10, likelihood=setup.likelihood)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr)
    random_state = np.random.RandomState(seed)
    print(f"\n{setup.label}")
    header = "fg > 0.5" if setup.likelihood == "sigma-optimal-identity" else "gate fg"
    print(
        f"{'step':>5} {'logit fg':>9} {'logit bg':>9} {header:>9} {'ln σ':>7} {'KL':>7} {'MSE':>8}"
    )
    for step in range(1, steps + 1):
        x = dataset.sample_observations(64, random_state)
        out = model(x)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        if step in report:
            with torch.no_grad():
                logits = model.decoder(out.z)
                foreground = x > 0.5
                mean = model.likelihood.mean(logits)
                if setup.likelihood == "sigma-optimal-identity":
                    gate = (logits[foreground] > 0.5).float().mean()
                else:
                    gate = (mean * (1 - mean))[foreground].mean()
                log_sigma = out.extras.get("log_sigma", torch.tensor(float("nan")))
                mse = (mean - x).square().mean()
            print(
                f"{step:>5} {logits[foreground].mean().item():>9.2f} "
                f"{logits[~foreground].mean().item():>9.2f} {gate.item():>9.2e} "
                f"{log_sigma.item():>7.2f} {out.kl.item():>7.2f} {mse.item():>8.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--dataset", default="procedural-dsprites")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = data.load(args.dataset)
    if not isinstance(dataset, data.GroundTruthDataset):
        parser.error(f"{args.dataset} is not a ground-truth dataset (e.g. procedural-dsprites)")
    report = {s for s in (1, 5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560) if s <= args.steps}
    report.add(args.steps)
    start = time.perf_counter()
    for setup in SETUPS:
        run(setup, dataset, args.steps, report, args.seed)
    print(f"\n{time.perf_counter() - start:.0f} s, {args.dataset}, seed {args.seed}")


if __name__ == "__main__":
    main()
