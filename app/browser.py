"""What the Pyodide worker calls: decode a dataset ZIP into the arrays the GPU uploads.

Kept free of any JavaScript so it runs and is tested in CPython too; the worker
(pyworker/worker.js) only moves bytes in and typed arrays out.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .analysis import channel_stats
from .errors import DatasetError
from .format import DatasetInfo
from .reader import read_dataset

# The worker lives in 32-bit WebAssembly (4 GB address space at most) and needs the
# ZIP, the decoded array and a copy for the transfer at once: keep well below.
BROWSER_MEMORY_BUDGET = 1024 ** 3


def runtime_versions() -> dict:
    import PIL

    from . import __version__

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "ifealid": __version__,
    }


def colormaps() -> dict:
    """Every colour table as 768 RGB bytes, for the page (the tables live only in Python)."""
    from .colormaps import COLORMAPS, DEFAULT_COLORMAP, lut_bytes

    names = [DEFAULT_COLORMAP] + sorted(n for n in COLORMAPS if n != DEFAULT_COLORMAP)
    return {name: lut_bytes(name) for name in names}


def page_info(info: DatasetInfo) -> dict:
    """The dataset's description as the page uses it (DATASET's info): the metadata's fields
    under their metadata.json names (``range``: [lo, hi], or None when the file records none),
    and the derived counts. The only place these names are written for the page; the worker
    posts this object as it is."""
    return {**info.to_metadata(), "range": list(info.range) if info.range is not None else None,
            "pngCount": info.png_count, "layerCount": info.layer_count}


def _declared(data) -> str:
    try:
        from .reader import read_info

        return read_info(bytes(data)).describe()
    except Exception:  # noqa: BLE001 - only for the message
        return "an unknown size"


def decode_for_worker(data, progress=None, memory_budget: int = BROWSER_MEMORY_BUDGET) -> dict:
    """Decode ZIP bytes. Returns either {"error": {...}} or the dataset, under the names of the
    DATASET message (pyworker/protocol.js), which the worker posts as they are:

    info: page_info(); layers: the (L, H, W, 4) unsigned array (uint8/uint16/uint32 by
    precision, layer-major, RGBA = channels 4l..4l+3); stats: {"mean", "std"}, float64 (C,)
    arrays, each channel's mean and population standard deviation of the stored integers q over
    all pixels, exact (app/analysis.py channel_stats); overlay: the overlay image's bytes or
    None; overlaySize: [w, h] or None; decodeMs: time spent here.
    """
    started = time.perf_counter()
    if hasattr(data, "to_bytes"):  # a JavaScript Uint8Array, in Pyodide
        data = data.to_bytes()
    try:
        dataset = read_dataset(bytes(data), memory_budget=memory_budget, progress=progress)
        stats = channel_stats(dataset.layers, dataset.info.features)
    except DatasetError as exc:
        return {"error": exc.to_dict()}
    except MemoryError:
        # The worker's 32-bit WebAssembly heap (4 GB at most, often less) ran out; Python is
        # still sound, so the worker stays ready for the next, smaller file.
        return {"error": {
            "message": "the dataset needs more memory than the browser gives the Python worker "
                       f"(it declares {_declared(data)}); try a lower precision or a smaller crop",
            "rule": "out-of-memory", "entry": None,
        }}
    return {
        "info": page_info(dataset.info),
        "layers": dataset.layers,
        "stats": stats,
        "overlay": dataset.overlay_bytes,
        "overlaySize": list(dataset.overlay_size) if dataset.overlay_size else None,
        "decodeMs": (time.perf_counter() - started) * 1000.0,
    }


# What the page may ask the worker to encode (app/exports.py), by the names glue/ui/exports.js
# uses: kind → (encoder, the dtype the array is converted to).
EXPORT_KINDS = {
    "map-npy": ("encode_map_npy", np.float32),
    "map-png16": ("encode_map_png16", np.float32),
    "mask-png": ("encode_mask_png", bool),
    "mask-npy": ("encode_mask_npy", bool),
    "refs-csv": ("encode_references_csv", np.float64),
    "refs-npy": ("encode_references_npy", np.float64),
}
# JavaScript typed arrays by constructor name → numpy dtypes (little-endian, as the page's memory).
TYPED_ARRAYS = {
    "Float32Array": "<f4", "Float64Array": "<f8", "Uint8Array": "u1", "Uint8ClampedArray": "u1",
    "Int8Array": "i1", "Uint16Array": "<u2", "Int16Array": "<i2", "Uint32Array": "<u4", "Int32Array": "<i4",
}


def encode_for_worker(kind: str, data, array_type: str, shape, meta=None) -> bytes:
    """An export file's bytes from an array the page sends (the worker's ENCODE, pyworker/protocol.js).

    ``kind``: map-npy, map-png16, mask-png, mask-npy, refs-csv, refs-npy (EXPORT_KINDS); ``data``:
    the typed array's bytes (a JavaScript Uint8Array over them in Pyodide); ``array_type``: its
    constructor's name (Float32Array for maps, Uint8Array for masks, where any non-zero byte is
    inside, Float64Array for reference vectors); ``shape``: [H, W] or [C, K]; ``meta``: metric and
    values (map-png16), labels (refs-csv). Raises ValueError for anything it cannot encode."""
    from . import exports

    if hasattr(data, "to_bytes"):  # a JavaScript typed array, in Pyodide
        data = data.to_bytes()
    if hasattr(shape, "to_py"):
        shape = shape.to_py()
    if hasattr(meta, "to_py"):
        meta = meta.to_py()
    meta = dict(meta or {})
    if kind not in EXPORT_KINDS:
        raise ValueError(f"unknown export {kind!r}: one of {', '.join(EXPORT_KINDS)}")
    if array_type not in TYPED_ARRAYS:
        raise ValueError(f"an export's array cannot be a {array_type!r}: one of {', '.join(TYPED_ARRAYS)}")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 2:
        raise ValueError(f"{kind} needs a 2-dimensional shape, not {list(shape)}")
    array = np.frombuffer(bytes(data), dtype=TYPED_ARRAYS[array_type])
    if array.size != shape[0] * shape[1]:
        raise ValueError(f"{kind}: {array.size} values do not fill the shape {list(shape)}")
    function, dtype = EXPORT_KINDS[kind]
    array = array.reshape(shape)
    array = array != 0 if dtype is bool else array.astype(dtype)
    if kind == "map-png16":
        return exports.encode_map_png16(array, meta.get("metric", ""), meta.get("values", ""))
    if kind == "refs-csv":
        return exports.encode_references_csv(array, meta.get("labels") or [])
    return getattr(exports, function)(array)
