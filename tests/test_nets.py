"""The reference 64x64 networks: shapes, layer layout and the reference initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from learnable_weights import LVAE
from learnable_weights.nets import ReferenceDecoder, ReferenceEncoder, reference_networks


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(channels: int) -> None:
    encoder, decoder = reference_networks(channels, latent_dim=7)
    x = torch.rand(2, channels, 64, 64)
    assert encoder(x).shape == (2, 14)
    assert decoder(torch.randn(2, 7)).shape == (2, channels, 64, 64)
    out = LVAE(encoder, decoder, 7)(x)
    assert out.x_hat.shape == x.shape


def test_layer_layout_matches_betavae_h() -> None:
    encoder = ReferenceEncoder(1, 10)
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (1, 32, (4, 4), (2, 2)),
        (32, 32, (4, 4), (2, 2)),
        (32, 64, (4, 4), (2, 2)),
        (64, 64, (4, 4), (2, 2)),
        (64, 256, (4, 4), (1, 1)),
    ]
    decoder = ReferenceDecoder(1, 10)
    deconvs = [m for m in decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in deconvs] == [
        (256, 64),
        (64, 64),
        (64, 32),
        (32, 32),
        (32, 1),
    ]
    encoder_params = (
        (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 256) * 16  # 4x4 conv kernels
        + (32 + 32 + 64 + 64 + 256)  # conv biases
        + 256 * 20
        + 20  # Linear 256 -> 2·10
    )
    decoder_params = (
        10 * 256
        + 256  # Linear 10 -> 256
        + (256 * 64 + 64 * 64 + 64 * 32 + 32 * 32 + 32 * 1) * 16  # 4x4 transposed kernels
        + (64 + 64 + 32 + 32 + 1)
    )
    assert sum(p.numel() for p in encoder.parameters()) == encoder_params
    assert sum(p.numel() for p in decoder.parameters()) == decoder_params


def test_reference_initialisation() -> None:
    torch.manual_seed(0)
    encoder, decoder = reference_networks(1, 10)
    for layer in [*encoder.modules(), *decoder.modules()]:
        if isinstance(layer, nn.Linear | nn.Conv2d):
            assert layer.bias is not None and torch.count_nonzero(layer.bias) == 0
    # ConvTranspose2d keeps PyTorch's default init (its biases are not zero)
    deconvs = [m for m in decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert all(m.bias is not None and torch.count_nonzero(m.bias) > 0 for m in deconvs)
    # Kaiming normal (fan_in, gain √2): std ≈ √(2 / fan_in) for the 256-channel conv
    big = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)][-1]
    assert big.weight.std().item() == pytest.approx((2 / (64 * 16)) ** 0.5, rel=0.05)


def test_wrong_input_shape() -> None:
    with pytest.raises(ValueError, match=r"expects \(B, 1, 64, 64\), got \(2, 1, 32, 32\)"):
        ReferenceEncoder(1)(torch.rand(2, 1, 32, 32))
