"""The β figure's curves: means over seeds that keep the sign of a β that changes sign."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learnable_weights.study.figures import beta_curves, plot_beta_trajectories


def _record(label: str, betas: Sequence[float | list[float]]) -> dict[str, Any]:
    trajectory = [{"step": 10 * (i + 1), "beta": beta} for i, beta in enumerate(betas)]
    return {"label": label, "trajectory": trajectory}


def test_positive_betas_average_geometrically_per_step() -> None:
    (curve,) = beta_curves([_record("l-vae", [1.0, 4.0]), _record("l-vae", [4.0, 16.0])])
    assert curve.seeds == 2
    np.testing.assert_allclose(curve.steps, [10, 20])
    np.testing.assert_allclose(curve.center, [2.0, 8.0])  # sqrt(1·4), sqrt(4·16)
    np.testing.assert_allclose(curve.low, [1.0, 4.0])
    np.testing.assert_allclose(curve.high, [4.0, 16.0])
    assert curve.positive


def test_per_dimension_betas_are_summarised_by_their_geometric_mean() -> None:
    (curve,) = beta_curves([_record("mdl-vae", [[1.0, 9.0], [2.0, 8.0]])])
    np.testing.assert_allclose(curve.center, [3.0, 4.0])


def test_a_beta_that_changes_sign_is_averaged_arithmetically_not_clipped() -> None:
    # The annealed VAE applies γ·sign(KL − C): ±1000. A geometric mean would erase the sign.
    runs = [_record("annealed-vae", [1000.0, -1000.0]), _record("annealed-vae", [1000.0, 1000.0])]
    (curve,) = beta_curves(runs)
    np.testing.assert_allclose(curve.center, [1000.0, 0.0])
    np.testing.assert_allclose(curve.low, [1000.0, -1000.0])
    assert not curve.positive


def test_runs_of_one_label_are_cut_to_the_shortest_and_labels_keep_their_order() -> None:
    records = [
        _record("vae", [1.0, 1.0, 1.0]),
        {"label": "empty", "trajectory": []},
        _record("beta-vae", [4.0]),
        _record("vae", [1.0, 1.0]),
    ]
    curves = beta_curves(records)
    assert [curve.label for curve in curves] == ["vae", "beta-vae"]
    assert len(curves[0].steps) == 2


@pytest.mark.parametrize(
    ("runs", "scales"),
    [
        ({"vae": [1.0, 1.0], "x": [1.0, 4.0]}, ["log"]),
        # the annealed VAE's ±γ gets its own linear panel under the others' log axis
        ({"vae": [1.0, 1.0], "x": [1000.0, -1000.0]}, ["log", "linear"]),
        ({"x": [1000.0, -1000.0]}, ["linear"]),
    ],
)
def test_a_log_axis_for_positive_betas_and_a_linear_panel_for_betas_that_change_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: dict[str, list[float]], scales: list[str]
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    recorded: list[str] = []
    original = matplotlib.axes.Axes.set_yscale

    def recording(self: matplotlib.axes.Axes, value: str, **kwargs: object) -> None:
        recorded.append(value)
        original(self, value, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_yscale", recording)
    records = [_record(label, betas) for label, betas in runs.items()]
    path = plot_beta_trajectories(records, tmp_path / "b.png")
    assert recorded == scales
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plotted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every ``Axes.plot`` call, in order (the lines still drawn), with
    the axes drawn on under ``"axes"``."""
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    calls: list[dict[str, Any]] = []
    original = matplotlib.axes.Axes.plot

    def recording(self: matplotlib.axes.Axes, *args: Any, **kwargs: Any) -> Any:
        calls.append({**kwargs, "axes": self})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", recording)
    return calls


def test_rows_past_the_palette_change_line_style(
    tmp_path: Path, plotted: list[dict[str, Any]]
) -> None:
    records = [_record(f"row{i}", [1.0 + i, 1.0 + i]) for i in range(12)]  # 10 colours
    plot_beta_trajectories(records, tmp_path / "b.png")
    drawn = [(call["color"], call["linestyle"]) for call in plotted]
    assert len(drawn) == 12 and len(set(drawn)) == 12
    assert drawn[10][0] == drawn[0][0] and drawn[10][1] != drawn[0][1]


def test_a_row_with_an_earlier_rows_beta_is_drawn_open_and_named(
    tmp_path: Path, plotted: list[dict[str, Any]]
) -> None:
    """The VAE and σ-VAE both apply β = 1: the second line would hide the first."""
    records = [
        _record("vae", [1.0, 1.0]),
        _record("beta-vae", [4.0, 4.0]),
        _record("sigma-vae", [1.0, 1.0]),
        _record("l-vae", [1.0, 1.5]),  # meets the VAE's β at one step only: its own line
    ]
    plot_beta_trajectories(records, tmp_path / "b.png")
    drawn = [(call["label"], call["linestyle"]) for call in plotted]
    assert drawn[0] == ("vae (1 seed)", "-")
    assert drawn[2][0] == "sigma-vae (1 seed); same β as vae" and drawn[2][1] != "-"
    assert drawn[3] == ("l-vae (1 seed)", "-")


def test_a_row_whose_beta_changes_sign_is_drawn_on_its_own_panel_and_named(
    tmp_path: Path, plotted: list[dict[str, Any]]
) -> None:
    records = [
        _record("vae", [1.0, 1.0]),
        _record("annealed-vae", [1000.0, -1000.0]),
        _record("beta-vae", [4.0, 4.0]),
    ]
    plot_beta_trajectories(records, tmp_path / "b.png")
    assert [call["label"] for call in plotted] == [
        "vae (1 seed)",
        "annealed-vae (1 seed); lower panel",
        "beta-vae (1 seed)",
    ]
    top, lower, other = (call["axes"] for call in plotted)
    assert top is other and lower is not top
    # one legend under the lower panel names every row, in the rows' order
    legend = lower.get_legend()
    assert top.get_legend() is None
    assert [text.get_text() for text in legend.get_texts()] == [call["label"] for call in plotted]


@pytest.mark.parametrize(
    ("seeds", "title"),
    [
        (1, "β applied over training (one seed per row)"),
        (2, "β applied over training (geometric mean over seeds; band: min–max)"),
    ],
)
def test_the_title_names_a_mean_over_seeds_only_where_a_row_has_several(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeds: int, title: str
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    titles: list[str] = []
    original = matplotlib.axes.Axes.set_title

    def recording(self: matplotlib.axes.Axes, label: str, *args: Any, **kwargs: Any) -> Any:
        titles.append(label)
        return original(self, label, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", recording)
    records = [_record("vae", [1.0, 1.0])] + [_record("beta-vae", [4.0, 4.0])] * seeds
    plot_beta_trajectories(records, tmp_path / "b.png")
    assert titles == [title]
