"""Input checks and conversions shared by the array-level metrics.

Every metric takes codes ``(N, D)`` (floating point, one row per point) and factor classes
``(N, K)`` (integers), as numpy arrays or torch tensors. disentanglement_lib's internal functions
take the transposes ``(D, N)`` and ``(K, N)``; the metrics transpose internally. Bad input gets an
error saying what was wrong and what to do, instead of the reference's deep ``IndexError`` or a
silent NaN.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, TypeAlias

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = [
    "ArrayOrTensor",
    "FloatArray",
    "IntArray",
    "as_codes",
    "as_codes_and_factors",
    "as_factors",
    "check_enough_points",
    "check_num_bins",
    "check_same_length",
    "check_test_split",
    "import_optional",
    "require_multi_valued_factors",
]

ArrayOrTensor: TypeAlias = "NDArray[Any] | torch.Tensor"
FloatArray: TypeAlias = "NDArray[np.floating[Any]]"
IntArray: TypeAlias = "NDArray[np.int64]"

_CODE_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


_DISTRIBUTIONS = {"sklearn": "scikit-learn", "scipy": "scipy"}


def import_optional(module: str, extra: str = "metrics") -> ModuleType:
    """Import an optional dependency, or raise an ``ImportError`` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top_level = module.partition(".")[0]
        distribution = _DISTRIBUTIONS.get(top_level, top_level)
        raise ImportError(
            f"{module} (from {distribution}) is needed here but is not installed; install it "
            f'with `pip install "learnable-weights[{extra}]"`'
        ) from error


def _to_numpy(array: object, name: str) -> NDArray[Any]:
    if isinstance(array, torch.Tensor):
        if array.dtype == torch.bfloat16:
            raise TypeError(
                f"{name} is a bfloat16 tensor, which numpy cannot hold; "
                f"pass {name}.float() (float32) instead"
            )
        if array.is_complex():
            raise TypeError(f"{name} must be real-valued, got a {array.dtype} tensor")
        return array.detach().cpu().numpy()
    if isinstance(array, np.ndarray):
        return array
    raise TypeError(
        f"{name} must be a numpy array or a torch tensor, got {type(array).__name__}; "
        f"wrap it with numpy.asarray({name})"
    )


def _check_matrix(array: NDArray[Any], name: str, columns: str) -> None:
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with one row per point, shape (N, {columns}); got shape "
            f"{array.shape}"
            + (f" (use {name}.reshape(-1, 1) for one column)" if array.ndim == 1 else "")
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one row and one column, got shape {array.shape}"
        )


def as_codes(codes: object, name: str = "codes") -> FloatArray:
    """Codes as a C-contiguous floating-point array ``(N, D)``, dtype kept.

    The dtype is kept because disentanglement_lib computes histogram edges, means and standard
    deviations in the codes' dtype (float32 for its encoders), and those roundings decide which
    bin a value falls in. Raises ``TypeError`` for non-float dtypes and ``ValueError`` for a wrong
    shape or NaN/inf values.
    """
    array = _to_numpy(codes, name)
    if array.dtype not in _CODE_DTYPES:
        raise TypeError(
            f"{name} must be float16, float32 or float64 (an encoder's mean), got {array.dtype}; "
            f"convert with {name}.astype(numpy.float32)"
        )
    _check_matrix(array, name, "D")
    finite = np.isfinite(array)
    if not finite.all():
        rows, columns = np.nonzero(~finite)
        raise ValueError(
            f"{name} contains {rows.size} NaN or infinite values (first at row {rows[0]}, "
            f"column {columns[0]}); the metrics need finite codes: check the encoder's output"
        )
    return np.ascontiguousarray(array)


def as_factors(factors: object, name: str = "factors") -> IntArray:
    """Factor classes as a C-contiguous int64 array ``(N, K)`` (disentanglement_lib's dtype)."""
    array = _to_numpy(factors, name)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        hint = (
            f"convert with {name}.astype(numpy.int64)"
            if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating)
            else "pass the class index of each factor"
        )
        raise TypeError(
            f"{name} must hold integer class indices (one column per factor), got dtype "
            f"{array.dtype}; {hint}"
        )
    _check_matrix(array, name, "K")
    if array.dtype == np.uint64 and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has class indices above the int64 range")
    return np.ascontiguousarray(array, dtype=np.int64)


def check_same_length(
    codes: NDArray[Any], factors: NDArray[Any], codes_name: str, factors_name: str
) -> None:
    """Raise when codes and factors do not have one row per point each."""
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"{codes_name} has {codes.shape[0]} rows but {factors_name} has {factors.shape[0]}; "
            "both need one row per point, in the same order"
        )


def check_num_bins(num_bins: object) -> int:
    """``num_bins`` as a positive ``int``."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)):
        raise TypeError(f"num_bins must be an int, got {type(num_bins).__name__}")
    if num_bins < 1:
        raise ValueError(f"num_bins must be at least 1, got {num_bins}")
    return int(num_bins)


def check_enough_points(num_points: int, num_bins: int, what: str) -> None:
    """Raise when fewer points than histogram bins are given."""
    if num_points < num_bins:
        raise ValueError(
            f"{what} is discretised into num_bins={num_bins} equal-width bins, which needs at "
            f"least {num_bins} points; got {num_points}. Pass more points (disentanglement_lib's "
            "study uses 10000) or a smaller num_bins"
        )


def require_multi_valued_factors(factors: IntArray, metric: str, reason: str) -> None:
    """Raise when a factor column takes a single value (its entropy or its classifier is undefined)."""
    columns = np.ascontiguousarray(factors.T)  # one row per factor, in contiguous memory
    constant = np.flatnonzero((columns == columns[:, :1]).all(axis=1))
    if constant.size:
        raise ValueError(
            f"{metric}: factor(s) {constant.tolist()} take a single value in these points; "
            f"{reason}. Drop those factor columns or sample points where they vary"
        )


def check_test_split(
    codes: FloatArray, factors: IntArray, test_codes: FloatArray, test_factors: IntArray
) -> None:
    """Raise when the held-out set does not match the training set's columns."""
    check_same_length(test_codes, test_factors, "test_codes", "test_factors")
    if test_codes.shape[1] != codes.shape[1]:
        raise ValueError(
            f"test_codes has {test_codes.shape[1]} columns but codes has {codes.shape[1]}; "
            "both must come from the same representation"
        )
    if test_factors.shape[1] != factors.shape[1]:
        raise ValueError(
            f"test_factors has {test_factors.shape[1]} columns but factors has "
            f"{factors.shape[1]}; both must list the same factors"
        )


def as_codes_and_factors(
    codes: object, factors: object, codes_name: str = "codes", factors_name: str = "factors"
) -> tuple[FloatArray, IntArray]:
    """Checked ``(N, D)`` codes and ``(N, K)`` factors with the same number of rows."""
    code_array = as_codes(codes, codes_name)
    factor_array = as_factors(factors, factors_name)
    check_same_length(code_array, factor_array, codes_name, factors_name)
    return code_array, factor_array
