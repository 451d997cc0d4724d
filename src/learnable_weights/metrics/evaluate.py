"""``evaluate``: disentanglement_lib's evaluation pipeline for one representation, in one call.

For each chosen metric, as disentanglement_lib's ``evaluation/evaluate.py`` with the configs of
its unsupervised study (``config/unsupervised_study_v1/metric_configs``): a fresh
``numpy.random.RandomState(seed)``; for the array-level metrics a training set (and then a test
set) sampled as ``utils.generate_batch_factor_code`` does (``dataset.sample`` in chunks of 16
points); then the metric with the study's settings. IRS uses its sample config
(``config/sample/irs/irs.gin``), which the study does not include.

What we do differently (the draws and the metric arithmetic are the reference's):

- On an accelerator, observations are encoded in large batches (``batch_size`` per call, on
  ``device`` for an ``nn.Module``) instead of the reference's 16 or 64; the draws from the random
  state keep their order. The codes stay bitwise equal only if the representation rounds each
  code the same whatever the batch size, which many kernels do not (BLAS and convolutions pick
  their blocking by size): then scores can move in their last digits (docs/metrics/index.md).
  On a CPU the default is the reference's own call sizes, which were also the fastest there.
- The array-level metrics share the sampled sets: with the same seed, ``num_train`` and chunk size
  they would each draw the same points, so those are drawn and encoded once.
- For a dataset whose observations are a fixed function of their factors (it declares
  ``deterministic_observations = True``, as every dataset in ``learnable_weights.data`` does),
  each distinct observation is encoded at most once per call, in full batches of ``batch_size``,
  and every metric reads its codes by factor index (:class:`CodeCache`); the draws are the same.
  At the study's sizes on dSprites that is about 0.72 million encodings instead of 2.9 million.
- DCI's trees take their seeds from a private ``RandomState(seed)`` stream (the reference's
  results after ``np.random.seed(seed)``). disentanglement_lib's pipeline leaves numpy's global
  state unseeded there, so its DCI depends on whatever state the process is in.

Global state is left as it was found: numpy's global random state, TF32
(``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32``, the float32
matmul precision) and autocast are off during the evaluation and restored after it, and an
``nn.Module`` is put in eval mode (and on ``device``) and back.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from learnable_weights.metrics._codes import (
    CodeCache,
    code_source,
    declares_deterministic_observations,
)
from learnable_weights.metrics._progress import progress_bar
from learnable_weights.metrics._sampling import (
    GroundTruthData,
    Representation,
    check_count,
    check_dataset,
    check_random_state,
    encode,
)
from learnable_weights.metrics._versions import installed_versions
from learnable_weights.metrics.beta_vae import beta_vae_score
from learnable_weights.metrics.dci import dci
from learnable_weights.metrics.factor_vae import factor_vae_score
from learnable_weights.metrics.irs import irs
from learnable_weights.metrics.mig import mig
from learnable_weights.metrics.modularity import modularity_explicitness
from learnable_weights.metrics.sap import sap

#: Progress at INFO level: each metric's start, and its end with the seconds it took.
_LOG = logging.getLogger(__name__)

__all__ = [
    "CPU_CACHE_BATCH",
    "DEFAULT_METRICS",
    "HEADLINE_KEYS",
    "STUDY_SETTINGS",
    "CodeCache",
    "Evaluation",
    "GroundTruthData",
    "encode",
    "evaluate",
    "sample_codes_and_factors",
]

#: The metrics :func:`evaluate` runs by default: the unsupervised study's supervised metrics and
#: IRS.
DEFAULT_METRICS: tuple[str, ...] = (
    "beta_vae",
    "factor_vae",
    "mig",
    "dci",
    "sap",
    "modularity_explicitness",
    "irs",
)

#: Settings per metric, from disentanglement_lib's ``unsupervised_study_v1`` metric configs
#: (``irs``: ``config/sample/irs/irs.gin``). ``batch_size`` is the reference's: pairs per point
#: (BetaVAE), observations per point (FactorVAE), or the chunk size of the sampled sets.
STUDY_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000},
        "factor_vae": {
            "batch_size": 64,
            "num_train": 10000,
            "num_eval": 5000,
            "num_variance_estimate": 10000,
            "prune_threshold": 0.05,
        },
        "mig": {"num_train": 10000, "batch_size": 16, "num_bins": 20},
        "dci": {"num_train": 10000, "num_test": 5000, "batch_size": 16, "mode": "exact"},
        "sap": {
            "num_train": 10000,
            "num_test": 5000,
            "batch_size": 16,
            "continuous_factors": False,
        },
        "modularity_explicitness": {
            "num_train": 10000,
            "num_test": 5000,
            "batch_size": 16,
            "num_bins": 20,
        },
        "irs": {"num_train": 10000, "batch_size": 16, "diff_quantile": 0.99, "num_bins": 20},
    }
)

#: Observations per encoder call when the code cache fills on a CPU (measured fastest for the
#: reference 64x64 encoder on a 2-core CPU; docs/metrics/index.md).
CPU_CACHE_BATCH = 64

#: The key of each metric's headline score in its result.
HEADLINE_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "beta_vae": "eval_accuracy",
        "factor_vae": "eval_accuracy",
        "mig": "discrete_mig",
        "dci": "disentanglement",
        "sap": "SAP_score",
        "modularity_explicitness": "modularity_score",
        "irs": "IRS",
    }
)

# Settings that are the metric function's own keyword arguments (the rest drive the sampling).
_METRIC_ARGUMENTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "mig": ("num_bins",),
        "dci": ("mode",),
        "sap": ("continuous_factors",),
        "modularity_explicitness": ("num_bins",),
        "irs": ("diff_quantile", "num_bins"),
    }
)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        scores: per metric, the metric's result (disentanglement_lib's keys and the breakdowns).
        settings: per metric, the settings it ran with.
        seed: the seed of every metric's ``RandomState`` (and of DCI's trees).
        versions: the library versions the numbers depend on.
        seconds: wall-clock seconds per metric, sampling and encoding included (a set shared by
            several metrics is counted for the first).
    """

    scores: dict[str, dict[str, Any]]
    settings: dict[str, dict[str, Any]]
    seed: int
    versions: dict[str, str | None]
    seconds: dict[str, float] = field(default_factory=dict)

    def headline(self) -> dict[str, float]:
        """``{metric: headline score}``, e.g. ``{"mig": 0.31, "dci": 0.52, ...}``."""
        return {name: float(self.scores[name][HEADLINE_KEYS[name]]) for name in self.scores}

    def scalars(self) -> dict[str, float]:
        """Every scalar score as ``{"metric/key": value}``, for logging."""
        return {
            f"{name}/{key}": float(value)
            for name, result in self.scores.items()
            for key, value in result.items()
            if isinstance(value, (int, float, np.integer, np.floating))
        }


