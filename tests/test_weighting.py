"""Weightings: the reference codes' behaviour for β-VAE, annealing and the controllers, and the
weights and β every weighting reports."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch

from learnable_weights.weighted_loss import LearnableWeightedLoss
from learnable_weights.weighting import (
    CapacityAnnealing,
    ControlVAEWeighting,
    DynamicVAEWeighting,
    FixedWeighting,
    LearnedWeighting,
    ScheduledWeighting,
)


def _kl(total: float, dims: int = 10) -> torch.Tensor:
    return torch.full((dims,), total / dims)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------ fixed β
def test_beta_vae_loss_difference_is_beta_minus_one_times_kl() -> None:
    recon, kl = torch.tensor(100.0), _kl(7.0)
    plain = FixedWeighting(1.0)(recon, kl)
    beta = FixedWeighting(4.0)(recon, kl)
    assert (beta.loss - plain.loss).item() == pytest.approx(3.0 * 7.0, rel=1e-6)
    assert beta.beta.item() == 4.0
    assert list(FixedWeighting(4.0).parameters()) == []


# ---------------------------------------------------------------------- capacity annealing
def test_capacity_schedule() -> None:
    weighting = CapacityAnnealing(capacity_max=25.0, capacity_steps=100_000)
    c = weighting.capacity(torch.tensor([0, 50_000, 100_000, 250_000]))
    assert c.tolist() == pytest.approx([0.0, 12.5, 25.0, 25.0])


def test_capacity_regulariser_value_and_gradient_sign() -> None:
    weighting = CapacityAnnealing(gamma=1000.0, capacity_max=25.0, capacity_steps=100)
    weighting.step.fill_(49)  # the next training call uses t = 50: C = 12.5
    for kl_value, sign in ((20.0, 1.0), (5.0, -1.0)):
        weighting.step.fill_(49)
        kl = _kl(kl_value).requires_grad_(True)
        out = weighting(torch.tensor(1.0), kl)
        assert out.loss.item() == pytest.approx(1.0 + 1000.0 * abs(kl_value - 12.5), rel=1e-6)
        out.loss.backward()
        assert kl.grad is not None
        assert kl.grad.tolist() == pytest.approx([sign * 1000.0] * 10)
        assert out.beta.item() == sign * 1000.0


def test_capacity_advances_only_in_training_steps() -> None:
    weighting = CapacityAnnealing()
    weighting(torch.tensor(1.0), _kl(1.0))
    assert weighting.step.item() == 1
    weighting.eval()
    weighting(torch.tensor(1.0), _kl(1.0))
    weighting.train()
    with torch.no_grad():
        weighting(torch.tensor(1.0), _kl(1.0))
    with weighting.frozen():
        weighting(torch.tensor(1.0), _kl(1.0))
    assert weighting.step.item() == 1


def test_capacity_resumes_from_checkpoint() -> None:
    source = CapacityAnnealing(capacity_max=25.0, capacity_steps=100)
    for _ in range(30):
        source(torch.tensor(1.0), _kl(1.0))
    target = CapacityAnnealing(capacity_max=25.0, capacity_steps=100)
    target.load_state_dict(source.state_dict())
    a = source(torch.tensor(1.0), _kl(1.0)).extras["capacity"]
    b = target(torch.tensor(1.0), _kl(1.0)).extras["capacity"]
    assert a.item() == b.item() == pytest.approx(25.0 * 31 / 100)


# -------------------------------------------------------------------------------- ControlVAE
def test_controlvae_raises_beta_while_kl_is_above_set_point() -> None:
    weighting = ControlVAEWeighting()
    betas = [weighting(torch.tensor(1.0), _kl(30.0)).beta.item() for _ in range(200)]
    assert all(b2 > b1 for b1, b2 in itertools.pairwise(betas))


def test_controlvae_lowers_beta_to_its_minimum_and_stays() -> None:
    weighting = ControlVAEWeighting()
    weighting.integral.fill_(0.5)
    weighting.previous_unclamped.fill_(1.5)
    betas = [weighting(torch.tensor(1.0), _kl(0.0)).beta.item() for _ in range(3000)]
    assert all(b2 <= b1 + 1e-7 for b1, b2 in itertools.pairwise(betas))
    assert min(betas) >= 1.0
    assert betas[-1] == pytest.approx(1.0)


def test_controlvae_one_step_by_hand_and_anti_windup() -> None:
    kp, ki = 0.01, 0.001
    weighting = ControlVAEWeighting(kp=kp, ki=ki)
    out = weighting(torch.tensor(1.0), _kl(3.0))
    e = 0.5 - 3.0
    integral = -ki * e
    assert weighting.integral.item() == pytest.approx(integral, rel=1e-6)
    assert out.beta.item() == pytest.approx(kp * _sigmoid(-e) + integral + 1.0, rel=1e-6)
    # previous unclamped β below β_min: the integral must not move (anti-windup)
    weighting.previous_unclamped.fill_(0.9)
    before = weighting.integral.item()
    weighting(torch.tensor(1.0), _kl(0.0))
    assert weighting.integral.item() == before
    # back in range: the integral moves by −Ki·e
    weighting.previous_unclamped.fill_(1.2)
    weighting(torch.tensor(1.0), _kl(5.0))
    assert weighting.integral.item() == pytest.approx(before - ki * (0.5 - 5.0), rel=1e-6)


def test_controlvae_beta_max_clips_and_stops_integration() -> None:
    weighting = ControlVAEWeighting(beta_max=1.05)
    for _ in range(500):
        beta = weighting(torch.tensor(1.0), _kl(100.0)).beta.item()
        assert 1.0 <= beta <= 1.05
    integral = weighting.integral.item()
    weighting(torch.tensor(1.0), _kl(100.0))
    assert weighting.integral.item() == integral


def test_controlvae_proportional_term_is_bounded_and_overflow_safe() -> None:
    weighting = ControlVAEWeighting(kp=0.01, ki=0.0)
    for kl, expected in ((0.5, 0.005), (1e4, 0.01), (-1e4, 0.0)):
        fresh = ControlVAEWeighting(kp=0.01, ki=0.0)
        beta = fresh(torch.tensor(1.0), _kl(kl, dims=1)).beta.item()
        assert math.isfinite(beta)
        assert beta == pytest.approx(max(1.0, 1.0 + expected), abs=1e-7)
    assert weighting.kp == 0.01


def test_controlvae_set_point_schedule() -> None:
    weighting = ControlVAEWeighting(set_point_max=18.0)
    steps = torch.tensor([1, 4999, 5000, 10_000, 585_000, 10**7])
    assert weighting.set_point(steps).tolist() == pytest.approx([0.5, 0.5, 0.65, 0.8, 18.0, 18.0])


def test_controlvae_input_is_detached_and_state_round_trips() -> None:
    weighting = ControlVAEWeighting()
    kl = _kl(5.0).requires_grad_(True)
    for _ in range(7):
        out = weighting(torch.tensor(1.0, requires_grad=True), kl)
    out.loss.backward()
    assert all(not b.requires_grad for b in weighting.buffers())
    assert kl.grad is not None
    assert kl.grad.tolist() == pytest.approx([out.beta.item()] * 10)
    state = weighting.state_dict()
    assert set(state) == {"step", "integral", "previous_unclamped"}
    copy = ControlVAEWeighting()
    copy.load_state_dict(state)
    a = weighting(torch.tensor(1.0), _kl(5.0)).beta
    b = copy(torch.tensor(1.0), _kl(5.0)).beta
    assert a.item() == b.item()


# -------------------------------------------------------------------------------- DynamicVAE
def test_dynamicvae_steps_match_hand_computation() -> None:
    kp, ki, w_min, w0, window = 0.01, 0.005, 0.1, 50.0, 5
    weighting = DynamicVAEWeighting(kp=kp, ki=ki, beta_min=w_min, beta_init=w0, kl_window=window)
    kls = [12.0, 9.0, 15.0, 7.0, 11.0, 8.0, 10.0]
    history: list[float] = [0.0] * (window - 1)
    w, e_prev = w0, 0.0
    for kl in kls:
        history.append(kl)
        average = sum(history[-window:]) / window
        e = 0.5 - average
        delta_i = 0.0 if w < w_min else -ki * e
        w = w + kp * (_sigmoid(-e) - _sigmoid(-e_prev)) + delta_i
        e_prev = e
        out = weighting(torch.tensor(1.0), _kl(kl))
        assert out.beta.item() == pytest.approx(max(w, w_min), rel=1e-5)
        assert out.extras["kl_average"].item() == pytest.approx(average, rel=1e-6)


def test_dynamicvae_first_average_is_zero_padded() -> None:
    weighting = DynamicVAEWeighting(kl_window=5)
    out = weighting(torch.tensor(1.0), _kl(10.0))
    assert out.extras["kl_average"].item() == pytest.approx(2.0)


def test_dynamicvae_beta_floor_and_frozen_integral() -> None:
    weighting = DynamicVAEWeighting(beta_init=0.2, beta_min=0.1)
    for _ in range(500):
        assert weighting(torch.tensor(1.0), _kl(0.0)).beta.item() >= 0.1
    assert weighting.previous_unclamped.item() < 0.1
    below = weighting.previous_unclamped.item()
    error_before = weighting.previous_error.item()
    weighting(torch.tensor(1.0), _kl(0.0))  # constant error: ΔP = 0, and ΔI is skipped
    assert weighting.previous_error.item() == pytest.approx(error_before)
    assert weighting.previous_unclamped.item() == pytest.approx(below, abs=1e-7)


def test_dynamicvae_constant_zero_error_keeps_beta() -> None:
    weighting = DynamicVAEWeighting(kl_window=1, beta_init=3.0)
    betas = [weighting(torch.tensor(1.0), _kl(0.5)).beta.item() for _ in range(20)]
    assert betas == pytest.approx([3.0] * 20)
    rising = DynamicVAEWeighting(kl_window=1, beta_init=3.0)
    betas = [rising(torch.tensor(1.0), _kl(5.0)).beta.item() for _ in range(20)]
    assert all(b2 > b1 for b1, b2 in itertools.pairwise(betas))


def test_dynamicvae_set_point_schedule_matches_reference_loop() -> None:
    weighting = DynamicVAEWeighting(set_point_max=0.95)
    c, expected = 0.5, []
    steps = list(range(1, 20_001))
    for t in steps:  # the reference's incremental loop (DynamicVAE 2D-sprites/solver)
        if t % 6000 < 1000 and t >= 6000:
            c += 0.15 / 1000
        c = min(c, 0.95)
        expected.append(c)
    got = weighting.set_point(torch.tensor(steps))
    assert got.tolist() == pytest.approx(expected, abs=1e-6)
    assert got[5998].item() == pytest.approx(0.5) and got[6998].item() == pytest.approx(0.65)


def test_dynamicvae_state_round_trip_resumes_exactly() -> None:
    source = DynamicVAEWeighting()
    kls = torch.linspace(20.0, 2.0, 23)
    for kl in kls[:13]:
        source(torch.tensor(1.0), _kl(kl.item()))
    target = DynamicVAEWeighting()
    target.load_state_dict(source.state_dict())
    for kl in kls[13:]:
        a = source(torch.tensor(1.0), _kl(kl.item()))
        b = target(torch.tensor(1.0), _kl(kl.item()))
        assert a.beta.item() == b.beta.item()
        assert a.extras["kl_average"].item() == b.extras["kl_average"].item()
    assert set(source.state_dict()) == {
        "step",
        "previous_unclamped",
        "previous_error",
        "kl_history",
    }


@pytest.mark.parametrize("cls", [CapacityAnnealing, ControlVAEWeighting, DynamicVAEWeighting])
def test_controllers_only_advance_in_training(cls: type[ScheduledWeighting]) -> None:
    weighting = cls()
    weighting.eval()
    before = {k: v.clone() for k, v in weighting.state_dict().items()}
    weighting(torch.tensor(1.0), _kl(3.0))
    after = weighting.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# ----------------------------------------------------------------------------- learned
def test_learned_weighting_reports_weights_and_beta() -> None:
    loss = LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[1.0, -1.0])
    out = LearnedWeighting(loss, network_objective="weighted")(torch.tensor(10.0), _kl(2.0))
    assert out.recon_weight.item() == pytest.approx(0.5 * math.exp(-1.0))
    assert out.beta.item() == pytest.approx(math.exp(2.0), rel=1e-6)
    assert out.loss.item() == pytest.approx(loss.last.total.item() if loss.last else -1)


def test_learned_weights_are_the_loss_weights_times_the_scales_under_either_objective() -> None:
    for objective in ("weighted", "beta-vae"):
        loss = LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[1.0, -1.0])
        weighting = LearnedWeighting(
            loss,
            recon_scale=0.5,
            kl_scale=0.25,
            network_objective=objective,
        )
        expected = [0.5 * math.exp(-1.0) * 0.5, 0.5 * math.exp(1.0) * 0.25]
        assert weighting.learned_weights.tolist() == pytest.approx(expected)
        if objective == "weighted":
            torch.testing.assert_close(weighting.weights, weighting.learned_weights)


def test_learned_weighting_defaults_to_the_beta_vae_objective() -> None:
    """The default chosen by the ablation (docs/ablation.md): the network minimises R + β·KL with
    the learned β; the weights' own loss is added, on the detached terms."""
    loss = LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[1.0, -1.0])
    weighting = LearnedWeighting(loss)
    assert weighting.network_objective == "beta-vae"
    out = weighting(torch.tensor(10.0), _kl(2.0))
    beta = math.exp(2.0)
    assert out.recon_weight.item() == 1.0 and out.beta.item() == pytest.approx(beta, rel=1e-6)
    weights_loss = loss.last.total.item() if loss.last else math.nan
    assert out.loss.item() == pytest.approx(weights_loss + 10.0 + beta * 2.0, rel=1e-6)


