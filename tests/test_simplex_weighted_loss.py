"""SimplexWeightedLoss: the objective by hand, its settling points, and its errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from learnable_weights import LearnableWeightedLoss, SimplexWeightedLoss
from learnable_weights.simplex_weighted_loss import simplex_beta


def _by_hand(s: list[float], terms: list[float], lam: float) -> float:
    exps = [math.exp(-si) for si in s]
    weights = [e / sum(exps) for e in exps]
    return sum(w * t for w, t in zip(weights, terms, strict=True)) - lam * sum(
        math.log(w) for w in weights
    )


def test_objective_and_weights_match_hand_computation() -> None:
    s, terms, lam = [0.3, -1.2, 0.8], [2.5, 0.7, 11.0], 1.5
    criterion = SimplexWeightedLoss(num_terms=3, bias_penalty=lam, init_log_variances=s)
    total = criterion(*(torch.tensor(t) for t in terms))
    s = criterion.log_variances.tolist()
    assert total.item() == pytest.approx(_by_hand(s, terms, lam), rel=1e-6)
    assert float(criterion.weights.sum()) == pytest.approx(1.0)
    assert criterion.last is not None
    assert float(criterion.last.regularizer) == pytest.approx(
        -lam * sum(math.log(float(w)) for w in criterion.weights), rel=1e-6
    )


def test_starts_like_the_log_variance_form_with_two_terms() -> None:
    simplex = SimplexWeightedLoss(names=("recon", "kl"))
    kendall = LearnableWeightedLoss(names=("recon", "kl"))
    assert simplex.weights.tolist() == kendall.weights.tolist() == [0.5, 0.5]
    assert float(simplex.beta) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    recon=st.floats(0.0, 2000.0),
    kl=st.floats(0.0, 200.0),
    barrier=st.floats(0.05, 50.0),
)
def test_the_gradient_vanishes_at_the_stated_beta(recon: float, kl: float, barrier: float) -> None:
    """β − 1/β = (R − K)/λ is where ∂L/∂s = 0 (module docstring), and it is a minimum."""
    beta = simplex_beta(recon, kl, barrier)
    assert beta - 1 / beta == pytest.approx((recon - kl) / barrier, rel=1e-9, abs=1e-9)
    # w ∝ e^(−s), so β = w_K / w_R = e^(s_R − s_K)
    at = torch.tensor([0.0, -math.log(beta)], dtype=torch.float64)
    criterion = SimplexWeightedLoss(
        names=("recon", "kl"), bias_penalty=barrier, log_variance_bounds=None
    ).double()
    terms = (torch.tensor(recon, dtype=torch.float64), torch.tensor(kl, dtype=torch.float64))

    def objective(shift: float) -> torch.Tensor:
        with torch.no_grad():
            criterion.log_variances.copy_(at + torch.tensor([0.0, shift], dtype=torch.float64))
        loss: torch.Tensor = criterion(*terms)
        return loss

    criterion.zero_grad()
    value = objective(0.0)
    value.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    grad = criterion.log_variances.grad
    assert grad is not None
    scale = max(1.0, recon, kl, barrier)
    assert grad.abs().max().item() <= 1e-9 * scale
    assert objective(0.01).item() >= value.item() - 1e-12 * scale
    assert objective(-0.01).item() >= value.item() - 1e-12 * scale


def test_per_dimension_weights_settle_where_the_stationarity_condition_holds() -> None:
    """With M weights the minimum has w_j·(L_j − L̄ + λM) = λ, L̄ = Σ w_i L_i (module docstring)."""
    terms, lam = torch.tensor([40.0, 3.0, 0.5, 9.0], dtype=torch.float64), 2.0
    criterion = SimplexWeightedLoss(
        names=("recon", "kl"), group_sizes=(1, 3), bias_penalty=lam
    ).double()
    optimizer = torch.optim.LBFGS(
        criterion.parameters(),
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss: torch.Tensor = criterion(terms)
        loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]  # LBFGS.step is unannotated in torch
    weights = criterion.weights
    mean = float((weights * terms).sum())
    residual = weights * (terms - mean + lam * len(terms)) - lam
    assert residual.abs().max().item() < 1e-6  # residual = −∂L/∂s
    assert criterion.beta.shape == (3,)
    assert weights.argmin() == 0  # the largest term gets the smallest weight


def test_trains_its_weights_towards_the_settling_beta() -> None:
    criterion = SimplexWeightedLoss(names=("recon", "kl"), bias_penalty=2.0)
    optimizer = torch.optim.Adam(criterion.parameters(), lr=0.05)
    for _ in range(2000):
        optimizer.zero_grad()
        criterion(torch.tensor(30.0), torch.tensor(10.0)).backward()
        optimizer.step()
    assert float(criterion.beta) == pytest.approx(simplex_beta(30.0, 10.0, 2.0), rel=1e-3)


@pytest.mark.parametrize("barrier", [0.0, -1.0, float("inf"), float("nan")])
def test_a_barrier_that_does_not_keep_the_weights_inside_is_refused(barrier: float) -> None:
    with pytest.raises(ValueError, match="log-barrier"):
        SimplexWeightedLoss(num_terms=2, bias_penalty=barrier)
    with pytest.raises(ValueError, match="barrier"):
        simplex_beta(1.0, 2.0, barrier if barrier <= 0 else -1.0)
