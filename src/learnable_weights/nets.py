"""The reference 64x64 encoder and decoder of the ControlVAE and DynamicVAE dSprites runs.

This is 1Konny's ``BetaVAE_H`` (the architecture of Higgins et al. 2017), which both ControlVAE
(ICML 2020) and DynamicVAE (CVPR 2022) use: ``model.py`` of github.com/1Konny/Beta-VAE, copied
into github.com/shj1987/ControlVAE-ICML2020 and github.com/shj1987/DynamicVAE-CVPR2022.
As there, ``nn.Linear`` and ``nn.Conv2d`` layers get Kaiming-normal weights and zero biases, and
the decoder's ``nn.ConvTranspose2d`` layers keep PyTorch's default initialisation (the reference's
``kaiming_init`` does not match them).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ReferenceDecoder", "ReferenceEncoder", "kaiming_init", "reference_networks"]


def kaiming_init(module: nn.Module) -> None:
    """Kaiming-normal weights, zero biases, on every ``Linear`` and ``Conv2d`` inside ``module``."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class ReferenceEncoder(nn.Module):
    """``(B, C, 64, 64)`` → ``(B, 2·latent_dim)`` (μ then log σ²).

    Conv 4x4/2 (C→32, 32→32, 32→64, 64→64), Conv 4x4/1 (64→256, 1x1), ReLU after each, Linear 256→2D.
    """

    def __init__(self, in_channels: int = 1, latent_dim: int = 10) -> None:
        super().__init__()
        self.in_channels, self.latent_dim = in_channels, latent_dim
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(32, 32, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(64, 64, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(64, 256, 4, 1),
            nn.ReLU(True),
            nn.Flatten(),
            nn.Linear(256, 2 * latent_dim),
        )
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, 64, 64):
            raise ValueError(
                f"ReferenceEncoder expects (B, {self.in_channels}, 64, 64), got {tuple(x.shape)}"
            )
        out: Tensor = self.net(x)
        return out


class ReferenceDecoder(nn.Module):
    """``(B, latent_dim)`` → logits ``(B, C, 64, 64)``.

    Linear D→256, ReLU, ConvT 4x4 (256→64, 4x4), then ConvT 4x4/2 (64→64, 64→32, 32→32, 32→C),
    ReLU between them.
    """

    def __init__(self, out_channels: int = 1, latent_dim: int = 10) -> None:
        super().__init__()
        self.out_channels, self.latent_dim = out_channels, latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.Unflatten(1, (256, 1, 1)),
            nn.ReLU(True),
            nn.ConvTranspose2d(256, 64, 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(32, out_channels, 4, 2, 1),
        )
        kaiming_init(self)

    def forward(self, z: Tensor) -> Tensor:
        out: Tensor = self.net(z)
        return out


def reference_networks(
    channels: int = 1, latent_dim: int = 10
) -> tuple[ReferenceEncoder, ReferenceDecoder]:
    """A fresh reference encoder and decoder for ``channels``-channel 64x64 images."""
    return ReferenceEncoder(channels, latent_dim), ReferenceDecoder(channels, latent_dim)
