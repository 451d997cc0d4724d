"""SAP side by side with disentanglement_lib 1.5, sanity properties, and bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from tests.metrics.reference import make_codes, make_factors, reference_sap

from learnable_weights.metrics.sap import sap

# Fewer and smaller factors than dSprites keep the 2 x D x K LinearSVC fits of a test quick.
SIZES = (3, 6, 10, 4)


def _split(kind: str, seed: int, dtype: type[np.floating] = np.float32) -> tuple[np.ndarray, ...]:
    rs = np.random.RandomState(seed)
    factors = make_factors(rs, 3000, SIZES)
    codes = make_codes(kind, factors, rs, dtype)
    return codes[:2000], factors[:2000], codes[2000:], factors[2000:]


@pytest.mark.reference
@pytest.mark.parametrize(
    "kind", ["identity", "entangled", "collapsed", "constant", "ties", "edges"]
)
def test_discrete_sap_equals_disentanglement_lib_exactly(kind: str) -> None:
    codes, factors, test_codes, test_factors = _split(kind, 20)
    ours = sap(codes, factors, test_codes=test_codes, test_factors=test_factors)
    expected = reference_sap(codes, factors, test_codes, test_factors)["SAP_score"]
    assert ours["SAP_score"] == expected
    assert ours["score_matrix"].shape == (codes.shape[1], len(SIZES))


@pytest.mark.reference
@pytest.mark.parametrize("kind", ["noisy", "entangled", "collapsed", "constant", "ties"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continuous_sap_equals_disentanglement_lib(kind: str, dtype: type[np.floating]) -> None:
    codes, factors, test_codes, test_factors = _split(kind, 21, dtype)
    ours = sap(
        codes, factors, test_codes=test_codes, test_factors=test_factors, continuous_factors=True
    )
    expected = reference_sap(codes, factors, test_codes, test_factors, continuous_factors=True)
    assert ours["SAP_score"] == pytest.approx(expected["SAP_score"], rel=0, abs=1e-9)


@pytest.mark.reference
def test_all_constant_codes_score_zero_like_the_reference() -> None:
    _, factors, _, test_factors = _split("noisy", 22)
    codes = np.full((2000, 3), 0.5, dtype=np.float32)
    test_codes = np.full((1000, 3), 0.5, dtype=np.float32)
    ours = sap(codes, factors, test_codes=test_codes, test_factors=test_factors)
    assert ours["SAP_score"] == 0.0
    assert reference_sap(codes, factors, test_codes, test_factors)["SAP_score"] == 0.0


def test_continuous_correlation_by_hand() -> None:
    # Code 0 is exactly linear in factor 0 (squared correlation 1); code 1 is uncorrelated with
    # both factors (0).
    factors = np.array([[0, 0], [1, 1], [2, 0], [3, 1]])
    codes = np.array([[0.0, 1.0], [2.0, -1.0], [4.0, -1.0], [6.0, 1.0]])
    result = sap(codes, factors, test_codes=codes, test_factors=factors, continuous_factors=True)
    # cov(z1, v0) = 0, cov(z0, v1) = 2/3 with var z0 = 20/3 and var v1 = 1/3: 0.2.
    np.testing.assert_allclose(result["score_matrix"], [[1.0, 0.2], [0.0, 0.0]], atol=1e-15)
    assert result["SAP_score"] == pytest.approx((1.0 + 0.2) / 2, abs=1e-15)


def test_identity_code_beats_entangled_code() -> None:
    scores = {}
    for kind in ("identity", "entangled"):
        codes, factors, test_codes, test_factors = _split(kind, 23)
        scores[kind] = sap(codes, factors, test_codes=test_codes, test_factors=test_factors)[
            "SAP_score"
        ]
    assert scores["identity"] > scores["entangled"] + 0.05


def test_torch_tensors_give_the_numpy_result() -> None:
    codes, factors, test_codes, test_factors = _split("noisy", 24)
    expected = sap(codes, factors, test_codes=test_codes, test_factors=test_factors)
    ours = sap(
        torch.from_numpy(codes),
        torch.from_numpy(factors),
        test_codes=torch.from_numpy(test_codes),
        test_factors=torch.from_numpy(test_factors),
    )
    assert ours["SAP_score"] == expected["SAP_score"]


CODES, FACTORS, TEST_CODES, TEST_FACTORS = (a[:200] for a in _split("noisy", 25))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_codes": TEST_CODES[:, :3]}, ValueError, "test_codes has 3 columns"),
        ({"test_factors": TEST_FACTORS[:, :2]}, ValueError, "test_factors has 2 columns"),
        ({"test_codes": TEST_CODES[:100]}, ValueError, "100 rows but test_factors has 200"),
        ({"test_codes": TEST_CODES * np.nan}, ValueError, "test_codes contains"),
        ({"factors": FACTORS * 0}, ValueError, "at least two classes"),
        (
            {"codes": CODES[:, :1], "test_codes": TEST_CODES[:, :1]},
            ValueError,
            "at least 2 columns",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    arguments: dict[str, object] = {
        "codes": CODES,
        "factors": FACTORS,
        "test_codes": TEST_CODES,
        "test_factors": TEST_FACTORS,
    } | kwargs
    with pytest.raises(error, match=match):
        sap(**arguments)  # type: ignore[arg-type]


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.svm", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*learnable-weights\[metrics\]"):
        sap(CODES, FACTORS, test_codes=TEST_CODES, test_factors=TEST_FACTORS)


def test_constant_factor_is_rejected_for_continuous_factors() -> None:
    with pytest.raises(ValueError, match="variance"):
        sap(
            CODES,
            FACTORS * 0,
            test_codes=TEST_CODES,
            test_factors=TEST_FACTORS,
            continuous_factors=True,
        )


@pytest.mark.reference
def test_global_random_state_advances_as_in_the_reference() -> None:
    # Each LinearSVC fit with random_state=None draws its liblinear seed from numpy's global
    # state; a pipeline that seeds it (DCI's exact mode) sees the same stream afterwards.
    codes, factors, test_codes, test_factors = (a[:300] for a in _split("noisy", 26))
    global_state = np.random.mtrand._rand
    saved = global_state.get_state()
    try:
        global_state.seed(5)
        untouched = global_state.randint(2**31 - 1)
        global_state.seed(5)
        sap(codes, factors, test_codes=test_codes, test_factors=test_factors)
        ours = global_state.randint(2**31 - 1)
        global_state.seed(5)
        reference_sap(codes, factors, test_codes, test_factors)
        assert ours == global_state.randint(2**31 - 1) != untouched
    finally:
        global_state.set_state(saved)
