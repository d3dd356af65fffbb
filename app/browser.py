"""What the Pyodide worker calls: decode a dataset ZIP into the arrays the GPU uploads.

Kept free of any JavaScript so it runs and is tested in CPython too; the worker
(pyworker/worker.js) only moves bytes in and typed arrays out.
"""
from __future__ import annotations

import io
import json
import math
import time

import numpy as np

from .analysis import channel_stats
from .errors import DatasetError
from .inputs import InputFile, convert_source, from_bytes, identify
from .quickopen import BROWSER_MEMORY_BUDGET, colormaps, is_js_array, page_info, runtime_versions, stream_of  # noqa: F401 - re-exported
from .reader import read_dataset


def _dataset_message(dataset, stats, started: float) -> dict:
    """A decoded dataset as the worker's DATASET message carries it (pyworker/protocol.js)."""
    return {
        "info": page_info(dataset.info),
        "layers": dataset.layers,
        "stats": stats,
        "overlay": dataset.overlay_bytes,
        "overlaySize": list(dataset.overlay_size) if dataset.overlay_size else None,
        "decodeMs": (time.perf_counter() - started) * 1000.0,
    }


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
    return _dataset_message(dataset, stats, started)


def _input_file(name: str, data):
    """An inputs.InputFile over bytes, or (in Pyodide) over a JavaScript Uint8Array without copying it."""
    import contextlib

    if is_js_array(data):
        return InputFile(str(name), int(data.length), lambda: contextlib.closing(stream_of(data)))
    return from_bytes(str(name), data)


def _whole(data) -> bytes:
    return data.to_bytes() if hasattr(data, "to_bytes") else bytes(data)


def open_for_worker(names, buffers, options=None, progress=None, memory_budget: int = BROWSER_MEMORY_BUDGET) -> dict:
    """Open what the user gave (the worker's DECODE, pyworker/protocol.js): one or more files,
    told apart by app/inputs.py. A dataset ZIP is decoded (decode_for_worker); an .npy, .npz or
    ENVI cube is converted with ``options`` (precision 8 | 16 | 32, layout 'hwc' | 'chw' | None,
    key: an .npz's array), the way `ifealid create` converts it.

    Returns {"error": {...}}; or {"choose": source} when ``options["ask"]`` is true (the page
    shows its dialog first) or a choice is missing (an .npz with several arrays), where source
    describes the file (app/inputs.py Source.describe); or decode_for_worker's result with
    "notes" (sentences for the page: masked values, the layout read, the overlay's bands) and
    "source" (None for a dataset ZIP). ``progress(stage, done, total)``: stage 'decode' (PNGs),
    'range' and 'convert' (bytes of the data read in each of the two passes)."""
    if hasattr(names, "to_py"):
        names = names.to_py()
    if hasattr(options, "to_py"):
        options = options.to_py()
    options = dict(options or {})
    buffers = list(buffers)
    started = time.perf_counter()
    try:
        files = [_input_file(n, b) for n, b in zip(names, buffers)]
        source = identify(files)
        if source is None:  # a dataset ZIP
            result = decode_for_worker(_whole(buffers[0]), None if progress is None else
                                       (lambda done, total: progress("decode", done, total)), memory_budget)
            if "error" not in result:
                result.update(notes=[], source=None)
            return result
        if options.get("ask") or source.required(options):
            return {"choose": source.describe(options)}
        converted = convert_source(source, options, budget=memory_budget, progress=progress)
        dataset = converted.dataset
        stats = channel_stats(dataset.layers, dataset.info.features)
    except DatasetError as exc:
        return {"error": exc.to_dict()}
    except MemoryError:
        return {"error": {
            "message": "the conversion needs more memory than the browser gives the Python worker; "
                       "try a lower precision or a smaller array",
            "rule": "out-of-memory", "entry": None,
        }}
    return {
        **_dataset_message(dataset, stats, started),
        "notes": converted.notes,
        "source": source.describe(options),
    }


