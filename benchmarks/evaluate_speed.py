"""A full ``evaluate`` at the study's sizes with the code cache on and off, in one run.

The model is an untrained ``l-vae`` around the reference 64x64 encoder and decoder
(``learnable_weights.nets.reference_networks``, ``learnable_weights.models.build``, weights from
``torch.manual_seed(--model-seed)``), evaluated on ``ProceduralDSprites`` (procedural data rendered
by this library, not the real dSprites files) with every default setting and ``--seed``. For each
of ``cache=True`` and ``cache=False`` (in ``--order``) the script runs

1. ``evaluate(dataset, model, seed=seed, cache=...)``: every metric, DCI in its exact mode;
2. ``evaluate(..., metrics=["mig", "dci"], settings={"dci": {"mode": "fast"}})``: DCI's fast mode
   on the same sampled sets (their drawing and encoding is charged to MIG, so DCI's time is the
   forest alone).

It prints each metric's seconds with the cache off and on and their ratio, the totals with DCI's
exact mode and with its fast mode (the first run's total with DCI's exact time replaced by the
second run's fast time; the other metrics do not depend on DCI's mode), the observations the
encoder saw, and checks that every score of the two paths is equal. The load average is printed
before and after each run: the times are only comparable on an otherwise idle machine.

    python benchmarks/evaluate_speed.py                       # the study's sizes (~20 min, 2 cores)
    python benchmarks/evaluate_speed.py --fraction 0.05       # a quick check at 5% of the points
    python benchmarks/evaluate_speed.py --threads 2 --output results.json

Run from the repository root with the metrics extra installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learnable_weights import models
from learnable_weights.data import ProceduralDSprites
from learnable_weights.metrics import Evaluation, evaluate
from learnable_weights.metrics.evaluate import DEFAULT_METRICS, STUDY_SETTINGS
from learnable_weights.nets import reference_networks


def scaled_settings(fraction: float) -> dict[str, dict[str, Any]]:
    """The study's settings with every point count (``num_*``) times ``fraction``; the sampled
    sets keep at least 2000 points, so that every class of every factor is in each."""

    def scaled(name: str, key: str, value: Any) -> Any:
        if not key.startswith("num_"):
            return value
        floor = 2 if name in ("beta_vae", "factor_vae") else 2000
        return max(floor, round(value * fraction))

    return {
        name: {key: scaled(name, key, value) for key, value in settings.items()}
        for name, settings in STUDY_SETTINGS.items()
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class EncoderCalls:
    """Counts the observations the encoder sees (a forward pre-hook)."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.observations = 0
        encoder.register_forward_pre_hook(self._count)

    def _count(self, module: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
        self.observations += int(inputs[0].shape[0])


def run(
    label: str,
    model: torch.nn.Module,
    calls: EncoderCalls,
    settings: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    dataset = ProceduralDSprites()
    common: dict[str, Any] = {"seed": args.seed, "cache": label == "cached"}
    common["progress"] = args.progress
    before, load_before = calls.observations, os.getloadavg()[0]
    start = time.perf_counter()
    full = evaluate(dataset, model, settings=settings, **common)
    wall = time.perf_counter() - start
    encoded = calls.observations - before
    fast_settings = {"mig": settings["mig"], "dci": {**settings["dci"], "mode": "fast"}}
    fast = evaluate(dataset, model, metrics=["mig", "dci"], settings=fast_settings, **common)
    load_after = os.getloadavg()[0]
    print(
        f"{label}: {wall:.1f} s, {encoded} observations encoded, load average "
        f"{load_before:.2f} before, {load_after:.2f} after",
        flush=True,
    )
    for name, seconds in full.seconds.items():
        print(f"  {name:<24} {seconds:9.2f} s", flush=True)
    print(f"  {'dci (fast mode)':<24} {fast.seconds['dci']:9.2f} s", flush=True)
    return {
        "full": full,
        "fast": fast,
        "wall": wall,
        "encoded": encoded,
        "load": (load_before, load_after),
    }


def same_scores(first: Evaluation, second: Evaluation) -> list[str]:
    """The keys whose values differ between two evaluations (scalars and arrays)."""
    differ = []
    for name, result in first.scores.items():
        for key, value in result.items():
            other = second.scores[name][key]
            equal = (
                np.array_equal(value, other, equal_nan=True)
                if isinstance(value, np.ndarray)
                else value == other
            )
            if not equal:
                differ.append(f"{name}/{key}")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="evaluate's seed")
    parser.add_argument("--model-seed", type=int, default=0, help="torch seed of the weights")
    parser.add_argument("--fraction", type=float, default=1.0, help="scale every point count")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: its)")
    parser.add_argument(
        "--order", choices=("cached-first", "uncached-first"), default="cached-first"
    )
    parser.add_argument("--progress", action="store_true", help="show evaluate's bars")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, numpy {np.__version__}, Python "
        f"{platform.python_version()}; procedural dSprites, untrained l-vae (reference "
        f"encoder), seed {args.seed}, point counts x{args.fraction}",
        flush=True,
    )
    torch.manual_seed(args.model_seed)
    encoder, decoder = reference_networks(channels=1, latent_dim=10)
    model = models.build("l-vae", encoder, decoder, latent_dim=10)
    calls = EncoderCalls(encoder)
    settings = scaled_settings(args.fraction)
    labels = ("cached", "uncached") if args.order == "cached-first" else ("uncached", "cached")
    results = {label: run(label, model, calls, settings, args) for label in labels}
    cached, uncached = results["cached"], results["uncached"]

    print(f"\n{'metric':<24} {'uncached (s)':>12} {'cached (s)':>11} {'ratio':>7}")
    for name in DEFAULT_METRICS:
        off, on = uncached["full"].seconds[name], cached["full"].seconds[name]
        print(f"{name:<24} {off:12.2f} {on:11.2f} {off / on:6.1f}x")
    off_fast, on_fast = uncached["fast"].seconds["dci"], cached["fast"].seconds["dci"]
    print(f"{'dci (fast mode)':<24} {off_fast:12.2f} {on_fast:11.2f} {off_fast / on_fast:6.1f}x")
    totals = {}
    for label, result in results.items():
        exact = sum(result["full"].seconds.values())
        totals[label] = (
            exact,
            exact - result["full"].seconds["dci"] + result["fast"].seconds["dci"],
        )
    for index, mode in enumerate(("exact", "fast")):
        off, on = totals["uncached"][index], totals["cached"][index]
        print(f"{'total, DCI ' + mode:<24} {off:12.1f} {on:11.1f} {off / on:6.2f}x")
    print(
        f"observations encoded: {uncached['encoded']} uncached, {cached['encoded']} cached "
        f"({uncached['encoded'] / max(cached['encoded'], 1):.2f}x fewer)"
    )
    differ = same_scores(cached["full"], uncached["full"]) + same_scores(
        cached["fast"], uncached["fast"]
    )
    print("scores: " + ("all equal" if not differ else "DIFFER in " + ", ".join(differ)))
    headline = cached["full"].headline()
    print("headline: " + ", ".join(f"{name} {value:.6f}" for name, value in headline.items()))
    if args.output is not None:
        figures: dict[str, Any] = {
            label: {
                "seconds": result["full"].seconds,
                "dci_fast_seconds": result["fast"].seconds["dci"],
                "wall_seconds": result["wall"],
                "encoded": result["encoded"],
                "load_average": result["load"],
                "totals": {"exact": totals[label][0], "fast": totals[label][1]},
            }
            for label, result in results.items()
        }
        figures["headline"] = headline
        figures["differing_scores"] = differ
        args.output.write_text(json.dumps(figures, indent=2))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
