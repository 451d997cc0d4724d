"""The ground-truth dataset duck type, encoding and input checks shared by the sampling metrics.

:func:`~learnable_weights.metrics.beta_vae.beta_vae_score`,
:func:`~learnable_weights.metrics.factor_vae.factor_vae_score` and
:func:`~learnable_weights.metrics.evaluate.evaluate` draw observations from a ground-truth dataset
(disentanglement_lib's ``GroundTruthData``, ``data/ground_truth/ground_truth_data.py``) and
encode them with a representation function; this module holds what they share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = [
    "GroundTruthData",
    "Representation",
    "as_numpy",
    "check_count",
    "check_dataset",
    "check_random_state",
    "concatenate_observations",
    "encode",
]

Representation = Callable[[Any], Any]


@runtime_checkable
class GroundTruthData(Protocol):
    """disentanglement_lib's ground-truth dataset duck type (``GroundTruthData`` in
    ``data/ground_truth/ground_truth_data.py``).

    Factors are integer classes ``(n, K)``; observations ``(n, C, H, W)`` (numpy or torch).
    Everything random is drawn from the given ``RandomState``. A dataset whose observations are
    a fixed function of the factors may also declare ``deterministic_observations = True`` with
    ``factors_num_values`` (:class:`learnable_weights.metrics._codes.DeterministicGroundTruthData`):
    then the metrics encode each distinct observation once.
    """

    @property
    def num_factors(self) -> int: ...

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> Any: ...

    def sample_observations_from_factors(
        self, factors: Any, random_state: np.random.RandomState
    ) -> Any: ...

    def sample(self, num: int, random_state: np.random.RandomState) -> tuple[Any, Any]: ...

    def sample_observations(self, num: int, random_state: np.random.RandomState) -> Any: ...


def encode(representation_fn: Representation, observations: Any, batch_size: int) -> NDArray[Any]:
    """Codes ``(n, D)`` of observations ``(n, ...)``, ``batch_size`` observations per call.

    The codes keep the dtype the function returns (float32 for a float32 encoder), as the
    reference's do; a torch tensor is moved to the CPU. Raises ``ValueError`` when a call does not
    return one finite row per observation.
    """
    total = len(observations)
    parts = []
    with torch.no_grad():
        for start in range(0, total, batch_size):
            batch = observations[start : start + batch_size]
            codes = as_numpy(representation_fn(batch))
            if codes.ndim != 2 or codes.shape[0] != len(batch):
                raise ValueError(
                    f"representation_fn must map {len(batch)} observations to codes of shape "
                    f"({len(batch)}, D); it returned shape {codes.shape}"
                )
            parts.append(codes)
    result = np.ascontiguousarray(parts[0] if len(parts) == 1 else np.concatenate(parts))
    if not np.issubdtype(result.dtype, np.floating):
        raise ValueError(f"representation_fn must return floating-point codes, got {result.dtype}")
    if not np.isfinite(result).all():
        rows = np.unique(np.nonzero(~np.isfinite(result))[0])
        raise ValueError(
            f"representation_fn returned NaN or infinite codes for {rows.size} observations "
            f"(first row {rows[0]}); the metrics need finite codes: check the encoder"
        )
    return result


def concatenate_observations(parts: Sequence[Any]) -> Any:
    """One batch from several observation batches (numpy arrays or torch tensors)."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(list(parts))
    return np.concatenate([np.asarray(part) for part in parts])


def check_dataset(dataset: object, needed: Sequence[str]) -> None:
    """Raise ``TypeError`` naming the ground-truth attributes ``dataset`` lacks."""
    missing = [name for name in needed if not hasattr(dataset, name)]
    if missing:
        raise TypeError(
            f"dataset must follow disentanglement_lib's ground-truth data interface; "
            f"{type(dataset).__name__} lacks {', '.join(missing)} (see "
            "learnable_weights.metrics.evaluate.GroundTruthData)"
        )


def check_random_state(random_state: object) -> None:
    """Raise ``TypeError`` unless ``random_state`` is a ``numpy.random.RandomState``."""
    if not isinstance(random_state, np.random.RandomState):
        raise TypeError(
            "random_state must be a numpy.random.RandomState (disentanglement_lib's draws come "
            f"from one), got {type(random_state).__name__}; pass numpy.random.RandomState(seed)"
        )


def check_count(name: str, value: object, minimum: int = 1, why: str = "") -> None:
    """Raise unless ``value`` is an ``int`` of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must be at least {minimum}{reason}, got {value}")


def as_numpy(values: Any) -> NDArray[Any]:
    """A numpy array of ``values``; a torch tensor is detached and moved to the CPU."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
