"""A decoded dataset: its declared info, its values, its overlay."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from .format import DatasetInfo, layers_to_hwc
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

    def values(self) -> np.ndarray:
        """The (H, W, C) unsigned integer array (a copy)."""
        return layers_to_hwc(self.layers, self.info.features)

    def as_float(self, dtype=np.float32) -> np.ndarray:
        """The (H, W, C) array as q / (2^P - 1) in [0, 1]."""
        return dequantise(self.values(), self.info.precision, dtype)

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
