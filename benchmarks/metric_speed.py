"""Speed of learnable_weights.metrics against disentanglement_lib 1.5 on the same inputs.

Every row times ours and the reference in the same process on the same inputs, alternating which
runs first, takes the faster of ``--repeats`` timings of each (a timing is the mean over as many
back-to-back calls as fill 0.2 s, at least one), checks that the results agree, and prints the
ratio reference / ours. Rows:

- array-level metrics at the unsupervised study's sizes (10000 training and 5000 test points,
  dSprites' factor sizes [3, 6, 40, 32, 32], 6 float32 "entangled" codes from
  ``tests/metrics/reference.py``): MIG, SAP, modularity/explicitness, IRS;
- DCI, exact mode (same numbers) and fast mode (a random forest), against the reference's
  gradient-boosted trees (``--dci-train``/``--dci-test`` points; the study's 10000/5000 take
  several minutes per run);
- the sampling pipelines (BetaVAE score, FactorVAE score, and a sampled training set as
  ``generate_batch_factor_code`` draws it) on procedural dSprites, with the reference 64x64
  encoder (``learnable_weights.nets.ReferenceEncoder``, untrained, eval mode, its mean) and with
  a cheap representation (8x8 average pooling and a fixed linear map), at ``--sampling-points``
  training points (half as many evaluation points); the reference calls the encoder on 64 (or 16)
  observations at a time, ours on ``--encode-batch`` at a time on ``--device`` (default: the
  reference's sizes, the fastest on a CPU; use 4096 on a GPU), and, like the reference, on every
  draw (``cache=False``: the code cache's gain and its last-bit differences with an encoder that
  rounds per batch are ``evaluate_speed.py``'s to measure). ``--dataset npz`` reads the
  observations from procedural dSprites' npz file with the real file's loader instead of rendering
  each draw (on a GPU the rendering, on the CPU in both, would otherwise dominate both sides).

    python benchmarks/metric_speed.py                       # everything, study sizes
    python benchmarks/metric_speed.py --only array dci      # some sections
    python benchmarks/metric_speed.py --dci-train 2000 --dci-test 1000 --sampling-points 200

Needs disentanglement-lib 1.5 (``pip install --no-deps "disentanglement-lib==1.5" absl-py six``)
and the metrics extra. Run from the repository root.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from numpy.random import RandomState
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.metrics.reference import (
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

from learnable_weights.data import DSprites, ProceduralDSprites
from learnable_weights.data.ground_truth import GroundTruthDataset
from learnable_weights.metrics import (
    beta_vae_score,
    dci,
    factor_vae_score,
    irs,
    mig,
    modularity_explicitness,
    sap,
)
from learnable_weights.metrics.dci import DciMode
from learnable_weights.metrics.evaluate import sample_codes_and_factors
from learnable_weights.nets import ReferenceEncoder

ROWS: list[tuple[str, float, float, str]] = []


#: Each timing calls the action back to back until this many seconds have passed (at least once)
#: and reports the mean, as timeit's autorange does: millisecond metrics then get a stable time.
MIN_TIMING_SECONDS = 0.2


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    calls, start = 0, time.perf_counter()
    while True:
        result = action()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_TIMING_SECONDS:
            return elapsed / calls, result


def compare(
    name: str,
    reference: Callable[[], Any],
    ours: Callable[[], Any],
    agree: Callable[[Any, Any], bool],
    repeats: int,
) -> Any:
    """Best-of-``repeats`` seconds of each, alternating which goes first; prints the row and
    returns the reference's result."""
    reference_times, our_times = [], []
    reference_result = our_result = None
    for repeat in range(repeats):
        order = [("reference", reference), ("ours", ours)]
        if repeat % 2:
            order.reverse()
        for who, action in order:
            seconds, result = timed(action)
            if who == "reference":
                reference_times.append(seconds)
                reference_result = result
            else:
                our_times.append(seconds)
                our_result = result
    same = "same result" if agree(reference_result, our_result) else "RESULTS DIFFER"
    _row(name, min(reference_times), min(our_times), same)
    return reference_result


