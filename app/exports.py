"""The files the analyses export, as bytes: one encoder per format, shared by `ifealid map` and
the page (whose worker encodes the arrays the page sends it), so that the same arrays give the
same bytes. numpy, Pillow and the standard library only.

* map ``.npy``: float32 (H, W), row 0 at the top, in the metric's units (numpy's format 1.0).
* map 16-bit PNG: greyscale, 16 bits per pixel (Pillow mode "I;16"); the map is first made
  float32 (the ``.npy``'s values), then pixel = round((v - min) / (max - min) · 65535) with min
  and max the map's own (all 0 when max == min), so 0 is the minimum and 65535 the maximum. PNG
  text chunks (tEXt) hold what it shows: ``ifealid:min`` and ``ifealid:max`` (the float32 min
  and max written as the shortest decimal that reads back to the same float64, Python's repr),
  ``ifealid:metric``, ``ifealid:values`` and ``ifealid:scale`` ("linear"). A value is then
  v ≈ min + pixel / 65535 · (max - min).
* mask PNG: 8-bit greyscale (mode "L"), 255 in the mask and 0 outside.
* mask ``.npy``: bool (H, W).
* references CSV: UTF-8, "\\n" line ends, a header ``channel,<label 1>,…,<label K>`` (labels
  quoted as CSV needs), then one row per channel: its index, then each reference's value
  (float64, Python's repr: the shortest decimal that reads back exactly).
* references ``.npy``: float64 (C, K), one column per reference.
* PCA scores ``.npy``: float32 (H, W, k), the shown components' scores (app/pca.py), in the
  order shown.
* PCA PNG: 8-bit RGB (mode "RGB"). Three components: the picture (H, W, 3) of values in [0, 1]
  (R, G, B = the first, second, third shown component), each byte round(v · 255) (computed in
  float64 from the given values; halves to even, as numpy rounds). One component, (H, W) in
  [0, 1]: coloured with a colour map of app/colormaps.py (``cmap``, default grey) by its index
  rule min(255, floor(v · 256)), as the page colours a heat map. Text chunks (tEXt), each
  written when given: ``ifealid:components`` ("2,3,4"), ``ifealid:values``, ``ifealid:fit``,
  ``ifealid:scale`` and ``ifealid:explained`` (the shown components' explained variance ratios,
  comma-separated, Python's repr), then ``ifealid:colormap`` for one component.

Non-finite numbers are refused (ValueError), as are arrays of the wrong shape.
"""
from __future__ import annotations

import csv
import io

import numpy as np

__all__ = [
    "MAP_PNG_KEYS",
    "PCA_PNG_KEYS",
    "encode_map_npy",
    "encode_map_png16",
    "encode_mask_npy",
    "encode_mask_png",
    "encode_pca_npy",
    "encode_pca_png",
    "encode_references_csv",
    "encode_references_npy",
]

MAP_PNG_KEYS = ("ifealid:min", "ifealid:max", "ifealid:metric", "ifealid:values", "ifealid:scale")
PCA_PNG_KEYS = ("ifealid:components", "ifealid:values", "ifealid:fit", "ifealid:scale", "ifealid:explained",
                "ifealid:colormap")
PNG_COMPRESS_LEVEL = 6