def test_learned_weighting_per_dimension_and_errors() -> None:
    loss = LearnableWeightedLoss(names=("recon", "kl"), group_sizes=(1, 4))
    weighting = LearnedWeighting(loss)
    assert weighting.per_dimension
    assert weighting(torch.tensor(1.0), _kl(2.0, dims=4)).beta.shape == (4,)
    with pytest.raises(ValueError, match="4 KL weights but the model has 10 latent"):
        weighting(torch.tensor(1.0), _kl(2.0, dims=10))
    with pytest.raises(ValueError, match="two terms"):
        LearnedWeighting(LearnableWeightedLoss(num_terms=3))


@pytest.mark.parametrize(
    "make",
    [
        lambda: FixedWeighting(4.0),
        lambda: CapacityAnnealing(gamma=100.0, capacity_max=5.0, capacity_steps=10),
        lambda: ControlVAEWeighting(),
        lambda: DynamicVAEWeighting(),
        lambda: LearnedWeighting(
            LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[0.3, -0.4])
        ),
        lambda: LearnedWeighting(LearnableWeightedLoss(names=("recon", "kl"), group_sizes=(1, 10))),
        lambda: LearnedWeighting(
            LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[0.3, -0.4]),
            network_objective="weighted",
        ),
        lambda: LearnedWeighting(
            LearnableWeightedLoss(names=("recon", "kl"), group_sizes=(1, 10)),
            network_objective="weighted",
        ),
    ],
)
def test_every_weighting_reports_the_weights_and_beta_it_applied(make: Any) -> None:
    weighting = make()
    optimizer = (
        torch.optim.SGD(weighting.parameters(), lr=0.01)
        if any(True for _ in weighting.parameters())
        else None
    )
    for kl in (30.0, 0.2, 12.0):
        out = weighting(torch.tensor(50.0, requires_grad=True), _kl(kl).requires_grad_())
        if optimizer is not None:
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
    # the read-outs are those of the last step (learned weights: after the optimizer moved them)
    weights, beta = weighting.weights, weighting.beta
    assert not weights.requires_grad and not beta.requires_grad
    if isinstance(weighting, LearnedWeighting):
        torch.testing.assert_close(beta, weighting.loss.beta)
        if weighting.network_objective == "weighted":
            torch.testing.assert_close(weights, weighting.loss.weights)
        else:  # the network's multipliers: 1 on the reconstruction, β on the KL
            torch.testing.assert_close(weights, torch.cat([torch.ones(1), beta.reshape(-1)]))
    else:
        torch.testing.assert_close(beta, out.beta)
        torch.testing.assert_close(weights, torch.stack([out.recon_weight, out.kl_weight]))
    assert weights.shape == (1 + beta.numel(),)
    torch.testing.assert_close(weights[1:] / weights[0], beta.reshape(-1))


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="beta must be >= 0"):
        FixedWeighting(-1.0)
    with pytest.raises(ValueError, match="beta_max"):
        ControlVAEWeighting(beta_min=2.0, beta_max=1.0)
    with pytest.raises(ValueError, match="ramp_steps"):
        DynamicVAEWeighting(window=100, ramp_steps=200)
    with pytest.raises(ValueError, match="capacity_steps"):
        CapacityAnnealing(capacity_steps=0)


