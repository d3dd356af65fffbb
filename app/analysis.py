"""The float64 reference of the page's analyses: values settings, metrics, many references,
regions, thresholds and masks. ``ifealid map`` and ``ifealid.similarity_map`` compute exactly
this; the page's tests compare what it draws with it. Every definition, exactly:

Values (``values=``), per pixel vector of C channels; q is the stored integer, P the precision,
T = 2^P - 1, and (lo, hi) metadata.json's ``range``:

* ``stored``   v = q / T, in [0, 1] (the original's numbers).
* ``true``     v = lo + (q / T) · (hi - lo), computed in float64 in that order; a ValueError
               when the dataset records no range.
* ``centred``  v = b - mean_c, with b the true values when the dataset has a range, else the
               stored ones, and mean_c channel c's mean of b over all H·W pixels.
* ``zscore``   v = (b - mean_c) / std_c, std_c channel c's population standard deviation of b
               (ddof 0); v = 0 in a channel whose std_c is 0.

  A dataset's mean_c and std_c come from the exact integer statistics of q (``channel_stats``,
  which the worker sends the page as DATASET's ``stats``): mean_q = Σq / n and
  var_q = (n·Σq² - (Σq)²) / n², each the correctly rounded float64 of an exact rational
  (n = H·W), std_q = sqrt(var_q); then stored: mean_c = mean_q / T, std_c = std_q / T;
  true: mean_c = lo + (mean_q / T) · (hi - lo), std_c = (std_q / T) · (hi - lo).
  An (H, W, C) array given instead of a dataset is taken as the values themselves: ``stored``
  and ``true`` return it as it is; ``centred`` and ``zscore`` use its float64 per-channel mean
  (numpy's) and population std (two-pass: sqrt(mean((v - mean)²))), a channel whose min equals
  its max getting mean = that value and std = 0 exactly.

References: pixels (x, y) (column x, row y, 0-based, row 0 at the top; inside the map) and
regions (x0, y0, x1, y1) (INCLUSIVE corners in any order, clipped to the map; one that lies
wholly outside is refused). K = (number of pixels) + (number of regions), pixels first, each in
the order given. A pixel's reference vector is its value vector. A region's is the mean over
its N pixels (the sum divided by N) of:

* ``angular``, ``cosine``: each vector divided by its norm (a zero vector contributes zero);
* ``correlation``: each vector centred across its channels (minus the mean of its own C values)
  and then divided by its norm (a constant vector, max == min, contributes zero);
* ``euclidean``, ``dot``: the vectors themselves.

Metrics, for pixel vector p and reference vector r (both after the values setting), with
x̂ = x / |x| and |x| the Euclidean norm:

* ``angular``      1 - 2θ/π, θ ∈ [0, π] the angle between p and r, computed as
                   θ = 2·atan2(|p̂ - r̂|, |p̂ + r̂|) (stable at every angle); in [-1, 1];
                   0 where p or r is the zero vector.
* ``cosine``       cos θ = p̂·r̂, clipped to [-1, 1]; 0 where p or r is the zero vector.
* ``correlation``  Pearson's correlation across the C channels: the cosine of p - mean(p) and
                   r - mean(r) (the means over the channels); 0 where p or r is constant
                   (max == min over its channels, so also for C = 1).
* ``euclidean``    |p - r| = sqrt(Σ (p_c - r_c)²), computed from the differences.
* ``dot``          p·r = Σ p_c r_c.

For stored (non-negative) values ``angular`` and ``cosine`` equal app/similarity.py's
``angular_similarity`` and ``cosine_similarity`` (the round-1 definitions) to rounding.

Combining K references (``combine=``): ``max``, the per-pixel maximum of the K maps (for
``euclidean`` the minimum: near any of them), or ``mean``, their per-pixel mean.

Masks: ``mask = map >= T`` (``euclidean``: ``map <= T``); ``connected`` keeps only the
4-connected components of that mask (pixels sharing an edge) that contain a reference pixel or
share a pixel with a (clipped) reference region.

Everything here is numpy only (no scipy), so it also runs in the page's worker.
"""
from __future__ import annotations

import math
import operator
import os

import numpy as np

from .format import max_value
from .stats import stats_from_sums

__all__ = [
    "COMBINES",
    "METRICS",
    "VALUES",
    "channel_stats",
    "label_components",
    "metric_map",
    "reference_vectors",
    "similarity_map",
    "similarity_mask",
    "value_array",
]

