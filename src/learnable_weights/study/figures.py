"""The figure of a sweep: the β each model applied over training, mean over seeds."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_beta_trajectories"]


def plot_beta_trajectories(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """One line per label: β against the training step, averaged over the label's seeds (the
    shaded band spans their minimum to maximum). Log scale, as β ranges from 1e-3 to 1e3 across
    models. mdL-VAE's per-dimension β is shown as its geometric mean. Written atomically (PNG).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'the β figure needs matplotlib: pip install "learnable-weights[examples]"'
        ) from error
    from learnable_weights.study.results import write_bytes_atomic

    by_label: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for record in records:
        trajectory = record.get("trajectory") or []
        if not trajectory:
            continue
        steps = np.array([point["step"] for point in trajectory], dtype=float)
        betas = np.array([_geometric_mean(point["beta"]) for point in trajectory], dtype=float)
        by_label.setdefault(str(record["label"]), []).append((steps, betas))
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for label, runs in by_label.items():
        length = min(len(steps) for steps, _ in runs)
        steps = runs[0][0][:length]
        stacked = np.stack([betas[:length] for _, betas in runs])
        mean = np.exp(np.log(np.clip(stacked, 1e-12, None)).mean(axis=0))
        seeds = f"{len(runs)} seed" + ("s" if len(runs) > 1 else "")
        (line,) = axes.plot(steps, mean, label=f"{label} ({seeds})")
        if len(runs) > 1:
            axes.fill_between(
                steps, stacked.min(axis=0), stacked.max(axis=0), color=line.get_color(), alpha=0.2
            )
    axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel("β = KL weight / reconstruction weight")
    axes.set_title("β applied over training (geometric mean over seeds; band: min–max)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _geometric_mean(beta: float | Sequence[float]) -> float:
    values = np.atleast_1d(np.asarray(beta, dtype=float))
    return float(np.exp(np.log(np.clip(values, 1e-12, None)).mean()))
