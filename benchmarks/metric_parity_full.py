"""Parity with disentanglement_lib 1.5 at the unsupervised study's full sizes, for every metric.

Two sections (the CI tests run the same comparisons at a few hundred to a few thousand points):

- ``pipeline``: :func:`learnable_weights.metrics.evaluate` with the study's settings (10000
  training / 5000 test points; BetaVAE and FactorVAE 10000 / 5000 points of 64 observations,
  10000 for the variances) against disentanglement_lib's ``compute_*`` functions, each given a
  fresh ``RandomState(seed)`` as its ``evaluate.py`` does (and, for DCI, ``np.random.seed(seed)``,
  the stream our DCI gets). The dataset is procedural: dSprites' factor sizes [3, 6, 40, 32, 32]
  and 8-pixel observations that are a known function of the factors plus noise drawn while
  rendering (``tests/metrics/fake_data.py``'s ``FakeGroundTruth``); the representation is a
  fixed linear map (``--mixing``), a float32 numpy matmul. ``evaluate`` encodes with the
  reference's call sizes unless ``--batch-size`` is given: a BLAS matmul rounds differently for
  different batch sizes, so larger batches change the codes in their last bits (and with them
  explicitness by ~4e-5 and IRS by ~1e-8 in our run), not the metrics' arithmetic.
- ``arrays``: the array-level metrics on fixed codes of every kind in
  ``tests/metrics/reference.py`` (identity, noisy, entangled, collapsed, constant, ties, edges)
  at 10000 / 5000 points: MIG, SAP, modularity/explicitness and IRS for every kind, DCI for
  ``--dci-kinds`` (each DCI comparison takes several minutes on a 2-core CPU).

Tolerances are the issue's: MIG, SAP, modularity and IRS to 1e-9; DCI, BetaVAE, FactorVAE and
explicitness exactly. Where the reference raises (explicitness on an exactly constant code), ours
must raise too. Prints one line per comparison and exits with status 1 if any fails.

    python benchmarks/metric_parity_full.py                          # both sections
    python benchmarks/metric_parity_full.py --only arrays --dci-kinds entangled ties
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.metrics.fake_data import FakeGroundTruth
from tests.metrics.reference import (
    CODE_KINDS,
    DSPRITES_SIZES,
    gin_bindings,
    histogram_bindings,
    import_reference,
    make_codes,
    make_factors,
    reference_irs,
    reference_mig,
    reference_modularity_explicitness,
    reference_sap,
)

from learnable_weights.metrics import dci, evaluate, irs, mig, modularity_explicitness, sap
from learnable_weights.metrics._versions import installed_versions
from learnable_weights.metrics.evaluate import STUDY_SETTINGS

EXACT = 0.0
#: (metric, key) -> allowed absolute difference.
TOLERANCES: Mapping[tuple[str, str], float] = {
    ("beta_vae", "train_accuracy"): EXACT,
    ("beta_vae", "eval_accuracy"): EXACT,
    ("factor_vae", "train_accuracy"): EXACT,
    ("factor_vae", "eval_accuracy"): EXACT,
    ("mig", "discrete_mig"): 1e-9,
    ("dci", "disentanglement"): EXACT,
    ("dci", "completeness"): EXACT,
    ("dci", "informativeness_train"): EXACT,
    ("dci", "informativeness_test"): EXACT,
    ("sap", "SAP_score"): 1e-9,
    ("modularity_explicitness", "modularity_score"): 1e-9,
    ("modularity_explicitness", "explicitness_score_train"): EXACT,
    ("modularity_explicitness", "explicitness_score_test"): EXACT,
    ("irs", "IRS"): 1e-9,
}
FAILURES: list[str] = []


def check(label: str, metric: str, reference: Any, ours: Any) -> None:
    """Prints and records the comparison of every key of ``metric``."""
    if isinstance(reference, Exception) or isinstance(ours, Exception):
        both = isinstance(reference, Exception) and isinstance(ours, Exception)
        status = "ok (both raise)" if both else "FAIL"
        print(
            f"{label:<34} {metric:<24} reference {_short(reference)}; ours {_short(ours)}  {status}"
        )
        if not both:
            FAILURES.append(f"{label} {metric}")
        return
    for (name, key), tolerance in TOLERANCES.items():
        if name != metric:
            continue
        difference = abs(float(reference[key]) - float(ours[key]))
        passed = difference <= tolerance
        print(
            f"{label:<34} {metric + '.' + key:<48} reference {float(reference[key]):.12f}  "
            f"ours {float(ours[key]):.12f}  |diff| {difference:.1e}  "
            f"{'ok' if passed else 'FAIL'} (tolerance {tolerance:g})",
            flush=True,
        )
        if not passed:
            FAILURES.append(f"{label} {metric}.{key}")


def _short(value: Any) -> str:
    return f"raises {type(value).__name__}" if isinstance(value, Exception) else "returns"


def attempt(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception as error:  # a raise is a result to compare
        return error


def linear_representation(mixing: NDArray[np.float32]) -> Callable[[Any], NDArray[np.float32]]:
    def represent(observations: Any) -> NDArray[np.float32]:
        flat = np.asarray(observations, dtype=np.float32).reshape(len(observations), -1)
        codes: NDArray[np.float32] = flat @ mixing
        return codes

    return represent


def pipeline_section(args: argparse.Namespace) -> None:
    data = FakeGroundTruth(factor_sizes=DSPRITES_SIZES, noise=0.1)
    if args.mixing == "entangled":
        mixing = np.random.RandomState(7).normal(size=(8, 10)).astype(np.float32)
    else:
        mixing = np.zeros((8, 10), dtype=np.float32)
        mixing[:5, :5] = np.eye(5)
        mixing[5:, 5:8] = np.eye(3)
    represent = linear_representation(mixing)
    seed = args.seed
    start = time.perf_counter()
    ours = evaluate(data, represent, seed=seed, batch_size=args.batch_size)
    print(f"# ours: evaluate() took {time.perf_counter() - start:.1f} s {ours.seconds}", flush=True)

    def fresh() -> np.random.RandomState:
        return np.random.RandomState(seed)

    modules = {
        name: import_reference(name)
        for name in (
            "beta_vae",
            "factor_vae",
            "mig",
            "dci",
            "sap_score",
            "modularity_explicitness",
            "irs",
        )
    }
    study = {name: dict(settings) for name, settings in STUDY_SETTINGS.items()}
    timings: dict[str, float] = {}

    def run(name: str, action: Callable[[], Any]) -> Any:
        begin = time.perf_counter()
        result = action()
        timings[name] = time.perf_counter() - begin
        return result

    reference: dict[str, Any] = {}
    beta = study["beta_vae"]
    reference["beta_vae"] = run(
        "beta_vae",
        lambda: modules["beta_vae"].compute_beta_vae_sklearn(data, represent, fresh(), **beta),
    )
    factor = {k: v for k, v in study["factor_vae"].items() if k != "prune_threshold"}
    with gin_bindings({"prune_dims.threshold": study["factor_vae"]["prune_threshold"]}):
        reference["factor_vae"] = run(
            "factor_vae",
            lambda: modules["factor_vae"].compute_factor_vae(data, represent, fresh(), **factor),
        )
    with gin_bindings(histogram_bindings(20)):
        reference["mig"] = run(
            "mig",
            lambda: modules["mig"].compute_mig(
                data, represent, fresh(), num_train=10000, batch_size=16
            ),
        )
        reference["modularity_explicitness"] = run(
            "modularity_explicitness",
            lambda: modules["modularity_explicitness"].compute_modularity_explicitness(
                data, represent, fresh(), num_train=10000, num_test=5000, batch_size=16
            ),
        )
        reference["irs"] = run(
            "irs",
            lambda: modules["irs"].compute_irs(
                data, represent, fresh(), diff_quantile=0.99, num_train=10000, batch_size=16
            ),
        )
    reference["sap"] = run(
        "sap",
        lambda: modules["sap_score"].compute_sap(
            data,
            represent,
            fresh(),
            num_train=10000,
            num_test=5000,
            batch_size=16,
            continuous_factors=False,
        ),
    )

    def reference_dci() -> Any:
        np.random.seed(seed)  # noqa: NPY002 (ours seeds DCI's trees with the metric's seed)
        return modules["dci"].compute_dci(
            data, represent, fresh(), num_train=10000, num_test=5000, batch_size=16
        )

    reference["dci"] = run("dci", reference_dci)
    print(f"# reference: {sum(timings.values()):.1f} s {timings}", flush=True)
    for name in ours.scores:
        check(f"pipeline ({args.mixing}, seed {seed})", name, reference[name], ours.scores[name])


def arrays_section(args: argparse.Namespace) -> None:
    for kind in CODE_KINDS:
        compare_kind(kind, with_dci=kind in args.dci_kinds)


def compare_kind(kind: str, with_dci: bool) -> None:
    """The array-level metrics on one kind of codes at 10000 / 5000 points."""
    random_state = np.random.RandomState(CODE_KINDS.index(kind))
    factors = make_factors(random_state, 10000)
    test_factors = make_factors(random_state, 5000)
    codes = make_codes(kind, factors, random_state)
    test_codes = make_codes(kind, test_factors, random_state)
    label = f"arrays ({kind})"
    check(
        label,
        "mig",
        attempt(lambda: reference_mig(codes, factors)),
        attempt(lambda: mig(codes, factors)),
    )
    check(
        label,
        "sap",
        attempt(lambda: reference_sap(codes, factors, test_codes, test_factors)),
        attempt(lambda: sap(codes, factors, test_codes=test_codes, test_factors=test_factors)),
    )
    check(
        label,
        "modularity_explicitness",
        attempt(
            lambda: reference_modularity_explicitness(codes, factors, test_codes, test_factors)
        ),
        attempt(
            lambda: modularity_explicitness(
                codes, factors, test_codes=test_codes, test_factors=test_factors
            )
        ),
    )
    check(
        label,
        "irs",
        attempt(lambda: reference_irs(codes, factors)),
        attempt(lambda: irs(codes, factors)),
    )
    if with_dci:
        module = import_reference("dci")

        def reference_dci() -> Any:
            np.random.seed(0)  # noqa: NPY002
            return module._compute_dci(codes.T, factors.T, test_codes.T, test_factors.T)

        check(
            label,
            "dci",
            attempt(reference_dci),
            attempt(
                lambda: dci(
                    codes, factors, test_codes=test_codes, test_factors=test_factors, random_state=0
                )
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("pipeline", "arrays"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="observations per encoder call in evaluate (default: the reference's, 64 and 16)",
    )
    parser.add_argument("--mixing", choices=("entangled", "identity"), default="entangled")
    parser.add_argument("--dci-kinds", nargs="*", default=["entangled"], choices=CODE_KINDS)
    args = parser.parse_args()
    versions = installed_versions()
    print(
        f"# python {platform.python_version()}, "
        + ", ".join(f"{name} {version}" for name, version in versions.items()),
        flush=True,
    )
    sections = args.only or ["pipeline", "arrays"]
    if "pipeline" in sections:
        pipeline_section(args)
    if "arrays" in sections:
        arrays_section(args)
    if FAILURES:
        print(f"\n{len(FAILURES)} comparisons FAILED: {FAILURES}")
        sys.exit(1)
    print("\nall comparisons agree")


if __name__ == "__main__":
    main()
