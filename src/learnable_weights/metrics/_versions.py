"""The numpy and scikit-learn versions on which parity with disentanglement_lib was proven.

Two things the metric values depend on have changed across releases: numpy's histogram-edge
arithmetic (numpy 2's ``histogram_bin_edges`` computes the edges in the codes' dtype) and
scikit-learn's estimator defaults and solvers (``LogisticRegression``, ``LinearSVC``,
``GradientBoostingClassifier.feature_importances_``, ``mutual_info_score``). The metrics pass every
estimator setting explicitly, but the solvers themselves can still change, so a metric warns once
per process when the installed versions fall outside the range the parity tests ran on.
"""

from __future__ import annotations

import importlib.metadata
import re
import warnings

__all__ = [
    "PROVEN_ON",
    "TESTED_VERSIONS",
    "UntestedVersionWarning",
    "installed_versions",
    "untested_versions",
    "warn_if_untested_versions",
]

#: distribution -> (lowest tested release, first release above the tested range), as
#: (major, minor). Parity with disentanglement_lib 1.5 was proven on numpy 2.4.6 and
#: scikit-learn 1.9.1 (see docs/metrics/array_metrics.md for the command).
TESTED_VERSIONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "numpy": ((2, 4), (2, 5)),
    "scikit-learn": ((1, 9), (1, 10)),
}

#: The exact releases the parity evidence in the docs was produced with.
PROVEN_ON: dict[str, str] = {"numpy": "2.4.6", "scikit-learn": "1.9.1", "scipy": "1.17.1"}

_warned = False


class UntestedVersionWarning(UserWarning):
    """Installed numpy or scikit-learn lies outside the range parity was proven on."""


def _release(version: str) -> tuple[int, int] | None:
    """``"2.4.6"`` -> ``(2, 4)``; ``None`` when the version string does not start that way."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else None


def installed_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the metric values depend on (``None``: not installed)."""
    versions: dict[str, str | None] = {}
    for distribution in ("numpy", "scikit-learn", "scipy", "torch"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = None
    return versions


def untested_versions() -> dict[str, str]:
    """The installed distributions outside :data:`TESTED_VERSIONS`, with their versions."""
    installed = installed_versions()
    outside: dict[str, str] = {}
    for distribution, (low, high) in TESTED_VERSIONS.items():
        version = installed[distribution]
        if version is None:
            continue
        release = _release(version)
        if release is None or not low <= release < high:
            outside[distribution] = version
    return outside


def warn_if_untested_versions() -> None:
    """Warn (once per process) if numpy or scikit-learn is outside the tested range."""
    global _warned
    if _warned:
        return
    _warned = True
    outside = untested_versions()
    if not outside:
        return
    found = ", ".join(f"{name} {version}" for name, version in sorted(outside.items()))
    tested = ", ".join(
        f"{name} {low[0]}.{low[1]}.x" for name, (low, _high) in sorted(TESTED_VERSIONS.items())
    )
    warnings.warn(
        f"learnable_weights.metrics: parity with disentanglement_lib 1.5 was proven on {tested}, "
        f"but {found} is installed; histogram edges or estimator solvers may differ, so scores "
        "can differ slightly from disentanglement_lib's. Install the tested versions to "
        "reproduce them exactly.",
        UntestedVersionWarning,
        stacklevel=3,
    )
