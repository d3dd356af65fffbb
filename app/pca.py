"""Principal components of a dataset's pixel vectors, shown as colours: the float64 reference of
the page's PCA view (glue/compute/pca.js computes the same). ``ifealid pca`` and ``ifealid.pca``
compute exactly this. Every definition, exactly:

Input: a Dataset, a dataset ZIP (path or bytes) or an (H, W, C) numpy array (taken as the values
themselves, as in ``analysis.similarity_map``), and a values setting (``analysis.value_array``:
stored, true, centred, zscore). t_p is pixel p's vector of C values after that setting. PCA always
centres on the fit set's mean, so ``stored`` and ``true`` (an affine map of the stored values with
one factor for all channels) give the same components; their eigenvalues differ by (hi - lo)².

Pixels are indexed p = y·W + x (row-major, row 0 at the top).

The fit set (``fit=``), the pixels the components are fitted on, in ascending p:

* ``all``         every pixel.
* ``region``      the union of ``regions`` [(x0, y0, x1, y1), ...] (inclusive corners in any
                  order, clipped to the map; one wholly outside is refused) and of ``mask`` (a
                  boolean (H, W) array, True = in the fit set).
* ``foreground``  first the PCA fitted on all pixels (``all``, sampled as below); then the pixels
                  whose standardised PC1 score z = flip · s_1(p) / sqrt(λ_1) is > ``threshold``
                  (T, default 0; ``flip`` +1 or -1, default +1, because PC1's sign is arbitrary);
                  then the components are fitted again on those pixels (DINOv2's recipe).

The sample: a fit set of n > N_MAX = 16384 pixels is replaced by a fixed sample of N_MAX of its
positions: s is the smallest integer ≥ round(0.6180339887498949·n) that is coprime with n (round
half up, as JavaScript's Math.round; GOLDEN·n is never a tie), the positions are
{(k·s) mod n : k = 0 … N_MAX − 1} (distinct, as s is coprime with n), sorted ascending, and each
position i stands for the fit set's i-th pixel (in ascending p). ``max_fit`` replaces N_MAX.

Mean and covariance over the (sampled) fit set of n_fit pixels, in float64:
m = (1/n_fit) Σ_p t_p and Σ = (1/n_fit) Σ_p (t_p − m)(t_p − m)ᵀ (two passes: the differences
first).

Components: the eigenvectors v_1, v_2, … of Σ (LAPACK's symmetric eigensolver, numpy.linalg.eigh)
in the order of descending eigenvalue λ_1 ≥ λ_2 ≥ …, of unit length, each signed so that its
entry of largest absolute value is positive (the first such entry on ties). The explained
variance ratio of component k is r_k = λ_k / trace(Σ).

Scores, of every pixel (all H·W, not just the fit set): s_k(p) = (t_p − m)·v_k.

Scaling a shown component to [0, 1] (``scale=``), over all pixels' scores s_k:

* ``robust``   (default) lo, hi = numpy.percentile(s_k, [1, 99]) (its default 'linear'
               method), v = clip((s − lo) / (hi − lo), 0, 1); v = 0 everywhere when hi == lo.
* ``minmax``   the same with lo, hi = min(s_k), max(s_k).
* ``sigmoid``  v = 1 / (1 + exp(−2·s / sqrt(λ_k))): whitened, then sigmoid(2x) (the DINOv3
               notebook's recipe); lo and hi are NaN.

Components shown (``components=``, 1-based): three distinct ones, shown as R, G, B (default
1, 2, 3; any three, e.g. 2, 3, 4: DINOv2's recipe when PC1 only separates the foreground), or one
(a heat map: ``rgb`` is then that component's (H, W) scaled values).

Refused, with a ValueError saying why: a component beyond C (or not 1-based, repeated, not one or
three of them); fewer fit pixels than the highest shown component + 1 (n points span at most
n − 1 directions after centring; for ``foreground`` also an empty foreground); a constant dataset
(trace Σ == 0 on the fit set); a shown component of zero variance, λ_k ≤ λ_1 · C · 2⁻⁵²
(numpy.linalg.matrix_rank's tolerance: what rounding leaves of a zero eigenvalue); ``threshold``
other than 0, ``flip`` = −1 without ``fit='foreground'``, ``regions``/``mask`` without
``fit='region'``, and any other malformed argument.

Joint PCA (``data`` a list or tuple of datasets of the same channel count; several with
different counts are refused with a message naming them): one values transform for all of
them, as ``ifealid.compare.joint_values`` defines it (``centred`` and ``zscore`` with statistics
pooled over every dataset's pixels; true values only when every dataset records its range, else
the stored ones), so that one vector has one colour wherever it is; the fit set is the
concatenation of each dataset's fit set, in the order given (pixel p of dataset j after all of
datasets 0 … j−1's; sampled as above over that concatenated list; ``foreground``: the first fit
and λ_1 are the joint ones, and each dataset's foreground is taken by the same rule; ``regions``
apply to every dataset, ``mask`` is one (H, W) array for datasets of that size or a list with one
per dataset). One mean, one covariance, one set of components; scores for every pixel of every
dataset; ``robust`` and ``minmax`` take lo and hi over all datasets' scores together, so a colour
means the same in each. The result is a list with one PCAResult per dataset.

Everything here is numpy only, so it also runs in the page's worker.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import analysis, compare

__all__ = ["FITS", "GOLDEN", "N_MAX", "PCAResult", "SCALES", "pca", "sample_positions", "signed"]

N_MAX = 16384  # the most pixels a fit uses; beyond, the fixed sample of sample_positions
GOLDEN = 0.6180339887498949  # (√5 − 1) / 2: the stride of the sample, as glue/compute/pca.js
FITS = ("all", "region", "foreground")
SCALES = ("robust", "minmax", "sigmoid")
_EPS = float(np.finfo(np.float64).eps)  # 2⁻⁵²
_PROJECT_BLOCK = 1 << 21  # values (16 MiB of float64) per step of the scores' projection


@dataclass(frozen=True)
class PCAResult:
    """One dataset's PCA picture (``ifealid.pca``'s result). Arrays per shown component follow
    ``index``'s order; in a joint PCA everything but ``scores``, ``rgb`` and ``fit_mask`` is
    shared by the datasets."""

    index: tuple[int, ...]      # the shown components, 1-based (e.g. (1, 2, 3))
    scores: np.ndarray          # (H, W, k) float64: s_k(p) = (t_p − m)·v_k
    rgb: np.ndarray             # (H, W, 3) float64 in [0, 1] (R, G, B = the three components), or (H, W) for one
    components: np.ndarray      # (C, k) float64: the shown eigenvectors, unit length, signed by the rule
    eigenvalues: np.ndarray     # (k,) λ of the shown components
    explained: np.ndarray       # (k,) λ_k / trace(Σ)
    spectrum: np.ndarray        # (C,) every eigenvalue of Σ, descending
    total_variance: float       # trace(Σ)
    mean: np.ndarray            # (C,) m, the fit set's mean
    lo: np.ndarray              # (k,) the scaling's lower bound per component (NaN for sigmoid)
    hi: np.ndarray              # (k,) the scaling's upper bound (NaN for sigmoid)
    fit_mask: np.ndarray        # (H, W) bool: this dataset's pixels in the fit set (before sampling)
    fit_size: int               # the fit set's size before sampling (all datasets together)
    fit_count: int              # n_fit: the pixels the mean and covariance were computed from
    sampled: bool               # fit_size > max_fit: the fit used the fixed sample
    values: str
    fit: str
    scale: str


# --------------------------------------------------------------------------- the sample

def sample_positions(n: int, max_fit: int = N_MAX) -> np.ndarray:
    """The positions (int64, ascending) in a fit set of n pixels that the fit uses: all of
    0 … n−1 when n ≤ max_fit, else {(k·s) mod n : k < max_fit} with s the smallest integer
    ≥ round(GOLDEN·n) coprime with n."""
    n, max_fit = _count(n, "n", 0), _count(max_fit, "max_fit", 1)
    if n <= max_fit:
        return np.arange(n, dtype=np.int64)
    s = max(1, math.floor(GOLDEN * n + 0.5))  # JavaScript's Math.round (half up)
    while math.gcd(s, n) != 1:
        s += 1
    # Python integers: k·s is exact for any n (int64 would overflow beyond n ≈ 5.6e14).
    return np.array(sorted((k * s) % n for k in range(max_fit)), dtype=np.int64)


def _count(value, what: str, least: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{what} must be an integer ≥ {least}, not {value!r}")
    return int(value)


# --------------------------------------------------------------------------- arguments

def _components(components) -> tuple[int, ...]:
    if isinstance(components, (int, np.integer)) and not isinstance(components, (bool, np.bool_)):
        components = (components,)
    try:
        index = tuple(components)
    except TypeError:
        raise ValueError(f"components must be one or three component numbers (1-based), not {components!r}") from None
    if len(index) not in (1, 3) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)) for k in index):
        raise ValueError(f"components must be one or three component numbers (1-based), not {components!r}")
    index = tuple(int(k) for k in index)
    if min(index) < 1:
        raise ValueError(f"components are numbered from 1 (PC1 has the largest variance), not {index}")
    if len(set(index)) != len(index):
        raise ValueError(f"the three components must differ, not {index}")
    return index


def _finite(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _label(item, position: int) -> str:
    from .dataset import Dataset

    if isinstance(item, Dataset):
        return repr(item.name)
    if isinstance(item, (str, os.PathLike)):
        return repr(os.fspath(item))
    return f"#{position + 1}"


def _masks(mask, shapes, joint: bool) -> list[np.ndarray | None]:
    """One (H, W) bool mask (or None) per dataset: in a joint PCA a list or tuple holds one per
    dataset, an array is used for each."""
    if mask is None:
        return [None] * len(shapes)
    if joint and isinstance(mask, (list, tuple)):
        if len(mask) != len(shapes):
            raise ValueError(f"a list of masks needs one per dataset: {len(shapes)}, not {len(mask)}")
        items = list(mask)
    else:
        items = [mask] * len(shapes)
    out = []
    for item, (height, width) in zip(items, shapes):
        m = np.asarray(item)
        if m.shape != (height, width):
            raise ValueError(f"the mask must be ({height}, {width}) (H, W) like the map, not of shape {m.shape}")
        if m.dtype != bool:
            if m.dtype.kind not in "biu" or not np.isin(m, (0, 1)).all():
                raise ValueError("the mask holds true/false (or 0/1) values")
            m = m.astype(bool)
        out.append(m)
    return out


# --------------------------------------------------------------------------- the fit

@dataclass
class _Fit:
    mean: np.ndarray
    eigenvalues: np.ndarray  # (C,) descending
    vectors: np.ndarray      # (C, C) columns, signed by the rule
    trace: float
    size: int                # before sampling
    count: int               # after


def _fit(values: list[np.ndarray], pools: list[np.ndarray], max_fit: int, least: int, what: str) -> _Fit:
    """Mean, covariance and its eigenvectors over the concatenated (sampled) fit sets.
    ``values``: (N_j, C) per dataset; ``pools``: ascending pixel indices per dataset."""
    sizes = np.array([len(pool) for pool in pools], dtype=np.int64)
    size = int(sizes.sum())
    positions = sample_positions(size, max_fit)
    if len(positions) < least:
        raise ValueError(f"{what} has {len(positions)} pixel{'s' if len(positions) != 1 else ''}, and "
                         f"PC{least - 1} needs at least {least} (n pixels span at most n − 1 directions)")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    owner = np.searchsorted(starts, positions, side="right") - 1
    rows = np.concatenate([vals[pool[positions[owner == j] - starts[j]]]
                           for j, (vals, pool) in enumerate(zip(values, pools))])
    mean = rows.mean(axis=0)
    rows -= mean
    cov = rows.T @ rows
    cov /= len(rows)
    trace = float(np.trace(cov))
    if trace == 0.0:
        raise ValueError(f"{what} is constant (all its vectors are equal after the values setting): "
                         "it has no principal components")
    w, v = np.linalg.eigh(cov)
    return _Fit(mean, w[::-1].copy(), signed(v[:, ::-1]), trace, size, len(rows))


def signed(vectors) -> np.ndarray:
    """The (C, k) column vectors, each multiplied by −1 where needed so that its entry of largest
    absolute value is positive (the first such entry on ties): the components' sign rule."""
    v = np.array(vectors, dtype=np.float64)
    biggest = np.argmax(np.abs(v), axis=0)  # argmax returns the first of equal maxima
    v *= np.where(v[biggest, np.arange(v.shape[1])] < 0, -1.0, 1.0)
    return v


