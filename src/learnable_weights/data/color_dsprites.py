"""Colour dSprites, as disentanglement_lib defines it: each sprite tinted with a random colour.

disentanglement_lib's ``ColorDSprites`` (``disentanglement_lib/data/ground_truth/dsprites.py``;
``color_dsprites`` in its ``named_data.py``, with latent factors ``[1, 2, 3, 4, 5]``) keeps
dSprites' five factors (shape 3, scale 6, orientation 40, posX 32, posY 32) and draws, for every
observation, a colour ``c`` uniform in ``[0.5, 1)^3``: the observation is the binary dSprites
image repeated to three channels times ``c``, channel by channel. The colour is not a factor, so
observations are random given the factors.

:class:`ColorDSprites` wraps a one-channel ground-truth dataset (procedural dSprites by default,
or the real :class:`~learnable_weights.data.DSprites`) and

* samples through disentanglement_lib's interface with its exact draws: the base observations
  (which draw nothing), then one ``random_state.uniform(0.5, 1, size=(N, 1, 1, 3))``;
* declares ``deterministic_observations = False``, so ``learnable_weights.metrics.evaluate``
  encodes every draw (no code cache);
* follows :class:`~learnable_weights.data.ground_truth.TintedGroundTruth`, so
  :class:`~learnable_weights.data.DeviceBatchSampler` keeps the base images on the device (bit
  packed, or rendered for procedural dSprites) and tints each batch there with its own
  generator.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from learnable_weights.data.ground_truth import (
    GroundTruthDataset,
    Transform,
    _check_random_state,
)
from learnable_weights.data.procedural_dsprites import ProceduralDSprites

__all__ = ["COLOR_HIGH", "COLOR_LOW", "ColorDSprites"]

COLOR_LOW = 0.5
"""Smallest value of a colour channel (disentanglement_lib's ``uniform(0.5, 1, ...)``)."""
COLOR_HIGH = 1.0
"""Bound (excluded) of a colour channel."""

# Colours drawn with a torch generator are COLOR_LOW + k * 2**-24 for k uniform in [0, 2**23):
# every float32 in [0.5, 1), each equally likely, with no rounding up to 1.
_COLOR_STEPS = 1 << 23
_COLOR_STEP = 2.0**-24


class ColorDSprites(GroundTruthDataset):
    """Colour dSprites: a one-channel dSprites-like dataset, each observation randomly coloured.

    Observations are float32 ``(3, H, W)``: the base image ``(1, H, W)`` times a colour
    ``(c_r, c_g, c_b)`` drawn uniformly in ``[0.5, 1)`` per observation; factors, their sizes,
    names and index order are the base's (for dSprites: shape 3, scale 6, orientation 40,
    posX 32, posY 32).

    Where the colours come from:

    * :meth:`sample_observations_from_factors`, :meth:`sample`, :meth:`sample_observations`
      (disentanglement_lib's interface): the given ``RandomState``, exactly as
      disentanglement_lib's ``ColorDSprites``: one ``random_state.uniform(0.5, 1, size=(N, 1, 1,
      3))`` after the base observations, so one seed gives the same factors *and* colours here
      and there (float32 here; disentanglement_lib returns the same values in float64).
    * ``dataset[i]``, :meth:`observations_at` and DataLoader batches: torch's global generator
      (CPU), like a random data augmentation. ``torch.manual_seed`` makes them repeatable, and
      DataLoader worker processes seed it per worker, so workers draw different colours.
    * :class:`~learnable_weights.data.DeviceBatchSampler` (and so training through
      ``SamplerBatches``): the sampler's own generator, through :meth:`tint`, so a resumed run
      draws the same colours.

    Args:
        base: the one-channel dataset to colour (default :class:`ProceduralDSprites`, rendered
            on demand; the real :class:`~learnable_weights.data.DSprites` works as well). It
            must have no ``transform`` (give the transform here instead).
        transform: optional callable on each float32 ``(3, H, W)`` coloured image (see
            :class:`GroundTruthDataset`).

    Attributes:
        source: the base's ``source`` (``"procedural"`` or ``"real"``), or ``None``.

    Raises:
        TypeError: ``base`` is not a :class:`GroundTruthDataset`.
        ValueError: ``base`` has more than one channel or a ``transform``.
    """

    def __init__(
        self, base: GroundTruthDataset | None = None, transform: Transform | None = None
    ) -> None:
        wrapped = ProceduralDSprites() if base is None else base
        if not isinstance(wrapped, GroundTruthDataset):
            raise TypeError(
                f"base must be a GroundTruthDataset (e.g. ProceduralDSprites() or DSprites()), "
                f"got {type(wrapped).__name__}."
            )
        channels, height, width = wrapped.observation_shape
        if channels != 1:
            raise ValueError(
                f"ColorDSprites colours one-channel images, but {type(wrapped).__name__} has "
                f"observations {wrapped.observation_shape}."
            )
        if wrapped.transform is not None:
            raise ValueError(
                f"the base {type(wrapped).__name__} has a transform; ColorDSprites colours the "
                "raw base images, so pass the transform to ColorDSprites(transform=...) instead."
            )
        super().__init__(wrapped.factor_sizes, wrapped.factor_names, (3, height, width), transform)
        self._base = wrapped
        source = getattr(wrapped, "source", None)
        self.source: str | None = None if source is None else str(source)

    @property
    def base(self) -> GroundTruthDataset:
        """The wrapped one-channel dataset (same factors and index order, no colour)."""
        return self._base

    @property
    def deterministic_observations(self) -> bool:
        """Always False: every observation has a random colour, so metrics encode every draw."""
        return False

    # ------------------------------------------------------------------ colouring
    def tint(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> torch.Tensor:
        """Colour base images with colours uniform in ``[0.5, 1)^3`` drawn from ``generator``.

        Each colour channel is ``0.5 + k * 2**-24`` with ``k`` uniform in ``[0, 2**23)`` (one
        ``torch.randint`` call of ``(num_replicas * B, 3)``): every float32 in ``[0.5, 1)``,
        equally likely.

        Args:
            images: ``(B, 1, H, W)`` base images (any real dtype; e.g. float32 in {0, 1}) on any
                device.
            generator: a :class:`torch.Generator` on ``images.device``; ``None`` draws from
                torch's default generator of that device.
            num_replicas, rank: draw the colours of a global batch of ``num_replicas * B``
                images and use rows ``rank, rank + num_replicas, ...`` (data-parallel training,
                where every rank's generator is in the same state; see
                :class:`~learnable_weights.data.ground_truth.TintedGroundTruth`).

        Returns:
            float32 ``(B, 3, H, W)`` on ``images.device``: channel ``j`` of image ``b`` is
            ``images[b, 0] * colour[b, j]``.
        """
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(
                f"tint expects base images of shape (B, 1, H, W), got {tuple(images.shape)}."
            )
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {num_replicas}, {rank}."
            )
        if generator is not None and generator.device.type != images.device.type:
            raise ValueError(
                f"the generator is on {generator.device} but the images are on {images.device}; "
                "draw the colours with a generator on the images' device."
            )
        count = int(images.shape[0])
        steps = torch.randint(
            0,
            _COLOR_STEPS,
            (count * num_replicas, 3),
            generator=generator,
            device=images.device,
            dtype=torch.int64,
        )
        colours = steps[rank::num_replicas].to(torch.float32).mul_(_COLOR_STEP).add_(COLOR_LOW)
        return images.to(torch.float32) * colours[:, :, None, None]

    # ------------------------------------------------------------------ map-style access
    def _observations_at(self, indices: npt.NDArray[np.int64]) -> torch.Tensor:
        """Coloured observations ``(N, 3, H, W)``, colours from torch's global generator."""
        return self.tint(self._base.observations_at(indices))

    # ------------------------------------------------------------------ disentanglement_lib API
    def sample_observations_from_factors(
        self, factors: npt.ArrayLike, random_state: np.random.RandomState
    ) -> torch.Tensor:
        """Coloured observations of given factor classes, drawn as disentanglement_lib does.

        The base observations first (the base's own :meth:`sample_observations_from_factors`,
        which draws nothing for dSprites), then one
        ``random_state.uniform(0.5, 1, size=(N, 1, 1, 3))``, disentanglement_lib's colours in
        NHWC order; each channel is the base image times its colour, computed in float64 and
        rounded to float32 (so the result is disentanglement_lib's, transposed to NCHW and
        cast to float32).

        Args:
            factors: integer array ``(N, K)`` of factor classes.
            random_state: the source of the colours; it is advanced.

        Returns:
            float32 tensor ``(N, 3, H, W)`` (after ``transform``, if any).
        """
        _check_random_state(random_state)
        array = self._validated_factors(factors)
        if array.ndim != 2:
            raise ValueError(f"factors must have shape (N, {self.num_factors}), got {array.shape}.")
        plain = self._base.sample_observations_from_factors(array, random_state)
        colours = random_state.uniform(COLOR_LOW, COLOR_HIGH, size=(array.shape[0], 1, 1, 3))
        # (N, 1, H, W) x (N, 3, 1, 1) in float64, as disentanglement_lib's float32 x float64.
        product = plain.numpy().astype(np.float64) * colours.transpose(0, 3, 1, 2)
        observations = torch.from_numpy(product.astype(np.float32))
        return self._transformed(observations)
