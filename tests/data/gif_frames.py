"""Real dSprites frames for tests: the 320 frames of the official ``dsprites.gif``.

``dsprites.gif`` (next to this file, with its Apache-2.0 licence in ``LICENSE-dsprites``) comes
unchanged from github.com/deepmind/dsprites-dataset. Each frame is an exact dSprites image. The
frame -> latent classes map below (traversal segments) was inferred by this project from the
frames' pixel statistics (sprite area, bounding box, centre; every ping-pong repeat is
pixel-identical): the GIF itself records no labels.

Usage::

    from gif_frames import load_gif_frames   # tests run with --import-mode=importlib
    images, latents_classes = load_gif_frames()
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["GIF_PATH", "LATENT_NAMES", "SHAPE_CLASSES", "gif_latents_classes", "load_gif_frames"]

GIF_PATH = Path(__file__).with_name("dsprites.gif")
LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
SHAPE_CLASSES = {"square": 0, "ellipse": 1, "heart": 2}
NUM_FRAMES = 320

_UP6 = list(range(6))
_DOWN6 = _UP6[::-1]
_UP32 = list(range(32))
_DOWN32 = _UP32[::-1]

# (shape, scale classes, orientation classes, posX classes, posY classes): the one list with
# more than one entry is traversed, the others are held constant. Frames follow in this order.
_SEGMENTS: list[tuple[str, list[int], list[int], list[int], list[int]]] = [
    ("heart", _UP6 + _DOWN6 + _UP6, [0], [0], [0]),  # frames 0-17
    ("heart", [5], list(range(40)), [0], [0]),  # 18-57
    ("heart", [5], [0], [0], _UP32),  # 58-89: moves down
    ("heart", [5], [0], _UP32, [31]),  # 90-121: moves right
    ("heart", [5], [0], [31], _DOWN32),  # 122-153
    ("heart", [5], [0], _DOWN32, [0]),  # 154-185
    ("heart", _DOWN6, [0], [0], [0]),  # 186-191
    ("ellipse", _UP6 + _DOWN6 + _UP6, [0], [0], [0]),  # 192-209
    ("ellipse", [5], list(range(40)), [0], [0]),  # 210-249
    ("ellipse", _DOWN6, [0], [0], [0]),  # 250-255
    ("square", _UP6 + _DOWN6 + _UP6, [0], [0], [0]),  # 256-273
    ("square", [5], list(range(40)), [0], [0]),  # 274-313
    ("square", _DOWN6, [0], [0], [0]),  # 314-319
]


def gif_latents_classes() -> npt.NDArray[np.int64]:
    """Latent classes of the 320 frames: int64 ``(320, 6)`` in dSprites' column order
    (color, shape, scale, orientation, posX, posY); color is always class 0."""
    rows: list[list[int]] = []
    for shape, scales, orientations, xs, ys in _SEGMENTS:
        length = max(len(scales), len(orientations), len(xs), len(ys))
        for step in range(length):
            rows.append(
                [
                    0,
                    SHAPE_CLASSES[shape],
                    scales[step % len(scales)],
                    orientations[step % len(orientations)],
                    xs[step % len(xs)],
                    ys[step % len(ys)],
                ]
            )
    classes = np.array(rows, dtype=np.int64)
    assert classes.shape == (NUM_FRAMES, 6), classes.shape
    return classes


def load_gif_frames() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Return ``(images, latents_classes)`` of the real dSprites frames in ``dsprites.gif``.

    Returns:
        images: uint8 ``(320, 64, 64)`` with values in {0, 1} (as the official ``imgs``).
        latents_classes: int64 ``(320, 6)``, see :func:`gif_latents_classes`.
    """
    from PIL import Image, ImageSequence

    with Image.open(GIF_PATH) as gif:
        frames = [np.array(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]
    images = np.stack(frames)
    if images.shape != (NUM_FRAMES, 64, 64) or not np.isin(images, (0, 255)).all():
        raise ValueError(f"{GIF_PATH} is not the official dsprites.gif (got {images.shape}).")
    return (images // 255).astype(np.uint8), gif_latents_classes()
