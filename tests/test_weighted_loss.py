"""LearnableWeightedLoss: objective values by hand, gradients, equilibria, call forms and errors."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import pytest
import torch
from torch import nn

from learnable_weights import LearnableWeightedLoss, NegativeLossTermError, NonFiniteLossError
from learnable_weights.weighted_loss import (
    WATCH_PERIOD,
    WeightsNotLearningWarning,
    abs_log_spread,
    log_spread,
)


def _kendall_by_hand(s: list[float], terms: list[float], lam: float) -> float:
    mean = sum(s) / len(s)
    weighted = sum(0.5 * math.exp(-si) * li for si, li in zip(s, terms, strict=True))
    return weighted + 0.5 * sum(s) + lam * sum((si - mean) ** 2 for si in s)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_objective_matches_hand_computation(dtype: torch.dtype, tol: float) -> None:
    s, terms, lam = [0.3, -1.2, 0.8], [2.5, 0.7, 11.0], 0.25
    criterion = LearnableWeightedLoss(num_terms=3, bias_penalty=lam, init_log_variances=s)
    if dtype == torch.float64:
        criterion = criterion.double()
    total = criterion(*(torch.tensor(t, dtype=dtype) for t in terms))
    assert total.dtype == dtype
    s = criterion.log_variances.tolist()  # the stored parameter is initialised in float32
    assert total.item() == pytest.approx(_kendall_by_hand(s, terms, lam), rel=tol, abs=tol)
    expected_weights = [0.5 * math.exp(-si) for si in s]
    assert criterion.weights.tolist() == pytest.approx(expected_weights, rel=1e-6)


def test_liebel_objective_matches_hand_computation() -> None:
    s, terms = [0.5, -0.4], [3.0, 0.2]
    criterion = LearnableWeightedLoss(
        num_terms=2, uncertainty="liebel", bias_penalty=0.0, init_log_variances=s
    ).double()
    total = criterion(*(torch.tensor(t, dtype=torch.float64) for t in terms))
    s = criterion.log_variances.tolist()
    # L/(2c²) + ln(1 + c²) with c² = e^s (Liebel & Körner 2018)
    expected = sum(
        li / (2 * math.exp(si)) + math.log1p(math.exp(si)) for si, li in zip(s, terms, strict=False)
    )
    assert total.item() == pytest.approx(expected, rel=1e-12)


def test_regularizers_by_hand() -> None:
    s = torch.tensor([1.0, -2.0, 4.0])
    assert log_spread(s).item() == pytest.approx(0.0 + 9.0 + 9.0)
    assert abs_log_spread(s).item() == pytest.approx(0.0 + 3.0 + 3.0)


def test_gradient_signs() -> None:
    # ∂/∂s = −½e^{−s}L + ½ (+ regularizer): a term above e^{s} pushes s up (its weight down).
    criterion = LearnableWeightedLoss(num_terms=2, bias_penalty=0.0)
    big = torch.tensor(10.0, requires_grad=True)
    small = torch.tensor(0.1, requires_grad=True)
    criterion(big, small).backward()
    grad = criterion.log_variances.grad
    assert grad is not None
    assert grad[0].item() == pytest.approx(-0.5 * 10.0 + 0.5)
    assert grad[1].item() == pytest.approx(-0.5 * 0.1 + 0.5)
    # the network always sees the positive applied weight
    assert big.grad is not None and small.grad is not None
    assert big.grad.item() == pytest.approx(0.5)
    assert small.grad.item() == pytest.approx(0.5)


def test_regularizer_gradient_pulls_log_variances_together() -> None:
    criterion = LearnableWeightedLoss(num_terms=2, bias_penalty=1.0, init_log_variances=[2.0, -2.0])
    # terms chosen so that the uncertainty part has zero gradient: L_i = e^{s_i}
    criterion(torch.tensor(math.exp(2.0)), torch.tensor(math.exp(-2.0))).backward()
    grad = criterion.log_variances.grad
    assert grad is not None
    assert grad.tolist() == pytest.approx([4.0, -4.0])  # 2λ(s_i − s̄)


def _optimise(
    criterion: LearnableWeightedLoss, terms: Sequence[float | Sequence[float]], steps: int = 2000
) -> None:
    """Adam on the log-variances alone against constant terms; the learning rate decays from
    0.2 to 2e-5 over the second half so that kinked objectives (abs-log-spread) settle too."""
    optimizer = torch.optim.Adam(criterion.parameters(), lr=0.2)
    decay = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 if step < steps // 2 else 1e-4 ** ((2 * step - steps) / steps)
    )
    values = [torch.tensor(t, dtype=torch.float64) for t in terms]
    for _ in range(steps):
        optimizer.zero_grad()
        criterion(*values).backward()
        optimizer.step()
        decay.step()


def test_uncertainty_equilibrium_without_bias_penalty() -> None:
    terms = [40.0, 0.5]
    criterion = LearnableWeightedLoss(num_terms=2, bias_penalty=0.0).double()
    _optimise(criterion, terms)
    # Kendall: s* = ln L, so the weights' ratio is the inverse ratio of the terms
    assert criterion.log_variances.tolist() == pytest.approx([math.log(t) for t in terms], abs=1e-3)
    weights = criterion.weights
    assert (weights[0] / weights[1]).item() == pytest.approx(terms[1] / terms[0], rel=1e-3)
    assert criterion.beta.item() == pytest.approx(terms[0] / terms[1], rel=1e-3)


@pytest.mark.parametrize("lam", [0.1, 0.25, 1.0])
def test_bias_penalty_equilibrium_matches_closed_form(lam: float) -> None:
    terms = [40.0, 0.5]
    criterion = LearnableWeightedLoss(num_terms=2, bias_penalty=lam).double()
    _optimise(criterion, terms)
    s = criterion.log_variances.detach()
    d = (s[0] - s[1]).item()
    # stationary point (docs/objective.md): e^{-s_1} L_1 = 1 + 2λd, e^{-s_2} L_2 = 1 − 2λd
    assert math.exp(-s[0].item()) * terms[0] == pytest.approx(1 + 2 * lam * d, rel=1e-3)
    assert math.exp(-s[1].item()) * terms[1] == pytest.approx(1 - 2 * lam * d, rel=1e-3)
    beta = criterion.beta.item()
    assert beta == pytest.approx(math.exp(d), rel=1e-6)
    assert beta < terms[0] / terms[1]  # pulled together compared with λ = 0
    assert beta < math.exp(1 / (2 * lam))


def test_bias_penalty_caps_beta_for_extremely_unbalanced_terms() -> None:
    lam = 0.25
    criterion = LearnableWeightedLoss(num_terms=2, bias_penalty=lam).double()
    _optimise(criterion, [1e6, 1e-2])
    # a term ratio of 1e8 puts the stationary β a hair under the cap e^{1/(2λ)}, where λ = 0
    # would give β = 1e8; Adam's last steps jitter around it.
    assert criterion.beta.item() == pytest.approx(math.exp(1 / (2 * lam)), rel=1e-2)


@pytest.mark.parametrize(("lam", "ratio"), [(0.25, 80.0), (0.1, 500.0), (0.25, 1 / 80.0)])
def test_abs_log_spread_equilibrium_matches_closed_form(lam: float, ratio: float) -> None:
    # outside the dead zone: e^{-s_1} L_1 = 1 + 2λ·sign(d), e^{-s_2} L_2 = 1 − 2λ·sign(d)
    terms = [ratio, 1.0]
    criterion = LearnableWeightedLoss(
        num_terms=2, bias_penalty=lam, bias_regularizer="abs-log-spread"
    ).double()
    _optimise(criterion, terms)
    sign = 1.0 if ratio > 1 else -1.0
    shrink = (1 - 2 * lam * sign) / (1 + 2 * lam * sign)
    assert criterion.beta.item() == pytest.approx(ratio * shrink, rel=1e-3)
    if (lam, ratio) == (0.25, 80.0):
        assert criterion.beta.item() == pytest.approx(26.67, abs=0.01)  # not 48 (the old docs)


@pytest.mark.parametrize(("lam", "ratio"), [(0.25, 2.9), (0.25, 1 / 2.9), (0.5, 80.0), (1.0, 1e4)])
def test_abs_log_spread_dead_zone_gives_beta_one(lam: float, ratio: float) -> None:
    # |ln(L_1/L_2)| ≤ ln((1+2λ)/(1−2λ)) (ln 3 at λ = 0.25), or λ ≥ ½: the weights stay equal
    criterion = LearnableWeightedLoss(
        num_terms=2, bias_penalty=lam, bias_regularizer="abs-log-spread"
    ).double()
    _optimise(criterion, [ratio, 1.0])
    assert criterion.beta.item() == pytest.approx(1.0, abs=2e-3)


def test_liebel_with_log_spread_matches_closed_form_and_cap() -> None:
    # ∂/∂s_1: −½e^{−s_1}L_1 + σ(s_1) + λd = 0 and ∂/∂s_2: −½e^{−s_2}L_2 + σ(s_2) − λd = 0, so
    # λd < σ(s_2) < 1 and β = e^d < e^{1/λ} (54.6 at λ = 0.25), not the Kendall cap e^{1/(2λ)}
    lam = 0.25
    for terms in ([2800.0, 1.0], [1e6, 1e-4]):
        criterion = LearnableWeightedLoss(  # started at the larger term's scale, β = 1
            num_terms=2,
            uncertainty="liebel",
            bias_penalty=lam,
            init_log_variances=math.log(terms[0]),
        ).double()
        _optimise(criterion, terms)
        s = criterion.log_variances.detach().double()
        d = (s[0] - s[1]).item()
        sig = torch.sigmoid(s).tolist()
        assert 0.5 * math.exp(-s[0].item()) * terms[0] == pytest.approx(sig[0] + lam * d, rel=1e-3)
        assert 0.5 * math.exp(-s[1].item()) * terms[1] == pytest.approx(sig[1] - lam * d, rel=1e-3)
        beta = criterion.beta.item()
        assert math.exp(1 / (2 * lam)) < beta < math.exp(1 / lam)
        if terms[0] == 2800.0:
            assert beta == pytest.approx(39.80, abs=0.01)
    assert beta == pytest.approx(math.exp(1 / lam), rel=1e-3)  # ratio 1e10: at the cap


def test_mdl_vae_settling_point_and_per_dimension_cap() -> None:
    # rows (s_R, s_j), penalty λ·Σ_j d_j²/2 with d_j = s_R − s_j:
    #   e^{−s_j} K_j = 1 − 2λ d_j,  e^{−s_R} R = 1 + 2λ Σ_j d_j,  β_j = e^{d_j} < e^{1/(2λ)}
    lam, recon = 0.25, 30.0
    kls = [3.0, 3.0, 2.0, 2.0, 1.0, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4]
    criterion = LearnableWeightedLoss(
        names=("recon", "kl"), group_sizes=(1, len(kls)), bias_penalty=lam
    ).double()
    _optimise(criterion, [recon, kls])
    s = criterion.log_variances.detach().double()
    d = s[0] - s[1:]
    lhs = torch.exp(-s[1:]) * torch.tensor(kls, dtype=torch.float64)
    torch.testing.assert_close(lhs, 1 - 2 * lam * d, rtol=1e-3, atol=1e-4)
    assert math.exp(-s[0].item()) * recon == pytest.approx(1 + 2 * lam * d.sum().item(), rel=1e-3)
    beta = criterion.beta
    torch.testing.assert_close(beta, torch.exp(d), rtol=1e-6, atol=0)
    assert float(beta.max()) < math.exp(1 / (2 * lam))
    assert float(beta.min()) > 1.0  # every KL is below R: each dimension is pushed, none pulled


def test_mdl_vae_collapsed_dimensions_stay_capped() -> None:
    # The first version penalised only the group mean: β_j ∝ 1/K_j ≈ 1e13 for KL 1e-13.
    lam = 0.25
    kls = [3.0, 2.0, 1.0, 1.0, 0.5] + [1e-13] * 5
    criterion = LearnableWeightedLoss(
        names=("recon", "kl"), group_sizes=(1, len(kls)), bias_penalty=lam
    ).double()
    _optimise(criterion, [30.0, kls])
    beta = criterion.beta
    assert float(beta.max()) < math.exp(1 / (2 * lam))
    # K_j → 0 needs 1 − 2λd_j → 0: β_j reaches the cap e^{1/(2λ)} and no further
    assert float(beta[5:].min()) == pytest.approx(math.exp(1 / (2 * lam)), rel=1e-6)


def test_mdl_vae_with_one_dimension_is_l_vae() -> None:
    single = LearnableWeightedLoss(names=("recon", "kl"), group_sizes=(1, 1), bias_penalty=0.3)
    vector = LearnableWeightedLoss(names=("recon", "kl"), group_sizes=(1, 1), bias_penalty=0.3)
    plain = LearnableWeightedLoss(names=("recon", "kl"), bias_penalty=0.3)
    for criterion in (single, vector, plain):
        criterion.log_variances.data = torch.tensor([0.7, -1.1])
    recon, kl = torch.tensor(12.0), torch.tensor(0.8)
    assert plain(recon, kl).item() == pytest.approx(single(recon, kl.reshape(1)).item(), rel=1e-7)


def test_group_sizes_must_broadcast_when_the_regularizer_acts() -> None:
    with pytest.raises(ValueError, match=r"group sizes must broadcast .* got \(1, 3, 5\)"):
        LearnableWeightedLoss(num_terms=3, group_sizes=(1, 3, 5))
    free = LearnableWeightedLoss(num_terms=3, group_sizes=(1, 3, 5), bias_penalty=0.0)
    assert free(torch.tensor(1.0), torch.ones(3), torch.ones(5)).isfinite()
    two_vectors = LearnableWeightedLoss(
        num_terms=3, group_sizes=(1, 2, 2), bias_penalty=1.0, init_log_variances=[0, 1, 2, 3, 4]
    ).double()
    ones = torch.ones(2, dtype=torch.float64)
    two_vectors(torch.tensor(1.0, dtype=torch.float64), ones, ones)
    assert two_vectors.last is not None
    rows = [(0.0, 1.0, 3.0), (0.0, 2.0, 4.0)]  # element j of each vector term, with s_0
    expected = sum(sum((v - sum(r) / 3) ** 2 for v in r) for r in rows)
    assert two_vectors.last.regularizer.item() == pytest.approx(expected, rel=1e-12)


def test_liebel_equilibrium() -> None:
    terms = [3.0, 0.02]
    criterion = LearnableWeightedLoss(num_terms=2, uncertainty="liebel", bias_penalty=0.0).double()
    _optimise(criterion, terms)
    c2 = torch.exp(criterion.log_variances.detach())
    for value, loss in zip(c2.tolist(), terms, strict=True):
        assert value == pytest.approx((loss + math.sqrt(loss**2 + 8 * loss)) / 4, rel=1e-3)


def test_call_forms_agree() -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl"), init_log_variances=[0.2, -0.1])
    recon, kl = torch.tensor(3.0), torch.tensor(0.4)
    expected = criterion(recon, kl)
    assert criterion({"recon": recon, "kl": kl}).item() == expected.item()
    assert criterion(recon=recon, kl=kl).item() == expected.item()
    assert criterion(torch.stack([recon, kl])).item() == expected.item()


def test_group_sizes_give_per_element_weights_and_a_regularizer_per_element() -> None:
    criterion = LearnableWeightedLoss(
        names=("recon", "kl"),
        group_sizes=(1, 3),
        bias_penalty=0.5,
        init_log_variances=[0.0, 1.0, 2.0, 3.0],
    ).double()
    kl = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    total = criterion(torch.tensor(5.0, dtype=torch.float64), kl)
    s = [0.0, 1.0, 2.0, 3.0]
    weighted = 0.5 * 5.0 + sum(
        0.5 * math.exp(-si) * k for si, k in zip(s[1:], [0.1, 0.2, 0.3], strict=False)
    )
    # one row (s_R, s_KL,j) per dimension; log-spread of a pair (a, b) is (a − b)²/2
    reg = 0.5 * sum((s[0] - sj) ** 2 / 2 for sj in s[1:])
    assert total.item() == pytest.approx(weighted + 0.5 * sum(s) + reg, rel=1e-12)
    assert criterion.beta.shape == (3,)
    assert criterion.beta.tolist() == pytest.approx([math.exp(-si) for si in s[1:]])
    assert criterion.weights_by_name()["kl"].shape == (3,)


def test_breakdown_of_last_call() -> None:
    criterion = LearnableWeightedLoss(
        names=("a", "b"), bias_penalty=0.5, init_log_variances=[1, -1]
    )
    assert criterion.last is None
    total = criterion(torch.tensor(2.0), torch.tensor(3.0))
    last = criterion.last
    assert last is not None
    assert last.total.item() == pytest.approx(total.item())
    assert last.weighted_terms["a"].item() == pytest.approx(0.5 * math.exp(-1) * 2.0)
    assert last.weighted_terms["b"].item() == pytest.approx(0.5 * math.exp(1) * 3.0)
    assert last.regularizer.item() == pytest.approx(0.5 * 2.0)
    assert last.uncertainty.item() == pytest.approx(0.0)
    floats = last.as_floats()
    assert floats["weight/a"] == pytest.approx(0.5 * math.exp(-1))
    assert not last.total.requires_grad


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_extreme_term_scales_stay_finite(scale: float) -> None:
    criterion = LearnableWeightedLoss(num_terms=2, log_variance_bounds=(-25.0, 25.0))
    optimizer = torch.optim.SGD(criterion.parameters(), lr=50.0)
    for _ in range(200):
        optimizer.zero_grad()
        total = criterion(torch.tensor(scale), torch.tensor(1.0))
        assert torch.isfinite(total)
        total.backward()
        optimizer.step()
    weights = criterion.weights
    assert torch.isfinite(weights).all()
    assert weights.min() >= 0.5 * math.exp(-25.0) * (1 - 1e-6)
    assert weights.max() <= 0.5 * math.exp(25.0) * (1 + 1e-6)


def test_bf16_autocast_keeps_weights_float32() -> None:
    net = nn.Linear(4, 2)
    criterion = LearnableWeightedLoss(num_terms=2)
    x = torch.randn(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
        assert out.dtype == torch.bfloat16
        total = criterion(out[:, 0].square().mean(), out[:, 1].abs().mean())
    assert total.dtype == torch.float32
    assert criterion.weights.dtype == torch.float32
    total.backward()
    assert criterion.log_variances.grad is not None
    assert criterion.log_variances.grad.dtype == torch.float32


def test_fp16_terms_with_grad_scaler() -> None:
    criterion = LearnableWeightedLoss(num_terms=2)
    optimizer = torch.optim.SGD(criterion.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    total = criterion(
        torch.tensor(3.0, dtype=torch.float16), torch.tensor(0.5, dtype=torch.float16)
    )
    assert total.dtype == torch.float32
    scaler.scale(total).backward()
    scaler.step(optimizer)
    scaler.update()
    expected = torch.tensor([-0.5 * 3.0 + 0.5, -0.5 * 0.5 + 0.5]) * -0.1  # one unscaled SGD step
    assert criterion.log_variances.detach().tolist() == pytest.approx(expected.tolist(), rel=1e-4)


def test_state_dict_round_trip() -> None:
    source = LearnableWeightedLoss(num_terms=3, init_log_variances=[0.1, 0.2, 0.3])
    target = LearnableWeightedLoss(num_terms=3)
    target.load_state_dict(source.state_dict())
    assert torch.equal(target.log_variances, source.log_variances)
    assert list(source.state_dict()) == ["log_variances"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_term_raises_with_its_name(bad: float) -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl"))
    with pytest.raises(NonFiniteLossError, match=r"kl=") as info:
        criterion(torch.tensor(1.0), torch.tensor(bad))
    assert "recon" not in str(info.value).split("kl=")[0].split(":")[-1]
    off = LearnableWeightedLoss(names=("recon", "kl"), check_finite=False)
    assert not torch.isfinite(off(torch.tensor(1.0), torch.tensor(bad)))


def test_negative_term_raises_with_its_name() -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl"))
    with pytest.raises(NegativeLossTermError, match=r"negative loss term at call 1: recon=-3\.5"):
        criterion(torch.tensor(-3.5), torch.tensor(1.0))
    with pytest.raises(NegativeLossTermError, match="allow_negative_terms=True"):
        criterion(torch.tensor(1.0), torch.tensor(-1e-9))
    assert criterion(torch.tensor(0.0), torch.tensor(0.0)).isfinite()  # zero is allowed
    opted_out = LearnableWeightedLoss(names=("recon", "kl"), allow_negative_terms=True)
    assert opted_out(torch.tensor(-3.5), torch.tensor(1.0)).isfinite()
    unchecked = LearnableWeightedLoss(names=("recon", "kl"), check_finite=False)
    with pytest.raises(NegativeLossTermError):  # the sign check does not depend on check_finite
        unchecked(torch.tensor(-3.5), torch.tensor(1.0))


def test_negative_term_would_run_the_weights_off() -> None:
    # Why the check exists: with R < 0 the Kendall weight grows without limit (the bound stops
    # it) and the loss falls towards −∞; the opt-out reproduces it.
    criterion = LearnableWeightedLoss(names=("recon", "kl"), allow_negative_terms=True)
    optimizer = torch.optim.Adam(criterion.parameters(), lr=0.5)
    for _ in range(400):
        optimizer.zero_grad()
        total = criterion(torch.tensor(-10.0), torch.tensor(5.0))
        total.backward()
        optimizer.step()
    assert criterion.weights[0].item() == pytest.approx(0.5 * math.exp(30.0), rel=1e-5)  # bound
    assert total.item() < -1e13


def test_warns_when_the_weights_are_not_in_the_optimizer() -> None:
    net = nn.Linear(3, 2)
    criterion = LearnableWeightedLoss(num_terms=2)
    x = torch.randn(16, 3)

    def train(optimizer: torch.optim.Optimizer, calls: int) -> None:
        for _ in range(calls):
            optimizer.zero_grad()
            out = net(x)
            criterion(out[:, 0].square().mean(), out[:, 1].abs().mean()).backward()
            optimizer.step()

    with pytest.warns(WeightsNotLearningWarning, match="not in the optimizer"):
        train(torch.optim.Adam(net.parameters(), lr=1e-3), 2 * WATCH_PERIOD)
    criterion = LearnableWeightedLoss(num_terms=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightsNotLearningWarning)
        train(torch.optim.Adam([*net.parameters(), *criterion.parameters()], lr=1e-3), 600)
        criterion.eval()  # evaluation never warns
        with torch.no_grad():
            for _ in range(600):
                criterion(torch.tensor(1.0), torch.tensor(1.0))


def test_wrong_number_of_terms() -> None:
    criterion = LearnableWeightedLoss(num_terms=3)
    with pytest.raises(ValueError, match=r"expected 3 terms .* got 2"):
        criterion(torch.tensor(1.0), torch.tensor(2.0))
    with pytest.raises(ValueError, match="1-D with all 3 weighted elements"):
        criterion(torch.ones(2))


def test_wrong_names() -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl"))
    with pytest.raises(KeyError, match=r"missing \['kl'\], unexpected \['KL'\]"):
        criterion({"recon": torch.tensor(1.0), "KL": torch.tensor(1.0)})


def test_wrong_term_shape() -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl"), group_sizes=(1, 4))
    with pytest.raises(ValueError, match=r"term 'recon' has shape \(8,\) but must be a scalar"):
        criterion(torch.ones(8), torch.ones(4))
    with pytest.raises(
        ValueError, match=r"term 'kl' has shape \(3,\) but must be a 1-D tensor of 4"
    ):
        criterion(torch.tensor(1.0), torch.ones(3))


def test_constructor_errors() -> None:
    with pytest.raises(TypeError, match="num_terms= or names="):
        LearnableWeightedLoss()
    with pytest.raises(ValueError, match="bias_penalty"):
        LearnableWeightedLoss(num_terms=2, bias_penalty=-1.0)
    with pytest.raises(ValueError, match="unknown bias_regularizer"):
        LearnableWeightedLoss(num_terms=2, bias_regularizer="nope")
    with pytest.raises(ValueError, match="init_log_variances has 3 values"):
        LearnableWeightedLoss(num_terms=2, init_log_variances=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="group_sizes"):
        LearnableWeightedLoss(num_terms=2, group_sizes=(1,))
    with pytest.raises(ValueError, match="distinct"):
        LearnableWeightedLoss(names=("a", "a"))
    with pytest.raises(ValueError, match="beta is defined for two terms"):
        _ = LearnableWeightedLoss(num_terms=3).beta


def test_custom_regularizer_is_used() -> None:
    criterion = LearnableWeightedLoss(
        num_terms=2,
        bias_penalty=2.0,
        bias_regularizer=lambda s: s.abs().max(),
        init_log_variances=[0.5, -3.0],
    )
    criterion(torch.tensor(1.0), torch.tensor(1.0))
    assert criterion.last is not None
    assert criterion.last.regularizer.item() == pytest.approx(6.0)


# --------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
def test_cuda_objective_and_gradients_equal_the_cpu_ones() -> None:
    s, terms, lam = [0.3, -1.2, 0.8], [2.5, 0.7, 11.0], 0.25
    results = []
    for device in ("cpu", "cuda"):
        criterion = LearnableWeightedLoss(num_terms=3, bias_penalty=lam, init_log_variances=s)
        criterion = criterion.double().to(device)
        total = criterion(*(torch.tensor(t, dtype=torch.float64, device=device) for t in terms))
        total.backward()
        assert criterion.log_variances.grad is not None
        results.append((total.item(), criterion.log_variances.grad.cpu()))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-12)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-12, atol=1e-12)


@pytest.mark.cuda
def test_cuda_non_finite_term_is_reported_at_the_next_call_or_at_flush() -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl")).cuda()
    one = torch.tensor(1.0, device="cuda")
    criterion(one, torch.tensor(float("nan"), device="cuda"))  # deferred: no sync, no error yet
    torch.cuda.synchronize()
    with pytest.raises(NonFiniteLossError, match=r"call 1 \(detected at the next call.*: kl"):
        criterion(one, one)
    criterion(one, torch.tensor(float("inf"), device="cuda"))
    with pytest.raises(NonFiniteLossError, match=r"call 3 .*: kl"):
        criterion.flush()
    criterion(one, one)
    criterion.flush()  # all finite: nothing to report


@pytest.mark.cuda
def test_cuda_bf16_autocast_computes_the_objective_in_float32() -> None:
    criterion = LearnableWeightedLoss(num_terms=2).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        terms = [torch.tensor(2.5, device="cuda").bfloat16(), torch.tensor(0.5, device="cuda")]
        total = criterion(*terms)
    assert total.dtype == torch.float32
    expected = LearnableWeightedLoss(num_terms=2)(
        torch.tensor(2.5).bfloat16().float(), torch.tensor(0.5)
    )
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
