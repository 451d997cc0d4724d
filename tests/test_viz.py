"""viz: traversal grids predicted pixel by pixel from a known decoder, KL order, factor labels,
the GIF's frames, atomic writes, the model's mode, missing optional packages, empty history."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

from learnable_weights import LVAE
from learnable_weights.data import GroundTruthDataset
from learnable_weights.metrics.evaluate import Evaluation
from learnable_weights.weighting import FixedWeighting

viz = pytest.importorskip("learnable_weights.viz")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

SIZE = 16  # image side
FACTOR_SIZES = (4, 5, 6)
FACTOR_NAMES = ("alpha", "beta", "gamma")
LATENT_DIM = 4
# Each latent's log-variance, and the KL order they give with the encoder below (worked out in
# test_posterior_summary_kl_matches_closed_form's docstring).
LOGVAR = (-2.0, 0.0, -1.0, 0.0)
EXPECTED_ORDER = [0, 2, 1, 3]


class StampedFactors(GroundTruthDataset):
    """16x16 images whose top-left pixels hold the factors: pixel ``(0, k)`` is
    ``factor_k / (size_k - 1)``; the rest is 0."""

    def __init__(self) -> None:
        super().__init__(FACTOR_SIZES, FACTOR_NAMES, (1, SIZE, SIZE))

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        factors = self.index_to_factors(indices).astype(np.float32)
        images = torch.zeros(len(indices), 1, SIZE, SIZE)
        scale = torch.tensor(FACTOR_SIZES, dtype=torch.float32) - 1
        images[:, 0, 0, :3] = torch.from_numpy(factors) / scale
        return images


class FactorEncoder(nn.Module):
    """A known function of the stamped factors (``v_k`` = pixel ``(0, k)`` in [0, 1]):
    ``z0 = 3 (v_gamma − ½)``, ``z1 = ½ (v_alpha − ½)``, ``z2 = 2 (v_beta − ½)²`` (not monotone),
    ``z3 = 0``; log-variances :data:`LOGVAR`. Records its mode and autograd state per call."""

    def __init__(self) -> None:
        super().__init__()
        self.logvar = nn.Parameter(torch.tensor(LOGVAR))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append((self.training, torch.is_grad_enabled()))
        v = x[:, 0, 0, :3]
        mu = torch.stack(
            [
                3.0 * (v[:, 2] - 0.5),
                0.5 * (v[:, 0] - 0.5),
                2.0 * (v[:, 1] - 0.5) ** 2,
                torch.zeros_like(v[:, 0]),
            ],
            dim=1,
        )
        return mu, self.logvar.expand_as(mu)


def _model() -> LVAE:
    torch.manual_seed(0)
    decoder = nn.Sequential(nn.Linear(LATENT_DIM, SIZE * SIZE), nn.Unflatten(1, (1, SIZE, SIZE)))
    return LVAE(FactorEncoder(), decoder, LATENT_DIM, weighting=FixedWeighting(beta=1.0))


def _history(steps: int = 5, per_dim_beta: bool = False) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for i in range(steps):
        kl = [0.5 * (i + 1) * (j + 1) for j in range(LATENT_DIM)]
        beta: object = [0.1 * (j + 1) * (i + 1) for j in range(LATENT_DIM)] if per_dim_beta else 4.0
        weights = [1.0, *(beta if isinstance(beta, list) else [beta])]
        records.append(
            {
                "step": 10 * i,
                "loss": 100.0 / (i + 1),
                "recon_loss": 90.0 / (i + 1),
                "kl": sum(kl),
                "beta": beta,
                "weights": weights,
                "kl_per_dim": kl,
            }
        )
    return records


# ------------------------------------------------------------------ traversal grid


def test_traversal_grid_pixels_are_the_linear_decoder_of_the_traversed_codes() -> None:
    model = _model()
    anchor, _ = StampedFactors()[107]
    dims = [2, 0, 3]
    values = torch.tensor([-3.0, -1.0, 0.5, 3.0])
    grid = viz.traversal_grid(model, anchor, dims, values)
    assert grid.shape == (3, 4, 1, SIZE, SIZE)
    assert grid.dtype == torch.float32

    # By hand, in float64: z = the anchor's posterior mean with z[dims[r]] = values[s], then
    # sigmoid(W z + b) (Bernoulli likelihood's mean).
    v = anchor[0, 0, :3].double()
    mu = torch.stack([3 * (v[2] - 0.5), 0.5 * (v[0] - 0.5), 2 * (v[1] - 0.5) ** 2, v[0] * 0])
    decoder = model.decoder
    assert isinstance(decoder, nn.Sequential)
    linear = decoder[0]
    assert isinstance(linear, nn.Linear)
    weight, bias = linear.weight.detach().double(), linear.bias.detach().double()
    for r, d in enumerate(dims):
        for s, value in enumerate(values.tolist()):
            z = mu.clone()
            z[d] = value
            expected = torch.sigmoid(weight @ z + bias).reshape(1, SIZE, SIZE)
            torch.testing.assert_close(grid[r, s].double(), expected, atol=1e-6, rtol=0)


def test_traversal_grid_default_values_are_minus_three_to_three_in_steps_of_two_thirds() -> None:
    assert pytest.approx([-3 + 2 * i / 3 for i in range(10)], abs=1e-12) == viz.TRAVERSAL_VALUES
    grid = viz.traversal_grid(_model(), StampedFactors()[0][0], [0])
    assert grid.shape == (1, 10, 1, SIZE, SIZE)


@pytest.mark.parametrize("dims", [[], [LATENT_DIM], [-1]])
def test_traversal_grid_rejects_bad_dims(dims: list[int]) -> None:
    with pytest.raises(ValueError, match="dims must be"):
        viz.traversal_grid(_model(), StampedFactors()[0][0], dims)


def test_tile_images_places_each_cell_with_padding() -> None:
    images = torch.rand(2, 3, 1, 4, 5, generator=torch.Generator().manual_seed(0))
    picture = viz.tile_images(images, padding=1, pad_value=0.0)
    assert picture.shape == (2 * 5 + 1, 3 * 6 + 1)
    expected = (images[1, 2, 0] * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(picture[1 + 5 : 1 + 5 + 4, 1 + 12 : 1 + 12 + 5], expected)
    assert picture[0].max() == 0 and picture[:, 6].max() == 0  # the padding lines
    rgb = viz.tile_images(torch.zeros(1, 1, 3, 2, 2))
    assert rgb.shape == (4, 4, 3)


# ------------------------------------------------------------------ KL order and labels


def test_kl_order_is_decreasing_and_stable() -> None:
    assert viz.kl_order([0.5, 2.0, 0.0, 2.0, 1.0]) == [1, 3, 4, 0, 2]
    assert viz.kl_order(torch.tensor([0.0, 0.0])) == [0, 1]


def test_posterior_summary_kl_matches_closed_form() -> None:
    """Per latent, KL = ½ (E[μ²] + e^lv − 1 − lv) over the sampled points. With uniform factors
    the expectations are about: z0 9·0.117 → KL 1.09; z1 0.25·0.139 → 0.017; z2 0.106 → 0.24;
    z3 0 → 0. Hence the order 0, 2, 1, 3."""
    summary = viz.posterior_summary(_model(), StampedFactors(), num_points=500, keep=3)
    assert summary.observations.shape == (3, 1, SIZE, SIZE)
    assert summary.codes.shape == (500, LATENT_DIM)
    assert summary.factors is not None and summary.factors.shape == (500, 3)
    assert summary.factor_names == FACTOR_NAMES
    v = summary.factors / (np.array(FACTOR_SIZES) - 1.0)
    mu = np.stack(
        [3 * (v[:, 2] - 0.5), 0.5 * (v[:, 0] - 0.5), 2 * (v[:, 1] - 0.5) ** 2, 0 * v[:, 0]], 1
    )
    logvar = np.array(LOGVAR)
    expected = 0.5 * ((mu**2).mean(0) + np.exp(logvar) - 1 - logvar)
    np.testing.assert_allclose(summary.kl_per_dim, expected, rtol=1e-6, atol=1e-7)
    assert viz.kl_order(summary.kl_per_dim) == EXPECTED_ORDER


def test_labels_name_the_factor_each_latent_is_a_function_of() -> None:
    summary = viz.posterior_summary(_model(), StampedFactors(), num_points=2000)
    matches = viz.latent_factor_matches(summary)
    assert matches is not None
    # z0 from gamma, z1 from alpha, z2 from beta (through a square); z3 is constant: NMI 0.
    assert [m.factor for m in matches[:3]] == ["gamma", "alpha", "beta"]
    assert matches[0].score == pytest.approx(1.0)  # a one-to-one function keeps all information
    assert matches[1].score == pytest.approx(1.0)
    # (v - ½)² maps beta's 5 uniform classes to 3 values with probabilities 2/5, 2/5, 1/5.
    folded = -(2 * 0.4 * np.log(0.4) + 0.2 * np.log(0.2)) / np.log(5)
    assert matches[2].score == pytest.approx(folded, abs=0.02)
    assert matches[3].score == 0.0
    labels = viz.row_labels(EXPECTED_ORDER, summary.kl_per_dim, matches)
    assert labels[0] == f"z0 · KL {summary.kl_per_dim[0]:.2f} nats\ngamma (NMI 1.00)"
    assert labels[1].startswith("z2 · ") and labels[1].endswith("beta (NMI 0.66)")


def test_labels_come_from_metrics_when_they_ran() -> None:
    summary = viz.posterior_summary(_model(), StampedFactors(), num_points=300)
    mutual_information = np.zeros((LATENT_DIM, 3))
    mutual_information[:, 1] = 0.5  # every latent "captures" beta according to these metrics
    mutual_information[0, 0] = 0.9
    entropy = np.array([np.log(4), np.log(5), np.log(6)])
    mig_only = Evaluation(
        scores={"mig": {"mutual_information": mutual_information, "factor_entropy": entropy}},
        settings={},
        seed=0,
        versions={},
    )
    matches = viz.latent_factor_matches(summary, mig_only)
    assert matches is not None
    assert [m.factor for m in matches] == ["alpha", "beta", "beta", "beta"]
    assert matches[0].score == pytest.approx(0.9 / np.log(4))
    assert matches[0].score_name == "NMI"

    importance = np.eye(LATENT_DIM, 3)[:, ::-1]
    dci_only = Evaluation(
        scores={"dci": {"importance_matrix": importance}}, settings={}, seed=0, versions={}
    )
    matches = viz.latent_factor_matches(summary, dci_only)
    assert matches is not None
    assert [m.factor for m in matches[:3]] == ["gamma", "beta", "alpha"]
    assert matches[0].score_name == "importance"


def test_best_factors_checks_the_names() -> None:
    with pytest.raises(ValueError, match="K = 2 factor names"):
        viz.best_factors(np.zeros((3, 4)), ["a", "b"])


# ------------------------------------------------------------------ files


def test_save_run_pictures_writes_every_picture(tmp_path: Path) -> None:
    model = _model()
    files = viz.save_run_pictures(model, StampedFactors(), tmp_path / "run", _history())
    assert set(files) == {"traversal_png", "traversal_gif", "reconstructions", "training_curves"}
    assert files["traversal_png"] == tmp_path / "run" / "traversal.png"
    for path in files.values():
        with Image.open(path) as image:
            image.verify()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        p.name for p in files.values()
    )


def test_save_run_pictures_labels_rows_in_kl_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: dict[str, object] = {}
    original: Callable[..., Path] = viz.save_traversal_png

    def spy(grid: torch.Tensor, path: Path, labels: list[str], *args: object) -> Path:
        drawn["grid"], drawn["labels"] = grid, labels
        return original(grid, path, labels, *args)

    monkeypatch.setattr(viz, "save_traversal_png", spy)
    model = _model()
    viz.save_run_pictures(model, StampedFactors(), tmp_path, [])
    labels = drawn["labels"]
    assert isinstance(labels, list)
    assert [label.split(" ")[0] for label in labels] == [f"z{d}" for d in EXPECTED_ORDER]
    assert labels[0].endswith("gamma (NMI 1.00)")
    # The rows are the traversals of those latents around the first observation drawn.
    anchor = viz.posterior_summary(model, StampedFactors(), keep=1).observations[0]
    torch.testing.assert_close(drawn["grid"], viz.traversal_grid(model, anchor, EXPECTED_ORDER))


def test_gif_sweeps_the_columns_forth_and_back(tmp_path: Path) -> None:
    grid = viz.traversal_grid(_model(), StampedFactors()[7][0], EXPECTED_ORDER)
    path = viz.save_traversal_gif(grid, tmp_path / "t.gif", scale=2, frame_ms=50)
    rows, columns = grid.shape[:2]
    with Image.open(path) as gif:
        assert gif.n_frames == 2 * columns - 2
        assert gif.size == ((SIZE + 2) * 2, (rows * (SIZE + 1) + 1) * 2)
        assert gif.info["loop"] == 0
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("L")))
    sweep = [*range(columns), *range(columns - 2, 0, -1)]
    for index, column in enumerate(sweep):
        expected = viz.tile_images(grid[:, column : column + 1]).repeat(2, 0).repeat(2, 1)
        np.testing.assert_array_equal(frames[index], expected)


def test_gif_labels_sit_in_margins_beside_the_unchanged_traversal(tmp_path: Path) -> None:
    grid = viz.traversal_grid(_model(), StampedFactors()[7][0], EXPECTED_ORDER, [-1.0, 0.0, 2.0])
    plain = viz.save_traversal_gif(grid, tmp_path / "plain.gif")
    path = viz.save_traversal_gif(
        grid, tmp_path / "t.gif", labels=["z0", "z2", "z1", "z3"], values=[-1.0, 0.0, 2.0]
    )
    with Image.open(plain) as gif:
        width, height = gif.size
    with Image.open(path) as gif:
        assert gif.n_frames == 4
        assert gif.size[0] > width and gif.size[1] > height
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("L")))
    for index, column in enumerate([0, 1, 2, 1]):
        expected = viz.tile_images(grid[:, column : column + 1])
        np.testing.assert_array_equal(frames[index][-height:, -width:], expected)
        assert frames[index][:-height].max() > 200  # the value is written on top
        assert frames[index][:, :-width].max() > 200  # and the labels on the left
    # Frames 1 and 3 show the same column: only their (equal) value text could differ.
    np.testing.assert_array_equal(frames[1], frames[3])
    with pytest.raises(ValueError, match="2 labels"):
        viz.save_traversal_gif(grid, tmp_path / "bad.gif", labels=["a", "b"])


class StampedColour(StampedFactors):
    """:class:`StampedFactors` in three channels: green and blue are ramps across the image."""

    def __init__(self) -> None:
        GroundTruthDataset.__init__(self, FACTOR_SIZES, FACTOR_NAMES, (3, SIZE, SIZE))

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        red = super()._observations_at(indices)
        ramp = torch.linspace(0, 1, SIZE).expand(len(indices), 1, SIZE, SIZE)
        return torch.cat([red, ramp, ramp.transpose(2, 3)], dim=1).contiguous()


def test_colour_images_get_every_picture_and_one_palette(tmp_path: Path) -> None:
    torch.manual_seed(0)
    decoder = nn.Sequential(
        nn.Linear(LATENT_DIM, 3 * SIZE * SIZE), nn.Unflatten(1, (3, SIZE, SIZE))
    )
    model = LVAE(FactorEncoder(), decoder, LATENT_DIM, weighting=FixedWeighting(beta=1.0))
    files = viz.save_run_pictures(model, StampedColour(), tmp_path, _history())
    assert set(files) == {"traversal_png", "traversal_gif", "reconstructions", "training_curves"}
    with Image.open(files["traversal_png"]) as png:
        assert png.mode == "RGBA"
    grid = viz.traversal_grid(model, StampedColour()[3][0], [0, 1])
    path = viz.save_traversal_gif(grid, tmp_path / "colour.gif")
    with Image.open(path) as gif:
        assert gif.mode == "P"
        for index, column in enumerate([*range(10), *range(8, 0, -1)]):
            gif.seek(index)
            frame = np.asarray(gif.convert("RGB"), dtype=np.int64)
            expected = viz.tile_images(grid[:, column : column + 1])
            # 256 colours chosen for this grid: closer than the fixed 216-colour web palette
            # (about 15 levels off on these random colours) that pillow uses by default.
            web = Image.fromarray(expected).convert("P", dither=0).convert("RGB")
            ours_error = np.abs(frame - expected.astype(np.int64)).mean()
            web_error = np.abs(np.asarray(web, dtype=np.int64) - expected).mean()
            assert ours_error < min(10.0, web_error)


def test_save_run_pictures_is_deterministic(tmp_path: Path) -> None:
    first = viz.save_run_pictures(_model(), StampedFactors(), tmp_path / "a", _history(), seed=3)
    second = viz.save_run_pictures(_model(), StampedFactors(), tmp_path / "b", _history(), seed=3)
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name
    other = viz.save_run_pictures(_model(), StampedFactors(), tmp_path / "c", [], seed=4)
    assert other["reconstructions"].read_bytes() != first["reconstructions"].read_bytes()


def test_files_are_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[Path, Path]] = []
    original = os.replace

    def recording_replace(source: str, target: str) -> None:
        renames.append((Path(source), Path(target)))
        original(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    files = viz.save_run_pictures(_model(), StampedFactors(), tmp_path, _history())
    assert sorted(target for _, target in renames) == sorted(files.values())
    for source, target in renames:
        assert source.parent == target.parent and source.name.startswith(f".{target.name}.")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "traversal.gif"
    target.write_bytes(b"previous run")
    grid = viz.traversal_grid(_model(), StampedFactors()[0][0], [0, 1])

    def full_disk(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        viz.save_traversal_gif(grid, target)
    assert target.read_bytes() == b"previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["traversal.gif"]


@pytest.mark.parametrize("training", [True, False])
def test_model_mode_is_restored_and_inference_runs_in_eval_without_grad(
    tmp_path: Path, training: bool
) -> None:
    model = _model()
    model.train(training)
    viz.save_run_pictures(model, StampedFactors(), tmp_path, [])
    assert all(module.training == training for module in model.modules())
    encoder = model.encoder
    assert isinstance(encoder, FactorEncoder)
    assert encoder.calls and set(encoder.calls) == {(False, False)}


def test_a_dataset_without_factors_gets_kl_labels_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As CelebA: a map-style dataset of (image, attributes) tuples, or of bare images."""
    source = StampedFactors()
    tuples = [(source[i][0], torch.zeros(40)) for i in range(0, 120, 7)]
    bare = [image for image, _ in tuples]
    labels: list[list[str]] = []
    original: Callable[..., Path] = viz.save_traversal_png

    def spy(grid: torch.Tensor, path: Path, row_labels: list[str], *args: object) -> Path:
        labels.append(row_labels)
        return original(grid, path, row_labels, *args)

    monkeypatch.setattr(viz, "save_traversal_png", spy)
    files = viz.save_run_pictures(_model(), tuples, tmp_path / "t", [])
    assert set(files) == {"traversal_png", "traversal_gif", "reconstructions"}
    viz.save_run_pictures(_model(), bare, tmp_path / "b", [])
    assert labels[0] == labels[1]
    assert all("\n" not in label and " · KL " in label for label in labels[0])
    assert (tmp_path / "t" / "reconstructions.png").read_bytes() == (
        tmp_path / "b" / "reconstructions.png"
    ).read_bytes()


