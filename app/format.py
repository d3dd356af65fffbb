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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: the Pyodide worker reads the format before numpy is up
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
    import numpy as np

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


MAX_AXIS_NAME = 64      # channel_axis "name" and "unit": short words
MAX_AXIS_LABEL = 256    # one band name


def _finite_numbers(items) -> bool:
    """A list of real numbers (bools are not), each finite in float64."""
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            return False
        try:
            if not math.isfinite(float(item)):
                return False
        except OverflowError:
            return False
    return True


def channel_axis_problem(value, features: int) -> tuple[str, str] | None:
    """Why ``value`` is not a valid ``channel_axis`` for ``features`` channels, as (rule, reason),
    or None when it is one. Never raises.

    The key says what the channels are (for the chart's axis and the read-out): an object with
    ``name`` (a non-empty string: "wavelength", "band", ...) and ``values`` (C finite numbers,
    with an optional ``unit`` string) and/or ``labels`` (C strings); optionally ``fwhm`` (C finite
    numbers ≥ 0, the bands' widths in the values' unit). Other keys inside it are ignored, as
    readers ignore unknown keys of metadata.json.
    """
    if not isinstance(value, dict):
        return "field-type", "must be an object such as {\"name\": \"wavelength\", \"unit\": \"nm\", \"values\": [...]}"
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return "field-type", "must have a \"name\" (a non-empty string such as \"wavelength\" or \"band\")"
    if len(name) > MAX_AXIS_NAME:
        return "field-range", f"has a \"name\" longer than {MAX_AXIS_NAME} characters"
    if "values" not in value and "labels" not in value:
        return "field-type", "must have \"values\" (one number per channel) or \"labels\" (one string per channel)"
    for key, what in (("values", "numbers"), ("labels", "strings"), ("fwhm", "numbers")):
        if key not in value:
            continue
        items = value[key]
        if not isinstance(items, list):
            return "field-type", f"must have \"{key}\" as a list of {features} {what} (one per channel)"
        if len(items) != features:
            return "field-range", (f"has {len(items)} \"{key}\" for {features} channels: "
                                   f"there must be one per channel")
        if what == "strings":
            if not all(isinstance(item, str) for item in items):
                return "field-type", f"must have \"{key}\" as a list of {features} strings"
            if any(len(item) > MAX_AXIS_LABEL for item in items):
                return "field-range", f"has a label longer than {MAX_AXIS_LABEL} characters"
        elif not _finite_numbers(items):
            return "field-range", f"must have \"{key}\" as a list of {features} finite numbers"
        elif key == "fwhm" and any(item < 0 for item in items):
            return "field-range", "must have \"fwhm\" ≥ 0"
    unit = value.get("unit")
    if unit is not None and (not isinstance(unit, str) or len(unit) > MAX_AXIS_NAME):
        return "field-type", f"must have \"unit\" as a string of at most {MAX_AXIS_NAME} characters"
    return None


def as_channel_axis(value) -> dict:
    """A valid channel_axis (check it with channel_axis_problem first), keeping only the keys this
    project knows, numbers as floats."""
    axis = {"name": value["name"]}
    if value.get("unit") is not None:
        axis["unit"] = value["unit"]
    if "values" in value:
        axis["values"] = [float(v) for v in value["values"]]
    if "labels" in value:
        axis["labels"] = list(value["labels"])
    if "fwhm" in value:
        axis["fwhm"] = [float(v) for v in value["fwhm"]]
    return axis


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
    # metadata.json's optional "channel_axis": what the channels are (wavelengths with a unit,
    # band names), as as_channel_axis() returns it; None when the data does not say. Left out
    # of the hash (a dict).
    channel_axis: dict | None = field(default=None, hash=False)

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
        """metadata.json content: the original's six fields, and "range" and "channel_axis" when
        they are known (the original reads only its own keys, so the extra keys are safe there)."""
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
        if self.channel_axis is not None:
            meta["channel_axis"] = self.channel_axis
        return meta

    def describe(self) -> str:
        return f"{self.height}×{self.width}×{self.features} (H×W×C) @ {self.precision} bit"


def hwc_to_layers(values: np.ndarray, precision: int) -> np.ndarray:
    """(H, W, C) unsigned values → (L, H, W, 4) layer-major array, zero-padded channels."""
    import numpy as np

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
    import numpy as np

    count, height, width, _ = layers.shape
    return np.ascontiguousarray(layers.transpose(1, 2, 0, 3).reshape(height, width, count * 4)[:, :, :features])


def layers_as_bytes(layers: np.ndarray) -> np.ndarray:
    """The (L, H, W, 4·B) uint8 view in which each PNG is a 4-byte slot."""
    import numpy as np

    count, height, width, _ = layers.shape
    return layers.view(np.uint8).reshape(count, height, width, 4 * layers.dtype.itemsize)
