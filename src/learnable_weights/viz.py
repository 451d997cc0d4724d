"""Pictures of a trained VAE: latent traversals (PNG grid and GIF), reconstructions, training curves.

:func:`save_run_pictures` writes them all for one run (the training loop calls it at the end);
the pieces are public too:

* :func:`posterior_summary` encodes a sample of a dataset once: the anchor images, the
  per-dimension KL that orders the rows (:func:`kl_order`) and, for a ground-truth dataset, the
  codes and factors whose mutual information names the factor each latent captures best
  (:func:`normalized_mutual_information`, :func:`best_factors`, :func:`row_labels`);
* :func:`traversal_grid` decodes the traversal as a tensor ``(R, S, C, H, W)``;
  :func:`save_traversal_png` and :func:`save_traversal_gif` draw it;
* :func:`save_reconstructions` and :func:`save_training_curves`.

The traversal sweeps one latent at a time over :data:`TRAVERSAL_VALUES` (−3…3 in steps of 2/3, the
range and step of ``viz_traverse`` in github.com/1Konny/Beta-VAE ``solver.py``) with the
other latents held at the anchor image's posterior mean, and decodes to data space (the
likelihood's mean). Rows are ordered by the latent's KL to the prior, largest first: dimensions
the model switched off (KL ≈ 0) sink to the bottom.

matplotlib (``pip install "learnable-weights[examples]"``) draws the PNGs and pillow
(``pip install "learnable-weights[data]"``) the GIF; both are imported when a picture is made and
their absence gives an ImportError naming the extra. Every file is written to a temporary file
beside its target and renamed onto it (:func:`learnable_weights.data.cache.atomic_output`).
"""

from __future__ import annotations

import importlib
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from learnable_weights._plot_style import OPEN_DASHES, equal_earlier
from learnable_weights.data.cache import atomic_output
from learnable_weights.metrics.discretize import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
)
from learnable_weights.vae import LVAE, gaussian_kl_per_dim

if TYPE_CHECKING:
    from learnable_weights.metrics.evaluate import Evaluation

__all__ = [
    "RECONSTRUCTION_COUNT",
    "SUMMARY_POINTS",
    "SUMMARY_POINTS_WITHOUT_FACTORS",
    "TRAVERSAL_VALUES",
    "FactorMatch",
    "PosteriorSummary",
    "best_factors",
    "kl_order",
    "latent_factor_matches",
    "normalized_mutual_information",
    "posterior_summary",
    "row_labels",
    "save_reconstructions",
    "save_run_pictures",
    "save_training_curves",
    "save_traversal_gif",
    "save_traversal_png",
    "tile_images",
    "traversal_grid",
]

#: Values each latent takes along a traversal: −3…3 in steps of 2/3 (the baseline β-VAE codes'
#: range and step, 1Konny/Beta-VAE ``solver.py``), i.e. ±3 prior standard deviations.
TRAVERSAL_VALUES: tuple[float, ...] = tuple(float(v) for v in np.linspace(-3.0, 3.0, 10))

#: Observations :func:`save_run_pictures` encodes to measure each latent's KL and, with factors,
#: its mutual information with each factor (20-bin histograms need a few thousand points).
SUMMARY_POINTS = 4096

#: Observations :func:`save_run_pictures` encodes for a dataset without factors (only the KL).
SUMMARY_POINTS_WITHOUT_FACTORS = 1024

#: Input images shown beside their reconstructions by :func:`save_run_pictures`.
RECONSTRUCTION_COUNT = 10

_EXAMPLES_EXTRA = 'pip install "learnable-weights[examples]"'
_DATA_EXTRA = 'pip install "learnable-weights[data]"'
_ENCODE_BATCH = 256
# Smallest on-screen size of one image cell in the PNGs (pixels): 16x16 images stay readable.
_MIN_CELL_PIXELS = 48
_DPI = 100


# --------------------------------------------------------------------------------------------
# Optional dependencies
# --------------------------------------------------------------------------------------------


def _matplotlib_figure() -> Any:
    """``matplotlib.figure.Figure``, or an ImportError naming the ``examples`` extra."""
    try:
        importlib.import_module("matplotlib")
        return importlib.import_module("matplotlib.figure").Figure
    except ImportError as error:
        raise ImportError(
            f"learnable_weights.viz needs matplotlib to draw PNG pictures: {_EXAMPLES_EXTRA}"
        ) from error


