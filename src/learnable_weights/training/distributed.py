r"""Data-parallel training under ``torchrun``: the process group, DDP, and one KL for controllers.

`DistributedContext.from_environment` reads ``torchrun``'s variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``); with a world size above one it joins the process group (NCCL on CUDA, gloo on
the CPU) and each process trains on its own device. The model is wrapped in
``DistributedDataParallel``: gradients are averaged across ranks, so the learned weights of
L-VAE, which are ordinary parameters, stay identical on every rank.

The controllers (ControlVAE, DynamicVAE) and the capacity annealing keep state that advances from
the KL of each batch, and each rank sees a different batch. `share_controller_kl` makes them see
the same KL: a forward pre-hook on the model's weighting replaces the per-dimension KL it
receives by

.. math::

    \mathrm{KL}_\text{shared} = \mathrm{KL}_\text{local}
        + \operatorname{sg}\!\left(\overline{\mathrm{KL}} - \mathrm{KL}_\text{local}\right),

where :math:`\overline{\mathrm{KL}}` is the mean over ranks (one ``all_reduce`` of ``D`` floats,
in training steps only: the state advances only then) and sg stops gradients. Its value is the
mean over ranks, identical everywhere, so the controllers' buffers evolve identically; its
gradient is the local KL's, so DDP's gradient average is the gradient of the mean objective, as
without the hook.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.hooks import RemovableHandle

from learnable_weights.weighting import ScheduledWeighting

__all__ = ["DistributedContext", "share_controller_kl"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, the world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and shows progress."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: str | torch.device | None = None) -> DistributedContext:
        """Joins the process group ``torchrun`` describes, if any.

        Args:
            device: ``"cuda"``, ``"cpu"`` or a specific device; default CUDA when available.
                Under ``torchrun`` with CUDA, process ``LOCAL_RANK`` uses ``cuda:LOCAL_RANK``.
        """
        chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(device=chosen)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if chosen.type == "cuda":
            chosen = torch.device("cuda", local_rank)
            torch.cuda.set_device(chosen)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``DistributedDataParallel(model)`` when distributed, else ``model``."""
        if not self.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def gather(self, value: Any) -> list[Any]:
        """``value`` from every rank, in rank order (on every rank)."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self) -> None:
        """Waits until every rank has reached this point.

        On gloo this is ``monitored_barrier``, not ``barrier``: gloo's barrier keeps the work
        still in flight when it was queued (the ``all_gather_object`` of a checkpoint, say), and
        whichever worker thread drops the last barrier frees that work's tensors, which needs
        the GIL. If that happens while the interpreter shuts down, the thread cannot take the
        GIL and the process aborts ("terminate called without an active exception"; 2 torchruns
        in 150 on our CPU, ``benchmarks/torchrun_exit.py``). ``monitored_barrier`` exchanges
        point-to-point messages on tensors it makes itself and holds nothing else.
        """
        if not self.enabled:
            return
        if dist.get_backend() == dist.Backend.GLOO:
            dist.monitored_barrier()
        else:
            dist.barrier()

    def close(self) -> None:
        """Leaves the process group (after a barrier, so no peer is still talking to us)."""
        if self.enabled and dist.is_initialized():
            self.barrier()
            dist.destroy_process_group()


def share_controller_kl(model: nn.Module, context: DistributedContext) -> RemovableHandle | None:
    """Makes a stateful weighting (controller, annealing) see the KL averaged over ranks.

    ``model`` is an `LVAE` (not the DDP wrapper). Returns the hook's handle, or ``None`` when
    nothing needs sharing (one process, or a weighting without state such as L-VAE's).
    """
    weighting = getattr(model, "weighting", None)
    if not context.enabled or not isinstance(weighting, ScheduledWeighting):
        return None
    return weighting.register_forward_pre_hook(_mean_over_ranks(context.world_size))


def _mean_over_ranks(world_size: int) -> Callable[[nn.Module, tuple[Any, ...]], tuple[Any, ...]]:
    def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if not (module.training and torch.is_grad_enabled()):
            return args  # evaluation on one rank: no collective, the state does not advance
        recon, kl_per_dim = args
        local = kl_per_dim.detach()
        mean = local.clone()
        dist.all_reduce(mean)
        mean.div_(world_size)
        return recon, kl_per_dim + (mean - local)

    return hook
