"""``evaluate``: disentanglement_lib's pipeline numbers, and global state left as it was."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from tests.metrics.fake_data import FakeGroundTruth, linear_representation, mixing_matrix
from tests.metrics.reference import gin_bindings, histogram_bindings, import_reference
from torch import nn

from learnable_weights.data import ProceduralDSprites
from learnable_weights.metrics import Evaluation, evaluate
from learnable_weights.metrics.evaluate import DEFAULT_METRICS, sample_codes_and_factors
from learnable_weights.nets import ReferenceEncoder

SMALL = {
    "beta_vae": {"batch_size": 8, "num_train": 200, "num_eval": 100},
    "factor_vae": {
        "batch_size": 8,
        "num_train": 200,
        "num_eval": 100,
        "num_variance_estimate": 300,
    },
    "mig": {"num_train": 600},
    "dci": {"num_train": 400, "num_test": 200},
    "sap": {"num_train": 600, "num_test": 300},
    "modularity_explicitness": {"num_train": 600, "num_test": 300},
    "irs": {"num_train": 600},
}
SEED = 17


def _reference_scores(data: FakeGroundTruth, represent: Any) -> dict[str, dict[str, Any]]:
    """disentanglement_lib's ``compute_*`` functions, each with a fresh ``RandomState(SEED)`` as
    its ``evaluate.py`` does, at the sizes of :data:`SMALL` and the study's other settings."""

    def fresh() -> np.random.RandomState:
        return np.random.RandomState(SEED)

    beta_vae, factor_vae = import_reference("beta_vae"), import_reference("factor_vae")
    mig, dci = import_reference("mig"), import_reference("dci")
    sap, irs = import_reference("sap_score"), import_reference("irs")
    modularity = import_reference("modularity_explicitness")
    scores = {
        "beta_vae": beta_vae.compute_beta_vae_sklearn(data, represent, fresh(), **SMALL["beta_vae"])
    }
    with gin_bindings({"prune_dims.threshold": 0.05}):
        scores["factor_vae"] = factor_vae.compute_factor_vae(
            data, represent, fresh(), **SMALL["factor_vae"]
        )
    with gin_bindings(histogram_bindings(20)):
        scores["mig"] = mig.compute_mig(data, represent, fresh(), batch_size=16, **SMALL["mig"])
        scores["modularity_explicitness"] = modularity.compute_modularity_explicitness(
            data, represent, fresh(), batch_size=16, **SMALL["modularity_explicitness"]
        )
        scores["irs"] = irs.compute_irs(
            data, represent, fresh(), diff_quantile=0.99, batch_size=16, **SMALL["irs"]
        )
    np.random.seed(SEED)  # noqa: NPY002 (ours seeds DCI's trees with the metric's seed)
    scores["dci"] = dci.compute_dci(data, represent, fresh(), batch_size=16, **SMALL["dci"])
    scores["sap"] = sap.compute_sap(
        data, represent, fresh(), batch_size=16, continuous_factors=False, **SMALL["sap"]
    )
    return {name: dict(result) for name, result in scores.items()}


REFERENCE_KEYS = {
    "beta_vae": ("train_accuracy", "eval_accuracy"),
    "factor_vae": ("train_accuracy", "eval_accuracy"),
    "mig": ("discrete_mig",),
    "dci": ("disentanglement", "completeness", "informativeness_train", "informativeness_test"),
    "sap": ("SAP_score",),
    "modularity_explicitness": (
        "modularity_score",
        "explicitness_score_train",
        "explicitness_score_test",
    ),
    "irs": ("IRS",),
}


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("deterministic", [False, True], ids=["noisy", "cached"])
def test_every_metric_equals_the_reference_pipeline(deterministic: bool) -> None:
    """MIG, SAP, modularity and IRS to 1e-9; DCI, BetaVAE, FactorVAE and explicitness exactly;
    also when the dataset is deterministic and each observation is encoded once."""
    data = FakeGroundTruth(deterministic=deterministic)
    represent = linear_representation(mixing_matrix("entangled"))
    ours = evaluate(data, represent, seed=SEED, batch_size=500, settings=SMALL)
    # (batch_size=500 is exact here because the representation is batch-independent.)
    expected = _reference_scores(data, represent)
    assert list(ours.scores) == list(DEFAULT_METRICS)
    for name, keys in REFERENCE_KEYS.items():
        for key in keys:
            if name in ("mig", "sap", "irs") or key == "modularity_score":
                assert ours.scores[name][key] == pytest.approx(expected[name][key], abs=1e-9)
            else:
                assert ours.scores[name][key] == expected[name][key], (name, key)


