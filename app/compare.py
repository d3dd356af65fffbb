"""Comparing datasets (issue 16): one transform for the vectors of several datasets, references
taken from any of them, and each map's best matches. The page's comparison view computes
exactly this; ``ifealid map --ref-from`` uses it.

Values across datasets (``values=``), with the definitions of ``ifealid.analysis``:

* The base of dataset i is its true values when EVERY dataset records a range, else the stored
  ones q / T_i for all (stored values of any precision share the unit interval; true values
  exist only where the range is known). ``true`` needs every range (a ValueError otherwise).
* ``stored``, ``true``: the base, as for one dataset.
* ``centred``, ``zscore``: one transform for every dataset, with statistics pooled over all of
  their pixels. Per channel c, from dataset i's exact statistics of q (``channel_stats``) with
  n_i = H_i·W_i, scale s_i (1/T_i, or (hi − lo)/T_i) and offset o_i (0, or lo):
      m_i = o_i + s_i·mean_q,  v_i = (s_i·std_q)²,
      M = Σ n_i·m_i / N,  V = Σ n_i·(v_i + (m_i − M)²) / N  (N = Σ n_i, sums in dataset order),
  then v = b − M (centred) and (b − M) / sqrt(V) (zscore; 0 where V = 0). An (H, W, C) array
  given instead of a dataset is its own base, with numpy's mean and population variance.
  For a single dataset these are its own statistics (up to the last rounding).

References: pixels (k, x, y) and regions (k, x0, y0, x1, y1) of dataset k (0-based, in the
order given), each a reference for every dataset's map; a region's vector is the mean of its
prepared vectors as in ``ifealid.analysis``.

Best matches (``best_matches``): the map's pixels in order of nearness (largest value; for
``euclidean`` the smallest), ties to the first in row-major order; with ``radius`` r > 0 a pixel
within Euclidean distance r (in map pixels) of one already chosen is skipped (the DINOv3 demos'
"exclude neighbourhood").
"""
from __future__ import annotations

import numpy as np

from . import analysis
from .format import max_value

__all__ = ["best_matches", "joint_values", "similarity_maps"]


def _load_all(items) -> list:
    items = list(items)
    if not items:
        raise ValueError("no dataset: a comparison needs at least one")
    return [analysis._load(item) for item in items]


