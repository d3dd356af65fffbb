"""Build dataset ZIPs entry by entry, valid or deliberately broken, for tests."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from PIL import Image

from ifealid.format import hwc_to_layers, layers_as_bytes, png_count, png_slot


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int = 20, height: int = 10, colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def random_values(shape, precision: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = (1 << precision) - 1
    return rng.integers(0, top, size=shape, dtype=np.uint64, endpoint=True).astype(f"<u{precision // 8}")


def dataset_entries(values: np.ndarray, precision: int, *, name: str = "test", overlay: bytes | None = None,
                    meta_overrides: dict | None = None) -> dict[str, bytes]:
    """Entries of a valid dataset for (H, W, C) quantised values (ordered like the original writes)."""
    height, width, features = values.shape
    entries: dict[str, bytes] = {}
    if overlay is not None:
        entries["overlay.jpg"] = overlay
    slots = layers_as_bytes(hwc_to_layers(values, precision))
    for k in range(png_count(features, precision)):
        layer, start = png_slot(k, precision)
        entries[f"{k}.png"] = png_bytes(np.ascontiguousarray(slots[layer, :, :, start:start + 4]), "RGBA")
    meta = {"name": name, "width": width, "height": height, "features": features,
            "precision": precision, "overlay": overlay is not None}
    meta.update(meta_overrides or {})
    entries["metadata.json"] = json.dumps(meta).encode()
    return entries


def zip_bytes(entries, compression=zipfile.ZIP_STORED) -> bytes:
    """entries: a dict name → bytes, or a list of (name or ZipInfo, bytes) (duplicates allowed)."""
    items = entries.items() if isinstance(entries, dict) else entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()
