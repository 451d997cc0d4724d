"""What a run reports: on-device running sums, JSON-lines records, TensorBoard, a progress bar.

`StepStatistics` adds each step's ``VAEOutput`` scalars to sums kept on the device and reads them
back once per logging interval, so logging costs one host-device synchronisation per
``log_every`` steps. A record (one JSON line, one entry of the run's history) holds:

- ``step`` (int);
- ``loss``, ``recon_loss``, ``kl`` (floats) and ``kl_per_dim`` (``latent_dim`` floats): means
  over the steps since the previous record;
- ``beta`` (a float; a list of floats for a per-dimension weighting such as mdL-VAE) and
  ``weights`` (the reconstruction weight, then the KL weight(s)): the values applied at ``step``;
- ``learned_weights``, for a model with learned weights (`LearnedWeighting.learned_weights`):
  the learned weights themselves after ``step``, which differ from ``weights`` when the network
  minimises R + β·KL (``weights`` are then 1 and β);
- anything the loop adds (``lr``, ``images_per_s``, ``time``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from learnable_weights.vae import VAEOutput

__all__ = ["JsonLinesLog", "ProgressBar", "StepStatistics", "TensorBoardLog", "format_postfix"]

_SCALARS = ("loss", "recon_loss", "kl")


class StepStatistics:
    """Running sums of the logged quantities, on the device until :meth:`record` is called."""

    def __init__(self) -> None:
        self._sums: torch.Tensor | None = None  # (3 + D,): loss, recon, kl, kl_per_dim
        self._count = 0
        self._beta: torch.Tensor | None = None
        self._weights: torch.Tensor | None = None

    def add(self, out: VAEOutput) -> None:
        """Adds one step's output (no synchronisation)."""
        values = torch.cat(
            [
                torch.stack([out.loss.detach(), out.recon_loss.detach(), out.kl.detach()]).float(),
                out.kl_per_dim.detach().float(),
            ]
        )
        self._sums = values if self._sums is None else self._sums + values
        self._count += 1
        self._beta, self._weights = out.beta, out.weights

    @property
    def count(self) -> int:
        """Steps added since the last record."""
        return self._count

    def record(self, step: int, learned_weights: torch.Tensor | None = None) -> dict[str, Any]:
        """The means since the last record and the current β and weights (and ``learned_weights``
        ``(1 + K,)``, if given, on the same device); then resets."""
        if self._sums is None or self._beta is None or self._weights is None:
            raise RuntimeError("no step was added since the last record")
        learned = [] if learned_weights is None else [learned_weights.detach().float().reshape(-1)]
        packed = torch.cat(
            [
                self._sums / self._count,
                self._beta.float().reshape(-1),
                self._weights.float(),
                *learned,
            ]
        ).tolist()  # the one host-device synchronisation
        dims = self._sums.numel() - len(_SCALARS)
        betas = self._beta.numel()
        record: dict[str, Any] = {"step": step}
        record.update(zip(_SCALARS, packed[: len(_SCALARS)], strict=True))
        record["kl_per_dim"] = packed[len(_SCALARS) : len(_SCALARS) + dims]
        beta = packed[len(_SCALARS) + dims : len(_SCALARS) + dims + betas]
        record["beta"] = beta[0] if self._beta.dim() == 0 else beta
        start = len(_SCALARS) + dims + betas
        record["weights"] = packed[start : start + self._weights.numel()]
        if learned_weights is not None:
            record["learned_weights"] = packed[start + self._weights.numel() :]
        self.reset()
        return record

    def reset(self) -> None:
        self._sums, self._count, self._beta, self._weights = None, 0, None, None

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self._sums, "count": self._count, "beta": self._beta,
                "weights": self._weights}  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._sums, self._count = state["sums"], int(state["count"])
        self._beta, self._weights = state["beta"], state["weights"]


class JsonLinesLog:
    """Appends records to a ``.jsonl`` file, one JSON object per line, flushed each time."""

    def __init__(self, path: Path, history: Sequence[Mapping[str, Any]] = ()) -> None:
        """Opens ``path``, rewriting it to hold exactly ``history`` (the records of a resumed
        run up to its checkpoint; later lines of a run killed after it are dropped)."""
        self.path = path
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as stream:
            for record in history:
                stream.write(_json_line(record))
        temporary.replace(path)
        self._stream: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def write(self, record: Mapping[str, Any]) -> None:
        self._stream.write(_json_line(record))
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


def _json_line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, allow_nan=True) + "\n"


class TensorBoardLog:
    """Every scalar of each record under ``train/``, evaluations under ``eval/``.

    Built by :meth:`create`, which returns ``None`` when TensorBoard is not installed.
    """

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    @classmethod
    def create(cls, folder: Path, purge_step: int | None = None) -> TensorBoardLog | None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the "examples" extra is not installed
            return None
        return cls(SummaryWriter(str(folder), purge_step=purge_step))

    def write(self, record: Mapping[str, Any], prefix: str = "train") -> None:
        step = int(record["step"])
        for key, value in record.items():
            if key == "step":
                continue
            if isinstance(value, list):
                for index, item in enumerate(value):
                    self._writer.add_scalar(f"{prefix}/{key}/{index}", item, step)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(f"{prefix}/{key}", value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def format_postfix(record: Mapping[str, Any]) -> str:
    """``loss … R … KL … w … β …`` for a progress bar."""

    def short(value: Any) -> str:
        if isinstance(value, list):
            if len(value) > 3:
                return f"[{short(min(value))}..{short(max(value))}]"
            return "[" + ",".join(short(v) for v in value) + "]"
        return f"{value:.4g}" if math.isfinite(value) else str(value)

    return (
        f"loss {short(record['loss'])} R {short(record['recon_loss'])} "
        f"KL {short(record['kl'])} w {short(record['weights'])} β {short(record['beta'])}"
    )


class ProgressBar:
    """A tqdm bar over the steps (a line per record on stderr when tqdm is not installed)."""

    def __init__(self, total: int, initial: int, enabled: bool, stream: TextIO | None = None):
        self._enabled = enabled
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(
            total=total, initial=initial, unit="step", dynamic_ncols=True, file=self._stream
        )

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def show(self, record: Mapping[str, Any]) -> None:
        if not self._enabled:
            return
        text = format_postfix(record)
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
        else:
            print(f"step {record['step']}: {text}", file=self._stream, flush=True)

    def write(self, message: str) -> None:
        """A line that does not break the bar."""
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.write(message, file=self._stream)
        else:
            print(message, file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
