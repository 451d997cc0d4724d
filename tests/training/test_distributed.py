"""Data-parallel training under torchrun (two CPU processes, gloo): learned weights and controller
state stay identical on every rank, and each rank draws its own share of the data."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TypedDict

import pytest
import torch

HERE = Path(__file__).resolve().parent
WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, sys.argv[3])
    from helpers import procedural_batches, tiny_model
    from learnable_weights.training import DistributedContext, TrainConfig, train
    from learnable_weights.training import distributed

    name, out = sys.argv[1], Path(sys.argv[2])
    share = sys.argv[4] == "share"
    context = DistributedContext.from_environment("cpu")
    if not share:
        distributed.share_controller_kl = lambda model, context: None
        import learnable_weights.training.loop as loop
        loop.share_controller_kl = distributed.share_controller_kl
    batches = procedural_batches(batch_size=8, seed=0)
    batches = type(batches)(
        batches.sampler.dataset, 8, device="cpu", seed=0, storage="render",
        num_replicas=context.world_size, rank=context.rank,
    )
    drawn = []
    original = batches.sampler.batch_at
    def recording(indices):
        drawn.append(indices.clone())
        return original(indices)
    batches.sampler.batch_at = recording
    torch.manual_seed(123 + context.rank)  # different initial weights: DDP must broadcast rank 0's
    model = tiny_model(name, seed=context.rank)
    config = TrainConfig(steps=6, batch_size=8, lr=0.05, log_every=2, checkpoint_every=3)
    result = train(model, batches, config, out_dir=out, context=context, progress=False)
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    torch.save({"state": state, "drawn": torch.cat(drawn)}, out / f"rank{context.rank}.pt")
    context.close()
    """
)


class _RankOutput(TypedDict):
    """What the worker saves for its rank."""

    state: dict[str, torch.Tensor]  # the trained model's state dict
    drawn: torch.Tensor  # the dataset indices of every batch the rank drew, in order


def _torchrun(tmp_path: Path, name: str, mode: str) -> list[_RankOutput]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"{name}-{mode}"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), name, str(out), str(HERE), mode],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return [torch.load(out / f"rank{rank}.pt") for rank in range(2)]


def _assert_identical(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_learned_weights_identical_and_shares_disjoint(tmp_path: Path) -> None:
    rank0, rank1 = _torchrun(tmp_path, "l-vae", "share")
    _assert_identical(rank0["state"], rank1["state"])
    assert not torch.equal(rank0["state"]["weighting.loss.log_variances"], torch.zeros(2))
    first, second = rank0["drawn"], rank1["drawn"]
    assert first.shape == second.shape == (6 * 8,)
    assert not set(first.tolist()) & set(second.tolist())  # one epoch, disjoint shares
    checkpoint = torch.load(
        tmp_path / "l-vae-share" / "checkpoints" / "step-000000006.pt", weights_only=True
    )
    assert [rank["batches"]["rank"] for rank in checkpoint["ranks"]] == [0, 1]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_controllers_see_the_same_kl_on_every_rank(tmp_path: Path) -> None:
    for name in ("controlvae", "dynamicvae"):
        rank0, rank1 = _torchrun(tmp_path, name, "share")
        _assert_identical(rank0["state"], rank1["state"])
        assert rank0["state"]["weighting.step"] == 6
    # Without the shared KL, each rank's controller follows its own batches and drifts apart
    # (so the test above can fail).
    rank0, rank1 = _torchrun(tmp_path, "controlvae", "local")
    assert not torch.equal(
        rank0["state"]["weighting.integral"], rank1["state"]["weighting.integral"]
    )