def test_learned_weighting_scales_the_terms_it_shows_the_weights_and_reports_in_nats() -> None:
    """The weights see recon·recon_scale and KL·kl_scale; what is reported (and what the network's
    gradient is) is the multiplier of the summed terms."""
    loss = LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[0.4, -0.3])
    reference = LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[0.4, -0.3])
    weighting = LearnedWeighting(
        loss, recon_scale=1 / 4096, kl_scale=0.1, network_objective="weighted"
    )
    recon = torch.tensor(900.0, requires_grad=True)
    kl_per_dim = torch.tensor([3.0, 5.0, 2.0], requires_grad=True)
    objective = weighting(recon, kl_per_dim)
    expected = reference(recon.detach() / 4096, kl_per_dim.detach().sum() * 0.1)
    assert objective.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    objective.loss.backward()
    assert recon.grad is not None and kl_per_dim.grad is not None
    assert recon.grad.item() == pytest.approx(objective.recon_weight.item(), rel=1e-6)
    assert kl_per_dim.grad.tolist() == pytest.approx([objective.kl_weight.item()] * 3, rel=1e-6)
    kendall_beta = math.exp(0.4 - (-0.3))  # w_K / w_R of the loss itself
    assert weighting.beta.item() == pytest.approx(kendall_beta * 0.1 * 4096, rel=1e-6)
    assert objective.beta.item() == pytest.approx(weighting.beta.item(), rel=1e-6)
    assert "recon_scale=0.000244141, kl_scale=0.1" in repr(weighting)


