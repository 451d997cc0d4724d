"""The figure of a sweep: the β each model applied over training, mean over seeds."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learnable_weights._plot_style import OPEN_DASHES, equal_earlier

__all__ = ["BetaCurve", "beta_curves", "plot_beta_trajectories"]


@dataclass(frozen=True)
class BetaCurve:
    """One label's β over training, summarised over its seeds.

    Attributes:
        label: the row's label.
        seeds: how many runs the curve summarises.
        steps: ``(T,)`` training steps (the steps every run logged).
        center: ``(T,)`` the geometric mean over seeds if every β of the label is positive; the
            arithmetic mean if some β is 0 or negative (the annealed VAE's γ·sign(KL − C), whose sign
            is the point, and which a logarithm would erase).
        low: ``(T,)`` the minimum over seeds.
        high: ``(T,)`` the maximum over seeds.
    """

    label: str
    seeds: int
    steps: np.ndarray
    center: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def positive(self) -> bool:
        """Whether every β of every seed is positive (the curve fits a log axis)."""
        return bool((self.low > 0).all())


def beta_curves(records: Sequence[Mapping[str, Any]]) -> list[BetaCurve]:
    """The curves of :func:`plot_beta_trajectories`, one per label in first-seen order.

    Each record is a result file's content (``label`` and ``trajectory``: points with ``step``
    and ``beta``, a number or mdL-VAE's per-dimension list, summarised by its geometric mean).
    Runs of one label are cut to the shortest run's length. Records without a trajectory are
    skipped.
    """
    by_label: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for record in records:
        trajectory = record.get("trajectory") or []
        if not trajectory:
            continue
        steps = np.array([point["step"] for point in trajectory], dtype=float)
        betas = np.array([_geometric_mean(point["beta"]) for point in trajectory], dtype=float)
        by_label.setdefault(str(record["label"]), []).append((steps, betas))
    curves = []
    for label, runs in by_label.items():
        length = min(len(steps) for steps, _ in runs)
        stacked = np.stack([betas[:length] for _, betas in runs])
        if (stacked > 0).all():
            center = np.exp(np.log(stacked).mean(axis=0))
        else:
            center = stacked.mean(axis=0)
        curves.append(
            BetaCurve(
                label=label,
                seeds=len(runs),
                steps=runs[0][0][:length],
                center=center,
                low=stacked.min(axis=0),
                high=stacked.max(axis=0),
            )
        )
    return curves


def _summary(curves: Sequence[BetaCurve], mean: str) -> str:
    """How the curves summarise their seeds, for a title: no mean where every row has one seed
    (table ``unfitted`` of the claim has seed 0 only)."""
    if all(curve.seeds == 1 for curve in curves):
        return "one seed per row"
    return f"{mean} mean over seeds; band: min–max"


def plot_beta_trajectories(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """One line per label: β against the training step, averaged over the label's seeds (the
    shaded band spans their minimum to maximum; :func:`beta_curves`), on a log axis, as β ranges
    from 1e-3 to 1e3 across models. A row that applies a β ≤ 0 (the annealed VAE's
    γ·sign(KL − C), ±1000, whenever its KL is under the target capacity) gets a second panel
    below, on a linear axis, so that its sign flips do not crowd the others' curves. mdL-VAE's
    per-dimension β is shown as its geometric mean. A row whose β curve equals an earlier row's
    is drawn in open dashes over it and named in the legend ("same β as ..."). Written
    atomically (PNG).
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

    curves = beta_curves(records)
    signed = [curve for curve in curves if not curve.positive]
    # the legend goes under the axes, one line per row, so that it hides no curve
    height = 4.0 + 0.17 * len(curves)
    if signed and len(signed) < len(curves):
        figure, (axes, signed_axes) = plt.subplots(
            2,
            1,
            sharex=True,
            figsize=(7.5, height + 1.8),
            dpi=120,
            gridspec_kw={"height_ratios": (3.0, 1.2)},
        )
    else:
        figure, axes = plt.subplots(figsize=(7.5, height), dpi=120)
        signed_axes = None
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    traces = [np.stack([curve.steps, curve.center]) for curve in curves]
    handles = []
    for index, curve in enumerate(curves):
        seeds = f"{curve.seeds} seed" + ("s" if curve.seeds > 1 else "")
        # past the palette's colours the line style changes, so no two rows look alike
        style: str | tuple[int, tuple[int, int]] = _LINE_STYLES[
            (index // len(palette)) % len(_LINE_STYLES)
        ]
        label = f"{curve.label} ({seeds})"
        # a row whose β is an earlier row's (the VAE's and σ-VAE's 1, say) would hide it:
        # drawn in wide dashes, the earlier line shows through the gaps, and the legend says so
        twin = equal_earlier(traces, index)
        if twin is not None:
            style = OPEN_DASHES
            label += f"; same β as {curves[twin].label}"
        target = axes
        if signed_axes is not None and not curve.positive:
            label += "; lower panel"
            target = signed_axes
        (line,) = target.plot(
            curve.steps,
            curve.center,
            label=label,
            color=palette[index % len(palette)],
            linestyle=style,
        )
        handles.append(line)
        if curve.seeds > 1:
            target.fill_between(
                curve.steps, curve.low, curve.high, color=line.get_color(), alpha=0.2
            )
    if signed and signed_axes is None:  # every row changes sign: one linear axis
        axes.set_yscale("linear")
        axes.set_title(f"β applied over training ({_summary(curves, 'arithmetic')})")
    else:
        axes.set_yscale("log")
        axes.set_title(f"β applied over training ({_summary(curves, 'geometric')})")
    axes.set_ylabel("β = KL weight / reconstruction weight")
    axes.grid(True, which="both", alpha=0.3)
    last = axes
    if signed_axes is not None:
        signed_axes.set_yscale("linear")
        signed_axes.set_ylabel("β (linear)")
        signed_axes.set_title(
            f"rows whose β changes sign ({_summary(signed, 'arithmetic')})", fontsize=9
        )
        signed_axes.grid(True, alpha=0.3)
        last = signed_axes
    last.set_xlabel("training step")
    # one legend for both panels, in the rows' order, under the lowest axes
    last.legend(
        handles=handles,
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(0.0, -0.13 if signed_axes is None else -0.35),
        frameon=False,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())
    return path


_LINE_STYLES = ("-", "--", ":", "-.")


def _geometric_mean(beta: float | Sequence[float]) -> float:
    values = np.atleast_1d(np.asarray(beta, dtype=float))
    if values.size == 1:
        return float(values[0])
    if (values <= 0).any():
        return float(values.mean())
    return float(np.exp(np.log(values).mean()))