def _project(vals: np.ndarray, mean: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(N, k) scores (t_p − m)·v, a block of pixels at a time (no full-size copy of t − m)."""
    n, channels = vals.shape
    out = np.empty((n, vectors.shape[1]))
    step = max(1, _PROJECT_BLOCK // max(1, channels))
    for start in range(0, n, step):
        out[start:start + step] = (vals[start:start + step] - mean) @ vectors
    return out


def _scaled(scores: list[np.ndarray], method: str, eigenvalue: float):
    """Each dataset's (N,) scores of one component scaled to [0, 1], and (lo, hi)."""
    if method == "sigmoid":
        k = 2.0 / math.sqrt(eigenvalue)
        with np.errstate(over="ignore", under="ignore"):  # exp(±large) = inf or 0 gives exactly 0 or 1
            return [1.0 / (1.0 + np.exp(-k * s)) for s in scores], (math.nan, math.nan)
    together = np.concatenate(scores)
    if method == "minmax":
        lo, hi = float(together.min()), float(together.max())
    else:
        lo, hi = (float(x) for x in np.percentile(together, [1, 99]))
    if not hi > lo:
        return [np.zeros_like(s) for s in scores], (lo, hi)
    return [np.clip((s - lo) / (hi - lo), 0.0, 1.0) for s in scores], (lo, hi)


# --------------------------------------------------------------------------- the API

def pca(data, components=(1, 2, 3), values: str = "stored", fit: str = "all", threshold: float = 0.0,
        flip: int = 1, regions=(), mask=None, scale: str = "robust", max_fit: int = N_MAX):
    """The PCA picture of a dataset (a PCAResult), or, for a list or tuple of datasets, the joint
    PCA's (a list of PCAResult, one per dataset, sharing the components).

    ``data``: a Dataset, a dataset ZIP (path or bytes) or an (H, W, C) numpy array (the values
    themselves); a list or tuple of those for a joint PCA. ``components``: one or three 1-based
    component numbers; ``values``: stored, true, centred, zscore; ``fit``: all, region (with
    ``regions`` [(x0, y0, x1, y1), ...] and/or ``mask`` (H, W) bool) or foreground (with
    ``threshold`` T and ``flip`` ±1); ``scale``: robust, minmax, sigmoid; ``max_fit``: N_MAX, the
    most pixels a fit uses. The definitions follow (the module's description).
    """
    joint = isinstance(data, (list, tuple))
    items = list(data) if joint else [data]
    if not items:
        raise ValueError("no dataset: a joint PCA needs at least one")
    index = _components(components)
    analysis._check_choice("values setting", values, analysis.VALUES)
    analysis._check_choice("fit", fit, FITS)
    analysis._check_choice("scale", scale, SCALES)
    threshold = _finite(threshold, "the threshold")
    if isinstance(flip, (bool, np.bool_)) or flip not in (1, -1):
        raise ValueError(f"flip must be 1 or -1 (PC1's sign for the foreground), not {flip!r}")
    max_fit = _count(max_fit, "max_fit", 1)
    if fit != "foreground" and (threshold != 0.0 or flip != 1):
        raise ValueError(f"threshold and flip choose the foreground: they need fit='foreground', not fit={fit!r}")
    regions = analysis._as_list(regions, 4, "region")
    if fit != "region" and (regions or mask is not None):
        raise ValueError(f"regions and mask choose the fit set: they need fit='region', not fit={fit!r}")
    if fit == "region" and not regions and mask is None:
        raise ValueError("fit='region' needs regions [(x0, y0, x1, y1), ...] or a mask")

    if joint:
        # One transform for every dataset (centred/z-scored with pooled statistics: ifealid.compare),
        # so that a colour means the same vector in each.
        loaded = [analysis._load(item) for item in items]
        channels = [x.shape[2] if isinstance(x, np.ndarray) else x.info.features for x in loaded]
    else:
        vals = [analysis.value_array(items[0], values)]
        channels = [vals[0].shape[2]]
    if len(set(channels)) > 1:
        listed = ", ".join(f"{_label(item, j)} {c}" for j, (item, c) in enumerate(zip(items, channels)))
        raise ValueError(f"a joint PCA needs datasets of the same channel count, not {listed} channels")
    if joint:
        vals = compare.joint_values(loaded, values)
    C = channels[0]
    if max(index) > C:
        raise ValueError(f"component {max(index)} is beyond the {C} channel{'s' if C > 1 else ''} "
                         f"(components 1 … {C})")
    shapes = [v.shape[:2] for v in vals]
    flat = [v.reshape(-1, C) for v in vals]
    everything = [np.arange(h * w, dtype=np.int64) for h, w in shapes]
    where = "the joint fit set" if joint else "the dataset"

    if fit == "all":
        pools = everything
        fitted = _fit(flat, pools, max_fit, max(index) + 1, where)
    elif fit == "region":
        pools = []
        for (height, width), m in zip(shapes, _masks(mask, shapes, joint)):
            chosen = np.zeros((height, width), dtype=bool) if m is None else m.copy()
            for x0, y0, x1, y1 in analysis._regions(regions, width, height):
                chosen[y0:y1 + 1, x0:x1 + 1] = True
            pools.append(np.flatnonzero(chosen))
        fitted = _fit(flat, pools, max_fit, max(index) + 1, "the region's fit set")
    else:
        first = _fit(flat, everything, max_fit, 2, f"{where} (the foreground's first fit)")
        v1, root = first.vectors[:, :1], math.sqrt(first.eigenvalues[0])
        # z = flip · s_1 / sqrt(λ_1), literally in that order (the page rounds alike at the threshold)
        pools = [np.flatnonzero(flip * _project(f, first.mean, v1)[:, 0] / root > threshold) for f in flat]
        fitted = _fit(flat, pools, max_fit, max(index) + 1,
                      f"the foreground (standardised PC1 score {'−' if flip < 0 else ''}z > {threshold:g})")

    columns = [k - 1 for k in index]
    top = fitted.eigenvalues[0]
    for k in index:
        if not fitted.eigenvalues[k - 1] > top * C * _EPS:
            raise ValueError(f"component {k} has no variance on the fit set (λ_{k} = "
                             f"{fitted.eigenvalues[k - 1]:.3g}, λ_1 = {top:.6g}): the fit set's vectors span "
                             f"fewer than {k} directions")
    chosen = fitted.vectors[:, columns]
    scores = [_project(f, fitted.mean, chosen) for f in flat]
    scaled, bounds = [], []
    for i, k in enumerate(index):
        per_dataset, lo_hi = _scaled([s[:, i] for s in scores], scale, float(fitted.eigenvalues[k - 1]))
        scaled.append(per_dataset)
        bounds.append(lo_hi)
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    eigenvalues = fitted.eigenvalues[columns]
    results = []
    for j, ((height, width), pool) in enumerate(zip(shapes, pools)):
        fit_mask = np.zeros(height * width, dtype=bool)
        fit_mask[pool] = True
        picture = np.stack([scaled[i][j] for i in range(len(index))], axis=-1).reshape(height, width, len(index))
        results.append(PCAResult(
            index=index,
            scores=scores[j].reshape(height, width, len(index)),
            rgb=picture[:, :, 0] if len(index) == 1 else picture,
            components=chosen.copy(),
            eigenvalues=eigenvalues.copy(),
            explained=eigenvalues / fitted.trace,
            spectrum=fitted.eigenvalues.copy(),
            total_variance=fitted.trace,
            mean=fitted.mean.copy(),
            lo=lo.copy(),
            hi=hi.copy(),
            fit_mask=fit_mask.reshape(height, width),
            fit_size=fitted.size,
            fit_count=fitted.count,
            sampled=fitted.size > max_fit,
            values=values,
            fit=fit,
            scale=scale,
        ))
    return results if joint else results[0]


# help(ifealid.pca) shows the function, whose name hides the module's: give it the definitions too.
pca.__doc__ = f"{pca.__doc__}\n{__doc__}"
