"""The model registry: every baseline builds, trains through the same wrapper and resumes exactly."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from torch import nn

from learnable_weights import LVAE, LearnableWeightedLoss, SimplexWeightedLoss, likelihoods, models
from learnable_weights.likelihoods import CalibratedGaussianLikelihood
from learnable_weights.weighting import (
    CapacityAnnealing,
    ControlVAEWeighting,
    DynamicVAEWeighting,
    FixedWeighting,
    LearnedWeighting,
)

D = 3


def _networks() -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(36, 32), nn.ReLU(), nn.Linear(32, 2 * D))
    decoder = nn.Sequential(
        nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, 36), nn.Unflatten(1, (1, 6, 6))
    )
    return encoder, decoder


def _data() -> torch.Tensor:
    return (torch.rand(64, 1, 6, 6, generator=torch.Generator().manual_seed(0)) > 0.6).float()


def test_available_lists_the_paper_models() -> None:
    assert models.available() == (
        "vae",
        "beta-vae",
        "annealed-vae",
        "controlvae",
        "dynamicvae",
        "sigma-vae",
        "l-vae",
        "mdl-vae",
    )


@pytest.mark.parametrize(
    ("name", "weighting_cls", "beta"),
    [
        ("vae", FixedWeighting, 1.0),
        ("beta-vae", FixedWeighting, 4.0),
        ("annealed-vae", CapacityAnnealing, None),
        ("controlvae", ControlVAEWeighting, None),
        ("dynamicvae", DynamicVAEWeighting, None),
        ("sigma-vae", FixedWeighting, 1.0),
        ("l-vae", LearnedWeighting, 1.0),
        ("mdl-vae", LearnedWeighting, None),
    ],
)
def test_each_model_builds_with_reference_defaults_and_trains(
    name: str, weighting_cls: type[nn.Module], beta: float | None
) -> None:
    torch.manual_seed(0)
    model = models.build(name, *_networks(), latent_dim=D)
    assert isinstance(model, LVAE) and isinstance(model.weighting, weighting_cls)
    if beta is not None:
        assert model.weighting(torch.tensor(1.0), torch.ones(D)).beta.reshape(-1)[0].item() == beta
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = _data()
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(5):
        out = model(data)
        assert torch.isfinite(out.loss)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    expected_beta_shape = (D,) if name == "mdl-vae" else ()
    assert out.beta.shape == expected_beta_shape


def test_defaults_follow_the_reference_runs() -> None:
    annealed = models.build("annealed-vae", *_networks(), latent_dim=D).weighting
    assert isinstance(annealed, CapacityAnnealing)
    assert (annealed.gamma, annealed.capacity_max, annealed.capacity_steps) == (
        1000.0,
        25.0,
        100_000,
    )
    control = models.build("controlvae", *_networks(), latent_dim=D).weighting
    assert isinstance(control, ControlVAEWeighting)
    assert (control.kp, control.ki, control.beta_min, control.set_point_max) == (
        0.01,
        0.001,
        1.0,
        18.0,
    )
    dynamic = models.build("dynamicvae", *_networks(), latent_dim=D).weighting
    assert isinstance(dynamic, DynamicVAEWeighting)
    assert (dynamic.beta_init, dynamic.beta_min, dynamic.kl_window, dynamic.set_point_max) == (
        50.0,
        0.1,
        5,
        20.0,
    )
    sigma = models.build("sigma-vae", *_networks(), latent_dim=D)
    assert (
        isinstance(sigma.likelihood, CalibratedGaussianLikelihood) and not sigma.likelihood.learned
    )


def test_options_and_likelihood_override() -> None:
    model = models.build("beta-vae", *_networks(), latent_dim=D, beta=6.0, likelihood="gaussian")
    assert isinstance(model.weighting, FixedWeighting) and model.weighting.fixed_beta == 6.0
    assert model.weighting.beta.item() == 6.0
    assert model.likelihood.name == "gaussian"
    lvae = models.build("l-vae", *_networks(), latent_dim=D, bias_penalty=0.1)
    assert isinstance(lvae.weighting, LearnedWeighting) and lvae.weighting.loss.bias_penalty == 0.1


@pytest.mark.parametrize("name", ["l-vae", "mdl-vae"])
def test_learned_models_take_the_simplex_parameterization_and_term_scales(name: str) -> None:
    model = models.build(
        name, *_networks(), latent_dim=D, parameterization="simplex", bias_penalty=2.0,
        recon_scale=0.5, kl_scale=0.25, network_objective="weighted",
    )  # fmt: skip
    weighting = model.weighting
    assert isinstance(weighting, LearnedWeighting)
    assert isinstance(weighting.loss, SimplexWeightedLoss) and weighting.loss.bias_penalty == 2.0
    assert (weighting.recon_scale, weighting.kl_scale) == (0.5, 0.25)
    assert weighting.network_objective == "weighted"
    out = model(_data())
    assert torch.allclose(out.beta, torch.full_like(out.beta, 0.5))  # equal weights × 0.25 / 0.5
    # the network sees the weighted loss: the simplex weight times recon_scale
    assert out.weights[0].item() == pytest.approx(weighting.loss.weights[0].item() * 0.5)
    assert models.build(name, *_networks(), latent_dim=D).weighting.network_objective == "beta-vae"
    out.loss.backward()
    assert weighting.loss.log_variances.grad is not None


def test_learned_model_option_errors() -> None:
    with pytest.raises(ValueError, match="unknown parameterization 'softmax'"):
        models.build("l-vae", *_networks(), latent_dim=D, parameterization="softmax")
    with pytest.raises(
        ValueError, match=r"'simplex' parameterization takes no option \['uncertainty'\]"
    ):
        models.build("l-vae", *_networks(), latent_dim=D, parameterization="simplex",
                     uncertainty="liebel")  # fmt: skip
    with pytest.raises(ValueError, match="kl_scale must be a finite number > 0"):
        models.build("l-vae", *_networks(), latent_dim=D, kl_scale=0.0)


def test_annealed_vae_run_script_setting() -> None:
    model = models.build(
        "annealed-vae", *_networks(), latent_dim=D, **models.ANNEALED_VAE_RUN_SCRIPT
    )
    assert isinstance(model.weighting, CapacityAnnealing)
    assert (model.weighting.gamma, model.weighting.capacity_max) == (100.0, 20.0)


@pytest.mark.parametrize("name", models.available())
@pytest.mark.parametrize("likelihood", likelihoods.available())
def test_every_registry_combination_trains_or_is_refused_at_build(
    name: str, likelihood: str
) -> None:
    learned = name in ("l-vae", "mdl-vae")
    can_be_negative = likelihood.startswith("sigma")
    if learned and can_be_negative:
        with pytest.raises(ValueError, match=r"can be negative .* use it with a fixed β"):
            models.build(name, *_networks(), latent_dim=D, likelihood=likelihood)
        return
    torch.manual_seed(0)
    model = models.build(name, *_networks(), latent_dim=D, likelihood=likelihood)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        out = model(_data())
        assert torch.isfinite(out.loss) and torch.isfinite(out.beta).all()
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()


def test_learned_model_with_sigma_likelihood_can_opt_in() -> None:
    weighting = LearnedWeighting(
        LearnableWeightedLoss(names=("recon", "kl"), allow_negative_terms=True)
    )
    model = LVAE(*_networks(), D, likelihood="sigma-optimal", weighting=weighting)
    assert model.likelihood.name == "sigma-optimal"
    # the weights then see the term as it is, negative values included (no clamp at 0)
    x = torch.full((4, 1, 6, 6), 0.5)
    linear = nn.Linear(D, 36)
    model.decoder = nn.Sequential(linear, nn.Unflatten(1, (1, 6, 6)))
    nn.init.zeros_(linear.weight)
    nn.init.constant_(linear.bias, 0.1)  # MSE ≈ 6e-4: the Gaussian NLL is negative
    out = model(x)
    assert out.recon_loss.item() < 0
    assert out.extras["recon_excess"].item() == out.recon_loss.item()


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="unknown model 'beta_vae'; available"):
        models.build("beta_vae", *_networks(), latent_dim=D)
    with pytest.raises(TypeError, match=r"does not take the option\(s\) \['gamma'\]"):
        models.build("controlvae", *_networks(), latent_dim=D, gamma=3.0)


@pytest.mark.parametrize("name", ["controlvae", "dynamicvae", "annealed-vae", "l-vae"])
def test_checkpoint_resumes_training_exactly(name: str) -> None:
    data = _data()

    def run(model: LVAE, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
        betas = []
        for _ in range(steps):
            out = model(data)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            betas.append(out.beta.item())
        return betas

    torch.manual_seed(0)
    model = models.build(name, *_networks(), latent_dim=D)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    run(model, optimizer, 6)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    rng = torch.get_rng_state()
    uninterrupted = run(model, optimizer, 6)

    buffer.seek(0)
    checkpoint = torch.load(buffer)
    resumed = models.build(name, *_networks(), latent_dim=D)
    resumed.load_state_dict(checkpoint["model"])
    resumed_optimizer = torch.optim.Adam(resumed.parameters(), lr=1e-3)
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    torch.set_rng_state(rng)
    assert run(resumed, resumed_optimizer, 6) == uninterrupted


@pytest.mark.parametrize("name", sorted(models.REFERENCE_RUN_STEPS))
def test_schedule_for_the_reference_run_is_the_default_schedule(name: str) -> None:
    fitted: dict[str, Any] = models.schedule_for_budget(name, models.REFERENCE_RUN_STEPS[name])
    built = models.build(name, *_networks(), latent_dim=D).weighting
    default = models.build(name, *_networks(), latent_dim=D, **fitted).weighting
    assert fitted and all(getattr(built, option) == value for option, value in fitted.items())
    assert repr(default) == repr(built)


def test_schedule_for_budget_scales_each_length_by_the_budgets_share() -> None:
    # 8,000 steps: 8000/300000 of 100,000; 8000/1.5e6 of 5,000; 8000/2e6 of 6,000 and 1,000.
    assert models.schedule_for_budget("annealed-vae", 8000) == {"capacity_steps": 2667}
    assert models.schedule_for_budget("controlvae", 8000) == {"set_point_period": 27}
    assert models.schedule_for_budget("dynamicvae", 8000) == {"window": 24, "ramp_steps": 4}
    assert models.schedule_for_budget("dynamicvae", 10) == {"window": 1, "ramp_steps": 1}
    for name in ("vae", "beta-vae", "sigma-vae", "l-vae", "mdl-vae"):
        assert models.schedule_for_budget(name, 8000) == {}


@pytest.mark.parametrize("steps", [8000, 20000])
def test_a_fitted_set_point_reaches_its_ceiling_at_the_reference_runs_fraction(steps: int) -> None:
    # ControlVAE's reference run reaches C_max = 18 at step 585,000 of 1,500,000 (39 %) and
    # DynamicVAE's reaches 20 after 130 windows of 6,000 steps, near 781,000 of 2,000,000.
    for name, weighting_type in (("controlvae", ControlVAEWeighting),
                                 ("dynamicvae", DynamicVAEWeighting)):  # fmt: skip
        reference = weighting_type()
        fitted = weighting_type(**models.schedule_for_budget(name, steps))

        def first_at_ceiling(weighting: ControlVAEWeighting | DynamicVAEWeighting, n: int) -> int:
            targets = weighting.set_point(torch.arange(1, n + 1))
            return int(torch.nonzero(targets >= weighting.set_point_max)[0]) + 1

        total = models.REFERENCE_RUN_STEPS[name]
        share = first_at_ceiling(reference, total) / total
        fitted_share = first_at_ceiling(fitted, steps) / steps
        assert fitted_share == pytest.approx(share, abs=0.02)


def test_schedule_for_budget_errors() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        models.schedule_for_budget("nope", 100)
    with pytest.raises(ValueError, match="steps must be positive"):
        models.schedule_for_budget("controlvae", 0)
