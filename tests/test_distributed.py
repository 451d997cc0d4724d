"""Under DDP (two CPU processes, gloo) the learnable weights are averaged like any parameter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from learnable_weights import LVAE

    rank, init_file, out_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 8))
    decoder = nn.Sequential(nn.Linear(4, 16), nn.Unflatten(1, (1, 4, 4)))
    model = DistributedDataParallel(LVAE(encoder, decoder, latent_dim=4))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    torch.manual_seed(100 + rank)  # each rank sees different data and noise
    data = (torch.rand(32, 1, 4, 4) > (0.3 + 0.4 * rank)).float()
    for _ in range(5):
        out = model(data)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    torch.save(model.module.weighting.loss.log_variances.detach(), out_file)
    dist.barrier()  # neither rank tears gloo down while its peer still talks to it
    dist.destroy_process_group()
    """
)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_log_variances_stay_identical_across_ranks(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    outputs = [tmp_path / f"rank{r}.pt" for r in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(r), str(tmp_path / "init"), str(outputs[r])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(2)
    ]
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output.decode()
    rank0, rank1 = (torch.load(path) for path in outputs)
    assert torch.equal(rank0, rank1)
    assert not torch.equal(rank0, torch.zeros(2))  # they did learn