def _pillow_image() -> Any:
    """``PIL.Image``, or an ImportError naming the ``data`` extra."""
    try:
        return importlib.import_module("PIL.Image")
    except ImportError as error:
        raise ImportError(
            f"learnable_weights.viz needs pillow to write the GIF traversal: {_DATA_EXTRA}"
        ) from error


# --------------------------------------------------------------------------------------------
# Encoding a sample
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PosteriorSummary:
    """A sample of a dataset encoded once. ``N`` points, ``D`` latents, ``K`` factors.

    Attributes:
        observations: ``(n, C, H, W)`` float32 CPU: the first observations drawn (anchors and
            reconstruction inputs), ``n <= N``.
        kl_per_dim: ``(D,)`` float64, each latent's KL(q(z|x) ‖ N(0, 1)) in nats averaged over
            the ``N`` points (as ``VAEOutput.kl_per_dim``, over more points).
        codes: ``(N, D)`` float64 posterior means.
        factors: ``(N, K)`` int64 factor classes, or ``None`` for a dataset without factors.
        factor_names: ``K`` names, or ``None``.
    """

    observations: Tensor
    kl_per_dim: NDArray[np.float64]
    codes: NDArray[np.float64]
    factors: NDArray[np.int64] | None
    factor_names: tuple[str, ...] | None


@contextmanager
def _inference(model: nn.Module, device: torch.device | str | None) -> Iterator[torch.device]:
    """Eval mode and no autograd (and the model on ``device`` if given); mode and device restored.

    Yields the device the model runs on."""
    training = model.training
    home = _model_device(model)
    target = home if device is None else torch.device(device)
    try:
        if target != home:
            model.to(target)
        model.eval()
        with torch.no_grad():
            yield target
    finally:
        model.train(training)
        if target != home:
            model.to(home)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for parameter in model.parameters():
        return parameter.dtype
    return torch.float32


def _draw(
    dataset: Any, count: int, seed: int
) -> tuple[Tensor, NDArray[np.int64] | None, tuple[str, ...] | None]:
    """``count`` observations ``(count, C, H, W)`` and their factors ``(count, K)`` (or None).

    A ground-truth dataset (with ``sample(n, random_state)``) is sampled with
    ``RandomState(seed)``, as disentanglement_lib draws; any other sized map-style dataset gives
    the items at ``count`` distinct random indices (an item may be an image or a tuple whose first
    entry is the image).
    """
    random_state = np.random.RandomState(seed)
    sample = getattr(dataset, "sample", None)
    if callable(sample):
        factors, observations = sample(count, random_state)
        names = getattr(dataset, "factor_names", None)
        num_factors = np.asarray(factors).shape[1]
        factor_names = (
            tuple(str(name) for name in names)
            if names is not None and len(names) == num_factors
            else tuple(f"factor {k}" for k in range(num_factors))
        )
        return (
            torch.as_tensor(observations, dtype=torch.float32).cpu(),
            np.asarray(factors, dtype=np.int64),
            factor_names,
        )
    try:
        size = len(dataset)
    except TypeError:
        raise TypeError(
            "dataset must be a ground-truth dataset (with sample(n, random_state)) or a sized "
            f"map-style dataset of images; got {type(dataset).__name__}"
        ) from None
    if size == 0:
        raise ValueError("the dataset is empty: there is nothing to picture")
    indices = random_state.choice(size, size=min(count, size), replace=False)
    images = []
    for index in indices:
        item = dataset[int(index)]
        image = item[0] if isinstance(item, (tuple, list)) else item
        images.append(torch.as_tensor(image, dtype=torch.float32))
    return torch.stack(images).cpu(), None, None


