r"""`LVAE`: any encoder and decoder, turned into a VAE whose loss terms are weighted by a `Weighting`.

Data flow: ``x`` → encoder → (μ, log σ²) → :math:`z = \mu + e^{\frac12\log\sigma^2}\odot\epsilon`
→ decoder → logits → likelihood gives R; the closed-form KL to N(0, I) per latent dimension,

.. math::

    \mathrm{KL}_j = \frac1B \sum_b -\tfrac12\left(1 + \log\sigma^2_{b,j} - \mu_{b,j}^2
                    - \sigma^2_{b,j}\right),

(summed over dimensions, averaged over the batch, as every reference code, e.g. ``kl_divergence`` in
https://github.com/1Konny/Beta-VAE/blob/master/solver.py) → the weighting balances R against KL. With the default weighting, a
`LearnableWeightedLoss` over (R, KL), this is L-VAE (arXiv 2507.02619).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from learnable_weights.likelihoods import Likelihood, make_likelihood
from learnable_weights.weighted_loss import LearnableWeightedLoss
from learnable_weights.weighting import LearnedWeighting, Weighting

__all__ = ["LVAE", "VAEOutput", "gaussian_kl_per_dim"]


@dataclass(frozen=True)
class VAEOutput:
    """Everything one forward pass of `LVAE` computed. ``B`` batch, ``D`` latent size.

    Attributes:
        loss: ``()`` the objective to minimise (with the graph).
        recon_loss: ``()`` the reconstruction term R (negative log-likelihood, with the graph).
        kl: ``()`` KL summed over latent dimensions, averaged over the batch (with the graph).
        kl_per_dim: ``(D,)`` each dimension's KL averaged over the batch (detached).
        beta: ``()`` or ``(D,)``: KL weight over reconstruction weight applied at this step.
        weights: ``(1 + K,)``: the reconstruction weight then the KL weight(s) applied (detached).
        mu, logvar, z: ``(B, D)`` posterior mean, log-variance and the sample decoded.
        x_hat: the reconstruction in data space, the shape of ``x`` (the likelihood's ``mean``
            of the logits: their ``sigmoid`` for every built-in likelihood but the identity link).
        extras: detached scalars from the likelihood and the weighting, for logging.
    """

    loss: Tensor
    recon_loss: Tensor
    kl: Tensor
    kl_per_dim: Tensor
    beta: Tensor
    weights: Tensor
    mu: Tensor
    logvar: Tensor
    z: Tensor
    x_hat: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


def gaussian_kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, e^logvar) ‖ N(0, 1)) per latent dimension, averaged over the batch: ``(D,)``.

    ½(μ² + e^v − 1 − v) (Kingma & Welling 2014, appendix B), computed as ½(μ² + expm1(v) − v):
    the same value, but never below 0 in floating point (expm1(v) ≥ v holds after rounding, as
    rounding is monotone), where e^v − 1 − v rounds to about −1e-8 for a dimension at the prior.
    A negative KL would stop learned weights (`NegativeLossTermError`), and collapsed dimensions
    are exactly where it occurs."""
    return (0.5 * (mu.square() + torch.expm1(logvar) - logvar)).mean(dim=0)


