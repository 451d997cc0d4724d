"""learnable-weights: learnable loss-term weights for PyTorch (L-VAE, arXiv 2507.02619).

Public names: `LearnableWeightedLoss` (any multi-term loss), `LVAE` (any encoder/decoder),
`VAEOutput`, `parameter_groups`, `NonFiniteLossError`, `NegativeLossTermError`; submodules
`models` (the baselines), `likelihoods`, `weighting`, `optim`, `nets`, `data` and `metrics`.
"""

from learnable_weights import models
from learnable_weights._finite import NegativeLossTermError, NonFiniteLossError
from learnable_weights.optim import parameter_groups
from learnable_weights.vae import LVAE, VAEOutput
from learnable_weights.weighted_loss import LearnableWeightedLoss

__version__ = "0.1.0.dev0"

__all__ = [
    "LVAE",
    "LearnableWeightedLoss",
    "NegativeLossTermError",
    "NonFiniteLossError",
    "VAEOutput",
    "__version__",
    "models",
    "parameter_groups",
]