def encode_dataset_for_worker(info, data, overlay=None) -> bytes:
    """A dataset ZIP of what the page shows ("Save as dataset ZIP"; the worker's ENCODE_DATASET):
    ``info`` as DATASET's info (name, width, height, features, precision, range, channel_axis),
    checked by the reader's own rules; ``data``: the (L, H, W, 4) layers' bytes; ``overlay``: the
    overlay image's bytes or None. Written by app/writer.py as `ifealid create` writes."""
    from .reader import parse_metadata
    from .writer import overlay_jpeg, write_layers

    if hasattr(info, "to_py"):
        info = info.to_py()
    meta = {k: info.get(k) for k in ("name", "width", "height", "features", "precision", "range", "channel_axis")}
    meta["overlay"] = False
    dataset_info = parse_metadata(json.dumps({k: v for k, v in meta.items() if v is not None}).encode())
    layers = np.frombuffer(_whole(data), dtype=dataset_info.dtype)
    if layers.size != int(np.prod(dataset_info.layers_shape)):
        raise ValueError(f"{layers.size} values do not fill the layers {list(dataset_info.layers_shape)}")
    jpeg = overlay_jpeg(_whole(overlay))[0] if overlay is not None else None
    out = io.BytesIO()
    write_layers(out, dataset_info, layers.reshape(dataset_info.layers_shape), jpeg)
    return out.getvalue()


# What the page may ask the worker to encode (app/exports.py), by the names glue/ui/exports.js
# uses: kind → (encoder, the dtype the array is converted to).
EXPORT_KINDS = {
    "map-npy": ("encode_map_npy", np.float32),
    "map-png16": ("encode_map_png16", np.float32),
    "mask-png": ("encode_mask_png", bool),
    "mask-npy": ("encode_mask_npy", bool),
    "refs-csv": ("encode_references_csv", np.float64),
    "refs-npy": ("encode_references_npy", np.float64),
    "pca-npy": ("encode_pca_npy", np.float32),
    "pca-png": ("encode_pca_png", np.float64),
}
# The shapes each kind takes: (H, W), and the PCA's (H, W, k) scores and (H, W, 3) colours.
EXPORT_DIMENSIONS = {"pca-npy": (3,), "pca-png": (2, 3)}
# JavaScript typed arrays by constructor name → numpy dtypes (little-endian, as the page's memory).
TYPED_ARRAYS = {
    "Float32Array": "<f4", "Float64Array": "<f8", "Uint8Array": "u1", "Uint8ClampedArray": "u1",
    "Int8Array": "i1", "Uint16Array": "<u2", "Int16Array": "<i2", "Uint32Array": "<u4", "Int32Array": "<i4",
}


def encode_for_worker(kind: str, data, array_type: str, shape, meta=None) -> bytes:
    """An export file's bytes from an array the page sends (the worker's ENCODE, pyworker/protocol.js).

    ``kind``: map-npy, map-png16, mask-png, mask-npy, refs-csv, refs-npy, pca-npy, pca-png
    (EXPORT_KINDS); ``data``:
    the typed array's bytes (a JavaScript Uint8Array over them in Pyodide); ``array_type``: its
    constructor's name (Float32Array for maps, Uint8Array for masks, where any non-zero byte is
    inside, Float64Array for reference vectors and PCA colours); ``shape``: [H, W] or [C, K], the
    PCA's [H, W, k]; ``meta``: metric and values (map-png16), labels (refs-csv), components,
    values, fit, scale, explained and cmap (pca-png). Raises ValueError for anything it cannot
    encode."""
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
    dimensions = EXPORT_DIMENSIONS.get(kind, (2,))
    if len(shape) not in dimensions or min(shape) < 1:
        raise ValueError(f"{kind} needs a {' or '.join(map(str, dimensions))}-dimensional shape, not {list(shape)}")
    array = np.frombuffer(bytes(data), dtype=TYPED_ARRAYS[array_type])
    if array.size != math.prod(shape):
        raise ValueError(f"{kind}: {array.size} values do not fill the shape {list(shape)}")
    function, dtype = EXPORT_KINDS[kind]
    array = array.reshape(shape)
    array = array != 0 if dtype is bool else array.astype(dtype)
    if kind == "map-png16":
        return exports.encode_map_png16(array, meta.get("metric", ""), meta.get("values", ""))
    if kind == "refs-csv":
        return exports.encode_references_csv(array, meta.get("labels") or [])
    if kind == "pca-png":
        keys = ("components", "values", "fit", "scale", "explained", "cmap")
        return exports.encode_pca_png(array, **{k: meta[k] for k in keys if meta.get(k) is not None})
    return getattr(exports, function)(array)