def evaluate(
    dataset: GroundTruthData,
    representation_fn: Representation | nn.Module,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    cache: bool = True,
    progress: bool = True,
) -> Evaluation:
    """Runs disentanglement metrics on a representation of a ground-truth dataset.

    Args:
        dataset: a ground-truth dataset (:class:`GroundTruthData`; e.g. ``learnable_weights.data``).
        representation_fn: a function from observations ``(n, C, H, W)`` to codes ``(n, D)``, or
            an ``nn.Module``: then its ``representation`` method if it has one (as
            :class:`~learnable_weights.LVAE`), else its forward; a returned ``(mean, ...)`` tuple
            or ``torch.distributions.Normal`` gives its mean.
        metrics: names from :data:`DEFAULT_METRICS`, in the order to run them.
        seed: seed of the fresh ``RandomState`` each metric gets (disentanglement_lib's
            ``evaluation.random_seed``), and of DCI's trees.
        device: where an ``nn.Module`` runs (default: where its parameters are); observations are
            moved there. Ignored for a plain function.
        batch_size: observations per encoder call. By default 4096 for an ``nn.Module`` on an
            accelerator; otherwise the reference's own call sizes (64 observations for BetaVAE
            and FactorVAE, 16 for the sampled sets), which were the fastest on a 2-core CPU. For
            a plain function that runs on a GPU, pass a large value.
        settings: per-metric overrides of :data:`STUDY_SETTINGS`, e.g.
            ``{"dci": {"mode": "fast"}, "mig": {"num_train": 2000}}``.
        cache: encode each distinct observation at most once per call when the dataset declares
            ``deterministic_observations`` (default), reusing its code in every metric; then
            ``batch_size`` observations per encoder call (default: 4096 on an accelerator,
            :data:`CPU_CACHE_BATCH` on a CPU). ``False`` encodes every draw, as
            disentanglement_lib does. The draws, and so the scores, are the same either way (up
            to the encoder's rounding for other batch sizes; docs/metrics/index.md).
        progress: a progress bar per sampling metric and sampled set, counting the observations
            drawn (shown when tqdm is installed).

    Returns:
        :class:`Evaluation` with the scores, settings, seed and library versions.

    At the study's sizes this is long on a CPU (minutes with a 64x64 convolutional encoder;
    docs/metrics/index.md gives measured runs): each sampling metric shows a progress bar (see
    ``progress``), each metric's start and end are logged at INFO level by the
    ``learnable_weights.metrics.evaluate`` logger (``logging.basicConfig(level=logging.INFO)``
    shows it), and :attr:`Evaluation.seconds` records each metric's time.

    Raises:
        ValueError: unknown metric or setting names, a bad seed or batch size.
        TypeError: ``dataset`` lacks the ground-truth methods a chosen metric needs.
    """
    chosen = _check_metrics(metrics)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(
            f"seed must be an int in [0, 2**32), as numpy's RandomState needs; got {seed!r}"
        )
    resolved = _resolve_settings(chosen, settings or {})
    module = representation_fn if isinstance(representation_fn, nn.Module) else None
    if batch_size is not None:
        check_count("batch_size", batch_size)
    scores: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    with _evaluation_state(module):
        represent: Representation = representation_fn
        on_accelerator = False
        if module is not None:
            represent = wrapped = _ModuleRepresentation(module, device)
            on_accelerator = wrapped.device.type != "cpu"
        if batch_size is None and on_accelerator:
            batch_size = 4096
        codes: CodeCache | bool = False
        if cache and declares_deterministic_observations(dataset):
            codes = CodeCache(dataset, represent, batch_size=batch_size or CPU_CACHE_BATCH)
        elif cache:
            _LOG.debug(
                "%s does not declare deterministic_observations: every draw is encoded",
                type(dataset).__name__,
            )
        sets = _SampledSets(dataset, represent, int(seed), batch_size, codes, progress)
        for number, name in enumerate(chosen, start=1):
            _LOG.info("metric %d of %d: %s", number, len(chosen), name)
            start = time.perf_counter()
            scores[name] = dict(_run_metric(name, resolved[name], sets, int(seed)))
            seconds[name] = time.perf_counter() - start
            _LOG.info("%s done in %.1f s", name, seconds[name])
        if isinstance(codes, CodeCache):
            _LOG.info("%d observations encoded (each at most once)", codes.encoded)
    versions = dict(installed_versions())
    versions["learnable-weights"] = _package_version()
    versions["python"] = platform.python_version()
    return Evaluation(
        scores=scores, settings=resolved, seed=int(seed), versions=versions, seconds=seconds
    )