def test_an_unusable_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="sized map-style dataset"):
        viz.save_run_pictures(_model(), object(), tmp_path, [])
    with pytest.raises(ValueError, match="empty"):
        viz.save_run_pictures(_model(), [], tmp_path, [])


# ------------------------------------------------------------------ training curves


def test_empty_history_writes_no_curves(tmp_path: Path) -> None:
    assert viz.save_training_curves([], tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()
    files = viz.save_run_pictures(_model(), StampedFactors(), tmp_path / "run", [])
    assert "training_curves" not in files
    assert not (tmp_path / "run" / "training_curves.png").exists()


def test_curves_accept_per_dimension_beta_and_partial_records(tmp_path: Path) -> None:
    history = _history(per_dim_beta=True)
    history.insert(2, {"step": 15, "loss": 3.0})  # e.g. an evaluation record
    path = viz.save_training_curves(history, tmp_path / "curves.png")
    assert path == tmp_path / "curves.png"
    with Image.open(path) as image:
        image.verify()


@pytest.mark.parametrize("latent_dim", [1, 10, 11, 32])
def test_curve_colours_are_distinct_in_a_panel_and_follow_each_latent(latent_dim: int) -> None:
    """With 10 per-dimension KL weights the reconstruction weight once shared z9's colour."""
    from matplotlib.colors import to_rgba

    weights = [to_rgba(c) for _, c in viz._weight_names(1 + latent_dim)]
    betas = [to_rgba(c) for _, c in viz._beta_names(latent_dim)]
    kls = [to_rgba(c) for _, c in viz._latent_names(latent_dim)]
    for panel in (weights, betas, kls):
        assert len(set(panel)) == len(panel)
    if latent_dim > 1:
        assert weights[1:] == betas == kls


def test_a_series_equal_to_an_earlier_one_is_drawn_open_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fixed-β VAE applies weights (1, 1): the KL weight's line would hide the reconstruction
    weight's."""
    import matplotlib.axes

    drawn: list[tuple[str, object]] = []
    original = matplotlib.axes.Axes.plot

    def recording(self: matplotlib.axes.Axes, *args: Any, **kwargs: Any) -> object:
        drawn.append((str(kwargs["label"]), kwargs.get("linestyle", "-")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", recording)
    history = [{"step": s, "weights": [1.0, 1.0], "beta": 1.0} for s in (10, 20)]
    viz.save_training_curves(history, tmp_path / "curves.png")
    assert drawn[0] == ("reconstruction weight", "-")
    assert drawn[1][0] == "KL weight (= reconstruction weight)" and drawn[1][1] != "-"
    drawn.clear()
    history[1]["weights"] = [1.0, 2.0]  # equal at one step only: a line of its own
    viz.save_training_curves(history, tmp_path / "curves.png")
    assert drawn[1] == ("KL weight", "-")


def test_curves_refuse_changing_widths_and_records_with_nothing_to_plot(tmp_path: Path) -> None:
    history = _history()
    history[1]["kl_per_dim"] = [1.0]
    with pytest.raises(ValueError, match="'kl_per_dim' entries change length"):
        viz.save_training_curves(history, tmp_path / "c.png")
    with pytest.raises(ValueError, match="nothing to plot"):
        viz.save_training_curves([{"step": 1, "loss": 2.0}], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


# ------------------------------------------------------------------ optional packages


def test_missing_matplotlib_names_the_examples_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"learnable-weights\[examples\]"):
        viz.save_run_pictures(_model(), StampedFactors(), tmp_path / "run", _history())
    assert not (tmp_path / "run").exists()  # checked before anything is written


def test_missing_pillow_names_the_data_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    grid = viz.traversal_grid(_model(), StampedFactors()[0][0], [0])
    with pytest.raises(ImportError, match=r"learnable-weights\[data\]"):
        viz.save_traversal_gif(grid, tmp_path / "t.gif")
    with pytest.raises(ImportError, match=r"learnable-weights\[data\]"):
        viz.save_run_pictures(_model(), StampedFactors(), tmp_path / "run", [])
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ devices


@pytest.mark.cuda
def test_a_model_on_cuda_gives_the_cpu_pictures_and_stays_on_cuda(tmp_path: Path) -> None:
    model = _model().cuda()
    files = viz.save_run_pictures(model, StampedFactors(), tmp_path / "gpu", _history())
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert set(files) == {"traversal_png", "traversal_gif", "reconstructions", "training_curves"}
    anchor = StampedFactors()[5][0]
    on_gpu = viz.traversal_grid(model, anchor, [0, 1])
    on_cpu = viz.traversal_grid(_model(), anchor, [0, 1])
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-5, rtol=0)
    cpu_model = _model()
    moved = viz.traversal_grid(cpu_model, anchor, [0, 1], device="cuda")
    torch.testing.assert_close(moved, on_cpu, atol=1e-5, rtol=0)
    assert all(p.device.type == "cpu" for p in cpu_model.parameters())


def test_device_argument_runs_there_and_moves_the_model_back(tmp_path: Path) -> None:
    model = _model()
    grid = viz.traversal_grid(model, StampedFactors()[5][0], [0], device="cpu")
    assert grid.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in model.parameters())
