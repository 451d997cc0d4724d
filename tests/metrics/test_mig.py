"""MIG side by side with disentanglement_lib 1.5, sanity properties, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from tests.metrics.reference import CODE_KINDS, make_codes, make_factors, reference_mig

from learnable_weights.metrics import _versions
from learnable_weights.metrics.mig import mig


@pytest.mark.reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", CODE_KINDS)
def test_mig_equals_disentanglement_lib(kind: str, dtype: type[np.floating]) -> None:
    rs = np.random.RandomState(10)
    factors = make_factors(rs, 3000)
    codes = make_codes(kind, factors, rs, dtype)
    ours = mig(codes, factors)
    expected = reference_mig(codes, factors)["discrete_mig"]
    assert ours["discrete_mig"] == pytest.approx(expected, rel=0, abs=1e-9)
    assert ours["discrete_mig"] == pytest.approx(float(np.mean(ours["discrete_mig_per_factor"])))
    assert ours["mutual_information"].shape == (codes.shape[1], 5)


@pytest.mark.reference
@pytest.mark.parametrize("num_bins", [5, 40])
def test_mig_equals_disentanglement_lib_for_other_bin_counts(num_bins: int) -> None:
    rs = np.random.RandomState(11)
    factors = make_factors(rs, 2000)
    codes = make_codes("entangled", factors, rs)
    expected = reference_mig(codes, factors, num_bins=num_bins)["discrete_mig"]
    assert mig(codes, factors, num_bins=num_bins)["discrete_mig"] == pytest.approx(
        expected, abs=1e-9
    )


@pytest.mark.reference
def test_all_constant_codes_score_zero_like_the_reference() -> None:
    factors = make_factors(np.random.RandomState(12), 500)
    codes = np.zeros((500, 4), dtype=np.float32)
    assert mig(codes, factors)["discrete_mig"] == 0.0
    assert reference_mig(codes, factors)["discrete_mig"] == 0.0


def test_identity_code_scores_about_one() -> None:
    # Each code is its factor (at most 20 classes, so binning keeps the classes apart): the top MI
    # is the factor's entropy and the runner-up only the small bias of independent samples.
    factors = make_factors(np.random.RandomState(13), 10000, sizes=(3, 6, 10, 20))
    result = mig(factors.astype(np.float32), factors)
    np.testing.assert_allclose(result["discrete_mig_per_factor"], 1.0, atol=0.03)
    np.testing.assert_allclose(
        np.diag(result["mutual_information"]), result["factor_entropy"], rtol=1e-12
    )


def test_duplicated_latents_give_zero_mig() -> None:
    # Two copies of every informative code: the two largest MIs of each factor are equal.
    rs = np.random.RandomState(14)
    factors = make_factors(rs, 3000)
    codes = make_codes("noisy", factors, rs)
    result = mig(np.concatenate([codes, codes], axis=1), factors)
    assert result["discrete_mig"] == pytest.approx(0.0, abs=1e-12)


def test_torch_tensors_give_the_numpy_result() -> None:
    rs = np.random.RandomState(15)
    factors = make_factors(rs, 1000)
    codes = make_codes("entangled", factors, rs)
    from_torch = mig(torch.from_numpy(codes).requires_grad_(), torch.from_numpy(factors))
    assert from_torch["discrete_mig"] == mig(codes, factors)["discrete_mig"]


def test_entanglement_lowers_mig() -> None:
    rs = np.random.RandomState(16)
    factors = make_factors(rs, 3000)
    scores = [
        mig(make_codes(kind, factors, rs), factors)["discrete_mig"]
        for kind in ("noisy", "entangled")
    ]
    assert scores[0] > scores[1] + 0.1


GOOD_FACTORS = make_factors(np.random.RandomState(17), 50)
GOOD_CODES = make_codes("noisy", GOOD_FACTORS, np.random.RandomState(18))


def _with(row: int, column: int, value: float) -> np.ndarray:
    codes: np.ndarray = GOOD_CODES.copy()  # mypy reads ndarray.copy() as Any
    codes[row, column] = value
    return codes


@pytest.mark.parametrize(
    ("codes", "factors", "error", "match"),
    [
        (_with(3, 1, np.nan), GOOD_FACTORS, ValueError, "NaN or infinite.*row 3, column 1"),
        (_with(0, 0, np.inf), GOOD_FACTORS, ValueError, "NaN or infinite"),
        (GOOD_CODES[:40], GOOD_FACTORS, ValueError, "40 rows but factors has 50"),
        (
            GOOD_CODES.astype(np.int64),
            GOOD_FACTORS,
            TypeError,
            "must be float16, float32 or float64",
        ),
        (GOOD_CODES, GOOD_FACTORS.astype(np.float32), TypeError, "integer class indices"),
        (GOOD_CODES, GOOD_FACTORS > 0, TypeError, "integer class indices"),
        (GOOD_CODES[:, 0], GOOD_FACTORS, ValueError, "2-D"),
        (GOOD_CODES.tolist(), GOOD_FACTORS, TypeError, "numpy array or a torch tensor"),
        (GOOD_CODES[:10], GOOD_FACTORS[:10], ValueError, "at least 20 points"),
        (GOOD_CODES[:, :1], GOOD_FACTORS, ValueError, "at least 2 columns"),
        (GOOD_CODES, np.zeros((50, 2), dtype=np.int64), ValueError, r"factor\(s\) \[0, 1\]"),
        (torch.zeros(50, 3, dtype=torch.bfloat16), GOOD_FACTORS, TypeError, "bfloat16"),
    ],
)
def test_bad_input_gets_a_clear_error(
    codes: object, factors: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        mig(codes, factors)


@pytest.mark.parametrize("num_bins", [0, 2.0, True])
def test_bad_num_bins(num_bins: object) -> None:
    with pytest.raises((TypeError, ValueError), match="num_bins"):
        mig(GOOD_CODES, GOOD_FACTORS, num_bins=num_bins)  # type: ignore[arg-type]


def test_untested_versions_warn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_versions, "_warned", False)
    monkeypatch.setattr(
        _versions,
        "installed_versions",
        lambda: {"numpy": "1.26.4", "scikit-learn": "1.9.1", "scipy": None, "torch": None},
    )
    with pytest.warns(_versions.UntestedVersionWarning, match=r"numpy 1\.26\.4 is installed"):
        mig(GOOD_CODES, GOOD_FACTORS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mig(GOOD_CODES, GOOD_FACTORS)


def test_tested_versions_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_versions, "_warned", False)
    monkeypatch.setattr(
        _versions,
        "installed_versions",
        lambda: {"numpy": "2.4.0", "scikit-learn": "1.9.1rc1", "scipy": None, "torch": None},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mig(GOOD_CODES, GOOD_FACTORS)
