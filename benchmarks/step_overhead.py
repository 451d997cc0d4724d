"""Overhead of `LVAE` over a hand-written β-VAE training step with the same networks and data.

Both steps use the reference 64x64 networks (`learnable_weights.nets`), batch 64 of binary
images, the Bernoulli likelihood and Adam. They run interleaved in one process (alternating which
goes first) so that both see the same machine state; the script prints each one's median step time
and the ratio of the medians. Goal: at most 1.03 on CPU.

    python benchmarks/step_overhead.py [--steps 150] [--model l-vae] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from learnable_weights import models
from learnable_weights.nets import reference_networks


def hand_written_step(
    encoder: nn.Module, decoder: nn.Module, optimizer: torch.optim.Optimizer, beta: float
) -> Callable[[torch.Tensor], None]:
    """The textbook β-VAE step (1Konny/ControlVAE style), written out by hand."""

    def step(x: torch.Tensor) -> None:
        stats = encoder(x)
        mu, logvar = stats[:, :10], stats[:, 10:]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp())).sum(1).mean()
        loss = recon + beta * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def library_step(name: str, device: torch.device) -> Callable[[torch.Tensor], None]:
    torch.manual_seed(0)
    model = models.build(name, *reference_networks(1, 10), latent_dim=10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(x: torch.Tensor) -> None:
        out = model(x)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    return step


def timed(step: Callable[[torch.Tensor], None], x: torch.Tensor, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--model", default="l-vae", choices=models.available())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    torch.manual_seed(0)
    encoder, decoder = (net.to(device) for net in reference_networks(1, 10))
    params = [*encoder.parameters(), *decoder.parameters()]
    reference = hand_written_step(encoder, decoder, torch.optim.Adam(params, lr=1e-4), beta=4.0)
    ours = library_step(args.model, device)
    batches = (torch.rand(8, 64, 1, 64, 64, device=device) > 0.9).float()

    times: dict[str, list[float]] = {"hand-written": [], args.model: []}
    steps = {"hand-written": reference, args.model: ours}
    for i in range(args.warmup + args.steps):
        order = list(steps) if i % 2 == 0 else list(reversed(steps))
        for name in order:
            elapsed = timed(steps[name], batches[i % len(batches)], device)
            if i >= args.warmup:
                times[name].append(elapsed)

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"device: {device} ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads), torch {torch.__version__}"
    )
    for name, median in medians.items():
        print(f"{name:>14}: median {median * 1e3:7.2f} ms/step over {args.steps} steps")
    print(f"ratio {args.model} / hand-written: {medians[args.model] / medians['hand-written']:.3f}")


if __name__ == "__main__":
    main()
