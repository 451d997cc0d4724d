"""The histogram discretiser and discrete MI against numpy, scikit-learn and disentanglement_lib."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import mutual_info_score
from tests.metrics import reference
from tests.metrics.reference import (
    CODE_KINDS,
    gin_bindings,
    import_reference,
    make_codes,
    make_factors,
    query_parameter,
)

from learnable_weights.metrics.discretize import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_bin_edges,
    histogram_discretize,
)


def _numpy_digitize(values: np.ndarray, num_bins: int) -> np.ndarray:
    """Column by column with numpy's own histogram and digitize (the reference's recipe)."""
    columns = [
        np.digitize(values[:, d], np.histogram(values[:, d], num_bins)[1][:-1])
        for d in range(values.shape[1])
    ]
    return np.stack(columns, axis=1)


def _value_arrays() -> list[tuple[str, np.ndarray]]:
    rs = np.random.RandomState(0)
    arrays: list[tuple[str, np.ndarray]] = [
        ("gaussian-float32", rs.randn(500, 4).astype(np.float32)),
        ("gaussian-float64-tiny", rs.randn(500, 3) * 1e-7),
        ("gaussian-float64-huge", rs.randn(500, 3) * 1e9),
        ("float16", rs.randn(300, 2).astype(np.float16)),
        ("quarters", (np.round(rs.randn(400, 3) * 4) / 4).astype(np.float32)),
        ("grid-0.05", (rs.randint(0, 21, size=(400, 3)) * 0.05).astype(np.float32)),
        ("integers", rs.randint(-3, 40, size=(400, 3))),
        ("integers-uint8", rs.randint(0, 256, size=(400, 2)).astype(np.uint8)),
        # A span too wide for the lookup table: the general path labels them.
        ("integers-sparse", rs.randint(-(10**6), 10**6, size=(400, 2))),
        ("integers-constant-column", np.tile(np.array([7, -1], dtype=np.int64), (50, 1))),
        ("constant-column", np.tile(np.array([0.3, -2.0, 0.0], dtype=np.float32), (100, 1))),
    ]
    factors = make_factors(rs, 300)
    arrays += [(f"codes-{kind}", make_codes(kind, factors, rs)) for kind in CODE_KINDS]
    return arrays


VALUE_ARRAYS = _value_arrays()


@pytest.mark.parametrize("num_bins", [1, 3, 20])
@pytest.mark.parametrize(("name", "values"), VALUE_ARRAYS, ids=[n for n, _ in VALUE_ARRAYS])
def test_edges_and_labels_equal_numpy_column_by_column(
    name: str, values: np.ndarray, num_bins: int
) -> None:
    edges = histogram_bin_edges(values, num_bins)
    for d in range(values.shape[1]):
        expected = np.histogram_bin_edges(values[:, d], num_bins)
        assert edges[d].dtype == expected.dtype
        np.testing.assert_array_equal(edges[d], expected)
    np.testing.assert_array_equal(
        histogram_discretize(values, num_bins), _numpy_digitize(values, num_bins)
    )


@pytest.mark.reference
@pytest.mark.parametrize(("name", "values"), VALUE_ARRAYS[:8], ids=[n for n, _ in VALUE_ARRAYS[:8]])
def test_labels_equal_disentanglement_lib(name: str, values: np.ndarray) -> None:
    utils = import_reference("utils")
    expected = utils._histogram_discretize(np.ascontiguousarray(values.T), 20).T
    np.testing.assert_array_equal(histogram_discretize(values, 20), expected)


def test_values_on_edges_go_to_the_upper_bin_and_the_maximum_to_the_last() -> None:
    values = np.array([[0.0], [0.25], [0.5], [0.75], [1.0], [0.2]])
    # Edges 0, 0.25, 0.5, 0.75, 1: each edge value opens its bin, the maximum closes bin 4.
    assert histogram_discretize(values, 4)[:, 0].tolist() == [1, 2, 3, 4, 4, 1]


def test_constant_column_falls_in_bin_eleven_of_twenty() -> None:
    # numpy widens a constant range to [v - 0.5, v + 0.5]; v is the 11th edge (research §1.3).
    assert set(histogram_discretize(np.zeros((30, 1)), 20)[:, 0].tolist()) == {11}


def test_float32_edges_are_computed_in_float32_as_numpy_does() -> None:
    # float32 values on a 0.05 grid: numpy 2 computes edges in float32, and some values land in
    # another bin than with edges computed in float64 and cast (the quirk MIG depends on).
    values = np.arange(0.0, 1.0 + 0.025, 0.05).astype(np.float32)[:, None]
    float64_recipe = np.digitize(
        values[:, 0],
        np.histogram_bin_edges(values[:, 0].astype(np.float64), 20).astype(np.float32)[:-1],
    )
    ours = histogram_discretize(values, 20)[:, 0]
    np.testing.assert_array_equal(ours, _numpy_digitize(values, 20)[:, 0])
    assert (ours != float64_recipe).sum() == 3


def test_range_too_small_for_the_bins_raises_like_numpy() -> None:
    one = np.float32(1.0)
    values = np.array([[one], [np.nextafter(one, np.float32(2.0))]], dtype=np.float32)
    with pytest.raises(ValueError, match="Too many bins"):
        np.histogram(values[:, 0], 20)
    with pytest.raises(ValueError, match="range too small"):
        histogram_discretize(values, 20)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (np.array([[np.nan], [1.0]]), ValueError),
        (np.zeros(5), ValueError),
        (np.zeros((0, 2)), ValueError),
        (np.array([["a"], ["b"]]), TypeError),
    ],
)
def test_discretize_rejects_bad_values(values: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        histogram_discretize(values, 20)


@pytest.mark.parametrize("num_bins", [0, -1, 2.5, True])
def test_discretize_rejects_bad_num_bins(num_bins: object) -> None:
    with pytest.raises((TypeError, ValueError), match="num_bins"):
        histogram_discretize(np.zeros((5, 1)), num_bins)  # type: ignore[arg-type]


def test_mutual_info_by_hand() -> None:
    same = np.array([[0], [0], [1], [1]])
    independent = np.array([[0], [1], [0], [1]])
    assert discrete_mutual_info(same, same)[0, 0] == pytest.approx(math.log(2), abs=1e-15)
    assert discrete_mutual_info(same, independent)[0, 0] == 0.0
    skewed = np.array([[0], [0], [0], [1]])
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert discrete_entropy(skewed)[0] == pytest.approx(expected, abs=1e-15)
    assert discrete_entropy(np.zeros((4, 1), dtype=np.int64))[0] == 0.0


def test_mutual_info_equals_sklearn_for_every_pair() -> None:
    rs = np.random.RandomState(1)
    factors = make_factors(rs, 2000)
    codes = histogram_discretize(make_codes("entangled", factors, rs), 20)
    codes[:, 0] = 7  # a single-class labelling: sklearn short-circuits to exactly 0
    ours = discrete_mutual_info(codes, factors)
    expected = np.array(
        [[mutual_info_score(factors[:, j], codes[:, i]) for j in range(5)] for i in range(6)]
    )
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-15)
    assert (ours[0] == 0.0).all()
    entropy = [mutual_info_score(factors[:, j], factors[:, j]) for j in range(5)]
    np.testing.assert_array_equal(discrete_entropy(factors), entropy)


def test_mutual_info_depends_only_on_the_partition() -> None:
    rs = np.random.RandomState(2)
    labels = rs.randint(0, 5, size=(300, 2))
    factors = rs.randint(0, 3, size=(300, 2))
    relabelled = np.where(labels == 0, -(10**12), labels * 1000 + 3)  # wide range: sort path
    np.testing.assert_allclose(
        discrete_mutual_info(relabelled, factors), discrete_mutual_info(labels, factors), atol=1e-15
    )
    np.testing.assert_allclose(
        discrete_mutual_info(labels.astype(np.float32) / 7, factors),
        discrete_mutual_info(labels, factors),
        atol=1e-15,
    )


@pytest.mark.reference
def test_mutual_info_and_entropy_equal_disentanglement_lib() -> None:
    utils = import_reference("utils")
    rs = np.random.RandomState(3)
    factors = make_factors(rs, 3000)
    codes = histogram_discretize(make_codes("noisy", factors, rs), 20)
    np.testing.assert_allclose(
        discrete_mutual_info(codes, factors),
        utils.discrete_mutual_info(codes.T, factors.T),
        rtol=0,
        atol=1e-15,
    )
    np.testing.assert_array_equal(discrete_entropy(factors), utils.discrete_entropy(factors.T))


def test_mutual_info_rejects_mismatched_rows() -> None:
    with pytest.raises(ValueError, match="same N"):
        discrete_mutual_info(np.zeros((4, 1), dtype=np.int64), np.zeros((5, 1), dtype=np.int64))


@pytest.mark.reference
def test_gin_stand_in_binds_temporarily_and_leaves_no_module_behind() -> None:
    utils = import_reference("utils")
    assert "gin" not in sys.modules
    with gin_bindings({"discretizer.num_bins": 3}):
        assert query_parameter("discretizer.num_bins") == 3
        with pytest.raises(RuntimeError, match=r"discretizer\.discretizer_fn"):
            utils.make_discretizer(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="not bound"):
        query_parameter("discretizer.num_bins")
    with pytest.raises(ValueError, match="no parameter"), gin_bindings({"discretizer.bins": 3}):
        pass
    with pytest.raises(ValueError, match="denylisted"), gin_bindings({"discretizer.target": 3}):
        pass


@settings(max_examples=80, deadline=None)
@given(
    values=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements=st.sampled_from(
            [-1.5, -0.35, 0.0, 0.05, 0.1, 0.15, 0.3, 0.45, 0.65, 0.9, 1.0, 7.0]
        ),
    ),
    num_bins=st.integers(1, 25),
)
def test_property_labels_equal_numpy_on_ties_and_edges(values: np.ndarray, num_bins: int) -> None:
    np.testing.assert_array_equal(
        histogram_discretize(values, num_bins), _numpy_digitize(values, num_bins)
    )


def test_missing_reference_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "_unavailable_reason", lambda: "not installed")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(reference.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        reference.import_reference("mig")
    monkeypatch.setenv(reference.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        reference.import_reference("mig")


def test_unsigned_64_bit_labels_give_the_int64_results() -> None:
    labels = np.random.RandomState(3).randint(0, 5, size=(200, 3))
    wide = labels.astype(np.uint64)
    np.testing.assert_array_equal(discrete_entropy(wide), discrete_entropy(labels))
    np.testing.assert_array_equal(
        discrete_mutual_info(wide, wide), discrete_mutual_info(labels, labels)
    )
