"""Procedural dSprites: dSprites' factor grid, rendered by this library in torch.

The official dSprites images (Matthey et al. 2017, github.com/deepmind/dsprites-dataset) were drawn
with the LÖVE 2D engine by code that was never published, so they cannot be regenerated bit for
bit. :class:`ProceduralDSprites` keeps dSprites' exact factor grid, order and value grids
(737,280 binary 64x64 images; shape x scale x orientation x posX x posY = 3 x 6 x 40 x 32 x 32,
posY fastest) and draws the three sprites itself, with geometry calibrated against the real frames
of the official ``dsprites.gif`` (docs/data/procedural_dsprites.md gives the fidelity per shape).
It is called "procedural dSprites" everywhere, never dSprites.

Geometry (measured on the official ``dsprites.gif``; docs/data/procedural_dsprites.md gives the
measurements and tests/data/gif_frames.py the factors of each frame), in pixels of the 64x64 canvas
with pixel ``i`` spanning ``[i, i + 1)`` and row 0 at the top:

* the sprite centre is ``16 + 32 * pos`` on both axes (posX -> column, posY -> row), with
  ``pos = k / 31`` the official ``linspace(0, 1, 32)``;
* orientation ``theta`` (``linspace(0, 2 pi, 40)``) turns the sprite counter-clockwise as
  displayed, about its centre;
* sizes scale linearly with ``scale`` (``linspace(0.5, 1, 6)``); at scale 1 the square has side
  ``2 * SQUARE_HALF_SIDE`` = 19.2 px (0.3 of the canvas), the ellipse semi-axes
  :data:`ELLIPSE_SEMI_AXES` and the heart the outline of :data:`HEART` (the classic heart curve).

The real frames are point-sampled: a pixel belongs to the sprite when its centre does, which is
what ``supersample=1`` (the default) renders. ``supersample=k`` anti-aliases instead with
``k x k`` samples per pixel and thresholds the coverage at 1/2; both give images in {0, 1} like
the official ``imgs``. Rendering is vectorised over a batch (no Python loop per image) and runs on
the device of the factors, so training and metrics can draw batches without any stored array.
"""

from __future__ import annotations

import functools
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from learnable_weights._version import __version__
from learnable_weights.data.ground_truth import GroundTruthDataset, Transform

__all__ = [
    "DSPRITES_FACTOR_NAMES",
    "DSPRITES_FACTOR_SIZES",
    "ELLIPSE_SEMI_AXES",
    "HEART",
    "PROCEDURAL_DSPRITES_FILENAME",
    "PROCEDURAL_MARKER_KEY",
    "SQUARE_HALF_SIDE",
    "HeartGeometry",
    "ProceduralDSprites",
    "dsprites_latents_values",
    "render_dsprites",
]

DSPRITES_FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
"""dSprites' factors without the constant colour, as disentanglement_lib's ``dsprites_full``."""
DSPRITES_FACTOR_SIZES = (3, 6, 40, 32, 32)
PROCEDURAL_DSPRITES_FILENAME = "procedural_dsprites_64x64.npz"
"""File name of the npz written by :meth:`ProceduralDSprites.write_npz` (never the official one)."""
PROCEDURAL_MARKER_KEY = "learnable_weights_procedural"
"""Extra npz member (0-d string array: our version) that marks a file as procedural dSprites."""

IMAGE_SIZE = 64
_CPU_BLOCK = 2048
_WINDOW = 32  # rendered window around the sprite centre; the largest sprite spans < 29 px
SQUARE_HALF_SIDE = 9.6
"""Half the square's side at scale 1, in pixels (side 0.3 * scale of the canvas)."""
ELLIPSE_SEMI_AXES = (12.8, 7.2)
"""Ellipse semi-axes (horizontal, vertical) at scale 1 and orientation 0, in pixels."""