def close(key: str, tolerance: float) -> Callable[[Any, Any], bool]:
    return lambda a, b: abs(float(a[key]) - float(b[key])) <= tolerance


def array_section(args: argparse.Namespace) -> None:
    random_state = np.random.RandomState(0)
    factors = make_factors(random_state, 10000)
    test_factors = make_factors(random_state, 5000)
    codes = make_codes("entangled", factors, random_state)
    test_codes = make_codes("entangled", test_factors, random_state)
    compare(
        "MIG (10000 x 6)",
        lambda: reference_mig(codes, factors),
        lambda: mig(codes, factors),
        close("discrete_mig", 1e-9),
        args.repeats,
    )
    compare(
        "SAP (10000 + 5000 x 6)",
        lambda: reference_sap(codes, factors, test_codes, test_factors),
        lambda: sap(codes, factors, test_codes=test_codes, test_factors=test_factors),
        close("SAP_score", 1e-9),
        args.repeats,
    )
    compare(
        "modularity + explicitness (10000 + 5000 x 6)",
        lambda: reference_modularity_explicitness(codes, factors, test_codes, test_factors),
        lambda: modularity_explicitness(
            codes, factors, test_codes=test_codes, test_factors=test_factors
        ),
        lambda a, b: (
            close("modularity_score", 1e-9)(a, b)
            and a["explicitness_score_test"] == b["explicitness_score_test"]
        ),
        args.repeats,
    )
    modularity_module = import_reference("modularity_explicitness")
    utils = import_reference("utils")

    def reference_modularity_only() -> float:
        with gin_bindings(histogram_bindings(20)):
            discretized = utils.make_discretizer(codes.T)
        mutual_information = utils.discrete_mutual_info(discretized, factors.T)
        return float(modularity_module.modularity(mutual_information))

    compare(
        "modularity only (10000 x 6)",
        lambda: {"modularity_score": reference_modularity_only()},
        lambda: _our_modularity_only(codes, factors),
        close("modularity_score", 1e-9),
        args.repeats,
    )
    compare(
        "IRS (10000 x 6)",
        lambda: reference_irs(codes, factors),
        lambda: irs(codes, factors),
        close("IRS", 1e-9),
        args.repeats,
    )
    # The study's models have 10 latent dimensions: 4 more of pure noise.
    wide = np.concatenate([codes, random_state.randn(len(codes), 4).astype(codes.dtype)], axis=1)
    compare(
        "IRS (10000 x 10)",
        lambda: reference_irs(wide, factors),
        lambda: irs(wide, factors),
        close("IRS", 1e-9),
        args.repeats,
    )
    for name, some_codes in (("10000 x 6", codes), ("10000 x 10", wide)):
        compare(
            f"IRS ({name}), one thread",
            functools.partial(reference_irs, some_codes, factors),
            functools.partial(irs, some_codes, factors, n_jobs=1),
            close("IRS", 1e-9),
            args.repeats,
        )


def _our_modularity_only(codes: Any, factors: Any) -> dict[str, float]:
    """Our modularity without the explicitness probes."""
    from learnable_weights.metrics.discretize import discrete_mutual_info, histogram_discretize
    from learnable_weights.metrics.modularity import modularity_per_code

    mutual_information = discrete_mutual_info(histogram_discretize(codes, 20), factors)
    return {"modularity_score": float(np.mean(modularity_per_code(mutual_information)))}


