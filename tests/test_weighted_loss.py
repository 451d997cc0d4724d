"""LearnableWeightedLoss: objective values by hand, gradients, equilibria, call forms and errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from learnable_weights import LearnableWeightedLoss, NonFiniteLossError, parameter_groups
from learnable_weights.weighted_loss import abs_log_spread, log_spread


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


def _optimise(criterion: LearnableWeightedLoss, terms: list[float], steps: int = 3000) -> None:
    optimizer = torch.optim.Adam(criterion.parameters(), lr=0.05)
    values = [torch.tensor(t, dtype=torch.float64) for t in terms]
    for _ in range(steps):
        optimizer.zero_grad()
        criterion(*values).backward()
        optimizer.step()


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
    # stationary point (research/paper.md §1.6): e^{-s_1} L_1 = 1 + 2λd, e^{-s_2} L_2 = 1 − 2λd
    assert math.exp(-s[0].item()) * terms[0] == pytest.approx(1 + 2 * lam * d, rel=1e-3)
    assert math.exp(-s[1].item()) * terms[1] == pytest.approx(1 - 2 * lam * d, rel=1e-3)
    beta = criterion.beta.item()
    assert beta == pytest.approx(math.exp(d), rel=1e-6)
    assert beta < terms[0] / terms[1]  # pulled together compared with λ = 0
    assert beta < math.exp(1 / (2 * lam))


def test_bias_penalty_caps_beta_for_extremely_unbalanced_terms() -> None:
    lam = 0.25
    criterion = LearnableWeightedLoss(num_terms=2, bias_penalty=lam).double()
    _optimise(criterion, [1e6, 1e-2], steps=4000)
    # a term ratio of 1e8 puts the stationary β a hair under the cap e^{1/(2λ)}, where λ = 0
    # would give β = 1e8; Adam's last steps jitter around it.
    assert criterion.beta.item() == pytest.approx(math.exp(1 / (2 * lam)), rel=1e-2)


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


def test_group_sizes_give_per_element_weights_and_term_level_regularizer() -> None:
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
    term_means = [0.0, 2.0]
    reg = 0.5 * ((term_means[0] - 1.0) ** 2 + (term_means[1] - 1.0) ** 2)
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


def test_parameter_groups_exclude_weight_decay() -> None:
    model = nn.ModuleDict({"net": nn.Linear(3, 3), "loss": LearnableWeightedLoss(num_terms=2)})
    groups = parameter_groups(model, weight_decay=0.1, weighting_lr=0.01)
    assert len(groups) == 2
    net_group, loss_group = groups
    assert net_group["weight_decay"] == 0.1 and len(net_group["params"]) == 2
    assert loss_group["weight_decay"] == 0.0 and loss_group["lr"] == 0.01
    assert loss_group["params"][0] is model["loss"].log_variances
    own = LearnableWeightedLoss(num_terms=2).parameter_groups(lr=1e-3)
    assert own[0]["weight_decay"] == 0.0 and own[0]["lr"] == 1e-3
    torch.optim.AdamW(groups, lr=1e-3)  # the groups are accepted as they are


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_term_raises_with_its_name(bad: float) -> None:
    criterion = LearnableWeightedLoss(names=("recon", "kl"))
    with pytest.raises(NonFiniteLossError, match=r"kl=") as info:
        criterion(torch.tensor(1.0), torch.tensor(bad))
    assert "recon" not in str(info.value).split("kl=")[0].split(":")[-1]
    off = LearnableWeightedLoss(names=("recon", "kl"), check_finite=False)
    assert not torch.isfinite(off(torch.tensor(1.0), torch.tensor(bad)))


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