def _same_scores(first: Evaluation, second: Evaluation, close: tuple[str, ...] = ()) -> None:
    """Every score and array of two evaluations equal, bit for bit; those of the metrics named
    in ``close`` to a relative 1e-6."""
    assert first.scores.keys() == second.scores.keys()
    for name, result in first.scores.items():
        assert result.keys() == second.scores[name].keys()
        for key, value in result.items():
            other = second.scores[name][key]
            if name in close:
                np.testing.assert_allclose(value, other, rtol=1e-6, err_msg=f"{name}/{key}")
            elif isinstance(value, np.ndarray):
                assert np.array_equal(value, other, equal_nan=True), (name, key)
            else:
                assert value == other, (name, key)


@pytest.mark.parametrize("kind", ["identity", "entangled", "collapsed"])
def test_cached_and_uncached_paths_give_equal_scores(kind: str) -> None:
    data = FakeGroundTruth(factor_sizes=(6, 7, 9), deterministic=True)
    represent = CountingEncoder(linear_representation(mixing_matrix(kind)))
    # (Explicitness refuses the collapsed code's constant dimension.)
    settings = {k: v for k, v in SMALL.items() if kind != "collapsed" or "modularity" not in k}
    arguments: dict[str, Any] = {"metrics": list(settings), "seed": SEED, "settings": settings}
    cached = evaluate(data, represent, **arguments, progress=False)
    encoded_once = represent.count
    uncached = evaluate(data, represent, **arguments, cache=False, progress=False)
    _same_scores(cached, uncached)
    # Each of the 378 observations encoded at most once (plus the padding of the last batch),
    # against every draw without the cache.
    assert encoded_once < 378 + 64
    assert represent.count - encoded_once == _draws(settings)


def _draws(settings: dict[str, dict[str, int]]) -> int:
    """Observations a full evaluation draws at these settings (the shared sets drawn once)."""
    beta, factor = settings["beta_vae"], settings["factor_vae"]
    arrays = [s for name, s in settings.items() if name not in ("beta_vae", "factor_vae")]
    train_sets = {s["num_train"] for s in arrays}
    test_sets = {(s["num_train"], s["num_test"]) for s in arrays if "num_test" in s}
    return (
        2 * beta["batch_size"] * (beta["num_train"] + beta["num_eval"])
        + factor["num_variance_estimate"]
        + factor["batch_size"] * (factor["num_train"] + factor["num_eval"])
        + sum(train_sets)
        + sum(test for _, test in test_sets)
    )


class CountingEncoder:
    """A representation function that counts the observations it encodes."""

    def __init__(self, represent: Any) -> None:
        self.represent, self.count = represent, 0

    def __call__(self, observations: Any) -> Any:
        self.count += len(observations)
        return self.represent(observations)


