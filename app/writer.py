"""Write dataset ZIPs that the original IFeaLiD app reads.

Entries as the original creator writes them: STORED, overlay first, the PNGs,
metadata.json last.
"""
from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .format import (
    METADATA_NAME,
    OVERLAY_NAME,
    DatasetInfo,
    as_channel_axis,
    as_range,
    channel_axis_problem,
    hwc_to_layers,
    layers_as_bytes,
    png_name,
    png_slot,
    range_problem,
    value_dtype,
)
from .quantise import Quantised, check_feature_array, check_precision, quantise


def array_to_image(array: np.ndarray):
    """A Pillow image from an (H, W[, 1|3|4]) array: uint8 as is, floats in [0, 1] or 0…255 scaled."""
    from PIL import Image

    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array)


def flatten_to_rgb(image, keep_grey: bool = False):
    """RGB (or L when keep_grey) for JPEG and the models: alpha composited over black."""
    from PIL import Image

    if image.mode == "RGB" or (keep_grey and image.mode == "L"):
        return image
    if "A" in image.getbands() or image.mode == "P":
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (0, 0, 0))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def overlay_jpeg(overlay) -> tuple[bytes, tuple[int, int]]:
    """JPEG bytes for an overlay given as a path, bytes, a Pillow image or an (H, W[, 3|4]) array.

    A file that already is an RGB or greyscale JPEG is kept byte for byte; anything else is
    converted to RGB (alpha dropped: JPEG has none, which broke the original creator) and encoded.
    """
    from PIL import Image

    if isinstance(overlay, (str, os.PathLike)):
        try:
            overlay = Path(overlay).read_bytes()
        except OSError as exc:
            raise DatasetError(f"cannot read the overlay image {os.fspath(overlay)}: {exc.strerror}",
                               rule="overlay-format") from None
    if isinstance(overlay, (bytes, bytearray, memoryview)):
        data = bytes(overlay)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception:
            raise DatasetError("the overlay is not an image that can be read", rule="overlay-format") from None
        if image.format == "JPEG" and image.mode in ("RGB", "L"):
            return data, image.size
    elif isinstance(overlay, Image.Image):
        image = overlay
    else:
        array = np.asarray(overlay)
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise DatasetError(f"an overlay array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}",
                               rule="overlay-format")
        image = array_to_image(array)
    image = flatten_to_rgb(image, keep_grey=True)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue(), image.size


def encode_png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def write_quantised(target, values: np.ndarray, precision: int, *, name: str, overlay=None,
                    value_range=None, channel_axis=None) -> DatasetInfo:
    """Write (H, W, C) unsigned values that are already quantised to ``precision`` bits.

    ``value_range``: (lo, hi), the float range they were quantised from (true value
    lo + q / (2^P - 1) · (hi - lo)), written as metadata.json's "range"; pass it whenever it is
    known. Without it the dataset has stored values only, as the original's files.
    ``channel_axis``: what the channels are (README, "The dataset format"), written as
    metadata.json's "channel_axis"; only where the data says so.
    """
    precision = check_precision(precision)
    values = check_feature_array(values)
    if values.dtype != value_dtype(precision):
        if values.dtype.kind not in "ui" or values.min() < 0 or values.max() > (1 << precision) - 1:
            raise DatasetError(f"values must be unsigned {precision}-bit integers", rule="dtype")
        values = values.astype(value_dtype(precision))
    height, width, features = values.shape
    info = _checked_info(name, width, height, features, precision, value_range, channel_axis)
    jpeg = overlay_jpeg(overlay)[0] if overlay is not None else None
    return write_layers(target, info, hwc_to_layers(values, precision), jpeg)


def _checked_info(name, width, height, features, precision, value_range, channel_axis) -> DatasetInfo:
    if value_range is not None:
        if isinstance(value_range, np.ndarray):
            value_range = value_range.tolist()
        elif isinstance(value_range, (list, tuple)):
            value_range = [v.item() if isinstance(v, np.generic) else v for v in value_range]
        problem = range_problem(value_range)
        if problem is not None:
            raise DatasetError(f"the value range {problem[1]}, not {value_range!r}", rule=problem[0])
        value_range = as_range(value_range)
    if channel_axis is not None:
        problem = channel_axis_problem(channel_axis, features)
        if problem is not None:
            raise DatasetError(f"the channel axis {problem[1]}", rule=problem[0])
        channel_axis = as_channel_axis(channel_axis)
    if not isinstance(name, str) or not name:
        raise DatasetError("the dataset name must be a non-empty string", rule="field-type")
    return DatasetInfo(name=name, width=width, height=height, features=features, precision=precision,
                       overlay=False, range=value_range, channel_axis=channel_axis)