def _base(item, stored: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(base values (H, W, C) float64, mean (C,), variance (C,)) of a dataset or an array."""
    if isinstance(item, np.ndarray):
        mean = item.mean(axis=(0, 1))
        lowest, highest = item.min(axis=(0, 1)), item.max(axis=(0, 1))
        constant = lowest == highest
        mean[constant] = lowest[constant]
        d = item - mean
        var = np.mean(d * d, axis=(0, 1))
        var[constant] = 0.0
        return item, mean, var
    top = float(max_value(item.info.precision))
    if stored:
        scale, offset = 1.0 / top, 0.0
        base = analysis._dataset_values(item, "stored")
    else:
        lo, hi = item.info.range
        scale, offset = (hi - lo) / top, lo
        base = analysis._dataset_values(item, "true")
    stats = analysis.channel_stats(item.layers, item.info.features)
    # the page's order of operations (glue/compute/values.js jointStats)
    mean = offset + scale * stats["mean"]
    sd = scale * stats["std"]
    return base, mean, sd * sd


def joint_values(items, values: str = "stored") -> list[np.ndarray]:
    """Each dataset's (H, W, C) float64 values under one transform (the module's description).
    ``items``: Datasets, dataset ZIPs (paths or bytes) or (H, W, C) arrays, all of one channel
    count."""
    analysis._check_choice("values setting", values, analysis.VALUES)
    loaded = _load_all(items)
    channels = [(x.shape[2] if isinstance(x, np.ndarray) else x.info.features) for x in loaded]
    if len(set(channels)) > 1:
        raise ValueError(f"datasets compared must have the same channel count, not {', '.join(map(str, channels))}")
    ranged = [isinstance(x, np.ndarray) or x.info.range is not None for x in loaded]
    if values == "true" and not all(ranged):
        missing = [x.info.name for x, r in zip(loaded, ranged) if not r]
        raise ValueError(f"values='true' needs every dataset's range, and {', '.join(map(repr, missing))} "
                         "records none: use 'stored', 'centred' or 'zscore'")
    stored = values == "stored" or not all(ranged)
    parts = [_base(x, stored) for x in loaded]
    bases = [p[0] for p in parts]
    if values in ("stored", "true"):
        return [b.copy() if isinstance(x, np.ndarray) else b for x, b in zip(loaded, bases)]
    counts = [b.shape[0] * b.shape[1] for b in bases]
    total = float(sum(counts))
    M = np.zeros(channels[0])
    for n, (_, m, _) in zip(counts, parts):
        M += n * m
    M /= total
    V = np.zeros(channels[0])
    for n, (_, m, v) in zip(counts, parts):
        d = m - M
        V += n * (v + d * d)
    V /= total
    out = []
    for b in bases:
        t = b - M
        if values == "zscore":
            analysis._divide_by_std(t, np.sqrt(V))
        out.append(t)
    return out


def _references(vals: list[np.ndarray], refs, regions, metric: str) -> np.ndarray:
    out = []
    for ref in analysis._as_list(refs, 3, "reference pixel"):
        if np.ndim(ref) != 1 or len(ref) != 3:
            raise ValueError(f"a reference pixel of a comparison is (k, x, y), not {ref!r}")
        k = _pane(ref[0], len(vals))
        (x, y), = analysis._pixels([ref[1:]], vals[k].shape[1], vals[k].shape[0])
        out.append(vals[k][y, x])
    for region in analysis._as_list(regions, 5, "region"):
        if np.ndim(region) != 1 or len(region) != 5:
            raise ValueError(f"a region of a comparison is (k, x0, y0, x1, y1), not {region!r}")
        k = _pane(region[0], len(vals))
        (x0, y0, x1, y1), = analysis._regions([region[1:]], vals[k].shape[1], vals[k].shape[0])
        block = vals[k][y0:y1 + 1, x0:x1 + 1].reshape(-1, vals[k].shape[2])
        out.append(analysis._prepared(block, metric).mean(axis=0))
    if not out:
        raise ValueError("no reference: give at least one reference pixel (k, x, y) or region (k, x0, y0, x1, y1)")
    return np.array(out, dtype=np.float64)


def _pane(value, count: int) -> int:
    k = analysis._integer(value, "a dataset's number")
    if not 0 <= k < count:
        raise ValueError(f"dataset {k} does not exist: there are {count} (0 … {count - 1})")
    return k


def similarity_maps(items, refs=(), regions=(), metric: str = "angular", values: str = "stored",
                    combine: str = "max") -> list[np.ndarray]:
    """One (H_i, W_i) float64 map per dataset: ``metric`` between its pixels and every reference
    (pixels (k, x, y), regions (k, x0, y0, x1, y1) of dataset k), combined as in
    ``ifealid.similarity_map``, the values under one transform (``joint_values``)."""
    analysis._check_choice("metric", metric, analysis.METRICS)
    analysis._check_choice("combine", combine, analysis.COMBINES)
    vals = joint_values(items, values)
    references = _references(vals, refs, regions, metric)
    return [analysis.combined_map(v, references, metric, combine) for v in vals]


def best_matches(smap, metric: str = "angular", k: int = 1, radius: float = 0.0) -> list[tuple[int, int, float]]:
    """The ``k`` best pixels of a map as [(x, y, value)], nearest first (the module's
    description): the largest values (``euclidean``: the smallest), none within ``radius`` of
    one chosen before."""
    analysis._check_choice("metric", metric, analysis.METRICS)
    m = np.asarray(smap, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"a map is an (H, W) array, not of shape {m.shape}")
    k = analysis._integer(k, "k")
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    radius = float(radius)
    if not (np.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be a finite number ≥ 0, not {radius!r}")
    height, width = m.shape
    key = -m.ravel() if metric != "euclidean" else m.ravel()
    order = np.argsort(key, kind="stable")
    chosen: list[tuple[int, int, float]] = []
    r2 = radius * radius
    for index in order:
        y, x = divmod(int(index), width)
        if radius > 0 and any((x - cx) ** 2 + (y - cy) ** 2 <= r2 for cx, cy, _ in chosen):
            continue
        chosen.append((x, y, float(m[y, x])))
        if len(chosen) == k:
            break
    return chosen