@dataclass(frozen=True)
class HeartGeometry:
    """The heart at scale 1 and orientation 0, in pixels relative to the sprite centre (y down).

    The outline is the classic parametric heart (E. Weisstein, "Heart Curve", Wolfram MathWorld)
    ``u(t) = 16 sin^3 t``, ``v(t) = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t`` (``v`` up), placed
    at ``x = x_scale * u``, ``y = y_offset - y_scale * v``. The curve is star-shaped about its
    origin ``(0, y_offset)``, so a point is inside when its distance from the origin is at most
    the outline's radius in the same direction (a lookup table of ``table_size`` angles).
    """

    x_scale: float
    y_scale: float
    y_offset: float
    table_size: int = 4096


HEART = HeartGeometry(x_scale=0.6, y_scale=0.66, y_offset=-1.44)
"""Calibrated heart geometry (see docs/data/procedural_dsprites.md)."""

# Official value grids (dSprites metadata 'latents_possible_values').
_SCALES = np.linspace(0.5, 1.0, 6)
_ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
_POSITIONS = np.linspace(0.0, 1.0, 32)


def dsprites_latents_values(classes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Official latent values of dSprites factor classes.

    Args:
        classes: int64 ``(N, 5)`` classes (shape, scale, orientation, posX, posY).

    Returns:
        float64 ``(N, 6)`` values in the official ``latents_values`` layout (color, shape,
        scale, orientation, posX, posY): color 1, shape 1..3, scale ``linspace(0.5, 1, 6)``,
        orientation ``linspace(0, 2 pi, 40)``, positions ``linspace(0, 1, 32)``.
    """
    values = np.empty((classes.shape[0], 6), dtype=np.float64)
    values[:, 0] = 1.0
    values[:, 1] = classes[:, 0] + 1.0
    values[:, 2] = _SCALES[classes[:, 1]]
    values[:, 3] = _ORIENTATIONS[classes[:, 2]]
    values[:, 4] = _POSITIONS[classes[:, 3]]
    values[:, 5] = _POSITIONS[classes[:, 4]]
    return values


def render_dsprites(
    factors: torch.Tensor,
    *,
    supersample: int = 1,
    heart: HeartGeometry = HEART,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Render procedural dSprites images from factor classes, on the factors' device.

    Args:
        factors: integer tensor ``(N, 5)`` of classes (shape, scale, orientation, posX, posY)
            in dSprites' grid ``[3, 6, 40, 32, 32]``; shape 0/1/2 = square/ellipse/heart.
        supersample: samples per pixel side: 1 (default) tests each pixel centre, as the real
            frames were drawn; ``k > 1`` anti-aliases with ``k**2`` samples per pixel and
            thresholds the coverage at 1/2.
        heart: heart outline (default: the calibrated :data:`HEART`).
        dtype: dtype of the result; ``torch.uint8`` or ``torch.bool`` write a quarter of the
            memory of float32 when the images are stored rather than fed to a network.

    Returns:
        tensor ``(N, 1, 64, 64)`` of ``dtype`` with values in {0, 1}, on ``factors.device``.
    """
    if factors.dtype.is_floating_point or factors.dtype == torch.bool or factors.is_complex():
        raise TypeError(f"factors must be an integer tensor of classes, got {factors.dtype}.")
    if factors.ndim != 2 or factors.shape[1] != len(DSPRITES_FACTOR_SIZES):
        raise ValueError(
            f"factors must have shape (N, 5) (shape, scale, orientation, posX, posY), "
            f"got {tuple(factors.shape)}."
        )
    if isinstance(supersample, bool) or not isinstance(supersample, int) or supersample < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample!r}.")
    sizes = _factor_sizes_on(factors.device)
    if bool(((factors < 0) | (factors >= sizes)).any()):
        raise ValueError(
            f"factor classes out of range; they must lie in [0, size) for sizes "
            f"{list(DSPRITES_FACTOR_SIZES)} (shape, scale, orientation, posX, posY)."
        )
    images = torch.zeros(
        (factors.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE), dtype=dtype, device=factors.device
    )
    # On the CPU, blocks of a few thousand images keep the float temporaries in cache.
    block = _CPU_BLOCK if factors.device.type == "cpu" else max(1, factors.shape[0])
    for start in range(0, factors.shape[0], block):
        part = factors[start : start + block]
        for shape_class in range(3):
            rows = torch.nonzero(part[:, 0] == shape_class).squeeze(1)
            if rows.numel() == 0:
                continue
            window, top, left = _render_window(part[rows], shape_class, supersample, heart)
            _paste(images, rows + start, window.to(dtype), top, left)
    return images