def dci_section(args: argparse.Namespace) -> None:
    random_state = np.random.RandomState(1)
    factors = make_factors(random_state, args.dci_train)
    test_factors = make_factors(random_state, args.dci_test)
    codes = make_codes("entangled", factors, random_state)
    test_codes = make_codes("entangled", test_factors, random_state)
    module = import_reference("dci")
    keys = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")

    def reference() -> dict[str, float]:
        np.random.seed(0)  # noqa: NPY002 (the reference's trees draw from the global state)
        return dict(module._compute_dci(codes.T, factors.T, test_codes.T, test_factors.T))

    def ours(mode: DciMode, n_jobs: int | None = None) -> Callable[[], Any]:
        return lambda: dci(
            codes,
            factors,
            test_codes=test_codes,
            test_factors=test_factors,
            mode=mode,
            random_state=0,
            n_jobs=n_jobs,
        )

    sizes = f"{args.dci_train} + {args.dci_test} x 6"

    def same(a: Any, b: Any) -> bool:
        return all(a[key] == b[key] for key in keys)

    reference_result = compare(
        f"DCI exact, {os.cpu_count()} threads ({sizes})", reference, ours("exact"), same, 1
    )
    reference_seconds = ROWS[-1][1]
    one_thread_seconds, one_thread = timed(ours("exact", n_jobs=1))
    _row(
        f"DCI exact, 1 thread ({sizes})",
        reference_seconds,
        one_thread_seconds,
        "same result" if same(reference_result, one_thread) else "RESULTS DIFFER",
    )
    fast_seconds, fast = timed(ours("fast"))
    _row(
        f"DCI fast ({sizes})",
        reference_seconds,
        fast_seconds,
        f"other estimator: D {fast['disentanglement']:.3f} vs {reference_result['disentanglement']:.3f}",
    )


def _row(name: str, reference_seconds: float, our_seconds: float, check: str) -> None:
    ROWS.append((name, reference_seconds, our_seconds, check))
    print(
        f"{name:<52} reference {reference_seconds:9.3f} s   ours {our_seconds:9.3f} s   "
        f"ratio {reference_seconds / our_seconds:8.1f}x   {check}",
        flush=True,
    )


class PooledLinear:
    """A cheap representation: 8x8 average pooling then a fixed (64, 10) linear map, float32."""

    def __init__(self) -> None:
        self.weight = torch.from_numpy(np.random.RandomState(3).normal(size=(64, 10))).float()

    def __call__(self, observations: Any) -> NDArray[np.float32]:
        x = torch.as_tensor(observations)
        pooled = F.avg_pool2d(x, 8).flatten(1)
        codes: NDArray[np.float32] = (pooled @ self.weight).numpy()
        return codes


class EncoderMean:
    """The reference 64x64 encoder's mean (first 10 outputs), as numpy float32."""

    def __init__(self, device: torch.device) -> None:
        torch.manual_seed(0)
        self.encoder = ReferenceEncoder(in_channels=1, latent_dim=10).to(device).eval()
        self.device = device

    def __call__(self, observations: Any) -> NDArray[np.float32]:
        with torch.inference_mode():
            x = torch.as_tensor(observations).to(self.device)
            codes: NDArray[np.float32] = self.encoder(x)[:, :10].float().cpu().numpy()
        return codes


def sampling_dataset(args: argparse.Namespace) -> GroundTruthDataset:
    """Procedural dSprites rendered for every draw, or (``--dataset npz``) its npz file written
    once to ``--npz-dir`` and read with the real file's loader, whose draws are array lookups as
    with the downloaded dSprites."""
    if args.dataset == "procedural":
        return ProceduralDSprites()
    directory = Path(args.npz_dir)
    path = directory / "procedural_dsprites_64x64.npz"
    if not path.exists():
        print(f"writing {path} (once)", flush=True)
        ProceduralDSprites().write_npz(directory, compress=False)
    return DSprites(file=path, download=False)