METRICS = ("angular", "cosine", "correlation", "euclidean", "dot")
VALUES = ("stored", "true", "centred", "zscore")
COMBINES = ("max", "mean")

# Elements per step of channel_stats: bounds its temporaries (a few MB) on any map size, since
# the worker runs in 32-bit WebAssembly with limited memory.
_STATS_BLOCK = 1 << 18
_METRIC_BLOCK = 1 << 21  # values (16 MiB of float64) per step of a map's differences


# --------------------------------------------------------------------------- per-channel statistics

def channel_stats(layers, features: int | None = None) -> dict:
    """Per-channel mean and population standard deviation (ddof 0) of the STORED integers q over
    all H·W pixels, exact: {"mean": float64 (C,), "std": float64 (C,)}.

    ``layers``: the (L, H, W, 4) uint8/uint16/uint32 array (channels 4l..4l+3 in layer l);
    ``features``: C (default 4·L). Σq and Σq² are exact integers (8 and 16 bit from per-channel
    histograms, 32 bit from sums of 16-bit halves), so mean = Σq / n and
    var = (n·Σq² - (Σq)²) / n² are the correctly rounded float64 of the exact values and
    std = sqrt(var). Works a block of rows at a time: no full-size copy of the array is made.
    """
    arr = np.asarray(layers)
    if arr.ndim != 4 or arr.shape[3] != 4 or arr.dtype.kind != "u" or arr.dtype.itemsize not in (1, 2, 4):
        raise ValueError(f"layers must be an (L, H, W, 4) uint8, uint16 or uint32 array, not "
                         f"{arr.dtype} of shape {arr.shape}")
    count, height, width, _ = arr.shape
    features = count * 4 if features is None else int(features)
    if not 0 < features <= count * 4:
        raise ValueError(f"features must be 1 … {count * 4} for {count} layers, not {features}")
    n = height * width
    if n == 0:
        raise ValueError("the map has no pixels")
    if n >= 1 << 31:
        raise ValueError(f"the map has {n} pixels, more than channel_stats counts exactly (2^31)")
    rows = max(1, _STATS_BLOCK // (width * 4))
    sums: list[int] = []
    squares: list[int] = []
    itemsize = arr.dtype.itemsize
    for layer in range(count):
        s1 = [0, 0, 0, 0]
        s2 = [0, 0, 0, 0]
        if itemsize <= 2:
            bins = 1 << (8 * itemsize)
            histogram = np.zeros((4, bins), dtype=np.int64)
            for start in range(0, height, rows):
                channels = np.ascontiguousarray(arr[layer, start:start + rows].reshape(-1, 4).T)
                for c in range(4):
                    histogram[c] += np.bincount(channels[c], minlength=bins)
            k = np.arange(bins, dtype=np.int64)
            for c, h in enumerate(histogram):
                # Σ h·k ≤ n·2^16 and Σ h·k² ≤ n·2^32: exact in int64 while n = H·W < 2^31.
                s1[c] = int(np.dot(h, k))
                s2[c] = int(np.dot(h, k * k))
        else:
            saa, sab, sbb = [0] * 4, [0] * 4, [0] * 4
            for start in range(0, height, rows):
                channels = np.ascontiguousarray(arr[layer, start:start + rows].reshape(-1, 4).T)
                halves = channels.view(np.uint16).reshape(4, -1, 2)  # little-endian: (low, high)
                low = np.ascontiguousarray(halves[:, :, 0])
                high = np.ascontiguousarray(halves[:, :, 1])
                # q = high·2^16 + low, so q² = high²·2^32 + 2·high·low·2^16 + low²; each product < 2^32.
                sums_low = low.sum(axis=1, dtype=np.uint64)
                sums_high = high.sum(axis=1, dtype=np.uint64)
                s1 = [a + (int(h) << 16) + int(lo) for a, h, lo in zip(s1, sums_high, sums_low)]
                for total, x, y in ((saa, high, high), (sab, high, low), (sbb, low, low)):
                    for c, value in enumerate(np.einsum("ij,ij->i", x, y, dtype=np.uint64)):
                        total[c] += int(value)
            s2 = [(a << 32) + (b << 17) + c for a, b, c in zip(saa, sab, sbb)]
        sums += s1
        squares += s2
    mean, std = stats_from_sums(n, sums[:features], squares[:features])
    return {"mean": np.array(mean, dtype=np.float64), "std": np.array(std, dtype=np.float64)}


# --------------------------------------------------------------------------- values

def _check_choice(name: str, value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(options)}")
    return value


def _load(data):
    """A Dataset, or an (H, W, C) float64 array of values; a path or bytes is read as a ZIP."""
    from .dataset import Dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike, bytes, bytearray, memoryview)):
        from .reader import read_dataset

        return read_dataset(data)
    array = np.asarray(data)
    if array.ndim != 3 or min(array.shape) == 0:
        raise ValueError(f"values must be a dataset, a dataset ZIP or an (H, W, C) array, not an array of "
                         f"shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"values must be numeric, not {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError("values hold NaN or infinite numbers")
    return array


def _dataset_values(dataset, values: str) -> np.ndarray:
    top = float(max_value(dataset.info.precision))
    value_range = dataset.info.range
    if values == "true" and value_range is None:
        raise ValueError(f"values='true' needs the dataset's range, and {dataset.info.name!r} records none "
                         "(metadata.json has no 'range', as in the original's files): use 'stored' or "
                         "'centred'")
    out = dataset.values().astype(np.float64)
    out /= top
    if value_range is not None and values != "stored":
        lo, hi = value_range
        out *= hi - lo
        out += lo
    if values in ("stored", "true"):
        return out
    stats = channel_stats(dataset.layers, dataset.info.features)
    if value_range is None:
        mean = stats["mean"] / top
        std = stats["std"] / top
    else:
        lo, hi = value_range
        mean = lo + (stats["mean"] / top) * (hi - lo)
        std = (stats["std"] / top) * (hi - lo)
    out -= mean
    if values == "zscore":
        _divide_by_std(out, std)
    return out


def _divide_by_std(out: np.ndarray, std: np.ndarray) -> None:
    positive = std > 0
    out[..., positive] /= std[positive]
    out[..., ~positive] = 0.0


def _array_values(array: np.ndarray, values: str) -> np.ndarray:
    if values in ("stored", "true"):
        return array
    mean = array.mean(axis=(0, 1))
    lowest, highest = array.min(axis=(0, 1)), array.max(axis=(0, 1))
    constant = lowest == highest
    mean[constant] = lowest[constant]
    out = array - mean
    if values == "zscore":
        std = np.sqrt(np.mean(out * out, axis=(0, 1)))
        std[constant] = 0.0
        _divide_by_std(out, std)
    return out


def value_array(data, values: str = "stored") -> np.ndarray:
    """The (H, W, C) float64 values that the metrics compare, after the ``values`` setting (see
    the module's description). ``data``: a Dataset, a dataset ZIP (path or bytes), or an
    (H, W, C) array taken as the values themselves."""
    _check_choice("values setting", values, VALUES)
    loaded = _load(data)
    if isinstance(loaded, np.ndarray):
        return _array_values(loaded, values)
    return _dataset_values(loaded, values)


# --------------------------------------------------------------------------- references

def _integer(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be an integer, not {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, not {value!r}") from None


def _as_list(items, size: int, what: str) -> list:
    """A list of ``size``-tuples; a single tuple of ``size`` numbers counts as one."""
    if items is None:
        return []
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"{what}s must be a list of {what}s") from None
    if len(items) == size and all(np.ndim(item) == 0 for item in items):
        items = [items]
    return items


def _pixels(refs, width: int, height: int) -> list[tuple[int, int]]:
    out = []
    for ref in _as_list(refs, 2, "reference pixel"):
        if np.ndim(ref) != 1 or len(ref) != 2:
            raise ValueError(f"a reference pixel is (x, y), not {ref!r}")
        x, y = (_integer(v, "a reference pixel's coordinate") for v in ref)
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f"reference pixel ({x}, {y}) is outside the {width}×{height} map "
                             f"(x 0 … {width - 1}, y 0 … {height - 1})")
        out.append((x, y))
    return out


def _regions(regions, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) with x0 ≤ x1, y0 ≤ y1, clipped to the map."""
    out = []
    for region in _as_list(regions, 4, "region"):
        if np.ndim(region) != 1 or len(region) != 4:
            raise ValueError(f"a region is (x0, y0, x1, y1), not {region!r}")
        x0, y0, x1, y1 = (_integer(v, "a region's coordinate") for v in region)
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        if x1 < 0 or y1 < 0 or x0 >= width or y0 >= height:
            raise ValueError(f"region ({x0}, {y0}, {x1}, {y1}) lies outside the {width}×{height} map")
        out.append((max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)))
    return out


def _norms(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...c,...c->...", v, v))


def _unit(v: np.ndarray) -> np.ndarray:
    """v / |v| along the last axis; zero vectors stay zero."""
    norm = _norms(v)
    return v / np.where(norm > 0, norm, 1.0)[..., None]


def _centred(v: np.ndarray) -> np.ndarray:
    """Each vector minus the mean of its own channels; constant vectors (max == min) are zero."""
    constant = v.max(axis=-1) == v.min(axis=-1)
    out = v - v.mean(axis=-1, keepdims=True)
    out[constant] = 0.0
    return out


def _prepared(v: np.ndarray, metric: str) -> np.ndarray:
    """What a region averages for this metric (and what angular/cosine/correlation compare)."""
    if metric in ("angular", "cosine"):
        return _unit(v)
    if metric == "correlation":
        return _unit(_centred(v))
    return v


def _references(vals: np.ndarray, pixels, regions, metric: str) -> np.ndarray:
    """(K, C): pixels' vectors as they are, then regions' means of the prepared vectors."""
    out = [vals[y, x] for x, y in pixels]
    for x0, y0, x1, y1 in regions:
        block = vals[y0:y1 + 1, x0:x1 + 1].reshape(-1, vals.shape[2])
        out.append(_prepared(block, metric).mean(axis=0))
    return np.array(out, dtype=np.float64).reshape(len(out), vals.shape[2])


def _setup(data, refs, regions, metric, values):
    _check_choice("metric", metric, METRICS)
    vals = value_array(data, values)
    height, width = vals.shape[:2]
    pixels = _pixels(refs, width, height)
    boxes = _regions(regions, width, height)
    if not pixels and not boxes:
        raise ValueError("no reference: give at least one reference pixel or region")
    return vals, pixels, boxes


def reference_vectors(data, refs=(), regions=(), metric: str = "angular", values: str = "stored") -> np.ndarray:
    """The (C, K) float64 reference vectors, one column per reference: the pixels' in the order
    given, then the regions' (their means as the metric defines them)."""
    vals, pixels, boxes = _setup(data, refs, regions, metric, values)
    return _references(vals, pixels, boxes, metric).T.copy()


# --------------------------------------------------------------------------- maps

def metric_map(vals, reference, metric: str = "angular") -> np.ndarray:
    """(H, W) float64: the metric between each pixel's vector of ``vals`` (H, W, C) and the
    reference vector (C,), both already after the values setting."""
    _check_choice("metric", metric, METRICS)
    v = np.asarray(vals, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if v.ndim != 3 or r.shape != (v.shape[2],):
        raise ValueError(f"need (H, W, C) values and a (C,) reference, not {v.shape} and {r.shape}")
    return _metric(_prepared(v, metric), r, metric)


def _metric(prepared: np.ndarray, r: np.ndarray, metric: str) -> np.ndarray:
    """The metric from the prepared values (unit vectors for angular/cosine, centred unit vectors
    for correlation, the values for euclidean/dot) and a raw reference vector. Differences are
    taken a block of rows at a time, so no further full-size array is made."""
    height, width, channels = prepared.shape
    if metric == "dot":
        return np.einsum("...c,c->...", prepared, r)
    out = np.empty((height, width))
    rows = max(1, _METRIC_BLOCK // max(1, width * channels))
    if metric == "euclidean":
        for start in range(0, height, rows):
            d = prepared[start:start + rows] - r
            out[start:start + rows] = np.sqrt(np.einsum("...c,...c->...", d, d))
        return out
    ru = _prepared(r, metric)
    if not ru.any():  # a zero reference (a constant one for correlation)
        return np.zeros((height, width))
    defined = _norms(prepared) > 0
    if metric == "angular":
        for start in range(0, height, rows):
            block = prepared[start:start + rows]
            d, s = block - ru, block + ru
            theta = 2.0 * np.arctan2(np.sqrt(np.einsum("...c,...c->...", d, d)),
                                     np.sqrt(np.einsum("...c,...c->...", s, s)))
            out[start:start + rows] = 1.0 - theta * (2.0 / np.pi)
    else:  # cosine, correlation (the cosine of the centred vectors)
        out = np.clip(np.einsum("...c,c->...", prepared, ru), -1.0, 1.0)
    return np.where(defined, out, 0.0)


def similarity_map(data, refs=(), regions=(), metric: str = "angular", values: str = "stored",
                   combine: str = "max") -> np.ndarray:
    """The (H, W) float64 map of ``metric`` between every pixel and the references, combined.

    ``data``: a Dataset, a dataset ZIP (path or bytes) or an (H, W, C) array (taken as the values
    themselves); ``refs``: pixels [(x, y), ...]; ``regions``: [(x0, y0, x1, y1), ...] with
    inclusive corners; ``metric``: angular, cosine, correlation, euclidean, dot; ``values``:
    stored, true, centred, zscore; ``combine``: max (euclidean: min) or mean. Definitions: the
    module's description (``help(ifealid.analysis)``).
    """
    _check_choice("combine", combine, COMBINES)
    vals, pixels, boxes = _setup(data, refs, regions, metric, values)
    return combined_map(vals, _references(vals, pixels, boxes, metric), metric, combine)


def combined_map(vals: np.ndarray, references: np.ndarray, metric: str, combine: str) -> np.ndarray:
    """(H, W) float64: the maps of the (K, C) reference vectors over the values, combined (max,
    for euclidean min, or mean)."""
    prepared = _prepared(vals, metric)
    combined = None
    for r in references:
        m = _metric(prepared, r, metric)
        if combined is None:
            combined = m
        elif combine == "mean":
            combined += m
        elif metric == "euclidean":
            np.minimum(combined, m, out=combined)
        else:
            np.maximum(combined, m, out=combined)
    if combine == "mean":
        combined /= len(references)
    return combined


# --------------------------------------------------------------------------- masks

def label_components(mask) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean (H, W) mask: (labels int32 (H, W), count), 0 outside
    the mask, 1 … count numbered in raster order of each component's first pixel (as
    scipy.ndimage.label numbers them). Horizontal runs joined by a union-find: numpy only."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"a mask is (H, W), not of shape {m.shape}")
    height, width = m.shape
    labels = np.zeros((height, width), dtype=np.int32)
    if not m.any():
        return labels, 0
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = m
    step = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it ends
    rows, starts = np.nonzero(step == 1)
    _, stops = np.nonzero(step == -1)
    ends = stops - 1  # inclusive
    rows = rows.astype(np.int64)
    start_key = rows * width + starts
    end_key = rows * width + ends
    # Runs of the next row that overlap run i (4-connectivity: a shared column) form one
    # contiguous range of the raster-ordered runs.
    first = np.searchsorted(end_key, (rows + 1) * width + starts, side="left")
    last = np.searchsorted(start_key, (rows + 1) * width + ends, side="right")
    counts = np.maximum(last - first, 0)
    left = np.repeat(np.arange(len(rows)), counts)
    right = np.repeat(first, counts) + (np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts))
    parent = list(range(len(rows)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(left.tolist(), right.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:  # the smaller run index, the component's first in raster order, stays root
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(a) for a in range(len(rows))])
    _, component = np.unique(roots, return_inverse=True)
    labels[m] = np.repeat(component.astype(np.int32) + 1, ends - starts + 1)
    return labels, int(component.max()) + 1


def similarity_mask(smap, threshold, metric: str = "angular", connected: bool = False,
                    refs=(), regions=()) -> np.ndarray:
    """The (H, W) bool mask ``smap >= threshold`` (euclidean: ``<=``); with ``connected``, only
    its 4-connected components that contain a reference pixel or meet a reference region."""
    _check_choice("metric", metric, METRICS)
    s = np.asarray(smap, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"a map is (H, W), not of shape {s.shape}")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.number)) \
            or not math.isfinite(float(threshold)):
        raise ValueError(f"the threshold must be a finite number, not {threshold!r}")
    mask = s <= float(threshold) if metric == "euclidean" else s >= float(threshold)
    if not connected:
        return mask
    height, width = s.shape
    pixels = _pixels(refs, width, height)
    boxes = _regions(regions, width, height)
    if not pixels and not boxes:
        raise ValueError("connected needs the references (refs or regions) whose components to keep")
    labels, _ = label_components(mask)
    seeds = {int(labels[y, x]) for x, y in pixels}
    for x0, y0, x1, y1 in boxes:
        seeds.update(np.unique(labels[y0:y1 + 1, x0:x1 + 1]).tolist())
    seeds.discard(0)
    return np.isin(labels, sorted(seeds))
