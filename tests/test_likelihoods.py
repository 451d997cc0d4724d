"""Likelihoods: reductions, reference formulas and the σ-VAE properties (Rybkin et al. 2021)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from learnable_weights.likelihoods import (
    BernoulliLikelihood,
    CalibratedGaussianLikelihood,
    SumSquaredErrorLikelihood,
    available,
    make_likelihood,
    softclip,
)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 1, 8, 8, generator=generator, dtype=torch.float64)
    x = torch.rand(6, 1, 8, 8, generator=generator, dtype=torch.float64)
    return logits, x


def test_bernoulli_is_summed_bce_over_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, x = batch
    nll, extras = BernoulliLikelihood()(logits, x)
    expected = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 6
    assert nll.item() == pytest.approx(expected.item(), rel=1e-12)
    assert extras == {}
    # duplicating the batch leaves a batch-mean term unchanged
    doubled, _ = BernoulliLikelihood()(torch.cat([logits, logits]), torch.cat([x, x]))
    assert doubled.item() == pytest.approx(nll.item(), rel=1e-12)


def test_gaussian_is_reference_sum_of_squared_errors(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    logits, x = batch
    nll, _ = SumSquaredErrorLikelihood()(logits, x)
    expected = F.mse_loss(torch.sigmoid(logits), x, reduction="sum") / 6
    assert nll.item() == pytest.approx(expected.item(), rel=1e-12)


def test_optimal_sigma_matches_normal_log_prob(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, x = batch
    nll, extras = CalibratedGaussianLikelihood(learned=False)(logits, x)
    mean = torch.sigmoid(logits)
    log_sigma = softclip(0.5 * torch.log((x - mean).square().mean()), -6.0)
    normal = Normal(mean, log_sigma.exp())
    expected = -normal.log_prob(x).sum() / 6  # type: ignore[no-untyped-call]  # torch: unannotated
    assert nll.item() == pytest.approx(expected.item(), rel=1e-10)
    assert extras["log_sigma"].item() == pytest.approx(log_sigma.item())
    sigma2 = math.exp(2 * log_sigma.item())
    assert extras["beta_sse_equivalent"].item() == pytest.approx(2 * sigma2)


def test_softclip() -> None:
    t = torch.tensor([-100.0, -6.0, 0.0, 20.0], dtype=torch.float64)
    clipped = softclip(t, -6.0)
    assert (clipped >= -6.0).all() and clipped[0].item() == pytest.approx(-6.0)
    assert clipped[3].item() == pytest.approx(20.0, abs=1e-9)
    assert clipped[1].item() == pytest.approx(-6.0 + math.log(2.0))


def test_learned_sigma_converges_to_optimal(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, x = batch
    learned = CalibratedGaussianLikelihood(learned=True).double()
    assert learned.log_sigma is not None and learned.log_sigma.item() == 0.0
    optimizer = torch.optim.Adam(learned.parameters(), lr=0.05)
    for _ in range(1500):
        optimizer.zero_grad()
        learned(logits, x)[0].backward()
        optimizer.step()
    # the soft clip only reparameterises the learned σ, so it reaches the unclipped optimum
    # ½·ln MSE; optimal mode clips that value softly (slightly above it, by softplus's excess)
    half_log_mse = 0.5 * torch.log((x - torch.sigmoid(logits)).square().mean()).item()
    _, learned_extras = learned(logits, x)
    assert learned_extras["log_sigma"].item() == pytest.approx(half_log_mse, abs=1e-4)
    _, optimal_extras = CalibratedGaussianLikelihood(learned=False)(logits, x)
    assert optimal_extras["log_sigma"].item() == pytest.approx(
        softclip(torch.tensor(half_log_mse, dtype=torch.float64), -6.0).item(), abs=1e-9
    )


def test_optimal_sigma_gradient_equals_detached_sigma_gradient(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """Envelope theorem: at σ* the gradient w.r.t. the mean does not depend on σ's own gradient."""
    logits, x = batch
    likelihood = CalibratedGaussianLikelihood(learned=False, min_log_sigma=-100.0)
    a = logits.clone().requires_grad_(True)
    likelihood(a, x)[0].backward()
    b = logits.clone().requires_grad_(True)
    mean = torch.sigmoid(b)
    log_sigma = 0.5 * torch.log((x - mean).square().mean()).detach()
    nll = (0.5 * (x - mean).square() * torch.exp(-2 * log_sigma) + log_sigma).sum() / 6
    nll.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-12)


