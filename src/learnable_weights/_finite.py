"""Checks on loss terms and targets that cost no host-device synchronisation on accelerators.

On the CPU a check is immediate. On an accelerator, reading a flag back to the host would stall
the training step until the device catches up, so the flags (and the values the message shows) are
copied into pinned host memory asynchronously and read at the *next* call, once the copy is known
to have finished (a recorded event that has completed). A failure is then reported one call late,
naming the call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """A loss term was NaN or infinite."""


class NegativeLossTermError(ValueError):
    """A loss term given to learned (uncertainty) weighting was negative."""


Report = Callable[[list[int], list[float], str], Exception]
"""Builds the error from the per-element codes (0 = fine), the shown values and when it happened."""


class DeferredCheck:
    """Raises the error ``report`` builds when a device-side check flags an element.

    ``check(codes, values)`` takes ``codes``, an integer vector that is 0 where all is well, and
    ``values``, a float vector of the same length shown in the message. On the CPU it raises at
    once; on CUDA it raises at the next call (or at `flush`).
    """

    def __init__(self, report: Report) -> None:
        self._report = report
        self._calls = 0
        self._pending: tuple[Tensor, Tensor, torch.cuda.Event, int] | None = None

    def check(self, codes: Tensor, values: Tensor) -> None:
        """Checks one call's ``codes`` ``(n,)``; may raise for an earlier call on CUDA."""
        self._calls += 1
        codes, values = codes.detach().reshape(-1), values.detach().reshape(-1)
        if codes.device.type != "cuda":
            if bool(codes.any()):
                self._raise(codes.tolist(), values.double().tolist(), self._calls, late=False)
            return
        self._collect()
        host_codes = torch.empty(codes.shape, dtype=torch.int8, pin_memory=True)
        host_codes.copy_(codes.to(torch.int8), non_blocking=True)
        host_values = torch.empty(values.shape, dtype=torch.float64, pin_memory=True)
        host_values.copy_(values.double(), non_blocking=True)
        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record()
        self._pending = (host_codes, host_values, event, self._calls)

    def flush(self) -> None:
        """Waits for any pending accelerator check and raises if it flagged an element."""
        if self._pending is not None:
            self._pending[2].synchronize()
        self._collect()

    def _collect(self) -> None:
        if self._pending is None or not self._pending[2].query():  # type: ignore[no-untyped-call]
            return
        codes, values, _, call = self._pending
        self._pending = None
        if bool(codes.any()):
            self._raise(codes.tolist(), values.tolist(), call, late=True)

    def _raise(self, codes: list[int], values: list[float], call: int, late: bool) -> None:
        when = f"call {call}" + (
            " (detected at the next call, to avoid a device sync)" if late else ""
        )
        raise self._report(codes, values, when)


NON_FINITE, NEGATIVE = 1, 2


class TermGuard:
    """Raises when a loss term is NaN or inf, or negative unless negative terms are allowed.

    Args:
        names: one name per checked element, used in the error message.
        check_finite: flag NaN and inf (`NonFiniteLossError`).
        allow_negative: do not flag negative values (else `NegativeLossTermError`).
    """

    def __init__(self, names: Sequence[str], *, check_finite: bool, allow_negative: bool) -> None:
        self._names = tuple(names)
        self.check_finite = check_finite
        self.allow_negative = allow_negative
        self._deferred = DeferredCheck(self._error)

    @property
    def active(self) -> bool:
        """Whether any check is on."""
        return self.check_finite or not self.allow_negative

    def check(self, values: Tensor) -> None:
        """Checks ``values`` of shape ``(len(names),)``; may raise for an earlier call on CUDA."""
        values = values.detach()
        codes = torch.zeros(values.shape, dtype=torch.int8, device=values.device)
        if not self.allow_negative:
            # -inf is left to the finiteness check (check_finite=False lets it through)
            codes = torch.where((values < 0) & torch.isfinite(values), NEGATIVE, codes)
        if self.check_finite:
            codes = torch.where(torch.isfinite(values), codes, NON_FINITE)
        self._deferred.check(codes, values)

    def flush(self) -> None:
        """Raises now for any pending (deferred, CUDA) check."""
        self._deferred.flush()

    def _error(self, codes: list[int], values: list[float], when: str) -> Exception:
        def shown(code: int) -> str:
            return ", ".join(
                f"{name}={value:.6g}"
                for name, value, c in zip(self._names, values, codes, strict=True)
                if c == code
            )

        if NON_FINITE in codes:
            return NonFiniteLossError(
                f"non-finite loss term at {when}: {shown(NON_FINITE)}. Check the inputs and the "
                "learning rate, or lower the term's scale; pass check_finite=False to skip this "
                "check."
            )
        return NegativeLossTermError(
            f"negative loss term at {when}: {shown(NEGATIVE)}. Uncertainty weighting is defined "
            "for non-negative terms: a weight settles where e^s equals its term, so a term at or "
            "below zero drives its weight to the bound and the total towards -inf. Give a "
            "non-negative form of the term (a squared error rather than a Gaussian negative "
            "log-likelihood with a learned or fitted variance; or subtract the term's known "
            "minimum), or pass allow_negative_terms=True if you shift the terms yourself."
        )
