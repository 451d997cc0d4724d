"""Modularity and explicitness side by side with disentanglement_lib 1.5, properties, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.metrics.reference import (
    make_codes,
    make_factors,
    reference_modularity_explicitness,
)

from learnable_weights.metrics.modularity import modularity_explicitness, modularity_per_code

# Fewer classes than dSprites keep the logistic regressions of a test quick.
SIZES = (3, 6, 10, 4)


def _split(kind: str, seed: int, dtype: type[np.floating] = np.float32) -> tuple[np.ndarray, ...]:
    rs = np.random.RandomState(seed)
    factors = make_factors(rs, 3000, SIZES)
    codes = make_codes(kind, factors, rs, dtype)
    return codes[:2000], factors[:2000], codes[2000:], factors[2000:]


def _compare(
    codes: np.ndarray, factors: np.ndarray, test_codes: np.ndarray, test_factors: np.ndarray
) -> None:
    ours = modularity_explicitness(codes, factors, test_codes=test_codes, test_factors=test_factors)
    expected = reference_modularity_explicitness(codes, factors, test_codes, test_factors)
    assert ours["modularity_score"] == pytest.approx(expected["modularity_score"], rel=0, abs=1e-9)
    assert ours["explicitness_score_train"] == expected["explicitness_score_train"]
    assert ours["explicitness_score_test"] == expected["explicitness_score_test"]


@pytest.mark.reference
@pytest.mark.parametrize("kind", ["identity", "entangled", "collapsed", "ties", "edges"])
def test_equals_disentanglement_lib(kind: str) -> None:
    _compare(*_split(kind, 30))


@pytest.mark.reference
def test_float64_codes_equal_disentanglement_lib() -> None:
    _compare(*_split("entangled", 31, np.float64))


@pytest.mark.reference
def test_inexactly_constant_float32_code_follows_the_reference() -> None:
    # 0.3 in float32 has an inexact float32 mean over many points, so np.std is about 1e-8,
    # not 0: the z-scored code is constant but finite, and the reference defines a score.
    codes, factors, test_codes, test_factors = _split("noisy", 32)
    codes[:, -1] = np.float32(0.3)
    test_codes[:, -1] = np.float32(0.3)
    assert np.std(codes, axis=0)[-1] > 0
    _compare(codes, factors, test_codes, test_factors)


@pytest.mark.reference
def test_exactly_constant_code_raises_where_the_reference_crashes() -> None:
    codes, factors, test_codes, test_factors = _split("constant", 33)
    with pytest.raises(ValueError, match=r"code dimension\(s\) \[4\] are constant"):
        modularity_explicitness(codes, factors, test_codes=test_codes, test_factors=test_factors)
    with pytest.raises(ValueError, match="NaN"):
        reference_modularity_explicitness(codes, factors, test_codes, test_factors)


def test_modularity_by_hand() -> None:
    mutual_information = np.array(
        [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 1.0, 1.0]]
    )
    # theta^2 = max m^2; 1 - (sum m^2 - theta^2) / (theta^2 (K - 1)); an all-zero row scores 0.
    expected = [1.0, 1.0 - 1.0 / 2.0, 0.0, 1.0 - 2.0 / 8.0]
    np.testing.assert_allclose(
        modularity_per_code(mutual_information), expected, rtol=0, atol=1e-15
    )


def test_identity_code_is_modular_and_explicit() -> None:
    codes, factors, test_codes, test_factors = _split("identity", 34)
    result = modularity_explicitness(
        codes, factors, test_codes=test_codes, test_factors=test_factors
    )
    assert result["modularity_score"] > 0.95
    assert result["explicitness_score_test"] > 0.95
    assert result["modularity_score"] == pytest.approx(
        float(np.mean(result["modularity_per_code"]))
    )
    entangled = _split("entangled", 34)
    mixed = modularity_explicitness(
        *entangled[:2], test_codes=entangled[2], test_factors=entangled[3]
    )
    assert mixed["modularity_score"] < result["modularity_score"] - 0.1


def test_torch_tensors_give_the_numpy_result() -> None:
    codes, factors, test_codes, test_factors = _split("noisy", 35)
    expected = modularity_explicitness(
        codes, factors, test_codes=test_codes, test_factors=test_factors
    )
    ours = modularity_explicitness(
        torch.from_numpy(codes),
        torch.from_numpy(factors),
        test_codes=torch.from_numpy(test_codes),
        test_factors=torch.from_numpy(test_factors),
    )
    assert ours["explicitness_score_test"] == expected["explicitness_score_test"]
    assert ours["modularity_score"] == expected["modularity_score"]


SMALL = tuple(a[:400] for a in _split("noisy", 36))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factors": SMALL[1][:, :1], "test_factors": SMALL[3][:, :1]}, "at least 2 columns"),
        ({"factors": np.zeros_like(SMALL[1])}, "at least two classes"),
        ({"test_factors": np.minimum(SMALL[3], 1)}, "factor 0 has classes"),
        ({"codes": SMALL[0][:10], "factors": SMALL[1][:10]}, "at least 20 points"),
        ({"test_codes": SMALL[2][:, :2]}, "test_codes has 2 columns"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs: dict[str, object], match: str) -> None:
    arguments = dict(zip(("codes", "factors", "test_codes", "test_factors"), SMALL, strict=True))
    with pytest.raises(ValueError, match=match):
        modularity_explicitness(**(arguments | kwargs))  # type: ignore[arg-type]