@pytest.mark.parametrize("group_sizes", [(1, 1), (1, 3)])
def test_network_objective_beta_vae_gives_the_network_r_plus_beta_kl(
    group_sizes: tuple[int, int],
) -> None:
    """``network_objective="beta-vae"``: the network's gradient is that of R + β·KL with the
    learned β (a β-VAE's), the log-variances' gradient is the loss's own, and β is the same as
    with the weighted objective."""
    init = [0.4, -0.3] if group_sizes[1] == 1 else [0.4, -0.3, 0.1, -0.8]

    def run(objective: str) -> tuple[LearnedWeighting, Any, torch.Tensor, torch.Tensor]:
        loss = LearnableWeightedLoss(
            names=("recon", "kl"), group_sizes=group_sizes, init_log_variances=init
        )
        weighting = LearnedWeighting(loss, network_objective=objective)  # type: ignore[arg-type]
        recon = torch.tensor(900.0, requires_grad=True)
        kl_per_dim = torch.tensor([3.0, 5.0, 2.0], requires_grad=True)
        out = weighting(recon, kl_per_dim)
        out.loss.backward()
        return weighting, out, recon, kl_per_dim

    weighted, _, weighted_recon, _ = run("weighted")
    decoupled, out, recon, kl_per_dim = run("beta-vae")
    beta = decoupled.beta
    torch.testing.assert_close(beta, weighted.beta)
    assert recon.grad is not None and kl_per_dim.grad is not None
    assert recon.grad.item() == pytest.approx(1.0)
    expected_kl_grad = beta.expand(3) if beta.dim() == 0 else beta
    torch.testing.assert_close(kl_per_dim.grad, expected_kl_grad)
    # the weights learn exactly as with the weighted objective
    weighted_grad = weighted.loss.log_variances.grad
    assert weighted_grad is not None
    torch.testing.assert_close(decoupled.loss.log_variances.grad, weighted_grad)
    # what is reported is what the network saw: reconstruction weight 1, KL weight β
    torch.testing.assert_close(decoupled.weights, torch.cat([torch.ones(1), beta.reshape(-1)]))
    assert out.recon_weight.item() == 1.0
    assert weighted_recon.grad is not None and weighted_recon.grad.item() < 0.5  # ½e^(−0.4)
    assert "network_objective='beta-vae'" in repr(decoupled)
    with pytest.raises(ValueError, match="network_objective must be"):
        LearnedWeighting(
            LearnableWeightedLoss(names=("recon", "kl")),
            network_objective="both",  # type: ignore[arg-type]
        )