def _numbers(array, what: str, axes: str, dtype) -> np.ndarray:
    """A non-empty 2-D array of finite numbers as `dtype`, or a ValueError naming `what`."""
    a = np.asarray(array)
    if a.ndim != 2 or min(a.shape) == 0:
        raise ValueError(f"{what} is a non-empty ({axes}) array, not of shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} holds numbers, not {a.dtype}")
    with np.errstate(over="ignore"):  # beyond the type's range becomes infinite, refused below
        a = np.ascontiguousarray(a, dtype=dtype)
    if not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinite values (or values beyond {np.dtype(dtype).name}'s range)")
    return a


def _map(array) -> np.ndarray:
    return _numbers(array, "a map", "H, W", np.float32)


def _mask(array) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim != 2 or min(a.shape) == 0:
        raise ValueError(f"a mask is a non-empty (H, W) array, not of shape {a.shape}")
    if a.dtype != bool:
        if a.dtype.kind not in "biu" or not np.isin(a, (0, 1)).all():
            raise ValueError("a mask holds true/false (or 0/1) values")
        a = a.astype(bool)
    return np.ascontiguousarray(a)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _png(image, info=None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info)
    return buffer.getvalue()


def encode_map_npy(array) -> bytes:
    """The map as a ``.npy`` file: float32 (H, W)."""
    return _npy(_map(array))


def map_png16_pixels(array) -> tuple[np.ndarray, float, float]:
    """(uint16 (H, W) pixels, min, max) of the 16-bit PNG, as described above."""
    a = _map(array).astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    if hi > lo:
        pixels = np.rint((a - lo) / (hi - lo) * 65535.0)
    else:
        pixels = np.zeros_like(a)
    return np.clip(pixels, 0, 65535).astype(np.uint16), lo, hi


def encode_map_png16(array, metric: str, values: str) -> bytes:
    """The map as a 16-bit greyscale PNG, stretched from its min (0) to its max (65535), with
    min, max, metric and values in text chunks."""
    from PIL import Image, PngImagePlugin

    pixels, lo, hi = map_png16_pixels(array)
    info = PngImagePlugin.PngInfo()
    for key, text in zip(MAP_PNG_KEYS, (repr(lo), repr(hi), str(metric), str(values), "linear")):
        info.add_text(key, text)
    image = Image.frombuffer("I;16", (pixels.shape[1], pixels.shape[0]), pixels.astype("<u2").tobytes(),
                             "raw", "I;16", 0, 1)
    return _png(image, info)


def encode_mask_png(mask) -> bytes:
    """The mask as an 8-bit greyscale PNG: 255 inside, 0 outside."""
    from PIL import Image

    m = _mask(mask)
    return _png(Image.fromarray(np.where(m, 255, 0).astype(np.uint8)))  # 2-D uint8: mode "L"


def encode_mask_npy(mask) -> bytes:
    """The mask as a ``.npy`` file: bool (H, W)."""
    return _npy(_mask(mask))


def _references(vectors) -> np.ndarray:
    return _numbers(vectors, "the reference vectors' array", "C, K", np.float64)


def encode_references_csv(vectors, labels) -> bytes:
    """(C, K) reference vectors as CSV: ``channel`` and one column per reference, headed by its
    label (K labels)."""
    v = _references(vectors)
    labels = [str(label) for label in labels]
    if len(labels) != v.shape[1]:
        raise ValueError(f"{v.shape[1]} references need {v.shape[1]} labels, not {len(labels)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["channel", *labels])
    for channel, row in enumerate(v.tolist()):
        writer.writerow([channel, *(repr(x) for x in row)])
    return buffer.getvalue().encode("utf-8")


def encode_references_npy(vectors) -> bytes:
    """(C, K) reference vectors as a ``.npy`` file, float64."""
    return _npy(_references(vectors))


def _pca_array(array, what: str, ndim: int) -> np.ndarray:
    """A non-empty float64 array of finite numbers with `ndim` axes, or a ValueError."""
    a = np.asarray(array)
    if a.ndim != ndim or min(a.shape) == 0:
        axes = "H, W" if ndim == 2 else "H, W, k"
        raise ValueError(f"{what} is a non-empty ({axes}) array, not of shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} holds numbers, not {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return a


def encode_pca_npy(scores) -> bytes:
    """The PCA scores as a ``.npy`` file: float32 (H, W, k)."""
    a = _pca_array(scores, "the PCA scores", 3)
    with np.errstate(over="ignore"):  # beyond float32's range becomes infinite, refused below
        a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ValueError("the PCA scores hold values beyond float32's range")
    return _npy(a)


def encode_pca_png(picture, *, components=None, values=None, fit=None, scale=None, explained=None,
                   cmap=None) -> bytes:
    """The PCA picture as an 8-bit RGB PNG: (H, W, 3) values in [0, 1] as round(v · 255), or one
    component's (H, W) values in [0, 1] through the colour map ``cmap`` (default grey); the
    keywords given become text chunks (PCA_PNG_KEYS)."""
    from PIL import Image, PngImagePlugin

    from .colormaps import apply_colormap, get_colormap

    a = np.asarray(picture)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"the PCA picture is (H, W, 3) (three components) or (H, W) (one), not of shape {a.shape}")
    a = _pca_array(a, "the PCA picture", a.ndim)
    if a.min() < 0.0 or a.max() > 1.0:
        raise ValueError("the PCA picture's values lie in [0, 1]")
    if a.ndim == 3:
        if cmap is not None:
            raise ValueError("a colour map colours one component, not three")
        pixels = np.rint(a * 255.0).astype(np.uint8)
    else:
        name = "grey" if cmap is None else str(cmap).lower()
        name = "grey" if name == "gray" else name
        try:
            get_colormap(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        pixels = apply_colormap(a, name)
    info = PngImagePlugin.PngInfo()
    texts = {
        "ifealid:components": None if components is None else ",".join(str(int(k)) for k in components),
        "ifealid:values": values,
        "ifealid:fit": fit,
        "ifealid:scale": scale,
        "ifealid:explained": None if explained is None else ",".join(repr(float(r)) for r in explained),
        "ifealid:colormap": name if a.ndim == 2 else None,
    }
    for key in PCA_PNG_KEYS:
        if texts[key] is not None:
            info.add_text(key, str(texts[key]))
    return _png(Image.fromarray(np.ascontiguousarray(pixels)), info)  # (H, W, 3) uint8: mode "RGB"