def _render_window(
    factors: torch.Tensor, shape_class: int, supersample: int, heart: HeartGeometry
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render one shape into a 32x32 window around each sprite centre.

    Returns the window (N, 32, 32) bool and its top row and left column (N,) in the 64x64
    canvas.
    """
    device = factors.device
    # Per-image geometry in float64 where the device has it (MPS does not): the per-pixel work
    # below is float32 either way.
    precise = torch.float32 if device.type == "mps" else torch.float64
    values = factors.to(precise)
    scale = 0.5 + 0.1 * values[:, 1]
    theta = values[:, 2] * (2.0 * math.pi / 39.0)
    centre_x = 16.0 + values[:, 3] * (32.0 / 31.0)
    centre_y = 16.0 + values[:, 4] * (32.0 / 31.0)
    left = torch.floor(centre_x).to(torch.int64) - _WINDOW // 2
    top = torch.floor(centre_y).to(torch.int64) - _WINDOW // 2
    # Sample offsets inside a pixel: (j + 0.5) / supersample, j = 0..supersample-1.
    offsets = (torch.arange(supersample, device=device, dtype=precise) + 0.5) / supersample
    grid = torch.arange(_WINDOW, device=device, dtype=precise)
    samples = (grid[:, None] + offsets[None, :]).reshape(-1)  # (W * S,)
    dx = (left.to(precise) - centre_x)[:, None] + samples[None, :]  # (N, W*S)
    dy = (top.to(precise) - centre_y)[:, None] + samples[None, :]
    # Local (unrotated, unscaled) coordinates: q = R(theta)^T d / scale, with R turning
    # counter-clockwise as displayed (y down): qx = dx cos - dy sin, qy = dx sin + dy cos.
    cos = (torch.cos(theta) / scale)[:, None]
    sin = (torch.sin(theta) / scale)[:, None]
    if shape_class == 1:  # the ellipse test works in axis-normalised coordinates
        cos_x, sin_x = cos / ELLIPSE_SEMI_AXES[0], sin / ELLIPSE_SEMI_AXES[0]
        cos_y, sin_y = cos / ELLIPSE_SEMI_AXES[1], sin / ELLIPSE_SEMI_AXES[1]
    else:
        cos_x, sin_x, cos_y, sin_y = cos, sin, cos, sin
    qx = (dx * cos_x).to(torch.float32)[:, None, :] - (dy * sin_x).to(torch.float32)[:, :, None]
    qy = (dx * sin_y).to(torch.float32)[:, None, :] + (dy * cos_y).to(torch.float32)[:, :, None]
    if shape_class == 0:
        inside = torch.maximum(qx.abs_(), qy.abs_()) <= SQUARE_HALF_SIDE
    elif shape_class == 1:
        inside = qx.square_().add_(qy.square_()) <= 1.0
    else:
        inside = _inside_heart(qx, qy, heart)
    count = supersample * supersample
    if supersample == 1:
        window = inside
    else:
        coverage = inside.view(-1, _WINDOW, supersample, _WINDOW, supersample).sum(
            dim=(2, 4), dtype=torch.int32
        )
        window = 2 * coverage >= count
    return window, top, left


def _inside_heart(qx: torch.Tensor, qy: torch.Tensor, heart: HeartGeometry) -> torch.Tensor:
    """Whether local points ``(qx, qy)`` (N, H, W), in pixels at scale 1 (y down), are inside."""
    squared_radius = _heart_squared_radius_table(heart, qx.device)
    dy = qy.sub_(heart.y_offset)
    angle = torch.atan2(dy, qx)  # in [-pi, pi]
    slot = (angle.add_(math.pi).mul_(heart.table_size / (2.0 * math.pi))).to(torch.int64)
    slot.clamp_(max=heart.table_size - 1)
    return qx.square_().add_(dy.square_()) <= squared_radius[slot]


@functools.lru_cache(maxsize=16)
def _factor_sizes_on(device: torch.device) -> torch.Tensor:
    """dSprites' factor sizes as an int64 tensor on ``device``, created once per device."""
    return torch.tensor(DSPRITES_FACTOR_SIZES, dtype=torch.int64, device=device)


@functools.lru_cache(maxsize=16)
def _heart_squared_radius_table(heart: HeartGeometry, device: torch.device) -> torch.Tensor:
    """Squared radius of the heart outline about its origin at ``table_size`` angles.

    Entry ``j`` covers polar angles ``[-pi + 2 pi j / M, -pi + 2 pi (j + 1) / M)`` (``M`` =
    ``table_size``) and holds the outline's squared radius at the slot's middle angle.
    Returns float32 ``(M,)`` on ``device``.
    """
    t = np.linspace(0.0, 2.0 * np.pi, 16 * heart.table_size, endpoint=False)
    u = 16.0 * np.sin(t) ** 3
    v = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
    x = heart.x_scale * u
    y = -heart.y_scale * v  # relative to the origin (0, y_offset), y down
    # The outline is star-shaped about the origin, so its polar angle is monotonic in t.
    angle = np.unwrap(np.arctan2(y, x))
    order = np.argsort(angle)
    angle, squared = angle[order], (x * x + y * y)[order]
    middle = -np.pi + 2.0 * np.pi * (np.arange(heart.table_size) + 0.5) / heart.table_size
    table = np.interp(middle, angle, squared, period=2.0 * np.pi)
    return torch.from_numpy(table.astype(np.float32)).to(device)


def _paste(
    images: torch.Tensor,
    rows: torch.Tensor,
    window: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
) -> None:
    """Write windows (N, 32, 32) at (top, left) into ``images[rows]`` (B, 1, 64, 64)."""
    offsets = torch.arange(_WINDOW, device=window.device)
    row_index = (top[:, None] + offsets[None, :])[:, :, None]  # (N, 32, 1)
    col_index = (left[:, None] + offsets[None, :])[:, None, :]  # (N, 1, 32)
    pixel = row_index * IMAGE_SIZE + col_index + (rows * IMAGE_SIZE * IMAGE_SIZE)[:, None, None]
    images.view(-1).scatter_(0, pixel.reshape(-1), window.reshape(-1))


class ProceduralDSprites(GroundTruthDataset):
    """Procedural dSprites: dSprites' factor grid rendered on demand by :func:`render_dsprites`.

    737,280 observations ``(1, 64, 64)`` in {0, 1}; factors (shape, scale, orientation, posX,
    posY) with sizes ``[3, 6, 40, 32, 32]``, posY fastest, exactly as disentanglement_lib's
    ``dsprites_full``. Nothing is stored: images are rendered from their factors.

    Args:
        transform: optional callable on each ``(1, 64, 64)`` float32 image.
        supersample: anti-aliasing samples per pixel side (see :func:`render_dsprites`).
        device: device :meth:`render` uses when given NumPy classes (default CPU).

    Attributes:
        source: always ``"procedural"`` (as :class:`~learnable_weights.data.DSprites` reports
            for a file this class wrote; ``"real"`` there for the official file), so code that
            logs ``dataset.source`` works with both.
    """

    def __init__(
        self,
        transform: Transform | None = None,
        *,
        supersample: int = 1,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(DSPRITES_FACTOR_SIZES, DSPRITES_FACTOR_NAMES, (1, 64, 64), transform)
        if isinstance(supersample, bool) or not isinstance(supersample, int) or supersample < 1:
            raise ValueError(f"supersample must be a positive integer, got {supersample!r}.")
        self.source = "procedural"
        self.supersample = supersample
        self.device = torch.device("cpu") if device is None else torch.device(device)

    def render(self, factors: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Render a batch from factor classes on their device.

        Args:
            factors: integer tensor ``(N, 5)`` of classes on any device.
            dtype: dtype of the result (see :func:`render_dsprites`).

        Returns:
            ``(N, 1, 64, 64)`` in {0, 1} on ``factors.device`` (no ``transform``).
        """
        return render_dsprites(factors, supersample=self.supersample, dtype=dtype)

    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        factors = torch.from_numpy(self.index_to_factors(indices)).to(self.device)
        return self.render(factors).cpu()

    def write_npz(
        self,
        directory: str | os.PathLike[str],
        *,
        indices: npt.ArrayLike | None = None,
        chunk_size: int = 16384,
        compress: bool = True,
    ) -> Path:
        """Write the whole set in the official dSprites npz layout, atomically.

        The file is ``<directory>/procedural_dsprites_64x64.npz`` (never the official file
        name) with ``imgs`` uint8 ``(737280, 64, 64)`` in {0, 1}, ``latents_classes`` int64
        ``(737280, 6)``, ``latents_values`` float64 ``(737280, 6)``, ``metadata`` (a 0-d object
        array holding the official dict, its title and description saying procedural) and
        ``learnable_weights_procedural``, a 0-d string array holding this library's version,
        which marks the file as procedural dSprites. Images are rendered and streamed into the
        archive ``chunk_size`` at a time, so memory stays bounded; the archive is written to a
        temporary file in the same folder and renamed into place (:func:`os.replace`), so a
        half-written file never carries the final name.

        Args:
            directory: folder to write into (created if missing).
            indices: write only these observations, in this order (int ``(M,)``); default:
                all 737,280 in grid order, as the official file. A subset keeps the layout but
                is not a full grid (handy for small test files).
            chunk_size: images rendered per batch.
            compress: deflate the members (about 20 MB, like the official file) or store them
                (3 GB, memory-mappable).

        Returns:
            The path of the written file.
        """
        from learnable_weights.data.cache import atomic_output

        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
        if indices is None:
            chosen = np.arange(len(self), dtype=np.int64)
        else:
            chosen = self._validated_indices(indices)
            if chosen.ndim != 1:
                raise ValueError(f"indices must be a 1-D array, got shape {chosen.shape}.")
        count = int(chosen.shape[0])
        classes5 = self.index_to_factors(chosen)
        latents_classes = np.concatenate([np.zeros((count, 1), dtype=np.int64), classes5], axis=1)
        target = Path(directory) / PROCEDURAL_DSPRITES_FILENAME
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with atomic_output(target) as stream, zipfile.ZipFile(stream, "w", method) as archive:
            with archive.open("imgs.npy", "w", force_zip64=True) as member:
                header = {"descr": "|u1", "fortran_order": False, "shape": (count, 64, 64)}
                np.lib.format.write_array_header_1_0(member, header)
                for start in range(0, count, chunk_size):
                    stop = min(start + chunk_size, count)
                    factors = torch.from_numpy(classes5[start:stop]).to(self.device)
                    images = self.render(factors, dtype=torch.uint8)[:, 0]
                    member.write(images.cpu().numpy().data)
            arrays: dict[str, npt.NDArray[Any]] = {
                "latents_classes": latents_classes,
                "latents_values": dsprites_latents_values(classes5),
                "metadata": _metadata(__version__),
                PROCEDURAL_MARKER_KEY: np.array(__version__),
            }
            for key, array in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=array.dtype.hasobject)
        return target


def _metadata(version: str) -> npt.NDArray[np.object_]:
    """The official ``metadata`` dict (layout of the dSprites npz), marked as procedural."""
    metadata = {
        "date": "April 2017",
        "description": (
            "Procedural dSprites rendered by learnable-weights "
            f"{version}: the dSprites factor grid, order and value grids with sprites drawn "
            "by the library (not the official dSprites images)."
        ),
        "version": 1,
        "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY"),
        "latents_possible_values": {
            "color": np.array([1.0]),
            "shape": np.array([1.0, 2.0, 3.0]),
            "scale": _SCALES.copy(),
            "orientation": _ORIENTATIONS.copy(),
            "posX": _POSITIONS.copy(),
            "posY": _POSITIONS.copy(),
        },
        "latents_sizes": np.array([1, 3, 6, 40, 32, 32]),
        "author": "learnable-weights (procedural); dSprites layout by lmatthey@google.com",
        "title": "procedural dSprites (learnable-weights)",
    }
    holder = np.empty((), dtype=object)
    holder[()] = metadata
    return holder
