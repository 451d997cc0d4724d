"""Training throughput: our loop against a bare hand-written loop and a DataLoader loop.

All three train the same model (`models.build(--model)` around the reference 64x64 networks,
seeded alike), batch 64, Adam lr 1e-4, on the same data: procedural dSprites written once as an
npz file in the official layout (``--npz-dir``) and read with the real dSprites loader.

- **ours**: `learnable_weights.training.train` with `SamplerBatches` (the dataset bit-packed on
  the device, one gather per batch), logging at its default cadence (``log_every=100``:
  JSON lines and TensorBoard into a temporary folder), no progress bar, checkpoints only at the
  end (not timed: `TrainResult.images_per_s` excludes them).
- **bare**: the floor: a hand-written loop (forward, zero_grad, backward, step) over batches
  drawn beforehand from the same sampler and kept on the device.
- **dataloader**: the original codes' loop: ``DataLoader(dataset, batch_size, shuffle=True,
  num_workers=--workers, drop_last=True, pin_memory on CUDA)`` over the file, each batch moved to
  the device.

They run ``--rounds`` times in rotating order (``--steps`` steps each, every round timed from its
first step, a fresh model each time; the DataLoader's worker start-up is inside its time, as in the
original codes' epochs; our sampler's one-time copy of the dataset is not), so all see the same
machine state; the script prints each one's median images/s and
the ratios of the medians. Goals on a 2-core CPU: ours >= 0.97 of bare and >= dataloader; on a GPU,
ours >= 5x dataloader. ``--compile`` adds our loop with ``torch.compile``.

    python benchmarks/throughput.py [--steps 200] [--rounds 3] [--device cpu] [--compile]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from learnable_weights import LVAE, models
from learnable_weights.data import DSprites, ProceduralDSprites
from learnable_weights.nets import reference_networks
from learnable_weights.training import SamplerBatches, TrainConfig, train

BATCH = 64


def dataset_file(directory: Path) -> DSprites:
    path = directory / "procedural_dsprites_64x64.npz"
    if not path.exists():
        print(f"writing {path} (once)", flush=True)
        ProceduralDSprites().write_npz(directory, compress=False)
    return DSprites(file=path, download=False)


def fresh_model(name: str, device: torch.device) -> LVAE:
    torch.manual_seed(0)
    return models.build(name, *reference_networks(1, 10), latent_dim=10).to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(name: str, batches: list[torch.Tensor], device: torch.device) -> Callable[[], float]:
    def run() -> float:
        model = fresh_model(name, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        synchronize(device)
        start = time.perf_counter()
        for x in batches:
            out = model(x)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
        synchronize(device)
        return len(batches) * BATCH / (time.perf_counter() - start)

    return run


def dataloader_loop(
    name: str, dataset: DSprites, steps: int, device: torch.device, workers: int
) -> Callable[[], float]:
    def run() -> float:
        model = fresh_model(name, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        loader = DataLoader(
            dataset, batch_size=BATCH, shuffle=True, num_workers=workers, drop_last=True,
            pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        synchronize(device)
        start = time.perf_counter()
        for step, (x, _) in enumerate(loader, start=1):
            out = model(x.to(device, non_blocking=True))
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            if step == steps:
                break
        synchronize(device)
        return steps * BATCH / (time.perf_counter() - start)

    return run


def our_loop(
    name: str, batches: SamplerBatches, steps: int, device: torch.device, compile_: bool
) -> Callable[[], float]:
    def run() -> float:
        model = fresh_model(name, device)
        config = TrainConfig(steps=steps, batch_size=BATCH, checkpoint_every=0, compile=compile_)
        with tempfile.TemporaryDirectory() as folder:
            result = train(model, batches, config, out_dir=Path(folder), progress=False)
        return result.images_per_s

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="l-vae", choices=models.available())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--compile", action="store_true", help="also time our loop compiled")
    parser.add_argument(
        "--npz-dir", default=os.path.join(tempfile.gettempdir(), "learnable-weights-benchmarks")
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    dataset = dataset_file(Path(args.npz_dir))
    sampler = SamplerBatches(dataset, BATCH, device=device, seed=0)  # built once, reused
    premade = [sampler.next_batch() for _ in range(args.steps)]

    loops: dict[str, Callable[[], float]] = {
        "ours": our_loop(args.model, sampler, args.steps, device, compile_=False),
        "bare": bare_loop(args.model, premade, device),
        "dataloader": dataloader_loop(args.model, dataset, args.steps, device, args.workers),
    }
    if args.compile:
        loops["ours --compile"] = our_loop(args.model, sampler, args.steps, device, True)
    print(
        f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, "
        f"device {device}{' ' + torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}; "
        f"model {args.model}, batch {BATCH}, {args.steps} steps x {args.rounds} rounds",
        flush=True,
    )
    rates: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            rates[name].append(loops[name]())
            print(f"round {round_ + 1} {name:>15}: {rates[name][-1]:8.1f} images/s", flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print("\nmedian images/s: " + ", ".join(f"{n} {v:.1f}" for n, v in medians.items()))
    print(f"ours / bare:       {medians['ours'] / medians['bare']:.3f}   (goal >= 0.97)")
    print(
        f"ours / dataloader: {medians['ours'] / medians['dataloader']:.3f}   (goal >= 1; GPU >= 5)"
    )
    if args.compile:
        print(f"compiled / ours:   {medians['ours --compile'] / medians['ours']:.3f}")


if __name__ == "__main__":
    main()
