"""How often a CPU ``torchrun`` of `learnable_weights.training.train` aborts at exit.

Two processes train a small L-VAE on gloo for six steps with a checkpoint at steps 3 and 6 (each
checkpoint gathers every rank's sampler state with ``all_gather_object``), then call
`DistributedContext.close`. With gloo's plain ``barrier`` in `DistributedContext.barrier` and
`close` (the code before this fix), a barrier keeps the collective still in flight when it was
queued, and the worker thread that drops the last barrier frees that collective's tensors, which
needs the GIL. When that happens while the interpreter shuts down, the process aborts with
"terminate called without an active exception" (a core dump shows
``~AsyncAllgatherWork`` under ``~AsyncBarrierWork`` in ``ProcessGroupGloo::runLoop``, waiting
for the GIL). `DistributedContext` now uses ``monitored_barrier`` on gloo, which holds nothing
but tensors of its own.

The script runs the two variants in turn, ``--runs`` times each, and prints how many of each
aborted. About 6 seconds per ``torchrun`` on a 2-core CPU:

    python benchmarks/torchrun_exit.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import torch
    import torch.distributed as dist
    from torch import nn

    from learnable_weights import models
    from learnable_weights.data import ProceduralDSprites
    from learnable_weights.training import DistributedContext, SamplerBatches, TrainConfig, train

    out, barrier = Path(sys.argv[1]), sys.argv[2]
    if barrier == "plain":  # the code before the fix
        DistributedContext.barrier = lambda self: dist.barrier()
    context = DistributedContext.from_environment("cpu")
    batches = SamplerBatches(
        ProceduralDSprites(), 8, device="cpu", seed=0, storage="render",
        num_replicas=context.world_size, rank=context.rank,
    )
    encoder = nn.Sequential(nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, 6))
    decoder = nn.Sequential(
        nn.Linear(3, 64), nn.Unflatten(1, (1, 8, 8)), nn.Upsample(scale_factor=8)
    )
    model = models.build("l-vae", encoder, decoder, latent_dim=3)
    config = TrainConfig(steps=6, batch_size=8, lr=0.05, log_every=2, checkpoint_every=3)
    train(model, batches, config, out_dir=out, context=context, progress=False)
    context.close()
    """
)
SIGNATURE = "terminate called without an active exception"


def run_once(folder: Path, barrier: str, index: int) -> tuple[int, bool]:
    """One ``torchrun``: its exit status and whether its output shows the abort."""
    out = folder / f"{barrier}-{index}"
    out.mkdir()
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(folder / "worker.py"), str(out), barrier],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False,
    )  # fmt: skip
    return completed.returncode, SIGNATURE in completed.stdout + completed.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="torchruns per variant")
    args = parser.parse_args()
    failures = {"plain": 0, "monitored": 0}
    aborts = dict(failures)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "worker.py").write_text(WORKER)
        for index in range(args.runs):
            for barrier in failures:
                status, aborted = run_once(folder, barrier, index)
                failures[barrier] += status != 0
                aborts[barrier] += aborted
            if (index + 1) % 20 == 0:
                print(f"{index + 1} runs each: {failures}", flush=True)
    print("| barrier | torchruns | failed | of which aborted at exit |")
    print("|---|---|---|---|")
    for barrier, count in failures.items():
        print(f"| {barrier} | {args.runs} | {count} | {aborts[barrier]} |")


if __name__ == "__main__":
    main()