class _MeanOf(nn.Module):
    """The mean half of an encoder that returns ``(mean, log variance)`` concatenated."""

    def __init__(self, encoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder, self.latent_dim = encoder, latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.encoder(x)
        return out[:, : self.latent_dim]


@pytest.mark.slow
def test_cached_scores_equal_uncached_with_a_convolutional_encoder_on_procedural_dsprites() -> None:
    """The cache encodes 64 images per call; the uncached path 8 for BetaVAE, 4 for FactorVAE,
    16 for the sets and 6 for their last chunks. CPU convolutions may round a code differently
    for another batch size (bitwise equal in some runs, not in others: the kernel can depend on
    the thread count and the buffers' alignment), so a continuous score can move in its last
    digits: IRS by 1.1e-9 in one full-suite run, to a relative 1e-6 here. Every decision stays
    the same: BetaVAE's and FactorVAE's accuracies, FactorVAE's votes (its argmin tie-breaking),
    MIG's histogram, DCI's trees and SAP's thresholds give equal numbers."""
    torch.manual_seed(0)
    model = _MeanOf(ReferenceEncoder(1, latent_dim=10), 10)
    data = ProceduralDSprites()
    settings = {
        "beta_vae": {"batch_size": 4, "num_train": 40, "num_eval": 20},
        "factor_vae": {
            "batch_size": 4,
            "num_train": 40,
            "num_eval": 20,
            "num_variance_estimate": 64,
        },
        "mig": {"num_train": 150},
        "dci": {"num_train": 150, "num_test": 70, "mode": "fast"},
        "sap": {"num_train": 150, "num_test": 70},
        "irs": {"num_train": 150},
    }
    arguments: dict[str, Any] = {"metrics": list(settings), "seed": SEED, "settings": settings}
    cached = evaluate(data, model, **arguments, progress=False)
    uncached = evaluate(data, model, **arguments, cache=False, progress=False)
    _same_scores(cached, uncached, close=("irs",))


@pytest.mark.reference
@pytest.mark.parametrize("encode_batch_size", [7, 1000])
def test_sampled_sets_equal_generate_batch_factor_code(encode_batch_size: int) -> None:
    utils = import_reference("utils")
    data = FakeGroundTruth()
    represent = linear_representation(mixing_matrix("identity"))
    reference_state, ours_state = np.random.RandomState(1), np.random.RandomState(1)
    codes_t, factors_t = utils.generate_batch_factor_code(data, represent, 100, reference_state, 16)
    codes, factors = sample_codes_and_factors(
        data, represent, 100, ours_state, batch_size=16, encode_batch_size=encode_batch_size
    )
    assert np.array_equal(codes, codes_t.T)
    assert codes.dtype == codes_t.dtype
    assert np.array_equal(factors, factors_t.T)
    assert ours_state.randint(2**31) == reference_state.randint(2**31)


class _Encoder(nn.Module):
    """A linear encoder returning ``(mean, logvar)``; records the global state it ran under."""

    def __init__(self, mixing: np.ndarray) -> None:
        super().__init__()
        self.linear = nn.Linear(mixing.shape[0], mixing.shape[1], bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(mixing.T))
        self.seen: list[tuple[bool, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.seen.append(
            (
                torch.is_autocast_enabled("cpu"),
                torch.backends.cuda.matmul.allow_tf32,
                self.training,
            )
        )
        mean = self.linear(x.flatten(1))
        return mean, torch.zeros_like(mean)


def _same_map(module: _Encoder) -> Any:
    """The module's linear map as a plain function of numpy observations (same arithmetic)."""
    weight = module.linear.weight.detach().clone()

    def represent(observations: Any) -> Any:
        with torch.no_grad():
            return torch.nn.functional.linear(torch.as_tensor(observations).flatten(1), weight)

    return represent


CHEAP = {"mig": SMALL["mig"], "beta_vae": SMALL["beta_vae"]}


def test_global_state_is_restored_and_off_during_evaluation() -> None:
    module = _Encoder(mixing_matrix("identity"))
    module.train()
    matmul_tf32, cudnn_tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    np.random.seed(5)  # noqa: NPY002
    expected_next = np.random.RandomState(5).randint(2**31)
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("high")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            result = evaluate(
                FakeGroundTruth(), module, metrics=["mig", "beta_vae"], settings=CHEAP
            )
            assert torch.is_autocast_enabled("cpu")
        assert torch.backends.cuda.matmul.allow_tf32 is True
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
    assert module.training
    assert np.random.randint(2**31) == expected_next  # noqa: NPY002
    # During the evaluation: no autocast, no TF32, eval mode.
    assert set(module.seen) == {(False, False, False)}
    # And the scores are those of the same map as a plain float32 function.
    plain = evaluate(
        FakeGroundTruth(), _same_map(module), metrics=["mig", "beta_vae"], settings=CHEAP
    )
    assert result.headline() == plain.headline()


def test_global_state_is_restored_after_an_error() -> None:
    np.random.seed(8)  # noqa: NPY002
    expected_next = np.random.RandomState(8).randint(2**31)

    def broken(observations: Any) -> Any:
        np.random.uniform()  # noqa: NPY002 (draws from the global state, then fails)
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError, match="encoder failed"):
        evaluate(FakeGroundTruth(), broken, metrics=["mig"], settings={"mig": SMALL["mig"]})
    assert np.random.randint(2**31) == expected_next  # noqa: NPY002


def test_module_with_representation_method_and_device() -> None:
    class WithRepresentation(_Encoder):
        def representation(self, x: torch.Tensor) -> torch.distributions.Normal:
            mean, _ = self(x)
            return torch.distributions.Normal(mean, torch.ones_like(mean))

    module = WithRepresentation(mixing_matrix("entangled"))
    ours = evaluate(
        FakeGroundTruth(as_tensor=True),
        module,
        metrics=["mig"],
        device="cpu",
        settings={"mig": SMALL["mig"]},
    )
    plain = evaluate(
        FakeGroundTruth(), _same_map(module), metrics=["mig"], settings={"mig": SMALL["mig"]}
    )
    assert ours.scores["mig"]["discrete_mig"] == plain.scores["mig"]["discrete_mig"]


def test_result_records_settings_seed_and_versions() -> None:
    result = evaluate(
        FakeGroundTruth(),
        linear_representation(mixing_matrix("identity")),
        metrics=["mig"],
        seed=3,
        settings={"mig": {"num_train": 300}},
    )
    assert isinstance(result, Evaluation)
    assert result.seed == 3
    assert result.settings == {"mig": {"num_train": 300, "batch_size": 16, "num_bins": 20}}
    assert {"numpy", "scikit-learn", "scipy", "torch", "python"} <= set(result.versions)
    assert result.versions["numpy"] == np.__version__
    assert result.headline() == {"mig": result.scores["mig"]["discrete_mig"]}
    assert result.scalars()["mig/discrete_mig"] == result.scores["mig"]["discrete_mig"]
    assert result.headline()["mig"] > 0.5  # identity code


def test_progress_is_logged_per_metric_and_timed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="learnable_weights.metrics.evaluate"):
        result = evaluate(
            FakeGroundTruth(),
            linear_representation(mixing_matrix("identity")),
            metrics=["mig", "irs"],
            settings={"mig": {"num_train": 300}, "irs": {"num_train": 300}},
        )
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "metric 1 of 2: mig" and messages[2] == "metric 2 of 2: irs"
    assert messages[1] == f"mig done in {result.seconds['mig']:.1f} s"
    assert messages[3].startswith("irs done in ") and len(messages) == 4
    assert set(result.seconds) == {"mig", "irs"} and min(result.seconds.values()) > 0


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"metrics": ["mig", "beta"]}, ValueError, r"unknown metric\(s\) \['beta'\]"),
        ({"metrics": ["mig", "mig"]}, ValueError, "each metric once"),
        ({"metrics": ["mig"], "settings": {"dci": {}}}, ValueError, "not being run"),
        ({"metrics": ["mig"], "settings": {"mig": {"bins": 3}}}, ValueError, "unknown setting"),
        ({"metrics": ["mig"], "seed": -1}, ValueError, "seed must be an int"),
        ({"metrics": ["mig"], "batch_size": 0}, ValueError, "batch_size must be at least 1"),
    ],
)
def test_bad_arguments_are_rejected(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        evaluate(FakeGroundTruth(), linear_representation(mixing_matrix("identity")), **arguments)


def test_dataset_without_sample_is_rejected() -> None:
    class NoSample:
        num_factors = 3

    with pytest.raises(TypeError, match="lacks sample"):
        evaluate(NoSample(), lambda x: x, metrics=["mig"])  # type: ignore[arg-type]


def test_package_imports_without_scikit_learn_and_says_which_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['sklearn'] = None; sys.modules['scipy'] = None\n"
        "import numpy as np\n"
        "import learnable_weights.metrics as metrics\n"
        "codes = np.random.RandomState(0).normal(size=(40, 2)).astype(np.float32)\n"
        "factors = np.arange(80).reshape(40, 2) % 3\n"
        "try:\n"
        "    metrics.dci(codes, factors, test_codes=codes, test_factors=factors)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert 'pip install "learnable-weights[metrics]"' in completed.stdout


@pytest.mark.cuda
def test_cuda_evaluation_runs_on_the_device_and_equals_the_cpu_one() -> None:
    module = _Encoder(mixing_matrix("identity"))
    metrics = ["beta_vae", "factor_vae", "mig", "irs"]
    settings = {name: SMALL[name] for name in metrics}
    data = FakeGroundTruth(as_tensor=True)
    on_cpu = evaluate(data, module, metrics=metrics, device="cpu", settings=settings, seed=SEED)
    on_gpu = evaluate(data, module, metrics=metrics, device="cuda", settings=settings, seed=SEED)
    assert next(module.parameters()).device.type == "cpu"  # the caller's module is left in place
    for name, keys in REFERENCE_KEYS.items():
        for key in keys if name in metrics else ():
            # Float32 encodings may round differently on the GPU; the scores barely move.
            assert on_gpu.scores[name][key] == pytest.approx(on_cpu.scores[name][key], abs=0.01)
