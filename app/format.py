"""The IFeaLiD dataset format: names, counts and the packing of channels into PNG bytes.

The contract is the README's "The dataset format" section (the project's copy of the shared
dataset-format spec, which the original tools' datasets follow). The central
idea: every PNG is 4 bytes per pixel. A value of P bits takes B = P/8 bytes
(little-endian), so PNG ``k`` holds bytes ``4k .. 4k+3`` of each pixel's
concatenated little-endian channel values. The GPU wants 4 *channels* per
texel instead (layer ``l`` = channels ``4l .. 4l+3``), which is 4·B bytes:
so PNG ``k`` is byte slot ``k % B`` of layer ``k // B``. Both layouts are
views of one (L, H, W, 4) array of the precision's unsigned type.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PRECISIONS = (8, 16, 32)
METADATA_NAME = "metadata.json"
OVERLAY_NAME = "overlay.jpg"


def png_count(features: int, precision: int) -> int:
    """N = ceil(C * P / 32): PNGs needed for C channels at P bits."""
    return -(-features * precision // 32)


def layer_count(features: int) -> int:
    """L = ceil(C / 4): RGBA texels (4 channels each) per pixel."""
    return -(-features // 4)


def png_name(k: int) -> str:
    return f"{k}.png"


def value_dtype(precision: int) -> np.dtype:
    return np.dtype(f"<u{precision // 8}")


def max_value(precision: int) -> int:
    return (1 << precision) - 1


def range_problem(value) -> tuple[str, str] | None:
    """Why ``value`` is not a valid ``range`` ([lo, hi], two finite numbers, lo <= hi), as
    (rule, reason), or None when it is one. Rules: 'field-type' for the wrong shape or type,
    'field-range' for numbers that are not finite or out of order. Never raises."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return "field-type", "must be a list of two numbers [lo, hi]"
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            return "field-type", "must be a list of two numbers [lo, hi]"
    try:
        lo, hi = float(value[0]), float(value[1])
    except OverflowError:  # an integer beyond float64's range
        return "field-range", "must hold numbers within float64's range (±1.8e308)"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "field-range", "must hold finite numbers"
    if value[0] > value[1]:  # compared as given: Python compares ints and floats exactly
        return "field-range", "must have lo ≤ hi"
    return None


def as_range(value) -> tuple[float, float]:
    """A valid range as (lo, hi) floats (check it with range_problem first)."""
    return float(value[0]), float(value[1])


def png_slot(k: int, precision: int) -> tuple[int, int]:
    """(layer, first byte within the layer's 4·B bytes) that PNG ``k`` fills."""
    per_layer = precision // 8
    return k // per_layer, (k % per_layer) * 4


@dataclass(frozen=True)
class DatasetInfo:
    """What metadata.json declares, after validation."""

    name: str
    width: int
    height: int
    features: int
    precision: int
    overlay: bool
    # metadata.json's optional "range": the float (lo, hi) the values were quantised from, so the
    # true value of q is lo + q / (2^P - 1) · (hi - lo); None when the file does not say.
    range: tuple[float, float] | None = None

    @property
    def png_count(self) -> int:
        return png_count(self.features, self.precision)

    @property
    def layer_count(self) -> int:
        return layer_count(self.features)

    @property
    def dtype(self) -> np.dtype:
        return value_dtype(self.precision)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C), the source array's shape."""
        return (self.height, self.width, self.features)

    @property
    def layers_shape(self) -> tuple[int, int, int, int]:
        return (self.layer_count, self.height, self.width, 4)

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded (L, H, W, 4) array: what the memory budget is checked against."""
        return self.layer_count * self.height * self.width * 4 * (self.precision // 8)

    def to_metadata(self) -> dict:
        """metadata.json content: the original's six fields, and "range" when it is known (the
        original reads only its own keys, so the extra key is safe there)."""
        meta = {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "features": self.features,
            "precision": self.precision,
            "overlay": self.overlay,
        }
        if self.range is not None:
            meta["range"] = [float(self.range[0]), float(self.range[1])]
        return meta

    def describe(self) -> str:
        return f"{self.height}×{self.width}×{self.features} (H×W×C) @ {self.precision} bit"


def hwc_to_layers(values: np.ndarray, precision: int) -> np.ndarray:
    """(H, W, C) unsigned values → (L, H, W, 4) layer-major array, zero-padded channels."""
    height, width, features = values.shape
    layers = layer_count(features)
    out = np.zeros((layers, height, width, 4), dtype=value_dtype(precision))
    flat = out.reshape(layers, height, width * 4)  # view: fill channel groups without a padded copy
    for layer in range(layers):
        chunk = values[:, :, 4 * layer: 4 * layer + 4]
        flat[layer].reshape(height, width, 4)[:, :, : chunk.shape[2]] = chunk
    return out


def layers_to_hwc(layers: np.ndarray, features: int) -> np.ndarray:
    """(L, H, W, 4) → (H, W, C), dropping the padding channels."""
    count, height, width, _ = layers.shape
    return np.ascontiguousarray(layers.transpose(1, 2, 0, 3).reshape(height, width, count * 4)[:, :, :features])


def layers_as_bytes(layers: np.ndarray) -> np.ndarray:
    """The (L, H, W, 4·B) uint8 view in which each PNG is a 4-byte slot."""
    count, height, width, _ = layers.shape
    return layers.view(np.uint8).reshape(count, height, width, 4 * layers.dtype.itemsize)