def _metadata_json(info: DatasetInfo) -> bytes:
    """metadata.json's bytes. A channel axis too long for a reader's metadata limit (thousands of
    long band names) loses its labels (where it has values), then its widths, then itself, with a
    warning: the file must stay readable."""
    from .reader import MAX_METADATA_BYTES

    meta = {k: v for k, v in info.to_metadata().items() if k != "channel_axis"}
    axis = info.channel_axis
    candidates = [axis]
    if axis is not None:
        if "labels" in axis and "values" in axis:
            candidates.append(axis := {k: v for k, v in axis.items() if k != "labels"})
        if "fwhm" in axis:
            candidates.append({k: v for k, v in axis.items() if k != "fwhm"})
        candidates.append(None)
    for axis in candidates:
        data = json.dumps({**meta, "channel_axis": axis} if axis else meta).encode()
        if len(data) <= MAX_METADATA_BYTES:
            break
    if axis != info.channel_axis:
        kept = "none of it" if axis is None else ", ".join(k for k in axis if k != "name")
        warnings.warn(f"the channel axis does not fit in metadata.json's {MAX_METADATA_BYTES // 1024} kB: "
                      f"kept {kept}", stacklevel=3)
    return data


def write_layers(target, info: DatasetInfo, layers: np.ndarray, jpeg: bytes | None = None) -> DatasetInfo:
    """Write an (L, H, W, 4) layer array (the layout the reader decodes into) as a dataset ZIP:
    STORED entries as the original creator writes them, overlay first, metadata.json last.
    ``info`` gives the name, range and channel axis; its ``overlay`` follows ``jpeg``."""
    import dataclasses

    info = dataclasses.replace(info, overlay=jpeg is not None)
    if layers.shape != info.layers_shape or layers.dtype != info.dtype:
        raise DatasetError(f"the layers are {layers.shape} {layers.dtype}, not {info.layers_shape} {info.dtype}",
                           rule="dtype")
    slots = layers_as_bytes(layers)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        if jpeg is not None:
            archive.writestr(OVERLAY_NAME, jpeg)
        for k in range(info.png_count):
            layer, start = png_slot(k, info.precision)
            archive.writestr(png_name(k), encode_png(slots[layer, :, :, start:start + 4]))
        archive.writestr(METADATA_NAME, _metadata_json(info))
    return info


def write_dataset(target, dataset) -> DatasetInfo:
    """Write a decoded or converted Dataset (its layers, info and overlay) as a dataset ZIP; a path
    is written beside and renamed, so a failure never leaves half a ZIP behind."""
    jpeg = overlay_jpeg(dataset.overlay_bytes)[0] if dataset.overlay_bytes is not None else None
    if isinstance(target, (str, os.PathLike)):
        tmp = Path(os.fspath(target) + ".part")
        try:
            info = write_layers(tmp, dataset.info, dataset.layers, jpeg)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return info
    return write_layers(target, dataset.info, dataset.layers, jpeg)


def default_name(path) -> str:
    """The name shown in the app: the output file's name without its .zip suffix."""
    base = Path(os.fspath(path)).name
    return base[:-4] if base.lower().endswith(".zip") else base


def to_hwc_array(array) -> np.ndarray:
    """Accept numpy (H, W, C) arrays, and torch tensors shaped (C, H, W) or (1, C, H, W)."""
    if hasattr(array, "detach") and hasattr(array, "cpu"):  # a torch tensor, without importing torch
        tensor = array.detach().cpu()
        if tensor.ndim == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.ndim != 3:
            raise DatasetError(f"a tensor must be (C, H, W) or (1, C, H, W), not {tuple(tensor.shape)}",
                               rule="ndim")
        return tensor.float().numpy().transpose(1, 2, 0)
    return np.asarray(array)


def save_dataset(array, path, precision: int = 8, overlay=None, name: str | None = None,
                 channel_axis: dict | None = None) -> Quantised:
    """Quantise an (H, W, C) float array (global min-max) and write it as a dataset ZIP.

    ``overlay``: an image path, JPEG/PNG bytes, a Pillow image or an array; ``name`` defaults to
    the file name without ``.zip``. Returns the quantisation (values, min, max, constant flag).
    The ZIP records [min, max] as metadata.json's "range" (a constant array: [v, v]), so
    ``load_dataset(path).as_float(true_values=True)`` gives the array back to within a
    quantisation step. ``channel_axis``: what the channels are, e.g. ``{"name": "wavelength",
    "unit": "nm", "values": [...]}`` (README, "The dataset format").
    """
    result = quantise(to_hwc_array(array), precision)
    target = path
    if isinstance(path, (str, os.PathLike)):
        if name is None:
            name = default_name(path)
        # Write beside the target and rename, so a failure never leaves half a ZIP behind.
        tmp = Path(os.fspath(path) + ".part")
        try:
            write_quantised(tmp, result.values, precision, name=name, overlay=overlay,
                            value_range=(result.minimum, result.maximum), channel_axis=channel_axis)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return result
    write_quantised(target, result.values, precision, name=name or "dataset", overlay=overlay,
                    value_range=(result.minimum, result.maximum), channel_axis=channel_axis)
    return result
