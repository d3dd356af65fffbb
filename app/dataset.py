"""A decoded dataset: its declared info, its values, its overlay."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from .errors import DatasetError
from .format import DatasetInfo, layers_to_hwc, max_value
from .quantise import dequantise


@dataclass
class Dataset:
    info: DatasetInfo
    layers: np.ndarray  # (L, H, W, 4) unsigned, the layout the GPU uploads
    overlay_bytes: bytes | None = None
    overlay_size: tuple[int, int] | None = None  # (width, height) of the overlay image

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.info.shape

    @property
    def precision(self) -> int:
        return self.info.precision

    @property
    def range(self) -> tuple[float, float] | None:
        """(lo, hi), the float range the values were quantised from (metadata.json's "range"),
        or None when the dataset does not record it (the original's files)."""
        return self.info.range

    def values(self) -> np.ndarray:
        """The (H, W, C) unsigned integer array (a copy)."""
        return layers_to_hwc(self.layers, self.info.features)

    def as_float(self, dtype=np.float32, *, true_values: bool = False) -> np.ndarray:
        """The (H, W, C) array as floats.

        ``true_values=False``: the stored values q / (2^P - 1), in [0, 1] (what the original shows).
        ``true_values=True``: the features' real values lo + q / (2^P - 1) · (hi - lo), computed
        in float64 in that order, from the dataset's range; a DatasetError (a ValueError, rule
        'no-range') when the dataset records none.
        """
        if not true_values:
            return dequantise(self.values(), self.info.precision, dtype)
        if self.info.range is None:
            raise DatasetError(
                f"{self.info.name!r} does not record the range its values were quantised from "
                "(metadata.json has no 'range'), so its true values are unknown; only the stored "
                "values q / (2^P - 1) are (as_float() without true_values)",
                rule="no-range",
            )
        lo, hi = self.info.range
        out = self.values().astype(np.float64)
        out /= max_value(self.info.precision)
        out *= hi - lo
        out += lo
        return out.astype(dtype, copy=False)

    def overlay_image(self):
        """The overlay as an RGB Pillow image, or None."""
        if self.overlay_bytes is None:
            return None
        from PIL import Image

        with Image.open(io.BytesIO(self.overlay_bytes)) as image:
            return image.convert("RGB")

    def summary(self) -> str:
        overlay = "no overlay"
        if self.overlay_size is not None:
            overlay = f"overlay {self.overlay_size[0]}×{self.overlay_size[1]}"
        return f"{self.info.name}: {self.info.describe()}, {overlay}"
