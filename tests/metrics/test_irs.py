"""IRS side by side with disentanglement_lib 1.5, hand-computed values, properties, bad input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from tests.metrics.reference import (
    CODE_KINDS,
    gin_bindings,
    histogram_bindings,
    import_reference,
    make_codes,
    make_factors,
    reference_irs,
)

from learnable_weights.metrics.irs import irs


@pytest.mark.reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", CODE_KINDS)
def test_irs_equals_disentanglement_lib(kind: str, dtype: type[np.floating]) -> None:
    rs = np.random.RandomState(40)
    factors = make_factors(rs, 3000)  # 40 and 32 values: merged into 20 bins, as the reference
    codes = make_codes(kind, factors, rs, dtype)
    ours = irs(codes, factors)
    expected = reference_irs(codes, factors)
    assert ours["IRS"] == pytest.approx(expected["IRS"], rel=0, abs=1e-9)
    assert ours["num_active_dims"] == expected["num_active_dims"]


@pytest.mark.reference
@pytest.mark.parametrize("diff_quantile", [0.0, 0.5, 0.9, 1.0])
def test_other_quantiles_equal_disentanglement_lib(diff_quantile: float) -> None:
    rs = np.random.RandomState(41)
    factors = make_factors(rs, 2000)
    codes = make_codes("entangled", factors, rs)
    expected = reference_irs(codes, factors, diff_quantile=diff_quantile)["IRS"]
    ours = irs(codes, factors, diff_quantile=diff_quantile)["IRS"]
    assert ours == pytest.approx(expected, rel=0, abs=1e-9)


@pytest.mark.reference
def test_other_bin_counts_and_a_single_valued_factor_equal_disentanglement_lib() -> None:
    rs = np.random.RandomState(42)
    factors = make_factors(rs, 2000)
    codes = make_codes("noisy", factors, rs)
    factors[:, 1] = 4  # one group: a defined score in the reference
    for num_bins in (5, 20, 50):
        expected = reference_irs(codes, factors, num_bins=num_bins)["IRS"]
        assert irs(codes, factors, num_bins=num_bins)["IRS"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.reference
def test_very_unequal_groups_equal_disentanglement_lib() -> None:
    # One value of factor 0 holds 2905 of 3000 points and 19 values hold 5 each: padding every
    # group to the largest would be wasteful, so the quantiles are taken group by group.
    rs = np.random.RandomState(49)
    factors = make_factors(rs, 3000, sizes=(20, 6))
    factors[:, 0] = np.concatenate([np.repeat(np.arange(1, 20), 5), np.zeros(2905, np.int64)])
    codes = make_codes("noisy", factors, rs)
    expected = reference_irs(codes, factors)
    assert irs(codes, factors)["IRS"] == pytest.approx(expected["IRS"], rel=0, abs=1e-9)


def _random_irs_case(seed: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Codes, factors, quantile and bin count drawn to cover every path of our implementation:
    1 to 12 code dimensions (one dimension is scored group by group), float16/32/64 codes,
    factor classes offset from 0, a factor too sparse for the lookup table, very unequal groups,
    and bin counts below, at and above the number of classes."""
    rs = np.random.RandomState(seed)
    num_points = int(rs.choice([57, 400, 2500]))
    sizes = [int(size) for size in rs.choice([1, 2, 3, 6, 17, 40], size=rs.randint(1, 5))]
    factors = make_factors(rs, num_points, sizes=sizes) + rs.randint(-5, 5, size=len(sizes))
    if seed % 5 == 0:  # sparse classes: labelled point by point, not through a table
        factors[:, 0] *= 100_000
    if seed % 7 == 0:  # one value holds most points: scored group by group
        factors[: num_points * 9 // 10, 0] = factors[0, 0]
    mixing = rs.randn(len(sizes), rs.randint(1, 13))
    scaled = (factors - factors.mean(axis=0)) / (factors.std(axis=0) + 1.0)
    codes = scaled @ mixing + rs.randn(num_points, mixing.shape[1]) * rs.choice([0.01, 1.0])
    dtype = [np.float16, np.float32, np.float64][seed % 3] if seed % 4 else np.float32
    codes = codes.astype(dtype)
    return codes, factors, float(rs.choice([0.0, 0.37, 0.9, 0.99, 1.0])), int(rs.choice([2, 7, 20]))


@pytest.mark.reference
@pytest.mark.parametrize("seed", range(40))
def test_random_cases_equal_disentanglement_lib_bitwise(seed: int) -> None:
    codes, factors, diff_quantile, num_bins = _random_irs_case(seed)
    module = import_reference("irs")
    utils = import_reference("utils")
    ours = irs(codes, factors, diff_quantile=diff_quantile, num_bins=num_bins)
    expected = reference_irs(codes, factors, diff_quantile=diff_quantile, num_bins=num_bins)
    assert ours["IRS"] == expected["IRS"]
    assert ours["num_active_dims"] == expected["num_active_dims"]
    # The whole matrix, through the reference's inner function on the same discretised factors.
    with gin_bindings(histogram_bindings(num_bins)):
        discretised = utils.make_discretizer(np.ascontiguousarray(factors.T))
    active = module._drop_constant_dims(np.ascontiguousarray(codes).T)
    if active.size:
        inner = module.scalable_disentanglement_score(discretised.T, active.T, diff_quantile)
        np.testing.assert_array_equal(ours["IRS_matrix"], inner["IRS_matrix"])
        np.testing.assert_array_equal(ours["max_deviations"], inner["max_deviations"])


@pytest.mark.reference
def test_all_constant_codes_score_zero_like_the_reference() -> None:
    factors = make_factors(np.random.RandomState(43), 500)
    codes = np.full((500, 3), 0.5, dtype=np.float32)
    ours = irs(codes, factors)
    expected = reference_irs(codes, factors)
    assert ours["IRS"] == expected["IRS"] == 0.0
    assert ours["num_active_dims"] == expected["num_active_dims"] == 0.0
    assert ours["active_dims"].size == 0


@pytest.mark.reference
def test_inexactly_constant_float32_codes_follow_the_reference() -> None:
    # 0.7 has no exact float32 mean over 500 points: the float32 variance is not 0, so the
    # reference keeps these "constant" dimensions and scores them; so do we.
    factors = make_factors(np.random.RandomState(43), 500)
    codes = np.full((500, 3), 0.7, dtype=np.float32)
    ours = irs(codes, factors)
    expected = reference_irs(codes, factors)
    assert ours["active_dims"].size == 3
    assert ours["IRS"] == pytest.approx(expected["IRS"], rel=0, abs=1e-9)
    assert ours["num_active_dims"] == expected["num_active_dims"]


def test_hand_computed_example() -> None:
    # Factor v = [0, 0, 1, 1] (2 bins keep its two values apart). Code z = v is constant within
    # each group: deviation 0, row of IRS_matrix = 1. Code w = [0, 1, 0, 1] spreads 0.5 around
    # each group mean, its largest deviation from its mean is also 0.5: score 1 - 0.5/0.5 = 0.
    # Both weigh 0.5, so IRS = 0.5.
    factors = np.array([[0], [0], [1], [1]])
    codes = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    result = irs(codes, factors, diff_quantile=1.0, num_bins=2)
    np.testing.assert_allclose(result["IRS_matrix"], [[1.0], [0.0]], atol=1e-15)
    np.testing.assert_allclose(result["max_deviations"], [0.5, 0.5])
    assert result["IRS"] == pytest.approx(0.5, abs=1e-15)
    assert result["parents"].tolist() == [0, 0]
    assert result["num_active_dims"] == 4.0  # the reference's quirk: the sum of the code values
    assert result["active_dims"].tolist() == [0, 1]


def test_constant_dimensions_are_dropped() -> None:
    rs = np.random.RandomState(44)
    factors = make_factors(rs, 2000)
    codes = make_codes("noisy", factors, rs)
    with_constant = np.concatenate([codes[:, :2], np.zeros((2000, 1), np.float32), codes[:, 2:]], 1)
    result = irs(with_constant, factors)
    assert result["active_dims"].tolist() == [0, 1, 3, 4, 5, 6]
    assert result["IRS"] == irs(codes, factors)["IRS"]


def test_identity_code_scores_one() -> None:
    # At most 20 values per factor: every group holds one value and one code is constant on it.
    factors = make_factors(np.random.RandomState(45), 3000, sizes=(3, 6, 10, 20))
    result = irs(factors.astype(np.float32), factors)
    assert result["IRS"] == 1.0
    assert result["parents"].tolist() == [0, 1, 2, 3]


def test_torch_tensors_give_the_numpy_result() -> None:
    rs = np.random.RandomState(46)
    factors = make_factors(rs, 1000)
    codes = make_codes("entangled", factors, rs)
    assert (
        irs(torch.from_numpy(codes), torch.from_numpy(factors))["IRS"] == irs(codes, factors)["IRS"]
    )


@pytest.mark.parametrize("n_jobs", [1, 2, 7])
def test_threads_do_not_change_the_result(n_jobs: int) -> None:
    rs = np.random.RandomState(50)
    factors = make_factors(rs, 2500)
    codes = make_codes("entangled", factors, rs)
    single = irs(codes, factors, n_jobs=1)
    threaded = irs(codes, factors, n_jobs=n_jobs)
    assert threaded["IRS"] == single["IRS"]
    np.testing.assert_array_equal(threaded["IRS_matrix"], single["IRS_matrix"])


def test_calls_from_several_threads_at_once_get_their_own_results() -> None:
    rs = np.random.RandomState(51)
    cases = []
    for kind in ("identity", "entangled", "noisy", "ties"):
        factors = make_factors(rs, 1500)
        cases.append((make_codes(kind, factors, rs), factors))
    expected = [irs(codes, factors, n_jobs=1)["IRS"] for codes, factors in cases]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: irs(*case)["IRS"], cases * 3))
    assert results == expected * 3


CODES = make_codes("noisy", make_factors(np.random.RandomState(47), 100), np.random.RandomState(48))
FACTORS = make_factors(np.random.RandomState(47), 100)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"diff_quantile": 1.5}, ValueError, r"diff_quantile must be a number in \[0, 1\]"),
        ({"diff_quantile": -0.1}, ValueError, "diff_quantile"),
        ({"num_bins": 200}, ValueError, "at least 200 points"),
        ({"codes": CODES[:50]}, ValueError, "50 rows but factors has 100"),
        ({"codes": CODES * np.inf}, ValueError, "NaN or infinite"),
        ({"factors": FACTORS.astype(float)}, TypeError, "integer class indices"),
        ({"n_jobs": 0}, ValueError, "n_jobs must be a positive number of threads or None"),
        ({"n_jobs": 1.5}, ValueError, "n_jobs"),
    ],
)
def test_bad_input_gets_a_clear_error(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    arguments: dict[str, object] = {"codes": CODES, "factors": FACTORS} | kwargs
    with pytest.raises(error, match=match):
        irs(**arguments)  # type: ignore[arg-type]