def test_registry_and_errors() -> None:
    assert set(available()) == {
        "bernoulli",
        "gaussian",
        "sigma-optimal",
        "sigma-learned",
        "sigma-optimal-identity",
        "sigma-learned-identity",
    }
    identity = make_likelihood("sigma-learned-identity")
    assert isinstance(identity, CalibratedGaussianLikelihood)
    assert (
        identity.learned
        and identity.link == "identity"
        and identity.name == "sigma-learned-identity"
    )
    assert isinstance(make_likelihood("sigma-learned"), CalibratedGaussianLikelihood)
    custom = BernoulliLikelihood()
    assert make_likelihood(custom) is custom
    with pytest.raises(ValueError, match="unknown likelihood 'mse'"):
        make_likelihood("mse")
    with pytest.raises(ValueError, match="link must be 'sigmoid' or 'identity', got 'tanh'"):
        CalibratedGaussianLikelihood(link="tanh")  # type: ignore[arg-type]


def test_identity_link_is_a_gaussian_on_the_output_itself(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    output, x = batch
    nll, extras = CalibratedGaussianLikelihood(link="identity")(output, x)
    log_sigma = softclip(0.5 * torch.log((x - output).square().mean()), -6.0)
    normal = Normal(output, log_sigma.exp())
    expected = -normal.log_prob(x).sum() / 6  # type: ignore[no-untyped-call]  # torch: unannotated
    assert nll.item() == pytest.approx(expected.item(), rel=1e-10)
    assert extras["log_sigma"].item() == pytest.approx(log_sigma.item())
    likelihood = CalibratedGaussianLikelihood(link="identity")
    torch.testing.assert_close(likelihood.mean(output), output.clamp(0, 1))
    probabilities = torch.sigmoid(likelihood.probability_logits(output))
    torch.testing.assert_close(probabilities, output.clamp(1e-6, 1 - 1e-6))


def test_sigmoid_mean_gradient_vanishes_where_the_identity_link_does_not() -> None:
    """∂NLL/∂l = (μ − x)·μ(1 − μ)/σ² for μ = sigmoid(l): a pixel whose logit sits far below 0
    under a target of 1 stops teaching the decoder; with μ = l its gradient is (l − x)/σ²."""
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    for link, output in (("sigmoid", -30.0), ("identity", 0.0)):
        logits = torch.full((1, 4), output, dtype=torch.float64, requires_grad=True)
        likelihood = CalibratedGaussianLikelihood(link=link, min_log_sigma=-100.0)  # type: ignore[arg-type]
        likelihood(logits, x)[0].backward()
        assert logits.grad is not None
        if link == "sigmoid":
            assert abs(logits.grad[0, 0].item()) < 1e-11
        else:
            # μ = 0 everywhere: MSE = 1/4, so σ² = 1/4 and the pixel's gradient is (0 − 1)/σ² = −4,
            # less the envelope term: at σ* the σ-dependence cancels (see the test above)
            assert logits.grad[0, 0].item() == pytest.approx(-4.0)


def test_sigmoid_link_repr_is_unchanged() -> None:
    """Result files record ``repr(model)`` as a run's configuration: the default link must not
    change it, or every finished σ-VAE run would be refused as stale."""
    assert CalibratedGaussianLikelihood().extra_repr() == "learned=False, min_log_sigma=-6.0"
    assert "link='identity'" in CalibratedGaussianLikelihood(link="identity").extra_repr()


def test_bernoulli_irreducible_part_is_the_targets_entropy() -> None:
    x = torch.tensor([[0.2, 0.5, 1.0, 0.0]], dtype=torch.float64).repeat(3, 1)
    entropy = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8)) + math.log(2)
    likelihood = BernoulliLikelihood()
    assert likelihood.irreducible(x).item() == pytest.approx(entropy, rel=1e-12)
    # it is the infimum: the term at the targets' own logits
    logits = torch.logit(x.clamp(1e-12, 1 - 1e-12))
    nll, _ = likelihood(logits, x)
    assert nll.item() == pytest.approx(entropy, abs=1e-9)
    assert likelihood.irreducible(torch.ones(2, 5)).item() == 0.0  # binary targets: none
    assert SumSquaredErrorLikelihood().irreducible(x).item() == 0.0


def test_which_likelihoods_can_be_negative() -> None:
    assert BernoulliLikelihood.non_negative and SumSquaredErrorLikelihood.non_negative
    assert not CalibratedGaussianLikelihood.non_negative
    # below MSE = 1/(2πe) the calibrated Gaussian NLL is negative
    x = torch.full((1, 100), 0.5)
    logits = torch.logit(torch.full((1, 100), 0.5 + 0.2))  # MSE 0.04 < 0.0585
    nll, _ = CalibratedGaussianLikelihood()(logits, x)
    assert nll.item() < 0


@pytest.mark.parametrize(("low", "high"), [(-1.0, 1.0), (0.0, 255.0)])
def test_bernoulli_rejects_targets_outside_unit_interval(low: float, high: float) -> None:
    x = torch.linspace(low, high, 16).reshape(1, 16)
    with pytest.raises(ValueError, match=rf"values in \[{low:.4g}, {high:.4g}\]"):
        BernoulliLikelihood()(torch.zeros(1, 16), x)
    unchecked, _ = BernoulliLikelihood(check_targets=False)(torch.zeros(1, 16), x)
    assert torch.isfinite(unchecked)
