"""A 3-D array lying in a file (an .npy's data, an ENVI cube), quantised into a dataset.

The array is never read whole: it is read in blocks of at most BLOCK_VALUES values, twice (once
for the range, once to quantise), straight from the file, a ZIP member or (in the page's worker)
the JavaScript buffer. So converting needs no float copy of the whole array, only one block's,
beside the (L, H, W, 4) result; what the result needs is checked against the memory budget
before a byte is read.

Quantisation is `ifealid create`'s (app/quantise.py: one global min and max, in float64, in the
same order of operations), so a finite array gives bit for bit the values quantise() gives.
Values that cannot be quantised are *masked*: NaN, ±inf and an ENVI header's `data ignore value`
are left out of the min and max and stored as 0 (the range's low end); the count is reported.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .dataset import Dataset
from .errors import DatasetError
from .format import DatasetInfo, layer_count, max_value, value_dtype
from .units import format_bytes

BLOCK_VALUES = 4 * 1024 * 1024  # values per block: 32 MB as float64
Progress = Callable[[str, int, int], None]  # (stage: 'range' | 'convert', done, total) in bytes
Opener = Callable[[], contextlib.AbstractContextManager]  # a fresh readable binary stream


@dataclass
class Cube:
    """Where the array lies and how to read it.

    ``storage``: the shape in which the values follow each other in the file (C order);
    ``axes``: which output axis each storage axis is ('h', 'w' or 'c'), e.g. 'chw' for an ENVI
    BSQ cube or a (C, H, W) array; ``dtype`` carries the byte order. ``scale``: stored values are
    divided by it (ENVI's reflectance scale factor); ``ignore``: the stored value meaning "no
    data". ``overlay_bands``: channels (0-based) for the overlay's R, G, B (or one, grey), and
    ``overlay_rule`` says how they were chosen.
    """

    name: str
    open: Opener
    offset: int
    dtype: np.dtype
    storage: tuple[int, int, int]
    axes: str
    scale: float | None = None
    ignore: float | None = None
    channel_axis: dict | None = None
    overlay_bands: tuple[int, ...] | None = None
    overlay_rule: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C)."""
        size = dict(zip(self.axes, self.storage))
        return size["h"], size["w"], size["c"]

    @property
    def data_bytes(self) -> int:
        return int(np.prod(self.storage, dtype=object)) * self.dtype.itemsize


def decoded_bytes(shape: tuple[int, int, int], precision: int) -> int:
    height, width, features = shape
    return layer_count(features) * height * width * 4 * (precision // 8)


def check_budget(cube: Cube, precision: int, budget: int, entry: str | None = None) -> None:
    """Refuse from the declared sizes, before reading: the layers the page uploads must fit."""
    need = decoded_bytes(cube.shape, precision)
    if need > budget:
        height, width, features = cube.shape
        raise DatasetError(
            f"{cube.name} is {height}×{width}×{features} (H×W×C), which needs {format_bytes(need)} at "
            f"{precision} bit, more than the memory budget of {format_bytes(budget)}",
            rule="too-large", entry=entry)


def _blocks(cube: Cube):
    """(i0, i1, j0, j1) storage ranges of the blocks, in file order: whole rows of storage axis 0
    where they fit, else parts of one row (never less than one line of storage axis 2)."""
    s0, s1, s2 = cube.storage
    row = s1 * s2
    if row <= BLOCK_VALUES:
        step = max(1, BLOCK_VALUES // max(row, 1))
        for i0 in range(0, s0, step):
            yield i0, min(s0, i0 + step), 0, s1
    else:
        step = max(1, BLOCK_VALUES // max(s2, 1))
        for i0 in range(s0):
            for j0 in range(0, s1, step):
                yield i0, i0 + 1, j0, min(s1, j0 + step)


def _read_exact(stream: BinaryIO, count: int, cube: Cube, at: int) -> np.ndarray:
    buffer = np.empty(count, dtype=np.uint8)
    view = memoryview(buffer)
    got = 0
    try:
        while got < count:
            n = stream.readinto(view[got:])
            if not n:
                break
            got += n
    except DatasetError:
        raise
    except Exception as exc:  # a damaged ZIP member (bad CRC, broken deflate stream), an I/O error
        raise DatasetError(f"{cube.name}: the data cannot be read: {exc}", rule="damaged-entry") from None
    if got < count:
        raise DatasetError(
            f"{cube.name}: the data ends after {format_bytes(at + got)}, but {format_bytes(cube.offset + cube.data_bytes)} "
            f"are declared", rule="data-too-short")
    return buffer


def iter_blocks(cube: Cube, stage: str = "", progress: Progress | None = None):
    """Yield ((i0, i1), (j0, j1), values) over the whole cube in file order; values is a
    (i1 - i0, j1 - j0, s2) array of the stored dtype."""
    s2 = cube.storage[2]
    item = cube.dtype.itemsize
    total = cube.data_bytes
    done = 0
    with cube.open() as stream:
        _skip(stream, cube.offset, cube)
        for i0, i1, j0, j1 in _blocks(cube):
            count = (i1 - i0) * (j1 - j0) * s2
            raw = _read_exact(stream, count * item, cube, cube.offset + done)
            done += count * item
            yield (i0, i1), (j0, j1), raw.view(cube.dtype).reshape(i1 - i0, j1 - j0, s2)
            if progress is not None:
                progress(stage, done, total)


def _skip(stream: BinaryIO, offset: int, cube: Cube) -> None:
    """To the data's start: a seek where the stream allows it, else read past the header."""
    if not offset:
        return
    try:
        if stream.seekable():
            stream.seek(offset)
            return
    except (OSError, io.UnsupportedOperation):
        pass
    remaining = offset
    while remaining:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            raise DatasetError(f"{cube.name}: the data ends inside its {offset}-byte header offset",
                               rule="data-too-short")
        remaining -= len(chunk)


def _masked(values: np.ndarray, cube: Cube) -> np.ndarray | None:
    """Where values cannot be quantised (NaN, ±inf, the ignore value), or None where none can be."""
    bad = None
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
    if cube.ignore is not None:
        hits = values == cube.ignore
        bad = hits if bad is None else bad | hits
    return bad


@dataclass
class Converted:
    dataset: Dataset
    masked: int        # values left out of the range and stored as 0
    constant: bool     # one value everywhere: stored as zeros
    notes: list[str]


def value_range(cube: Cube, progress: Progress | None = None) -> tuple[float, float, int]:
    """(lo, hi, masked): the min and max of the values that are not masked, after the scale."""
    lo, hi, masked = np.inf, -np.inf, 0
    for _, _, raw in iter_blocks(cube, "range", progress):
        bad = _masked(raw, cube)
        if bad is not None and bad.any():
            masked += int(np.count_nonzero(bad))
            raw = raw[~bad]
            if not raw.size:
                continue
        lo = min(lo, float(raw.min()))
        hi = max(hi, float(raw.max()))
    if not np.isfinite(lo):
        raise DatasetError(
            f"{cube.name}: every value is NaN, ±inf" + (f" or the data ignore value {cube.ignore:g}" if cube.ignore is not None else "")
            + ": there is nothing to show", rule="no-data")
    if cube.scale is not None:
        # Dividing by a positive constant keeps the order: the min of the scaled values is the
        # scaled min, bit for bit (what quantise() of the scaled array would find).
        lo, hi = lo / cube.scale, hi / cube.scale
    return lo, hi, masked


def convert(cube: Cube, precision: int = 8, *, budget: int, progress: Progress | None = None,
            overlay: bool = True) -> Converted:
    """Quantise the cube into a Dataset (layers, info with range and channel axis, overlay from
    the overlay bands), reading it twice in blocks."""
    from .quantise import check_precision

    precision = check_precision(precision)
    check_budget(cube, precision, budget)
    height, width, features = cube.shape
    lo, hi, masked = value_range(cube, progress)
    top = max_value(precision)
    span = hi - lo
    layers = np.zeros((layer_count(features), height, width, 4), dtype=value_dtype(precision))
    bands = cube.overlay_bands if overlay else None
    picture = np.zeros((height, width, len(bands)), dtype=np.float32) if bands else None
    to_output = [cube.axes.index(a) for a in "hwc"]
    for (i0, i1), (j0, j1), raw in iter_blocks(cube, "convert", progress):
        values = raw.astype(np.float64)
        if cube.scale is not None:
            values /= cube.scale
        bad = _masked(raw, cube)
        ranges = {cube.axes[0]: slice(i0, i1), cube.axes[1]: slice(j0, j1), cube.axes[2]: slice(None)}
        block = values.transpose(to_output)  # (h, w, c) of this block, a view
        c0 = ranges["c"].start or 0
        if picture is not None:
            for n, band in enumerate(bands):
                if c0 <= band < c0 + block.shape[2]:
                    part = block[:, :, band - c0].astype(np.float32)
                    if bad is not None:
                        part[bad.transpose(to_output)[:, :, band - c0]] = np.nan
                    picture[ranges["h"], ranges["w"], n] = part
        if span > 0:
            values -= lo  # quantise()'s order of operations, so the values match bit for bit
            values /= span
            values *= top
            np.rint(values, out=values)
            np.clip(values, 0, top, out=values)
        else:
            values[...] = 0
        if bad is not None:
            values[bad] = 0
        q = values.astype(layers.dtype).transpose(to_output)
        for c in range(q.shape[2]):
            k = c0 + c
            layers[k // 4, ranges["h"], ranges["w"], k % 4] = q[:, :, c]
    notes = list(cube.notes)
    if masked:
        what = "NaN or ±inf" + (f" or the data ignore value {cube.ignore:g}" if cube.ignore is not None else "")
        notes.append(f"{masked} of {height * width * features} values ({what}) were left out of the range and "
                     f"stored as 0")
    if span == 0:
        notes.append(f"{cube.name} is constant ({lo!r} everywhere): stored as zeros")
    jpeg = size = None
    if picture is not None:
        from .writer import overlay_jpeg

        jpeg, size = overlay_jpeg(overlay_picture(picture))
        if cube.overlay_rule:
            notes.append(cube.overlay_rule)
    info = DatasetInfo(name=cube.name, width=width, height=height, features=features, precision=precision,
                       overlay=jpeg is not None, range=(lo, hi), channel_axis=cube.channel_axis)
    dataset = Dataset(info=info, layers=layers, overlay_bytes=jpeg, overlay_size=size)
    return Converted(dataset=dataset, masked=masked, constant=span == 0, notes=notes)


def overlay_picture(bands: np.ndarray) -> np.ndarray:
    """(H, W, 3 or 1) float bands → uint8 RGB or grey: each band stretched linearly from its 2nd to
    its 98th percentile (so a few bright pixels do not darken the rest); NaN (masked) is black."""
    out = np.zeros(bands.shape, dtype=np.uint8)
    for n in range(bands.shape[2]):
        band = bands[:, :, n]
        finite = band[np.isfinite(band)]
        if not finite.size:
            continue
        low, high = np.percentile(finite, [2, 98])
        if high <= low:
            high = low + 1
        scaled = (np.nan_to_num(band, nan=low) - low) / (high - low) * 255
        out[:, :, n] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        out[:, :, n][~np.isfinite(band)] = 0
    return out[:, :, 0] if out.shape[2] == 1 else out


def spread_bands(features: int) -> tuple[int, ...]:
    """Three channels spread over the range, for an overlay when the data names none: at 5/6, 1/2
    and 1/6 of it (the longest wavelengths as red); one channel (grey) for fewer than 3."""
    if features < 3:
        return (features // 2,)
    last = features - 1
    return round(last * 5 / 6), round(last / 2), round(last / 6)


def read_array(cube: Cube) -> np.ndarray:
    """The whole cube as an (H, W, C) array of its stored type and byte order, unscaled and
    unmasked: for small cubes, tests and notebooks (convert() never holds this)."""
    height, width, features = cube.shape
    out = np.empty(cube.storage, dtype=cube.dtype)
    for (i0, i1), (j0, j1), raw in iter_blocks(cube):
        out[i0:i1, j0:j1] = raw
    return out.transpose([cube.axes.index(a) for a in "hwc"])
