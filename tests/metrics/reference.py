"""disentanglement_lib 1.5 as a test oracle, importable without TensorFlow or gin.

disentanglement_lib's metric modules (``disentanglement_lib.evaluation.metrics.{utils, mig, dci,
sap_score, modularity_explicitness, irs, factor_vae, beta_vae, unsupervised_metrics}``) import only
numpy, scipy, scikit-learn, six, ``absl.logging`` and ``gin.tf``, and in the package layout of
``google-research/disentanglement_lib`` (as in the 1.5 wheel) the ``__init__.py`` files of
``disentanglement_lib``, ``evaluation`` and ``evaluation/metrics`` hold only the licence header,
so importing them loads no TensorFlow. The PyPI package pins TensorFlow 1.14, so it is installed
with ``pip install --no-deps "disentanglement-lib==1.5"`` (plus ``absl-py`` and ``six``), and this
module supplies a small stand-in for ``gin`` while the metric modules are imported. Nothing of
disentanglement_lib is copied here: its installed code is the oracle.

Use from a test module (pytest runs with ``--import-mode=importlib``, which makes
``tests.metrics`` importable)::

    from tests.metrics.reference import import_reference, reference_mig

    def test_something() -> None:
        mig_module = import_reference("mig")  # skips (or fails in CI) when not installed
        ...

The stand-in implements what the metric modules touch: ``gin.configurable`` (bare, or with a name
and ``blacklist=``/``denylist=``), ``gin.REQUIRED``, and for the tests ``gin.bind_parameter``,
``gin.query_parameter`` and ``gin.clear_config``. Parameters bound as ``"name.param"`` are passed
to the configurable when its caller leaves them out, as gin does; an unbound ``REQUIRED``
parameter raises. Use :func:`gin_bindings` to bind temporarily.

When disentanglement_lib is missing, :func:`require_reference` (called by every helper here)
skips the test with the install command, unless ``LW_REQUIRE_REFERENCE=1`` or ``CI`` is set in the
environment, in which case it fails: the parity evidence must not silently disappear in CI.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

REFERENCE_DISTRIBUTION = "disentanglement-lib"
REFERENCE_VERSION = "1.5"
METRICS_PACKAGE = "disentanglement_lib.evaluation.metrics"
INSTALL_HINT = f'pip install --no-deps "{REFERENCE_DISTRIBUTION}=={REFERENCE_VERSION}" absl-py six'
REQUIRE_ENV = "LW_REQUIRE_REFERENCE"

_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------------------------
# The gin stand-in.
# --------------------------------------------------------------------------------------------


class _Required:
    """The ``gin.REQUIRED`` sentinel: a parameter that must be passed or bound."""

    def __repr__(self) -> str:
        return "gin.REQUIRED"


REQUIRED = _Required()


class _Configurable:
    """What the stand-in knows of one configurable: its signature and unbindable parameters."""

    def __init__(self, name: str, fn: Callable[..., Any], denylist: Sequence[str]) -> None:
        self.name = name
        self.signature = inspect.signature(fn)
        self.denylist = frozenset(denylist)
        unknown = self.denylist - set(self.signature.parameters)
        if unknown:
            raise ValueError(f"gin stand-in: {name} denylists unknown parameters {sorted(unknown)}")

    def check_bindable(self, param: str) -> None:
        if param not in self.signature.parameters:
            raise ValueError(
                f"gin stand-in: {self.name!r} has no parameter {param!r}; "
                f"it has {sorted(self.signature.parameters)}"
            )
        if param in self.denylist:
            raise ValueError(f"gin stand-in: {self.name}.{param} is denylisted and cannot be bound")


_CONFIGURABLES: dict[str, _Configurable] = {}
_BINDINGS: dict[str, Any] = {}


def _split_key(key: str) -> tuple[_Configurable, str]:
    name, _, param = key.rpartition(".")
    if not name or not param:
        raise ValueError(f"gin stand-in: binding keys look like 'configurable.param', got {key!r}")
    if name not in _CONFIGURABLES:
        raise ValueError(
            f"gin stand-in: no configurable named {name!r} is registered "
            f"(import its module first); registered: {sorted(_CONFIGURABLES)}"
        )
    configurable = _CONFIGURABLES[name]
    configurable.check_bindable(param)
    return configurable, param


def bind_parameter(key: str, value: Any) -> None:
    """Bind ``key`` (``"configurable.param"``) to ``value``, as ``gin.bind_parameter``."""
    _split_key(key)
    _BINDINGS[key] = value


def query_parameter(key: str) -> Any:
    """The value bound to ``key``, as ``gin.query_parameter``; raises ``ValueError`` if unbound."""
    _split_key(key)
    if key not in _BINDINGS:
        raise ValueError(f"gin stand-in: {key} is not bound")
    return _BINDINGS[key]


def clear_config() -> None:
    """Remove every binding, as ``gin.clear_config``."""
    _BINDINGS.clear()


def _make_configurable(fn: _F, name: str, denylist: Sequence[str]) -> _F:
    configurable = _Configurable(name, fn, denylist)
    _CONFIGURABLES[name] = configurable

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = configurable.signature.bind_partial(*args, **kwargs)
        for param in configurable.signature.parameters:
            key = f"{name}.{param}"
            if param not in call.arguments and key in _BINDINGS:
                call.arguments[param] = _BINDINGS[key]
        call.apply_defaults()
        missing = [p for p, value in call.arguments.items() if value is REQUIRED]
        if missing:
            keys = ", ".join(f"{name}.{p}" for p in missing)
            raise RuntimeError(
                f"gin stand-in: {keys} is gin.REQUIRED but was neither passed nor bound; "
                "bind it with tests.metrics.reference.gin_bindings"
            )
        return fn(*call.args, **call.kwargs)

    return wrapper  # type: ignore[return-value]


def configurable(
    name_or_fn: str | Callable[..., Any] | None = None,
    *,
    module: str | None = None,
    allowlist: Sequence[str] | None = None,
    denylist: Sequence[str] | None = None,
    whitelist: Sequence[str] | None = None,
    blacklist: Sequence[str] | None = None,
) -> Any:
    """``gin.configurable``: bare, called, or ``@configurable("name", blacklist=[...])``.

    ``allowlist``/``whitelist`` are accepted for signature compatibility and not enforced.
    """
    del module, allowlist, whitelist
    unbindable = [*(denylist or ()), *(blacklist or ())]
    if callable(name_or_fn):
        return _make_configurable(name_or_fn, name_or_fn.__name__, unbindable)

    def decorator(fn: _F) -> _F:
        return _make_configurable(fn, name_or_fn or fn.__name__, unbindable)

    return decorator


def _gin_modules() -> dict[str, types.ModuleType]:
    """The ``gin`` and ``gin.tf`` stand-in modules (``gin.tf`` re-exports ``gin``'s names)."""
    names = {
        "REQUIRED": REQUIRED,
        "configurable": configurable,
        "bind_parameter": bind_parameter,
        "query_parameter": query_parameter,
        "clear_config": clear_config,
    }
    gin = types.ModuleType("gin", "Stand-in for gin-config written for the parity tests.")
    gin_tf = types.ModuleType("gin.tf", "Stand-in for gin.tf (no TensorFlow).")
    for module in (gin, gin_tf):
        module.__dict__.update(names)
    gin.__path__ = []  # a package, so that ``import gin.tf`` resolves the submodule
    gin.tf = gin_tf  # type: ignore[attr-defined]
    return {"gin": gin, "gin.tf": gin_tf}


_GIN_MODULES = _gin_modules()


@contextmanager
def gin_bindings(bindings: Mapping[str, Any]) -> Iterator[None]:
    """Bind ``{"configurable.param": value}`` for the duration of the block, then restore."""
    saved = dict(_BINDINGS)
    try:
        for key, value in bindings.items():
            bind_parameter(key, value)
        yield
    finally:
        _BINDINGS.clear()
        _BINDINGS.update(saved)


# --------------------------------------------------------------------------------------------
# Availability and import.
# --------------------------------------------------------------------------------------------


def _unavailable_reason() -> str | None:
    try:
        version = importlib.metadata.version(REFERENCE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"{REFERENCE_DISTRIBUTION} is not installed; install it with: {INSTALL_HINT}"
    if version != REFERENCE_VERSION:
        return (
            f"{REFERENCE_DISTRIBUTION} {version} is installed but parity is defined against "
            f"{REFERENCE_VERSION}; install it with: {INSTALL_HINT}"
        )
    for module in ("absl", "six", "sklearn", "scipy"):
        if importlib.util.find_spec(module) is None:
            return f"{module} (used by the reference metrics) is missing: {INSTALL_HINT}"
    return None


def _reference_required() -> bool:
    flag = os.environ.get(REQUIRE_ENV, "") or os.environ.get("CI", "")
    return flag.strip().lower() not in ("", "0", "false", "no")


def require_reference() -> None:
    """Skip the calling test when the reference is missing; fail instead in CI.

    Fails when ``LW_REQUIRE_REFERENCE`` or ``CI`` is set to a true value.
    """
    reason = _unavailable_reason()
    if reason is None:
        return
    if _reference_required():
        pytest.fail(f"{reason} (required because {REQUIRE_ENV} or CI is set)")
    pytest.skip(reason)


@pytest.fixture
def reference() -> None:
    """Fixture form of :func:`require_reference` (``@pytest.mark.usefixtures("reference")``)."""
    require_reference()


def import_reference(module_name: str) -> types.ModuleType:
    """Import a disentanglement_lib metric module with the gin stand-in in place.

    ``module_name`` is the short name (``"mig"``, ``"utils"``, ``"sap_score"``, ...) or the full
    dotted name (``"disentanglement_lib.evaluation.metrics.mig"``). ``gin``/``gin.tf`` are in
    ``sys.modules`` only while importing; the imported modules keep the stand-in they saw.
    """
    require_reference()
    full_name = module_name if "." in module_name else f"{METRICS_PACKAGE}.{module_name}"
    if not full_name.startswith(METRICS_PACKAGE + "."):
        raise ValueError(
            f"only {METRICS_PACKAGE}.* can be imported without TensorFlow, got {module_name!r}"
        )
    if full_name in sys.modules:
        return sys.modules[full_name]
    saved = {name: sys.modules.get(name) for name in _GIN_MODULES}
    sys.modules.update(_GIN_MODULES)
    try:
        return importlib.import_module(full_name)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def histogram_bindings(num_bins: int = 20) -> dict[str, Any]:
    """The study's discretizer bindings (``mig.gin``): histogram discretizer, ``num_bins`` bins."""
    utils = import_reference("utils")
    return {
        "discretizer.discretizer_fn": utils._histogram_discretize,
        "discretizer.num_bins": num_bins,
    }


# --------------------------------------------------------------------------------------------
# Running the reference on fixed arrays (rows are points).
# --------------------------------------------------------------------------------------------


class ReplayData:
    """A ground-truth-data duck type that hands out fixed (factors, codes) rows in order.

    ``sample(num, random_state)`` returns the next ``num`` rows of ``factors`` (K columns) and, as
    "observations", their row indices; :meth:`representation_function` maps indices to the rows of
    ``codes``. So disentanglement_lib's ``compute_*`` functions, which sample a training set and
    then a test set, see exactly the given arrays in order. ``random_state`` is not consumed.

    Args:
        codes: ``(N, D)`` codes, train rows then test rows; the dtype is kept.
        factors: ``(N, K)`` integer factor classes, same row order.
    """

    def __init__(self, codes: ArrayLike, factors: ArrayLike) -> None:
        self.codes = np.asarray(codes)
        self.factors = np.asarray(factors)
        if self.codes.ndim != 2 or self.factors.ndim != 2:
            raise ValueError("codes and factors must be 2-D (rows are points)")
        if len(self.codes) != len(self.factors):
            raise ValueError("codes and factors must have the same number of rows")
        self.cursor = 0

    @property
    def num_factors(self) -> int:
        return int(self.factors.shape[1])

    def sample(self, num: int, random_state: np.random.RandomState) -> tuple[NDArray[Any], Any]:
        del random_state
        if self.cursor + num > len(self.factors):
            raise IndexError("ReplayData ran out of rows: the reference asked for more points")
        rows = np.arange(self.cursor, self.cursor + num)
        self.cursor += num
        return self.factors[rows], rows

    def representation_function(self, rows: NDArray[np.int64]) -> NDArray[Any]:
        return self.codes[rows]


def _transposed(array: ArrayLike) -> NDArray[Any]:
    return np.ascontiguousarray(np.asarray(array).T)


def reference_mig(codes: ArrayLike, factors: ArrayLike, num_bins: int = 20) -> dict[str, Any]:
    """disentanglement_lib's ``mig._compute_mig`` on ``(N, D)`` codes and ``(N, K)`` factors."""
    mig = import_reference("mig")
    with gin_bindings(histogram_bindings(num_bins)):
        return dict(mig._compute_mig(_transposed(codes), _transposed(factors)))


def reference_sap(
    codes: ArrayLike,
    factors: ArrayLike,
    test_codes: ArrayLike,
    test_factors: ArrayLike,
    continuous_factors: bool = False,
) -> dict[str, Any]:
    """disentanglement_lib's ``sap_score._compute_sap`` on rows-as-points arrays."""
    sap_score = import_reference("sap_score")
    return dict(
        sap_score._compute_sap(
            _transposed(codes),
            _transposed(factors),
            _transposed(test_codes),
            _transposed(test_factors),
            continuous_factors,
        )
    )


def reference_modularity_explicitness(
    codes: ArrayLike,
    factors: ArrayLike,
    test_codes: ArrayLike,
    test_factors: ArrayLike,
    num_bins: int = 20,
) -> dict[str, Any]:
    """disentanglement_lib's ``compute_modularity_explicitness`` replaying the given arrays."""
    module = import_reference("modularity_explicitness")
    num_train, num_test = len(np.asarray(codes)), len(np.asarray(test_codes))
    data = ReplayData(
        np.concatenate([np.asarray(codes), np.asarray(test_codes)]),
        np.concatenate([np.asarray(factors), np.asarray(test_factors)]),
    )
    # The reference divides 0 by 0 for codes without information (then replaces the NaN).
    with gin_bindings(histogram_bindings(num_bins)), np.errstate(divide="ignore", invalid="ignore"):
        return dict(
            module.compute_modularity_explicitness(
                data,
                data.representation_function,
                np.random.RandomState(0),
                num_train=num_train,
                num_test=num_test,
                batch_size=max(num_train, num_test),
            )
        )


def reference_irs(
    codes: ArrayLike, factors: ArrayLike, diff_quantile: float = 0.99, num_bins: int = 20
) -> dict[str, Any]:
    """disentanglement_lib's ``compute_irs`` replaying the given arrays."""
    irs = import_reference("irs")
    data = ReplayData(codes, factors)
    num_train = len(data.codes)
    with gin_bindings(histogram_bindings(num_bins)):
        return dict(
            irs.compute_irs(
                data,
                data.representation_function,
                np.random.RandomState(0),
                diff_quantile=diff_quantile,
                num_train=num_train,
                batch_size=num_train,
            )
        )


# --------------------------------------------------------------------------------------------
# Synthetic codes for the side-by-side tests.
# --------------------------------------------------------------------------------------------

#: dSprites' latent factor sizes in disentanglement_lib (shape, scale, orientation, x, y).
DSPRITES_SIZES = (3, 6, 40, 32, 32)

#: The kinds of codes :func:`make_codes` builds.
CODE_KINDS = ("identity", "noisy", "entangled", "collapsed", "constant", "ties", "edges")


def make_factors(
    random_state: np.random.RandomState, num_points: int, sizes: Sequence[int] = DSPRITES_SIZES
) -> NDArray[np.int64]:
    """``(num_points, K)`` factor classes drawn column by column, as disentanglement_lib does."""
    return np.stack([random_state.randint(size, size=num_points) for size in sizes], axis=1)


def make_codes(
    kind: str,
    factors: NDArray[np.int64],
    random_state: np.random.RandomState,
    dtype: type[np.floating[Any]] = np.float32,
) -> NDArray[Any]:
    """``(N, D)`` codes of a known kind for ``(N, K)`` factors (D = K + 1 except "identity").

    ``identity``: each factor scaled to [0, 1] (on bin edges when a factor has 21 values or
    fewer); ``noisy``: identity plus N(0, 0.1^2) and one pure-noise dimension; ``entangled``:
    noisy codes mixed by a random rotation; ``collapsed``: noisy with the last dimension shrunk to
    1e-4 noise; ``constant``: noisy with the last dimension exactly 0; ``ties``: noisy rounded to
    quarters (many ties); ``edges``: noisy clipped to [0, 1] and rounded to multiples of 0.05, so
    that float32 values sit on (float64) bin edges.
    """
    if kind not in CODE_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {CODE_KINDS}")
    scaled: NDArray[np.float64] = factors / np.maximum(factors.max(axis=0), 1)
    if kind == "identity":
        return scaled.astype(dtype)
    num_points, num_factors = factors.shape
    codes = np.concatenate(
        [
            scaled + 0.1 * random_state.randn(num_points, num_factors),
            random_state.randn(num_points, 1),
        ],
        axis=1,
    )
    if kind == "entangled":
        rotation, _ = np.linalg.qr(random_state.randn(num_factors + 1, num_factors + 1))
        codes = codes @ rotation
    elif kind == "collapsed":
        codes[:, -1] = 1e-4 * random_state.randn(num_points)
    elif kind == "constant":
        codes[:, -1] = 0.0
    elif kind == "ties":
        codes = np.round(codes * 4) / 4
    elif kind == "edges":
        codes = np.round(np.clip(codes, 0.0, 1.0) * 20) / 20
    return codes.astype(dtype)
