"""Global min-max quantisation of a float feature array to unsigned P-bit integers.

q = round((x - min) / (max - min) · (2^P - 1)), one min and max for the whole
array (the original's rule). Unlike the original creator this works in float64
and clips, so the maximum never wraps to 0 at 32 bit, and a constant array is
stored as zeros with a warning instead of dividing by zero.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ConstantDataWarning, DatasetError
from .format import PRECISIONS, max_value, value_dtype

# Rows converted per step: bounds the float64 temporary to a slice of the array.
_ROW_BLOCK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Quantised:
    values: np.ndarray  # (H, W, C) unsigned, little-endian
    minimum: float
    maximum: float
    constant: bool


def check_precision(precision) -> int:
    if isinstance(precision, bool) or precision not in PRECISIONS:
        raise DatasetError(f"precision must be 8, 16 or 32 bits, not {precision!r}", rule="precision")
    return int(precision)


def check_feature_array(array) -> np.ndarray:
    """Accept an (H, W, C) real array; refuse anything else with a clear message."""
    array = np.asarray(array)
    if array.ndim != 3:
        hint = " (for a single channel use array[..., None])" if array.ndim == 2 else ""
        raise DatasetError(
            f"feature array must have 3 dimensions (height, width, channels), "
            f"this one has {array.ndim} with shape {array.shape}{hint}",
            rule="ndim",
        )
    if min(array.shape) == 0:
        raise DatasetError(f"feature array is empty (shape {array.shape})", rule="empty")
    if array.dtype.kind not in "biuf":
        raise DatasetError(f"feature array must be numeric, not {array.dtype}", rule="dtype")
    return array


def quantise(array, precision: int = 8) -> Quantised:
    precision = check_precision(precision)
    array = check_feature_array(array)
    height, width, features = array.shape
    finite = np.isfinite(array) if array.dtype.kind == "f" else None
    if finite is not None and not finite.all():
        bad = int(array.size - np.count_nonzero(finite))
        raise DatasetError(f"feature array holds {bad} NaN or infinite values", rule="non-finite")
    lo = float(array.min())
    hi = float(array.max())
    top = max_value(precision)
    out = np.zeros(array.shape, dtype=value_dtype(precision))
    if hi == lo:
        warnings.warn(
            f"feature array is constant ({lo!r} everywhere): stored as zeros",
            ConstantDataWarning,
            stacklevel=2,
        )
        return Quantised(out, lo, hi, True)
    span = hi - lo
    rows = max(1, _ROW_BLOCK_BYTES // max(1, width * features * 8))
    for start in range(0, height, rows):
        block = array[start:start + rows].astype(np.float64)
        block -= lo
        block /= span  # the spec's order of operations, so values match its formula exactly
        block *= top
        np.rint(block, out=block)
        np.clip(block, 0, top, out=block)
        out[start:start + rows] = block
    return Quantised(out, lo, hi, False)


def dequantise(values: np.ndarray, precision: int, dtype=np.float32) -> np.ndarray:
    """q / (2^P - 1): the [0, 1] values all similarity maths works on."""
    return (values.astype(np.float64) / max_value(precision)).astype(dtype, copy=False)
