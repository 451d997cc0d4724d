"""parameter_groups: no weight decay on loss weights or likelihood scales, and no silent drop."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from learnable_weights import LVAE, LearnableWeightedLoss, models, parameter_groups
from learnable_weights.likelihoods import CalibratedGaussianLikelihood
from learnable_weights.optim import DEFAULT_WEIGHTING_LR, MissingWeightsWarning


def _vae_networks(latent_dim: int = 2) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 2 * latent_dim))
    decoder = nn.Sequential(nn.Linear(latent_dim, 16), nn.Unflatten(1, (1, 4, 4)))
    return encoder, decoder


def test_weights_get_no_weight_decay_and_their_own_lr() -> None:
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


def test_criterion_built_beside_the_model_is_accepted() -> None:
    net, criterion = nn.Linear(3, 3), LearnableWeightedLoss(num_terms=2)
    groups = parameter_groups(net, criterion, weight_decay=0.1)
    assert [len(g["params"]) for g in groups] == [2, 1]
    assert groups[1]["params"][0] is criterion.log_variances
    assert groups[1]["lr"] == DEFAULT_WEIGHTING_LR == 0.05  # the ablation's rate
    assert "lr" not in parameter_groups(net, criterion, weighting_lr=None)[1]  # the optimizer's
    # a parameter reachable from two arguments appears once
    both = parameter_groups(nn.ModuleList([net, criterion]), criterion)
    assert sum(len(g["params"]) for g in both) == 3


def test_a_network_without_its_criterion_warns() -> None:
    with pytest.warns(MissingWeightsWarning, match=r"parameter_groups\(model, criterion"):
        groups = parameter_groups(nn.Linear(3, 3), weight_decay=0.1)
    assert len(groups) == 1
    with warnings.catch_warnings():  # a VAE with a fixed β holds no learned weights on purpose
        warnings.simplefilter("error", MissingWeightsWarning)
        parameter_groups(models.build("beta-vae", *_vae_networks(), latent_dim=2))


def test_sigma_vae_learned_scale_gets_no_weight_decay() -> None:
    model = models.build("sigma-vae", *_vae_networks(), latent_dim=2, likelihood="sigma-learned")
    groups = parameter_groups(model, weight_decay=0.5)
    likelihood = model.likelihood
    assert isinstance(likelihood, CalibratedGaussianLikelihood)
    log_sigma = likelihood.log_sigma
    assert log_sigma is not None
    decayed = [p for g in groups if g["weight_decay"] > 0 for p in g["params"]]
    assert all(p is not log_sigma for p in decayed)
    (likelihood_group,) = [g for g in groups if any(p is log_sigma for p in g["params"])]
    assert likelihood_group["weight_decay"] == 0.0 and "lr" not in likelihood_group
    # decay would pull log σ towards 0 (σ → 1) with zero loss gradient; without it σ stays put
    optimizer = torch.optim.AdamW(groups, lr=0.1)
    log_sigma.data.fill_(-2.0)
    decoder = model.decoder
    assert isinstance(decoder, nn.Sequential)
    linear = decoder[0]
    assert isinstance(linear, nn.Linear)
    decoder_weight = linear.weight
    before = decoder_weight.detach().clone()
    for _ in range(5):
        for parameter in model.parameters():  # zero gradients: only decay moves a parameter
            parameter.grad = torch.zeros_like(parameter)
        optimizer.step()
    assert log_sigma.item() == -2.0
    assert not torch.equal(decoder_weight, before)  # the network's weights are decayed


def test_every_parameter_is_in_exactly_one_group() -> None:
    model = LVAE(*_vae_networks(), 2)
    groups = parameter_groups(model, weight_decay=1e-4, weighting_lr=1e-2)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="at least one module"):
        parameter_groups()
    with pytest.raises(TypeError, match="argument 1 is list"):
        parameter_groups(nn.Linear(2, 2), [nn.Linear(2, 2)])  # type: ignore[arg-type]
