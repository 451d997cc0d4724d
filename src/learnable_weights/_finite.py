"""Checks that loss terms are finite, without a host-device synchronisation on accelerators.

On the CPU the check is immediate. On an accelerator, reading a flag back to the host would stall
the training step until the device catches up, so the flags are copied into pinned host memory
asynchronously and read at the *next* call, once the copy is known to have finished (a recorded
event that has completed). A non-finite term is then reported one call late, naming the call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """A loss term was NaN or infinite."""


class FiniteGuard:
    """Raises `NonFiniteLossError` when a checked vector holds NaN or inf.

    Args:
        names: one name per checked element, used in the error message.
        what: a noun for the checked values, e.g. ``"loss term"``.
    """

    def __init__(self, names: Sequence[str], what: str = "loss term") -> None:
        self._names = tuple(names)
        self._what = what
        self._calls = 0
        self._pending: tuple[Tensor, torch.cuda.Event, int] | None = None

    def check(self, values: Tensor) -> None:
        """Checks ``values`` of shape ``(len(names),)``; may raise for an earlier call on CUDA."""
        self._calls += 1
        if values.device.type != "cuda":
            bad = ~torch.isfinite(values.detach())
            if bool(bad.any()):
                self._raise(bad, values.detach().cpu(), self._calls, late=False)
            return
        self._collect()
        finite = torch.isfinite(values.detach())
        host = torch.empty(finite.shape, dtype=torch.bool, pin_memory=True)
        host.copy_(finite, non_blocking=True)
        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record()
        self._pending = (host, event, self._calls)

    def flush(self) -> None:
        """Waits for any pending accelerator check and raises if it found a non-finite value."""
        if self._pending is not None:
            self._pending[1].synchronize()
        self._collect()

    def _collect(self) -> None:
        if self._pending is None or not self._pending[1].query():  # type: ignore[no-untyped-call]
            return
        host, _, call = self._pending
        self._pending = None
        if not bool(host.all()):
            self._raise(~host, None, call, late=True)

    def _raise(self, bad: Tensor, values: Tensor | None, call: int, late: bool) -> None:
        flags = bad.reshape(-1).tolist()
        shown = [
            f"{name}={values.reshape(-1)[i].item()}" if values is not None else name
            for i, (name, is_bad) in enumerate(zip(self._names, flags, strict=True))
            if is_bad
        ]
        when = f"call {call}" + (
            " (detected at the next call, to avoid a device sync)" if late else ""
        )
        raise NonFiniteLossError(
            f"non-finite {self._what} at {when}: {', '.join(shown)}. Check the inputs and the "
            "learning rate, or lower the term's scale; pass check_finite=False to skip this check."
        )