def sample_codes_and_factors(
    dataset: GroundTruthData,
    representation_fn: Representation,
    num_points: int,
    random_state: np.random.RandomState,
    *,
    batch_size: int = 16,
    encode_batch_size: int = 16,
    cache: bool | CodeCache = True,
    progress: bool = False,
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Codes ``(num_points, D)`` and factors ``(num_points, K)`` of random points.

    Draws as disentanglement_lib's ``generate_batch_factor_code``: ``dataset.sample(n, rs)`` in
    chunks of ``batch_size`` (which fixes the random stream), but encodes ``encode_batch_size``
    observations per call (default: 16, the reference's; use thousands on a GPU). Rows are
    points (the reference returns the transposes). ``cache``: as for
    :func:`~learnable_weights.metrics.beta_vae_score` (a deterministic dataset's observations are
    encoded once and their codes reused; the draws are the same). ``progress``: a bar of the
    points drawn, when tqdm is installed.
    """
    check_dataset(dataset, ("sample",))
    check_random_state(random_state)
    check_count("num_points", num_points)
    check_count("batch_size", batch_size)
    check_count("encode_batch_size", encode_batch_size)
    source = code_source(dataset, representation_fn, encode_batch_size, cache)
    factor_parts: list[NDArray[np.int64]] = []
    code_parts: list[NDArray[Any]] = []
    pending_count = 0
    drawn = 0
    bar = progress_bar("sampled set", num_points, progress)
    try:
        while drawn < num_points:
            count = min(num_points - drawn, batch_size)
            factor_parts.append(source.add_sample(count, random_state))
            pending_count += count
            drawn += count
            if pending_count >= source.round_observations or drawn == num_points:
                code_parts.append(source.codes())
                bar.update(pending_count)
                pending_count = 0
    finally:
        bar.close()
    return np.concatenate(code_parts), np.concatenate(factor_parts)


# --------------------------------------------------------------------------------------------
# The pipeline.
# --------------------------------------------------------------------------------------------


class _ModuleRepresentation:
    """An ``nn.Module`` as a representation function: observations to ``device``, codes back."""

    def __init__(self, module: nn.Module, device: torch.device | str | None) -> None:
        parameter = next(module.parameters(), None)
        if device is not None:
            module.to(device)
            self.device = torch.device(device)
        else:
            self.device = parameter.device if parameter is not None else torch.device("cpu")
        self.dtype = parameter.dtype if parameter is not None else torch.float32
        self.module = module
        method = getattr(module, "representation", None)
        self.call: Callable[[torch.Tensor], Any] = method if callable(method) else module

    def __call__(self, observations: Any) -> torch.Tensor:
        x = torch.as_tensor(observations, device=self.device)
        if x.dtype != self.dtype:
            x = x.to(self.dtype)
        with torch.inference_mode():
            out = self.call(x)
        if isinstance(out, torch.distributions.Normal):
            out = out.mean
        elif isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"the module returned {type(out).__name__}; it must return the codes as a tensor "
                "(n, D), a (mean, ...) tuple or a torch.distributions.Normal"
            )
        return out


@contextmanager
def _evaluation_state(module: nn.Module | None) -> Iterator[None]:
    """TF32 and autocast off, the module in eval mode; everything (the module's mode and device,
    numpy's global random state) restored afterwards."""
    numpy_state = np.random.get_state()  # noqa: NPY002 (the global state is what we restore)
    matmul_tf32 = torch.backends.cuda.matmul.allow_tf32
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    training = module.training if module is not None else False
    parameter = next(module.parameters(), None) if module is not None else None
    home = parameter.device if parameter is not None else None
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        if module is not None:
            module.eval()
        with ExitStack() as stack:
            for device_type in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
                stack.enter_context(torch.autocast(device_type=device_type, enabled=False))
            yield
    finally:
        if module is not None:
            module.train(training)
            if home is not None:
                module.to(home)  # back where it was, if `device` moved it
        torch.set_float32_matmul_precision(precision)
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        np.random.set_state(numpy_state)  # noqa: NPY002


class _SampledSets:
    """Training and test sets of the array-level metrics, drawn once per (sizes, chunk size);
    also what every metric shares: the representation, the code cache, the progress setting."""

    def __init__(
        self,
        dataset: GroundTruthData,
        represent: Representation,
        seed: int,
        batch_size: int | None,
        cache: CodeCache | bool,
        progress: bool,
    ) -> None:
        self.dataset, self.represent, self.seed, self.batch_size = (
            dataset,
            represent,
            seed,
            batch_size,
        )
        self.cache, self.progress = cache, progress
        self._train: dict[tuple[int, int], tuple[NDArray[Any], NDArray[np.int64], Any]] = {}
        self._test: dict[tuple[int, int, int], tuple[NDArray[Any], NDArray[np.int64]]] = {}

    def train(self, num_train: int, chunk: int) -> tuple[NDArray[Any], NDArray[np.int64], Any]:
        """Codes, factors and the random state's state after drawing them."""
        key = (num_train, chunk)
        if key not in self._train:
            random_state = np.random.RandomState(self.seed)
            codes, factors = self._draw(num_train, random_state, chunk)
            self._train[key] = (codes, factors, random_state.get_state())
        return self._train[key]

    def test(
        self, num_train: int, num_test: int, chunk: int
    ) -> tuple[NDArray[Any], NDArray[np.int64]]:
        key = (num_train, num_test, chunk)
        if key not in self._test:
            random_state = np.random.RandomState()
            random_state.set_state(self.train(num_train, chunk)[2])
            self._test[key] = self._draw(num_test, random_state, chunk)
        return self._test[key]

    def _draw(
        self, num: int, random_state: np.random.RandomState, chunk: int
    ) -> tuple[NDArray[Any], NDArray[np.int64]]:
        return sample_codes_and_factors(
            self.dataset,
            self.represent,
            num,
            random_state,
            batch_size=chunk,
            encode_batch_size=self.batch_size or chunk,
            cache=self.cache,
            progress=self.progress,
        )


def _run_metric(
    name: str, settings: Mapping[str, Any], sets: _SampledSets, seed: int
) -> Mapping[str, Any]:
    if name == "beta_vae":
        return beta_vae_score(
            sets.dataset,
            sets.represent,
            np.random.RandomState(seed),
            **settings,
            encode_batch_size=sets.batch_size or settings["batch_size"],
            cache=sets.cache,
            progress=sets.progress,
        )
    if name == "factor_vae":
        return factor_vae_score(
            sets.dataset,
            sets.represent,
            np.random.RandomState(seed),
            **settings,
            encode_batch_size=sets.batch_size or settings["batch_size"],
            cache=sets.cache,
            progress=sets.progress,
        )
    arguments = {key: settings[key] for key in _METRIC_ARGUMENTS[name]}
    codes, factors, _ = sets.train(settings["num_train"], settings["batch_size"])
    if name == "mig":
        return mig(codes, factors, **arguments)
    if name == "irs":
        return irs(codes, factors, **arguments)
    test_codes, test_factors = sets.test(
        settings["num_train"], settings["num_test"], settings["batch_size"]
    )
    if name == "dci":
        return dci(
            codes,
            factors,
            test_codes=test_codes,
            test_factors=test_factors,
            **arguments,
            random_state=seed,
        )
    if name == "sap":
        return sap(codes, factors, test_codes=test_codes, test_factors=test_factors, **arguments)
    return modularity_explicitness(
        codes, factors, test_codes=test_codes, test_factors=test_factors, **arguments
    )


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [name for name in metrics if name not in STUDY_SETTINGS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(DEFAULT_METRICS)}")
    if len(set(metrics)) != len(metrics) or not metrics:
        raise ValueError(
            f"metrics must name each metric once and at least one, got {list(metrics)}"
        )
    return tuple(metrics)


def _resolve_settings(
    metrics: Sequence[str], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    unknown = [name for name in overrides if name not in metrics]
    if unknown:
        raise ValueError(
            f"settings given for metric(s) {unknown} that are not being run: {list(metrics)}"
        )
    resolved = {}
    for name in metrics:
        extra = [key for key in overrides.get(name, {}) if key not in STUDY_SETTINGS[name]]
        if extra:
            raise ValueError(
                f"unknown setting(s) {extra} for {name}; its settings are "
                f"{sorted(STUDY_SETTINGS[name])}"
            )
        resolved[name] = {**STUDY_SETTINGS[name], **overrides.get(name, {})}
    return resolved


def _package_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("learnable-weights")
    except importlib.metadata.PackageNotFoundError:
        return None
