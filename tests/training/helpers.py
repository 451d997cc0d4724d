"""Small models and batch sources that make the training tests take seconds."""

from __future__ import annotations

import torch
from torch import nn

from learnable_weights import LVAE, models
from learnable_weights.data import ProceduralDSprites
from learnable_weights.training import SamplerBatches

LATENT = 3


def tiny_networks() -> tuple[nn.Module, nn.Module]:
    """A linear encoder ``(B, 1, 64, 64) -> (B, 2 * LATENT)`` and decoder back to logits."""
    encoder = nn.Sequential(nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, 2 * LATENT))
    decoder = nn.Sequential(
        nn.Linear(LATENT, 64), nn.Unflatten(1, (1, 8, 8)), nn.Upsample(scale_factor=8)
    )
    return encoder, decoder


def tiny_model(name: str = "l-vae", seed: int = 0) -> LVAE:
    torch.manual_seed(seed)
    return models.build(name, *tiny_networks(), latent_dim=LATENT)


def procedural_batches(batch_size: int = 8, seed: int = 0) -> SamplerBatches:
    return SamplerBatches(
        ProceduralDSprites(), batch_size, device="cpu", seed=seed, storage="render"
    )


def parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer, detached copies."""
    return {key: value.detach().clone() for key, value in model.state_dict().items()}
