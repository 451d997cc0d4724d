"""LVAE: the objective, encoder output forms, methods, errors, and a user's own MLP in three lines."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from learnable_weights import LVAE, LearnableWeightedLoss
from learnable_weights.vae import gaussian_kl_per_dim
from learnable_weights.weighting import FixedWeighting

D = 4


class TupleEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(16, 2 * D)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x.flatten(1))
        return out[:, :D], out[:, D:]


class NormalEncoder(TupleEncoder):
    def forward(self, x: torch.Tensor) -> Normal:  # type: ignore[override]
        mu, logvar = super().forward(x)
        return Normal(mu, torch.exp(0.5 * logvar))


def _mlp_pair() -> tuple[nn.Sequential, nn.Sequential]:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 2 * D))
    decoder = nn.Sequential(nn.Linear(D, 16), nn.Unflatten(1, (1, 4, 4)))
    return encoder, decoder


def test_kl_matches_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(1)
    mu = torch.randn(5, D, generator=generator, dtype=torch.float64)
    logvar = torch.randn(5, D, generator=generator, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(gaussian_kl_per_dim(mu, logvar), expected)
    assert gaussian_kl_per_dim(torch.zeros(3, D), torch.zeros(3, D)).abs().max().item() == 0.0


def test_kl_of_a_dimension_at_the_prior_is_never_negative_and_accurate() -> None:
    """A collapsed dimension has log σ² within rounding of 0. There e^v − 1 − v rounds below 0
    for about half the draws in float32 (found: a collapsed L-VAE run stopped with
    ``NegativeLossTermError: kl=-1.16e-08``); expm1(v) − v cannot, and is accurate."""
    generator = torch.Generator().manual_seed(0)
    logvar = torch.randn(4096, D, generator=generator) * 1e-4
    mu = torch.zeros_like(logvar)
    naive = 0.5 * (logvar.exp() - 1.0 - logvar)
    assert (naive < 0).any()  # the failure the form avoids
    kl = gaussian_kl_per_dim(mu, logvar)
    assert (kl >= 0).all()
    for row in range(0, 4096, 512):  # single observations, where no average hides a sign
        assert (gaussian_kl_per_dim(mu[row : row + 1], logvar[row : row + 1]) >= 0).all()
    exact = gaussian_kl_per_dim(mu.double(), logvar.double())
    torch.testing.assert_close(kl.double(), exact, rtol=1e-4, atol=0.0)


def test_a_learned_model_trains_through_a_collapsed_posterior() -> None:
    """Learned weights get the KL of an encoder that outputs the prior (to rounding) without
    `NegativeLossTermError`."""

    candidates = torch.linspace(-1e-4, 1e-4, 2001)
    naive = 0.5 * (candidates.exp() - 1.0 - candidates)
    worst = candidates[naive.argmin()].item()  # where e^v − 1 − v rounds furthest below 0
    assert naive.min() < 0

    class PriorEncoder(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logvar = torch.full((x.shape[0], D), worst)
            return torch.zeros_like(logvar), logvar

    model = LVAE(PriorEncoder(), nn.Sequential(nn.Linear(D, 16), nn.Unflatten(1, (1, 4, 4))), D)
    out = model(torch.rand(64, 1, 4, 4).round())
    assert out.kl.item() >= 0.0 and torch.isfinite(out.loss)


def test_vae_objective_is_recon_plus_kl_and_reparameterised() -> None:
    encoder, decoder = _mlp_pair()
    model = LVAE(encoder, decoder, D, weighting=FixedWeighting(1.0))
    x = torch.rand(8, 1, 4, 4)
    torch.manual_seed(3)
    out = model(x)
    torch.manual_seed(3)
    eps = torch.randn(8, D)
    mu, logvar = model.encode(x)
    torch.testing.assert_close(out.z, mu + torch.exp(0.5 * logvar) * eps)
    bce = nn.functional.binary_cross_entropy_with_logits(decoder(out.z), x, reduction="sum") / 8
    assert out.recon_loss.item() == pytest.approx(bce.item(), rel=1e-5)
    assert out.loss.item() == pytest.approx((out.recon_loss + out.kl).item(), rel=1e-6)
    assert out.beta.item() == 1.0 and out.weights.tolist() == [1.0, 1.0]
    torch.testing.assert_close(out.x_hat, torch.sigmoid(decoder(out.z)))
    out.loss.backward()
    first = encoder[1]
    assert isinstance(first, nn.Linear)
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("encoder_cls", [TupleEncoder, NormalEncoder])
def test_encoder_output_forms_agree(encoder_cls: type[TupleEncoder]) -> None:
    torch.manual_seed(0)
    reference = TupleEncoder()
    other = encoder_cls()
    other.load_state_dict(reference.state_dict())
    x = torch.rand(3, 1, 4, 4)
    flat = nn.Sequential(nn.Flatten(), reference.net)
    decoder = nn.Sequential(nn.Linear(D, 16), nn.Unflatten(1, (1, 4, 4)))
    a = LVAE(flat, decoder, D).encode(x)
    b = LVAE(other, decoder, D).encode(x)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v)


def test_default_weighting_is_learnable_and_in_parameters() -> None:
    encoder, decoder = _mlp_pair()
    model = LVAE(encoder, decoder, D)
    loss_params = [
        p for m in model.modules() if isinstance(m, LearnableWeightedLoss) for p in m.parameters()
    ]
    assert len(loss_params) == 1
    assert any(p is loss_params[0] for p in model.parameters())
    out = model(torch.rand(2, 1, 4, 4))
    assert out.weights.shape == (2,) and out.beta.shape == ()


def test_methods_shapes_and_reproducible_sampling() -> None:
    encoder, decoder = _mlp_pair()
    model = LVAE(encoder, decoder, D)
    x = torch.rand(5, 1, 4, 4)
    assert model.representation(x).shape == (5, D)
    torch.testing.assert_close(model.representation(x), model.encode(x)[0])
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1
    a = model.sample(3, generator=torch.Generator().manual_seed(7))
    b = model.sample(3, generator=torch.Generator().manual_seed(7))
    assert a.shape == (3, 1, 4, 4) and torch.equal(a, b)


def test_encoder_shape_error_names_both_shapes() -> None:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 6))
    _, decoder = _mlp_pair()
    model = LVAE(encoder, decoder, D)
    with pytest.raises(ValueError, match=r"shape \(2, 6\).*latent_dim=4\) expects \(2, 8\)"):
        model(torch.rand(2, 1, 4, 4))


def test_encoder_tuple_shape_error() -> None:
    class Bad(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.zeros(x.shape[0], D), torch.zeros(x.shape[0], D + 1)

    _, decoder = _mlp_pair()
    with pytest.raises(ValueError, match=r"logvar has shape \(2, 5\).*expects \(2, 4\)"):
        LVAE(Bad(), decoder, D)(torch.rand(2, 1, 4, 4))


def test_decoder_shape_error_names_both_shapes() -> None:
    encoder, _ = _mlp_pair()
    decoder = nn.Sequential(nn.Linear(D, 9), nn.Unflatten(1, (1, 3, 3)))
    with pytest.raises(ValueError, match=r"returned \(2, 1, 3, 3\).*x has shape \(2, 1, 4, 4\)"):
        LVAE(encoder, decoder, D)(torch.rand(2, 1, 4, 4))


def test_constructor_errors() -> None:
    encoder, decoder = _mlp_pair()
    with pytest.raises(ValueError, match="latent_dim"):
        LVAE(encoder, decoder, 0)
    with pytest.raises(TypeError, match="weighting must be"):
        LVAE(encoder, decoder, D, weighting=nn.Linear(1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown likelihood"):
        LVAE(encoder, decoder, D, likelihood="laplace")


def _blobs(n: int, generator: torch.Generator) -> torch.Tensor:
    """n 8x8 images of a bright square at a random position: 2 factors of variation."""
    images = torch.zeros(n, 1, 8, 8)
    rows = torch.randint(0, 6, (n,), generator=generator)
    cols = torch.randint(0, 6, (n,), generator=generator)
    for i in range(n):
        images[i, 0, rows[i] : rows[i] + 3, cols[i] : cols[i] + 3] = 1.0
    return images


def test_users_mlp_wraps_in_three_lines_and_trains() -> None:
    torch.manual_seed(0)
    data = _blobs(512, torch.Generator().manual_seed(0))
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 2 * D))
    decoder = nn.Sequential(
        nn.Linear(D, 128), nn.ReLU(), nn.Linear(128, 64), nn.Unflatten(1, (1, 8, 8))
    )

    model = LVAE(encoder, decoder, latent_dim=D)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first_losses: list[float] = []
    last_losses: list[float] = []
    start_weights = model(data[:64]).weights
    for step in range(300):
        batch = data[torch.randint(0, 512, (64,))]
        out = model(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        (first_losses if step < 20 else last_losses).append(out.recon_loss.item())
    assert sum(last_losses[-20:]) / 20 < 0.6 * sum(first_losses) / 20
    end_weights = model(data[:64]).weights
    assert not torch.allclose(start_weights, end_weights, rtol=0.1)


class _FixedPosterior(nn.Module):
    """An encoder with a fixed posterior (KL constant), so only the loss weights can learn."""

    def __init__(self, kl_scale: float) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.full((D,), kl_scale), requires_grad=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.mu.expand(x.shape[0], D)
        return mu, torch.full_like(mu, -30.0)  # σ ≈ 0: z = μ exactly


class _FixedLogits(nn.Module):
    logits: torch.Tensor  # a buffer

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(z.shape[0], *self.logits.shape[1:])


def _settled_beta(x: torch.Tensor, logits: torch.Tensor) -> float:
    model = LVAE(_FixedPosterior(2.0), _FixedLogits(logits), D)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(400):
        optimizer.zero_grad()
        model(x).loss.backward()
        optimizer.step()
    return float(model.weighting.beta)


def test_learned_beta_ignores_the_targets_entropy() -> None:
    # Extra pixels at intensity 0.5, decoded exactly (logit 0): the Bernoulli term grows by
    # ln 2 nats per pixel, all of it target entropy the model cannot remove. β must not move.
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 4, 4, generator=generator) * 0.6 + 0.2
    logits = torch.logit(x[:1]) + 0.3 * torch.randn(1, 1, 4, 4, generator=generator)
    padding = torch.full((4, 1, 4, 60), 0.5)
    x_padded = torch.cat([x, padding], dim=-1)
    logits_padded = torch.cat([logits, torch.zeros(1, 1, 4, 60)], dim=-1)
    beta, beta_padded = _settled_beta(x, logits), _settled_beta(x_padded, logits_padded)
    assert beta_padded == pytest.approx(beta, rel=1e-5)
    # and the reported reconstruction term keeps the reference convention (BCE with entropy)
    model = LVAE(_FixedPosterior(2.0), _FixedLogits(logits_padded), D)
    out = model(x_padded)
    bce = (
        nn.functional.binary_cross_entropy_with_logits(
            logits_padded.expand(4, -1, -1, -1), x_padded, reduction="sum"
        )
        / 4
    )
    assert out.recon_loss.item() == pytest.approx(bce.item(), rel=1e-6)
    entropy = -(torch.xlogy(x_padded, x_padded) + torch.xlogy(1 - x_padded, 1 - x_padded)).sum() / 4
    assert out.extras["recon_excess"].item() == pytest.approx((bce - entropy).item(), rel=1e-4)


def test_fixed_beta_objective_keeps_the_reference_convention() -> None:
    x = torch.full((2, 1, 4, 4), 0.3)
    model = LVAE(
        _FixedPosterior(1.0),
        _FixedLogits(torch.zeros(1, 1, 4, 4)),
        D,
        weighting=FixedWeighting(4.0),
    )
    out = model(x)
    assert out.loss.item() == pytest.approx((out.recon_loss + 4.0 * out.kl).item(), rel=1e-6)
    assert "recon_excess" not in out.extras


def test_decoder_for_another_latent_size_names_both_sides() -> None:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 2 * D))
    decoder = nn.Sequential(nn.Linear(D + 2, 16), nn.Unflatten(1, (1, 4, 4)))
    model = LVAE(encoder, decoder, D)
    with pytest.raises(
        ValueError, match=rf"first Linear layer takes {D + 2} features, but LVAE\(latent_dim={D}\)"
    ):
        model(torch.rand(3, 1, 4, 4))
    with pytest.raises(ValueError, match="Build the decoder for latent_dim"):
        model.decode(torch.zeros(3, D))


def test_bernoulli_targets_outside_unit_interval_are_refused() -> None:
    model = LVAE(*_mlp_pair(), D)
    normalised = torch.rand(3, 1, 4, 4) * 2 - 1
    with pytest.raises(ValueError, match=r"targets in \[0, 1\].*\(x \+ 1\) / 2"):
        model(normalised)