def posterior_summary(
    model: LVAE,
    dataset: Any,
    *,
    num_points: int = SUMMARY_POINTS,
    keep: int = RECONSTRUCTION_COUNT,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> PosteriorSummary:
    """Encodes ``num_points`` observations of ``dataset`` (drawn with ``seed``) once.

    Args:
        model: an `LVAE`; run in eval mode without gradients, its mode restored afterwards.
        dataset: a ground-truth dataset (``sample(n, random_state)``; factors and
            ``factor_names`` are kept) or a sized map-style dataset of images (no factors; at
            most ``len(dataset)`` points).
        num_points: points to encode ``N``.
        keep: how many of the observations to keep in the summary (anchors, reconstructions).
        seed: seed of the ``numpy.random.RandomState`` the points are drawn with.
        device: where the model runs (default: where it is); observations are moved there.
    """
    if num_points < 1 or keep < 1:
        raise ValueError(f"num_points and keep must be >= 1, got {num_points} and {keep}")
    observations, factors, names = _draw(dataset, num_points, seed)
    mus, logvars = [], []
    with _inference(model, device) as on:
        dtype = _model_dtype(model)
        for start in range(0, observations.shape[0], _ENCODE_BATCH):
            x = observations[start : start + _ENCODE_BATCH].to(on, dtype)
            mu, logvar = model.encode(x)
            mus.append(mu.double().cpu())
            logvars.append(logvar.double().cpu())
    mu_all, logvar_all = torch.cat(mus), torch.cat(logvars)
    return PosteriorSummary(
        observations=observations[:keep].clone(),
        kl_per_dim=gaussian_kl_per_dim(mu_all, logvar_all).numpy(),
        codes=mu_all.numpy(),
        factors=factors,
        factor_names=names,
    )


# --------------------------------------------------------------------------------------------
# Row order and labels
# --------------------------------------------------------------------------------------------


def kl_order(kl_per_dim: Tensor | NDArray[Any] | Sequence[float]) -> list[int]:
    """Latent indices by decreasing KL ``(D,)``; equal KLs keep index order."""
    values = np.asarray(kl_per_dim, dtype=np.float64).reshape(-1)
    return [int(i) for i in np.argsort(-values, kind="stable")]


def normalized_mutual_information(
    codes: NDArray[Any], factors: NDArray[Any], *, num_bins: int = 20
) -> NDArray[np.float64]:
    """``I(z_j; v_k) / H(v_k)`` ``(D, K)``: MIG's normalised mutual information (Chen et al. 2018).

    Codes ``(N, D)`` are discretised into ``num_bins`` equal-width bins and the mutual
    information (nats) computed as disentanglement_lib does
    (:mod:`learnable_weights.metrics.discretize`); each factor's column is divided by its
    empirical entropy (a factor with one value in the sample gets 0). With a finite sample the
    estimate is biased upwards by roughly ``(bins − 1)(classes − 1) / (2N)`` nats.
    """
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    mutual_information = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    entropy = discrete_entropy(factors)
    safe = np.where(entropy > 0, entropy, 1.0)
    return np.where(entropy > 0, mutual_information / safe, 0.0)


@dataclass(frozen=True)
class FactorMatch:
    """The factor one latent captures best: its name and the score that chose it."""

    factor: str
    score: float
    score_name: str


def best_factors(
    scores: NDArray[Any], factor_names: Sequence[str], *, score_name: str = "NMI"
) -> list[FactorMatch]:
    """For each latent, the factor with the highest score.

    Args:
        scores: ``(D, K)`` association of each latent with each factor (e.g.
            :func:`normalized_mutual_information`, or DCI's importance matrix).
        factor_names: the ``K`` factor names.
        score_name: how the score is named in the labels.

    Returns:
        ``D`` matches, in latent index order (ties go to the first factor).
    """
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(factor_names):
        raise ValueError(
            f"scores must be (D, K) with K = {len(factor_names)} factor names, got {matrix.shape}"
        )
    best = matrix.argmax(axis=1)
    return [
        FactorMatch(str(factor_names[k]), float(matrix[j, k]), score_name)
        for j, k in enumerate(best)
    ]


def row_labels(
    order: Sequence[int],
    kl_per_dim: Tensor | NDArray[Any] | Sequence[float],
    matches: Sequence[FactorMatch] | None = None,
) -> list[str]:
    """One label per traversal row: ``"z3 · KL 2.41 nats"`` and, with matches, a second line
    ``"posX (NMI 0.62)"``."""
    kl = np.asarray(kl_per_dim, dtype=np.float64).reshape(-1)
    labels = []
    for j in order:
        label = f"z{j} · KL {kl[j]:.2f} nats"
        if matches is not None:
            match = matches[j]
            label += f"\n{match.factor} ({match.score_name} {match.score:.2f})"
        labels.append(label)
    return labels


def latent_factor_matches(
    summary: PosteriorSummary, metrics: Evaluation | None = None
) -> list[FactorMatch] | None:
    """The factor each latent captures best, or ``None`` when no factors are known.

    From ``metrics`` when it holds MIG's mutual information (normalised by each factor's
    entropy, "NMI") or else DCI's importance matrix ("importance") for this many latents;
    otherwise from :func:`normalized_mutual_information` of the summary's codes and factors.
    """
    latent_dim = summary.codes.shape[1]
    names = summary.factor_names
    if metrics is not None:
        scores: Mapping[str, Mapping[str, Any]] = metrics.scores
        candidates: list[tuple[NDArray[np.float64], str]] = []
        if "mig" in scores and "mutual_information" in scores["mig"]:
            mutual_information = np.asarray(scores["mig"]["mutual_information"], np.float64)
            entropy = np.asarray(scores["mig"]["factor_entropy"], dtype=np.float64)
            safe = np.where(entropy > 0, entropy, 1.0)
            candidates.append((np.where(entropy > 0, mutual_information / safe, 0.0), "NMI"))
        if "dci" in scores and "importance_matrix" in scores["dci"]:
            candidates.append(
                (np.asarray(scores["dci"]["importance_matrix"], np.float64), "importance")
            )
        for matrix, score_name in candidates:
            if matrix.ndim == 2 and matrix.shape[0] == latent_dim:
                factor_names = (
                    names
                    if names is not None and len(names) == matrix.shape[1]
                    else [f"factor {k}" for k in range(matrix.shape[1])]
                )
                return best_factors(matrix, factor_names, score_name=score_name)
    if summary.factors is None or names is None:
        return None
    return best_factors(normalized_mutual_information(summary.codes, summary.factors), names)


# --------------------------------------------------------------------------------------------
# Traversals
# --------------------------------------------------------------------------------------------


def traversal_grid(
    model: LVAE,
    anchor: Tensor,
    dims: Sequence[int],
    values: Sequence[float] | Tensor = TRAVERSAL_VALUES,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    """Decodes a latent traversal around one anchor image.

    Row ``r`` sets latent ``dims[r]`` to each of ``values`` in turn, the other latents held at
    the anchor's posterior mean, and decodes to data space (``model.decode``).

    Args:
        model: an `LVAE` (eval mode and no gradients here; its mode is restored).
        anchor: one observation ``(C, H, W)`` or ``(1, C, H, W)``.
        dims: the latents to traverse, one row each, in row order (e.g. :func:`kl_order`).
        values: ``S`` values each latent takes, one column each.
        device: where the model runs (default: where it is).

    Returns:
        ``(R, S, C, H, W)`` float32 on the CPU, ``R = len(dims)``.
    """
    steps = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if anchor.dim() == 3:
        anchor = anchor.unsqueeze(0)
    if anchor.dim() != 4 or anchor.shape[0] != 1:
        raise ValueError(
            f"anchor must be one observation (C, H, W) or (1, C, H, W), got {tuple(anchor.shape)}"
        )
    rows = [int(d) for d in dims]
    bad = [d for d in rows if not 0 <= d < model.latent_dim]
    if bad or not rows or steps.numel() == 0:
        raise ValueError(
            f"dims must be non-empty latent indices in [0, {model.latent_dim}) and values "
            f"non-empty; got dims {rows} and {steps.numel()} values"
        )
    with _inference(model, device) as on:
        dtype = _model_dtype(model)
        mu, _ = model.encode(anchor.to(on, dtype))
        codes = mu.expand(len(rows) * steps.numel(), -1).clone()
        row_index = torch.arange(len(rows)).repeat_interleave(steps.numel())
        dim_index = torch.tensor(rows)[row_index].to(on)
        codes[torch.arange(codes.shape[0], device=on), dim_index] = steps.repeat(len(rows)).to(
            on, dtype
        )
        images = torch.cat(
            [
                model.decode(codes[start : start + _ENCODE_BATCH]).float().cpu()
                for start in range(0, codes.shape[0], _ENCODE_BATCH)
            ]
        )
    return images.reshape(len(rows), steps.numel(), *images.shape[1:])


def tile_images(images: Tensor, *, padding: int = 1, pad_value: float = 0.5) -> NDArray[np.uint8]:
    """Tiles images ``(R, S, C, H, W)`` in [0, 1] into one uint8 picture.

    Returns:
        ``(R·(H + p) + p, S·(W + p) + p)`` for one channel, or that by 3 for three channels
        (``p = padding``), with ``pad_value`` between the cells.
    """
    if images.dim() != 5 or images.shape[2] not in (1, 3):
        raise ValueError(
            f"images must be (R, S, C, H, W) with 1 or 3 channels, got {tuple(images.shape)}"
        )
    rows, columns, channels, height, width = images.shape
    canvas = torch.full(
        (channels, rows * (height + padding) + padding, columns * (width + padding) + padding),
        float(pad_value),
    )
    for r in range(rows):
        for s in range(columns):
            top, left = padding + r * (height + padding), padding + s * (width + padding)
            canvas[:, top : top + height, left : left + width] = images[r, s]
    pixels = (canvas.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    array: NDArray[np.uint8] = pixels.permute(1, 2, 0).numpy()
    return array[:, :, 0] if channels == 1 else array


def save_traversal_png(
    grid: Tensor,
    path: Path,
    labels: Sequence[str],
    values: Sequence[float] | Tensor = TRAVERSAL_VALUES,
    *,
    title: str | None = None,
) -> Path:
    """Draws a traversal grid ``(R, S, C, H, W)`` as a PNG, one labelled row per latent.

    Args:
        grid: from :func:`traversal_grid`.
        path: the PNG to write (atomically; parent folders are created).
        labels: ``R`` row labels (e.g. :func:`row_labels`), drawn left of each row.
        values: the ``S`` latent values, written under the columns.
        title: the figure's title (default: says what the rows and columns are).

    Returns:
        ``path``.
    """
    figure_class = _matplotlib_figure()
    steps = [float(v) for v in torch.as_tensor(values).reshape(-1)]
    rows, columns, _, height, width = grid.shape
    if len(labels) != rows or len(steps) != columns:
        raise ValueError(
            f"got {len(labels)} labels and {len(steps)} values for a grid of {rows} rows and "
            f"{columns} columns"
        )
    picture = tile_images(grid)
    cell = max(height, width, _MIN_CELL_PIXELS) / max(height, width)
    image_w, image_h = picture.shape[1] * cell, picture.shape[0] * cell
    label_w, top_h, bottom_h = 190.0, 70.0, 40.0
    figure = figure_class(
        figsize=((image_w + label_w + 20) / _DPI, (image_h + top_h + bottom_h) / _DPI),
        dpi=_DPI,
    )
    axes = figure.add_axes(
        (
            label_w / (image_w + label_w + 20),
            bottom_h / (image_h + top_h + bottom_h),
            image_w / (image_w + label_w + 20),
            image_h / (image_h + top_h + bottom_h),
        )
    )
    _show(axes, picture)
    axes.set_yticks([1 + r * (height + 1) + height / 2 - 0.5 for r in range(rows)])
    axes.set_yticklabels(list(labels), fontsize=8)
    axes.set_xticks([1 + s * (width + 1) + width / 2 - 0.5 for s in range(columns)])
    axes.set_xticklabels([f"{v:+.2g}" for v in steps], fontsize=8)
    axes.tick_params(length=0)
    axes.set_xlabel("value of the traversed latent", fontsize=8)
    figure.suptitle(
        title
        or "Latent traversals: one latent per row, the others at the anchor's posterior mean\n"
        "rows ordered by KL to the prior (largest first)",
        fontsize=9,
    )
    return _save_figure(figure, path)


def save_traversal_gif(
    grid: Tensor,
    path: Path,
    *,
    labels: Sequence[str] | None = None,
    values: Sequence[float] | Tensor | None = None,
    frame_ms: int = 120,
    scale: int = 1,
) -> Path:
    """Writes a traversal grid ``(R, S, C, H, W)`` as an animated GIF sweeping the value.

    Frame ``s`` shows column ``s`` of every row, stacked top to bottom (one latent per row, in
    the grid's order) with a 1-pixel grey gap: a picture ``(R·(H + 1) + 1)·scale`` high and
    ``(W + 2)·scale`` wide, placed at the bottom right of the frame. With ``labels`` a black
    margin on the left names each row (e.g. ``"z3"``), with ``values`` one on top gives the
    frame's value (``"z = +1.67"``); without either the frame is the picture alone. The sweep
    goes forth and back, so there are ``2S − 2`` frames (``S`` if ``S <= 2``); the GIF loops
    forever. (pillow merges consecutive frames that are identical, adding their durations: a
    model whose every latent is switched off gives one.)

    Args:
        grid: from :func:`traversal_grid`.
        path: the GIF to write (atomically).
        labels: ``R`` short row labels, or ``None``.
        values: the ``S`` latent values, or ``None``.
        frame_ms: duration of each frame in milliseconds.
        scale: integer upscaling of each pixel (nearest neighbour).

    Returns:
        ``path``.
    """
    image_module = _pillow_image()
    if scale < 1 or frame_ms < 1:
        raise ValueError(f"scale and frame_ms must be >= 1, got {scale} and {frame_ms}")
    rows, columns, _, height, _ = grid.shape
    steps = None if values is None else [float(v) for v in torch.as_tensor(values).reshape(-1)]
    if (labels is not None and len(labels) != rows) or (
        steps is not None and len(steps) != columns
    ):
        raise ValueError(
            f"got {len(labels or [])} labels and {len(steps or [])} values for a grid of {rows} "
            f"rows and {columns} columns"
        )
    draw_module = importlib.import_module("PIL.ImageDraw")
    font = importlib.import_module("PIL.ImageFont").load_default()
    measure = draw_module.Draw(image_module.new("L", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return int(right - left), int(bottom - top)

    left_margin = 0 if labels is None else 6 + max(text_size(label)[0] for label in labels)
    top_margin = 0 if steps is None else 6 + text_size("z = +0.00")[1]
    sweep = list(range(columns)) + list(range(columns - 2, 0, -1))
    palette = None
    if grid.shape[2] == 3:
        # One palette for every frame, made from the whole grid (and white for the text), so
        # colours do not flicker between frames; grey images keep their 256 grey levels.
        everything = tile_images(grid)
        everything[0, 0] = 255
        palette = image_module.fromarray(everything).quantize(colors=256, dither=0)
    frames = []
    for s in sweep:
        tiles = tile_images(grid[:, s : s + 1])
        if scale > 1:
            tiles = tiles.repeat(scale, axis=0).repeat(scale, axis=1)
        picture = image_module.fromarray(tiles)
        frame = image_module.new(
            picture.mode, (picture.width + left_margin, picture.height + top_margin)
        )
        frame.paste(picture, (left_margin, top_margin))
        white = 255 if frame.mode == "L" else (255, 255, 255)
        draw = draw_module.Draw(frame)
        if steps is not None:
            draw.text((left_margin, 3), f"z = {steps[s]:+.2f}", fill=white, font=font)
        for r, label in enumerate(labels or []):
            middle = top_margin + (1 + r * (height + 1) + height / 2) * scale
            draw.text((3, middle - text_size(label)[1] / 2), label, fill=white, font=font)
        frames.append(frame if frame.mode == "L" else frame.quantize(palette=palette, dither=0))
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=frame_ms,
        loop=0,
        optimize=False,
        disposal=1,
    )
    with atomic_output(path) as stream:
        stream.write(buffer.getvalue())
    return path


# --------------------------------------------------------------------------------------------
# Reconstructions and training curves
# --------------------------------------------------------------------------------------------


def save_reconstructions(
    model: LVAE,
    observations: Tensor,
    path: Path,
    *,
    device: torch.device | str | None = None,
) -> Path:
    """Draws inputs ``(N, C, H, W)`` above their reconstructions from the posterior mean.

    The PNG has two rows of ``N`` images: the inputs, then ``model.decode(model.encode(x)[0])``
    in data space. The model runs in eval mode without gradients (its mode is restored).

    Returns:
        ``path``.
    """
    figure_class = _matplotlib_figure()
    if observations.dim() != 4:
        raise ValueError(f"observations must be (N, C, H, W), got {tuple(observations.shape)}")
    with _inference(model, device) as on:
        x = observations.to(on, _model_dtype(model))
        reconstructions = model.decode(model.encode(x)[0]).float().cpu()
    pair = torch.stack([observations.float().cpu(), reconstructions])
    picture = tile_images(pair)
    height, width = observations.shape[2:]
    cell = max(height, width, _MIN_CELL_PIXELS) / max(height, width)
    image_w, image_h = picture.shape[1] * cell, picture.shape[0] * cell
    label_w, top_h = 110.0, 40.0
    figure = figure_class(
        figsize=((image_w + label_w + 10) / _DPI, (image_h + top_h + 10) / _DPI), dpi=_DPI
    )
    axes = figure.add_axes(
        (
            label_w / (image_w + label_w + 10),
            10 / (image_h + top_h + 10),
            image_w / (image_w + label_w + 10),
            image_h / (image_h + top_h + 10),
        )
    )
    _show(axes, picture)
    axes.set_yticks([1 + r * (height + 1) + height / 2 - 0.5 for r in range(2)])
    axes.set_yticklabels(["input", "reconstruction\n(posterior mean)"], fontsize=8)
    axes.set_xticks([])
    axes.tick_params(length=0)
    figure.suptitle("Inputs and their reconstructions", fontsize=9)
    return _save_figure(figure, path)


def save_training_curves(history: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Plots the learned weights, β, the per-dimension KL and the loss terms over training.

    Args:
        history: logged records, each with ``"step"`` and any of ``"weights"`` (the
            reconstruction weight then the KL weight(s)), ``"beta"`` (a float, or one per latent
            for mdL-VAE), ``"kl_per_dim"`` (``D`` floats), ``"recon_loss"`` and ``"kl"``. A panel
            is drawn for each quantity that some record has; records without it are skipped.
        path: the PNG to write (atomically).

    Returns:
        ``path``, or ``None`` (nothing written) when ``history`` is empty.

    Weights, β and the loss terms are on a log scale (weights and β move over orders of
    magnitude); the per-dimension KL too, floored at 1e-3 nats so that switched-off latents
    stay in view.
    """
    if not history:
        return None
    figure_class = _matplotlib_figure()
    panels = [
        ("weights", "loss-term weights the network applied", _weight_names),
        ("learned_weights", "learned weights (their own values)", _weight_names),
        ("beta", "β (KL weight / reconstruction weight)", _beta_names),
        ("kl_per_dim", "KL per latent (nats)", _latent_names),
    ]
    present = [panel for panel in panels if any(panel[0] in record for record in history)]
    loss_keys = [key for key in ("recon_loss", "kl") if any(key in r for r in history)]
    count = len(present) + (1 if loss_keys else 0)
    if count == 0:
        raise ValueError(
            "no record in history has any of 'weights', 'beta', 'kl_per_dim', 'recon_loss', "
            "'kl': there is nothing to plot"
        )
    figure = figure_class(figsize=(8.0, 2.3 * count + 0.6), dpi=_DPI, layout="constrained")
    axes_list = figure.subplots(count, 1, sharex=True, squeeze=False)[:, 0]
    for axes, (key, title, namer) in zip(axes_list, present, strict=False):
        steps, series = _series(history, key)
        floor = 1e-3 if key == "kl_per_dim" else 0.0
        lines = namer(series.shape[1])
        for column, (name, colour) in enumerate(lines):
            shown = np.maximum(series[:, column], floor)
            # a series equal to an earlier one (both weights at 1 for a fixed-β model) would
            # hide it: drawn in open dashes, the earlier line shows through, and the legend says so
            twin = equal_earlier(list(series.T), column)
            style = "-" if twin is None else OPEN_DASHES
            label = name if twin is None else f"{name} (= {lines[twin][0]})"
            axes.plot(steps, shown, label=label, color=colour, linewidth=1.2, linestyle=style)
        _log_scale(axes, series, floor)
        axes.set_title(title, fontsize=9, loc="left")
        axes.legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0,
            ncols=math.ceil(len(lines) / 12),
        )
        axes.grid(True, which="major", alpha=0.3)
    if loss_keys:
        axes = axes_list[-1]
        for key in loss_keys:
            steps, series = _series(history, key)
            axes.plot(steps, series[:, 0], label=_LOSS_NAMES[key], linewidth=1.2)
        _log_scale(axes, np.concatenate([_series(history, k)[1] for k in loss_keys]), 0.0)
        axes.set_title("loss terms (nats)", fontsize=9, loc="left")
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        axes.grid(True, which="major", alpha=0.3)
    axes_list[-1].set_xlabel("step")
    figure.suptitle("Training curves", fontsize=10)
    return _save_figure(figure, path)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """Steps ``(T,)`` and values ``(T, width)`` of the records that have ``key``."""
    records = [r for r in history if key in r and r[key] is not None]
    widths = {np.asarray(r[key], dtype=np.float64).size for r in records}
    if len(widths) != 1:
        raise ValueError(f"history's {key!r} entries change length between records: {widths}")
    steps = np.array([int(r.get("step", i)) for i, r in enumerate(records)])
    values = np.stack([np.asarray(r[key], dtype=np.float64).reshape(-1) for r in records])
    return steps, values


def _log_scale(axes: Any, values: NDArray[Any], floor: float) -> None:
    """Log y-axis when every value is positive (after ``floor``) and they span > 10x."""
    shown = np.maximum(values, floor) if floor > 0 else values
    finite = shown[np.isfinite(shown)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 10:
        axes.set_yscale("log")


_LOSS_NAMES = {"recon_loss": "reconstruction R", "kl": "KL (sum over latents)"}


# Each series of a panel: its label and its colour. A latent has the same colour in every panel;
# the reconstruction weight is black.
_Lines = list[tuple[str, Any]]


def _weight_names(width: int) -> _Lines:
    if width == 2:
        return [("reconstruction weight", "black"), ("KL weight", "C1")]
    kl = [(f"KL weight z{j}", _latent_colour(j, width - 1)) for j in range(width - 1)]
    return [("reconstruction weight", "black"), *kl]


def _beta_names(width: int) -> _Lines:
    if width == 1:
        return [("β", "C0")]
    return [(f"β z{j}", _latent_colour(j, width)) for j in range(width)]


def _latent_names(width: int) -> _Lines:
    return [(f"z{j}", _latent_colour(j, width)) for j in range(width)]


def _latent_colour(index: int, count: int) -> Any:
    """Distinct colours for up to 20 latents, then a continuous colour map."""
    colormaps = importlib.import_module("matplotlib").colormaps
    if count <= 20:
        return colormaps["tab10" if count <= 10 else "tab20"](index)
    return colormaps["viridis"](index / (count - 1))


def _show(axes: Any, picture: NDArray[np.uint8]) -> None:
    if picture.ndim == 2:
        axes.imshow(picture, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(picture, interpolation="nearest")
    for spine in axes.spines.values():
        spine.set_visible(False)


def _save_figure(figure: Any, path: Path) -> Path:
    """Renders ``figure`` to PNG bytes, then writes them atomically (no date in the metadata)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    with atomic_output(Path(path)) as stream:
        stream.write(buffer.getvalue())
    return Path(path)


# --------------------------------------------------------------------------------------------
# One call for a run
# --------------------------------------------------------------------------------------------


def save_run_pictures(
    model: LVAE,
    dataset: Any,
    out_dir: Path,
    history: Sequence[Mapping[str, Any]],
    *,
    metrics: Evaluation | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> dict[str, Path]:
    """Writes every picture of a run into ``out_dir``.

    Files (names are the keys of the result):

    * ``traversal_png`` → ``traversal.png``: one row per latent ordered by KL (measured on
      :data:`SUMMARY_POINTS` observations, :data:`SUMMARY_POINTS_WITHOUT_FACTORS` for a dataset
      without factors), labelled with the KL and, when factors are known,
      the factor the latent captures best: from ``metrics`` (MIG's mutual information
      normalised by the factor's entropy, else DCI's importance) when given, else the
      normalised mutual information on the same sample (:func:`normalized_mutual_information`);
    * ``traversal_gif`` → ``traversal.gif``: the same traversal, animated;
    * ``reconstructions`` → ``reconstructions.png``: :data:`RECONSTRUCTION_COUNT` inputs above
      their reconstructions;
    * ``training_curves`` → ``training_curves.png``, only when ``history`` is not empty.

    The anchor of the traversal is the first observation drawn. Deterministic for a ``seed``.

    Args:
        model: an `LVAE`, on any device; run in eval mode without gradients, mode restored.
        dataset: a ground-truth dataset (``sample(n, random_state)``, ``factor_names``) or a
            sized map-style dataset of images or ``(image, ...)`` tuples (e.g. CelebA).
        out_dir: the folder to write into (created if missing).
        history: the run's logged records (see :func:`save_training_curves`); may be empty.
        metrics: an :class:`~learnable_weights.metrics.Evaluation` of this model, or ``None``.
        device: where the model runs (default: where it is).
        seed: seed of the draws.

    Returns:
        ``{name: path}`` of every file written.

    Raises:
        ImportError: matplotlib or pillow is missing (checked before anything is written).
    """
    _matplotlib_figure()
    _pillow_image()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Without factors only the KL needs the sample, and images may be slow to read (CelebA).
    has_factors = callable(getattr(dataset, "sample", None))
    points = SUMMARY_POINTS if has_factors else SUMMARY_POINTS_WITHOUT_FACTORS
    summary = posterior_summary(model, dataset, num_points=points, seed=seed, device=device)
    order = kl_order(summary.kl_per_dim)
    matches = latent_factor_matches(summary, metrics)
    grid = traversal_grid(model, summary.observations[0], order, device=device)
    written = {
        "traversal_png": save_traversal_png(
            grid, out / "traversal.png", row_labels(order, summary.kl_per_dim, matches)
        ),
        "traversal_gif": save_traversal_gif(
            grid,
            out / "traversal.gif",
            labels=[f"z{j}" for j in order],
            values=TRAVERSAL_VALUES,
            scale=max(1, math.ceil(64 / grid.shape[-1])),
        ),
        "reconstructions": save_reconstructions(
            model, summary.observations, out / "reconstructions.png", device=device
        ),
    }
    curves = save_training_curves(history, out / "training_curves.png")
    if curves is not None:
        written["training_curves"] = curves
    return written
