"""Disentanglement metrics with disentanglement_lib 1.5's numbers (docs/metrics/index.md).

Array-level metrics take codes ``(N, D)`` and factor classes ``(N, K)`` (numpy arrays or tensors,
rows are points): :func:`mig`, :func:`sap`, :func:`dci`, :func:`modularity_explicitness`,
:func:`irs`. The sampling metrics :func:`beta_vae_score` and :func:`factor_vae_score` take a
ground-truth dataset, a representation function and a ``numpy.random.RandomState``.
:func:`evaluate` runs them all as disentanglement_lib's pipeline does.

Importing this package needs only torch and numpy; the metrics themselves need scikit-learn and
scipy (``pip install "learnable-weights[metrics]"``), imported when a metric runs.
"""

from learnable_weights.metrics.beta_vae import beta_vae_score
from learnable_weights.metrics.dci import dci
from learnable_weights.metrics.evaluate import Evaluation, evaluate
from learnable_weights.metrics.factor_vae import factor_vae_score
from learnable_weights.metrics.irs import irs
from learnable_weights.metrics.mig import mig
from learnable_weights.metrics.modularity import modularity_explicitness
from learnable_weights.metrics.sap import sap

__all__ = [
    "Evaluation",
    "beta_vae_score",
    "dci",
    "evaluate",
    "factor_vae_score",
    "irs",
    "mig",
    "modularity_explicitness",
    "sap",
]