class LVAE(nn.Module):
    """A VAE around any encoder and decoder, with learnable loss-term weights by default.

    Args:
        encoder: maps ``x`` ``(B, ...)`` to a tensor ``(B, 2·latent_dim)`` (μ then log σ²), a tuple
            ``(mu, logvar)`` of ``(B, latent_dim)`` each, or a ``torch.distributions.Normal``.
        decoder: maps ``z`` ``(B, latent_dim)`` to logits of the shape of ``x``.
        latent_dim: D.
        likelihood: ``"bernoulli"`` (default), ``"gaussian"``, ``"sigma-optimal"``,
            ``"sigma-learned"`` or a `Likelihood` (see `learnable_weights.likelihoods`).
        weighting: a `Weighting`, or a two-term `LearnableWeightedLoss` (wrapped in
            `LearnedWeighting`); default ``LearnableWeightedLoss(names=("recon", "kl"))``.

    ``model.parameters()`` includes the weighting's and the likelihood's parameters, so one
    optimizer over the model trains them with the network.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        *,
        likelihood: str | Likelihood = "bernoulli",
        weighting: Weighting | LearnableWeightedLoss | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.likelihood = make_likelihood(likelihood)
        if weighting is None:
            weighting = LearnableWeightedLoss(names=("recon", "kl"))
        if isinstance(weighting, LearnableWeightedLoss):
            weighting = LearnedWeighting(weighting)
        if not isinstance(weighting, Weighting):
            raise TypeError(
                "weighting must be a learnable_weights Weighting or a LearnableWeightedLoss, "
                f"got {type(weighting).__name__}"
            )
        _check_compatible(self.likelihood, weighting)
        self.weighting = weighting

    def forward(self, x: Tensor) -> VAEOutput:
        """Encodes, samples, decodes and weighs one batch ``x`` ``(B, ...)``."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self._decode_logits(z, like=x)
        recon, likelihood_extras = self.likelihood(logits, x)
        kl_per_dim = gaussian_kl_per_dim(mu, logvar)
        if self.weighting.absolute_terms:
            # Learned weights settle on the terms' level: hand them only what the model can change
            # (the Bernoulli term minus the targets' entropy). A term that cannot be negative is
            # clamped at 0 against rounding; one that can (an opted-in σ-VAE NLL) is passed as is.
            weighted_recon = recon - self.likelihood.irreducible(x)
            if self.likelihood.non_negative:
                weighted_recon = weighted_recon.clamp(min=0)
            likelihood_extras = {**likelihood_extras, "recon_excess": weighted_recon.detach()}
        else:
            weighted_recon = recon
        objective = self.weighting(weighted_recon, kl_per_dim)
        return VAEOutput(
            loss=objective.loss,
            recon_loss=recon,
            kl=kl_per_dim.sum(),
            kl_per_dim=kl_per_dim.detach(),
            beta=objective.beta.detach(),
            weights=torch.cat(
                [objective.recon_weight.reshape(1), objective.kl_weight.reshape(-1)]
            ).detach(),
            mu=mu,
            logvar=logvar,
            z=z,
            x_hat=self.likelihood.mean(logits),
            extras={**likelihood_extras, **objective.extras},
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the posterior ``(mu, logvar)``, each ``(B, latent_dim)``."""
        return self._split_posterior(self.encoder(x), x)

    def decode(self, z: Tensor) -> Tensor:
        """Decodes ``z`` ``(B, latent_dim)`` to data space (the likelihood's mean)."""
        return self.likelihood.mean(self._run_decoder(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decodes ``n`` draws from the prior N(0, I) to data space: ``(n, ...)``."""
        device = _module_device(self)
        if generator is not None and generator.device != device:
            raise ValueError(f"the generator is on {generator.device}, the model on {device}")
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The reconstruction of ``x`` from its posterior mean, in data space."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    @torch.no_grad()
    def representation(self, x: Tensor) -> Tensor:
        """The posterior mean ``(B, latent_dim)``: the code the disentanglement metrics read."""
        return self.encode(x)[0]

    def _split_posterior(self, output: object, x: Tensor) -> tuple[Tensor, Tensor]:
        d = self.latent_dim
        if isinstance(output, Normal):
            mu, logvar = output.loc, 2.0 * torch.log(output.scale)
        elif isinstance(output, tuple | list) and len(output) == 2:
            mu, logvar = output
        elif isinstance(output, Tensor):
            if output.dim() != 2 or output.shape[1] != 2 * d:
                raise ValueError(
                    f"the encoder returned a tensor of shape {tuple(output.shape)} for input "
                    f"{tuple(x.shape)}; LVAE(latent_dim={d}) expects ({x.shape[0]}, {2 * d}) "
                    "holding mu then logvar, a (mu, logvar) tuple, or a Normal"
                )
            mu, logvar = output[:, :d], output[:, d:]
        else:
            raise TypeError(
                "the encoder must return a tensor (B, 2*latent_dim), a (mu, logvar) tuple or a "
                f"torch.distributions.Normal; got {type(output).__name__}"
            )
        expected = (x.shape[0], d)
        for name, value in (("mu", mu), ("logvar", logvar)):
            if not isinstance(value, Tensor) or tuple(value.shape) != expected:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(
                    f"the encoder's {name} has shape {shape} for input {tuple(x.shape)}; "
                    f"LVAE(latent_dim={d}) expects {expected}"
                )
        return mu, logvar

    def _run_decoder(self, z: Tensor) -> Tensor:
        try:
            logits: Tensor = self.decoder(z)
        except RuntimeError as error:
            expected = _first_linear_in_features(self.decoder)
            if expected is None or expected == self.latent_dim:
                raise
            raise ValueError(
                f"the decoder failed on z of shape {tuple(z.shape)}: its first Linear layer takes "
                f"{expected} features, but LVAE(latent_dim={self.latent_dim}) passes "
                f"{self.latent_dim}. Build the decoder for latent_dim={self.latent_dim}, or the "
                f"LVAE with latent_dim={expected} (and the encoder to match)."
            ) from error
        return logits

    def _decode_logits(self, z: Tensor, like: Tensor) -> Tensor:
        logits = self._run_decoder(z)
        if not isinstance(logits, Tensor) or logits.shape != like.shape:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(
                f"the decoder returned {shape} for z of shape {tuple(z.shape)}, but the input x "
                f"has shape {tuple(like.shape)}; the decoder must output logits shaped like x"
            )
        return logits

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


def _check_compatible(likelihood: Likelihood, weighting: Weighting) -> None:
    """Refuses a likelihood that can go negative under learned weights that need it not to."""
    if not weighting.absolute_terms or likelihood.non_negative:
        return
    losses = [m for m in weighting.modules() if isinstance(m, LearnableWeightedLoss)]
    if losses and all(loss.allow_negative_terms for loss in losses):
        return
    raise ValueError(
        f"the {likelihood.name or type(likelihood).__name__!r} likelihood can be negative (a "
        "Gaussian negative log-likelihood is, once the squared error is small), but learned "
        "loss weights (l-vae, mdl-vae) are uncertainty weighting, defined for non-negative "
        "terms: a negative term runs its weight off to the bound and the loss to -inf. Use "
        "likelihood='bernoulli' or 'gaussian' with learned weights; σ-VAE's σ is itself a learned "
        "reconstruction weight, so use it with a fixed β ('sigma-vae'). To accept the risk, "
        "build the LearnableWeightedLoss with allow_negative_terms=True."
    )


def _first_linear_in_features(module: nn.Module) -> int | None:
    for sub in module.modules():
        if isinstance(sub, nn.Linear) and sub.in_features > 0:  # a LazyLinear has 0 until used
            return sub.in_features
    return None


def _module_device(module: nn.Module) -> torch.device:
    for parameter in module.parameters():
        return parameter.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")