def sampling_section(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    dataset = sampling_dataset(args)
    sampling_rows(args, dataset, "reference encoder", EncoderMean(device))
    sampling_rows(args, dataset, "cheap representation", PooledLinear())


class _OurSizes(TypedDict):
    """The keyword arguments ours takes in both sampling metrics' rows."""

    batch_size: int
    num_train: int
    num_eval: int
    encode_batch_size: int
    cache: bool
    progress: bool


def sampling_rows(
    args: argparse.Namespace,
    dataset: GroundTruthDataset,
    label: str,
    represent: Callable[[Any], Any],
) -> None:
    """BetaVAE, FactorVAE and a sampled set on dSprites with one representation."""
    beta_vae = import_reference("beta_vae")
    factor_vae = import_reference("factor_vae")
    utils = import_reference("utils")
    num_train, num_eval = args.sampling_points, args.sampling_points // 2
    sizes = {"batch_size": 64, "num_train": num_train, "num_eval": num_eval}
    # Default: the reference's own call sizes (64 per BetaVAE/FactorVAE call, 16 per set chunk).
    encode_set_batch: int = args.encode_batch or 16
    # ours as the reference encodes: every draw (cache=False), no progress bars
    ours = _OurSizes(
        batch_size=64,
        num_train=num_train,
        num_eval=num_eval,
        encode_batch_size=args.encode_batch or 64,
        cache=False,
        progress=False,
    )

    def same_score(a: Any, b: Any) -> bool:
        return bool(a["eval_accuracy"] == b["eval_accuracy"])

    compare(
        f"BetaVAE, {label} ({num_train}/{num_eval} points)",
        lambda: beta_vae.compute_beta_vae_sklearn(dataset, represent, RandomState(0), **sizes),
        lambda: beta_vae_score(dataset, represent, RandomState(0), **ours),
        same_score,
        args.repeats,
    )
    variance = {**sizes, "num_variance_estimate": 2 * num_train}

    def reference_factor_vae() -> Any:
        with gin_bindings({"prune_dims.threshold": 0.05}):
            return factor_vae.compute_factor_vae(dataset, represent, RandomState(0), **variance)

    compare(
        f"FactorVAE, {label} ({num_train}/{num_eval} points)",
        reference_factor_vae,
        lambda: factor_vae_score(
            dataset, represent, RandomState(0), **ours, num_variance_estimate=2 * num_train
        ),
        same_score,
        args.repeats,
    )
    points = 10 * num_train

    def same_set(a: Any, b: Any) -> bool:
        return bool(np.array_equal(a[0].T, b[0]) and np.array_equal(a[1].T, b[1]))

    compare(
        f"sampled set, {label} ({points} points)",
        lambda: utils.generate_batch_factor_code(dataset, represent, points, RandomState(0), 16),
        lambda: sample_codes_and_factors(
            dataset,
            represent,
            points,
            RandomState(0),
            encode_batch_size=encode_set_batch,
            cache=False,
        ),
        same_set,
        args.repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("array", "dci", "sampling"))
    parser.add_argument(
        "--repeats", type=int, default=10, help="runs of each side per row (DCI: one)"
    )
    parser.add_argument("--dci-train", type=int, default=10000)
    parser.add_argument("--dci-test", type=int, default=5000)
    parser.add_argument("--sampling-points", type=int, default=500)
    parser.add_argument(
        "--encode-batch",
        type=int,
        default=None,
        help="observations per encoder call in ours (default: the reference's: 64, sets 16)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dataset",
        choices=("procedural", "npz"),
        default="procedural",
        help="sampling rows: render every draw, or read procedural dSprites' npz file (written "
        "once to --npz-dir) with the real file's loader",
    )
    parser.add_argument(
        "--npz-dir", default=os.path.join(tempfile.gettempdir(), "learnable-weights-benchmarks")
    )
    args = parser.parse_args()
    sections = args.only or ["array", "dci", "sampling"]
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}; "
        f"python {platform.python_version()}; sizes: dSprites factors {list(DSPRITES_SIZES)}",
        flush=True,
    )
    if "array" in sections:
        array_section(args)
    if "dci" in sections:
        dci_section(args)
    if "sampling" in sections:
        sampling_section(args)
    print("\n| metric | reference (s) | ours (s) | ratio | check |\n|---|---|---|---|---|")
    for name, reference_seconds, our_seconds, check in ROWS:
        print(
            f"| {name} | {reference_seconds:.3f} | {our_seconds:.3f} | "
            f"{reference_seconds / our_seconds:.1f}x | {check} |"
        )


if __name__ == "__main__":
    main()
