"""Float64 reference maths for the similarity map (the GPU renderer must match it).

Values are feature vectors in [0, 1] (stored integer v means v / (2**P - 1)),
as an (H, W, C) array.  The page computes the same definitions (the GPU's in
glue/render/shaders.js, the CPU's in glue/compute/):

* angular similarity  s = 1 - clamp(angle / (pi/2), 0, 1), angle = acos(cos),
  cos = dot(p, r) / sqrt(|p|^2 |r|^2).  The angle is computed with the
  well-conditioned identity angle = 2 * asin(|p^ - r^| / 2) (p^ = p/|p|), which
  equals acos(cos) exactly in real arithmetic but does not magnify rounding where
  cos is close to 1, as acos does.
* cosine similarity   the displayed value is clamp(cos, 0, 1).  Feature values
  are non-negative, so cos is in [0, 1] anyway; the clamp only guards rounding.
* a zero pixel vector p gets 0; a zero reference gives 0 everywhere; nothing
  returns NaN.
* stretch             'relative': v = (s - min) / (max - min) with the map's own
  min and max, and v = 0 everywhere when max == min (a flat map has no contrast
  to show); 'absolute': v = clamp(s, 0, 1), min = 0, max = 1.
* channel_map         channel k's own values.
"""
from __future__ import annotations

import numpy as np

from .format import layers_to_hwc, max_value

__all__ = [
    "angular_similarity",
    "channel_map",
    "cosine",
    "cosine_similarity",
    "layers_to_values",
    "similarity_map",
    "stretch",
]


def layers_to_values(layers, precision: int, features: int | None = None) -> np.ndarray:
    """(L, H, W, 4) integer layers (channels 4l..4l+3 in RGBA of layer l) -> (H, W, C) float64 in [0, 1]."""
    arr = np.asarray(layers)
    if arr.ndim != 4 or arr.shape[3] != 4:
        raise ValueError(f"layers must have shape (L, H, W, 4), got {arr.shape}")
    hwc = layers_to_hwc(arr, arr.shape[0] * 4 if features is None else int(features))
    return hwc.astype(np.float64) / float(max_value(int(precision)))


def _as_values(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 3:
        raise ValueError(f"values must have shape (H, W, C), got {v.shape}")
    return v


def _unit_vectors(v: np.ndarray):
    norm = np.sqrt(np.einsum("...c,...c->...", v, v))
    safe = np.where(norm > 0, norm, 1.0)
    return v / safe[..., None], norm > 0


def _angle(values, x: int, y: int):
    """Angle (radians) between each pixel and pixel (x, y), and a mask of where it is defined."""
    v = _as_values(values)
    unit, nonzero = _unit_vectors(v)
    ref = unit[int(y), int(x)]
    if not nonzero[int(y), int(x)]:
        return np.zeros(v.shape[:2]), np.zeros(v.shape[:2], dtype=bool)
    chord = np.sqrt(np.einsum("...c,...c->...", unit - ref, unit - ref))
    angle = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
    return angle, nonzero


def angular_similarity(values, x: int, y: int) -> np.ndarray:
    """1 - clamp(angle / (pi/2), 0, 1) of every pixel against the reference pixel (x, y); 0 where undefined."""
    angle, defined = _angle(values, x, y)
    s = 1.0 - np.clip(angle / (np.pi / 2.0), 0.0, 1.0)
    return np.where(defined, s, 0.0)


def cosine(values, x: int, y: int) -> np.ndarray:
    """Raw cos in [-1, 1] of every pixel against pixel (x, y); 0 where a vector is zero."""
    v = _as_values(values)
    unit, nonzero = _unit_vectors(v)
    ref = unit[int(y), int(x)]
    if not nonzero[int(y), int(x)]:
        return np.zeros(v.shape[:2])
    c = np.clip(np.einsum("...c,c->...", unit, ref), -1.0, 1.0)
    return np.where(nonzero, c, 0.0)


def cosine_similarity(values, x: int, y: int) -> np.ndarray:
    """The displayed cosine value: clamp(cos, 0, 1); 0 where a vector is zero."""
    return np.clip(cosine(values, x, y), 0.0, 1.0)


def channel_map(values, k: int) -> np.ndarray:
    """Channel k's own values, (H, W) float64."""
    v = _as_values(values)
    if not 0 <= int(k) < v.shape[2]:
        raise IndexError(f"channel {k} out of range 0..{v.shape[2] - 1}")
    return v[:, :, int(k)].copy()


def similarity_map(values, x: int, y: int, metric: str = "angular") -> np.ndarray:
    if metric == "angular":
        return angular_similarity(values, x, y)
    if metric == "cosine":
        return cosine_similarity(values, x, y)
    raise ValueError(f"unknown metric {metric!r} (angular, cosine)")


def stretch(smap, mode: str = "relative"):
    """(v, min, max): the map stretched for colouring, v in [0, 1]."""
    s = np.nan_to_num(np.asarray(smap, dtype=np.float64), nan=0.0)
    if mode == "absolute":
        return np.clip(s, 0.0, 1.0), 0.0, 1.0
    if mode != "relative":
        raise ValueError(f"unknown stretch {mode!r} (relative, absolute)")
    lo, hi = float(s.min()), float(s.max())
    if hi > lo:
        v = np.clip((s - lo) / (hi - lo), 0.0, 1.0)
    else:
        v = np.zeros_like(s)
    return v, lo, hi
