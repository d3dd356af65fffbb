"""Read and validate a dataset ZIP.

Every rule of the format is checked, in the original's order where it has
one, and everything that could cost memory is checked from the *declared*
sizes before a byte is inflated: the metadata's W×H×C against a memory budget,
each entry's declared size against what such an entry can need. zipfile never
inflates past an entry's declared size and checks its CRC, so a lying size
ends in a refusal, not a bomb.
"""
from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import DatasetError
from .format import (
    METADATA_NAME,
    OVERLAY_NAME,
    PRECISIONS,
    DatasetInfo,
    as_channel_axis,
    as_range,
    channel_axis_problem,
    layers_as_bytes,
    png_name,
    png_slot,
    range_problem,
)
from .units import format_bytes

if TYPE_CHECKING:  # numpy only where pixels are decoded: the Pyodide worker checks archives before numpy is up
    import numpy as np

    from .dataset import Dataset

DEFAULT_MEMORY_BUDGET = 2 * 1024 ** 3  # decoded bytes of the channel data
MAX_METADATA_BYTES = 64 * 1024
MAX_OVERLAY_BYTES = 64 * 1024 ** 2
MAX_OVERLAY_PIXELS = 64_000_000
MAX_NAME_LENGTH = 1000
MAX_JSON_DEPTH = 32  # metadata.json is a flat object; the deepest legitimate nesting is 2
REQUIRED_FIELDS = ("precision", "name", "height", "width", "features")  # the original's order
INTEGER_FIELDS = ("height", "width", "features", "precision")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
Progress = Callable[[int, int], None]


def _open_zip(source) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    try:
        return zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise DatasetError(
            f"This is not a readable ZIP archive (it may be truncated or not a ZIP at all): {exc}",
            rule="not-zip",
        ) from None
    except UnicodeDecodeError:
        raise DatasetError(
            "The ZIP archive has an entry name that is not valid UTF-8", rule="entry-name"
        ) from None
    except (OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DatasetError(f"The ZIP archive cannot be read: {exc}", rule="not-zip") from None


def _check_entries(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """Names are flat and unique, entries are plain, unencrypted, STORED or DEFLATE."""
    counts = Counter(info.filename for info in infos)
    for info in infos:
        name = info.filename
        shown = repr(name)
        if not name:  # found by tests/test_fuzz.py: zipfile's is_dir() fails on it
            raise DatasetError("the ZIP archive has an entry with an empty name", rule="entry-name", entry=name)
        if "\x00" in info.orig_filename:  # zipfile cuts names at NUL; the original name keeps it
            raise DatasetError(f"entry {shown} has a NUL character in its name", rule="entry-name", entry=name)
        if info.is_dir():
            raise DatasetError(
                f"entry {shown} is a folder: a dataset ZIP holds only files, with no folders",
                rule="folder-entry", entry=name,
            )
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise DatasetError(
                f"entry {shown} has an absolute path: entry names must be plain file names",
                rule="entry-name", entry=name,
            )
        if "/" in name or "\\" in name or name in (".", ".."):
            raise DatasetError(
                f"entry {shown} is inside a folder: entry names must be plain file names "
                f"(zip the files themselves, not the folder holding them)",
                rule="entry-name", entry=name,
            )
        if len(name) > MAX_NAME_LENGTH:
            raise DatasetError(f"entry name {name[:40]!r}… is too long", rule="entry-name", entry=name)
        if counts[name] > 1:
            raise DatasetError(f"entry {shown} appears {counts[name]} times", rule="duplicate-entry", entry=name)
        if info.flag_bits & 0x1:
            raise DatasetError(
                f"entry {shown} is encrypted: IFeaLiD cannot read password-protected ZIPs",
                rule="encrypted", entry=name,
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DatasetError(
                f"entry {shown} uses ZIP compression method {info.compress_type}; "
                f"only stored and deflate are supported",
                rule="compression", entry=name,
            )
    return {info.filename: info for info in infos}


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes, never inflating more than its declared size.

    ``archive.read(info)`` would not do: zipfile's read() without a size hands the whole
    compressed stream to one ``decompress(data, 2**31 - 1)``, so an entry that declares a
    few bytes but inflates to gigabytes (a zip bomb with a lying size) would be inflated in
    full before the size is enforced. ``read(n)`` inflates at most n bytes at a time, stops
    at the declared size and still checks the CRC over what it read.
    """
    try:
        with archive.open(info) as handle:
            data = handle.read(info.file_size)
        if len(data) != info.file_size:
            raise DatasetError(
                f"entry {info.filename!r} is damaged: it holds {len(data)} bytes but declares {info.file_size}",
                rule="damaged-entry", entry=info.filename,
            )
        return data
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"entry {info.filename!r} is damaged: {exc}", rule="damaged-entry",
                           entry=info.filename) from None
    except (zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise DatasetError(f"entry {info.filename!r} cannot be inflated: {exc}", rule="damaged-entry",
                           entry=info.filename) from None


def _as_int(value):
    """JSON integers, and floats with an integral value (JavaScript writers make 106.0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def nesting_depth(text: str, quotes: str = '"', opening: str = "[{", closing: str = "]}") -> int:
    """The deepest nesting of brackets in text, quoted text skipped (defaults: JSON's arrays and
    objects; app/arrays.py passes a Python literal's). Measured before a parser recurses into it."""
    depth = deepest = 0
    quote = None
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in quotes:
            quote = char
        elif char in opening:
            depth += 1
            deepest = max(deepest, depth)
        elif char in closing:
            depth -= 1
    return deepest


def parse_metadata(raw: bytes) -> DatasetInfo:
    """Validate metadata.json's content, in the original's order of checks."""
    entry = METADATA_NAME
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError("metadata.json is not UTF-8 text", rule="metadata-json", entry=entry) from None
    if nesting_depth(text) > MAX_JSON_DEPTH:
        # Refused before parsing: in Pyodide, json's C parser overflows the JavaScript stack long
        # before Python's recursion limit stops it (found by tests/corpus.py in the worker).
        raise DatasetError("metadata.json is nested too deeply to read", rule="metadata-json", entry=entry)
    try:
        meta = json.loads(text)
    except RecursionError:
        raise DatasetError("metadata.json is nested too deeply to read", rule="metadata-json", entry=entry) from None
    except ValueError as exc:
        raise DatasetError(f"metadata.json is not valid JSON: {exc}", rule="metadata-json", entry=entry) from None
    if not isinstance(meta, dict):
        raise DatasetError(
            f"metadata.json must hold a JSON object with the dataset's fields, not a {type(meta).__name__}",
            rule="metadata-object", entry=entry,
        )
    missing = [field for field in REQUIRED_FIELDS if field not in meta]
    if missing:
        raise DatasetError(
            "metadata.json lacks the field" + ("s " if len(missing) > 1 else " ")
            + ", ".join(repr(f) for f in missing),
            rule="missing-field", entry=entry,
        )
    numbers = {}
    for field in INTEGER_FIELDS:
        number = _as_int(meta[field])
        if number is None:
            raise DatasetError(
                f"metadata.json field {field!r} must be an integer, not {json.dumps(meta[field])[:60]}",
                rule="field-type", entry=entry,
            )
        numbers[field] = number
    for field in INTEGER_FIELDS:
        if numbers[field] <= 0:
            raise DatasetError(
                f"metadata.json field {field!r} must be greater than 0, not {numbers[field]}",
                rule="field-range", entry=entry,
            )
    if numbers["precision"] not in PRECISIONS:
        raise DatasetError(
            f"metadata.json field 'precision' must be 8, 16 or 32 bits, not {numbers['precision']}",
            rule="precision", entry=entry,
        )
    name = meta["name"]
    if not isinstance(name, str):
        raise DatasetError(
            f"metadata.json field 'name' must be a string, not {json.dumps(name)[:60]}",
            rule="field-type", entry=entry,
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DatasetError(
            f"metadata.json field 'name' is {len(name)} characters long, more than {MAX_NAME_LENGTH}",
            rule="field-range", entry=entry,
        )
    overlay = meta.get("overlay", False)
    if overlay is None:
        overlay = False
    if not isinstance(overlay, bool):
        raise DatasetError(
            f"metadata.json field 'overlay' must be true or false, not {json.dumps(overlay)[:60]}",
            rule="field-type", entry=entry,
        )
    value_range = meta.get("range")  # optional (this project's key); null counts as absent
    if value_range is not None:
        problem = range_problem(value_range)
        if problem is not None:
            rule, reason = problem
            raise DatasetError(
                f"metadata.json field 'range' {reason}, not {_shown(value_range)}",
                rule=rule, entry=entry,
            )
        value_range = as_range(value_range)
    channel_axis = meta.get("channel_axis")  # optional (this project's key); null counts as absent
    if channel_axis is not None:
        problem = channel_axis_problem(channel_axis, numbers["features"])
        if problem is not None:
            rule, reason = problem
            raise DatasetError(f"metadata.json field 'channel_axis' {reason}", rule=rule, entry=entry)
        channel_axis = as_channel_axis(channel_axis)
    return DatasetInfo(
        name=name,
        width=numbers["width"],
        height=numbers["height"],
        features=numbers["features"],
        precision=numbers["precision"],
        overlay=overlay,
        range=value_range,
        channel_axis=channel_axis,
    )


def _shown(value) -> str:
    """A metadata value as JSON for a message, at most 60 characters (NaN and Infinity as such)."""
    text = json.dumps(value, allow_nan=True)
    return text if len(text) <= 60 else text[:59] + "…"


def _max_png_bytes(info: DatasetInfo) -> int:
    """Generous upper bound on a W×H RGBA PNG's size: raw rows plus zlib and chunk overheads."""
    raw = info.height * (info.width * 4 + 1)
    return raw + raw // 100 + 1024 * 1024


def _png_index(name: str) -> int | None:
    """k for a name spelled exactly 'k.png' (decimal, not zero-padded), else None."""
    stem, dot, suffix = name.partition(".")
    if suffix != "png" or not stem.isdigit() or not stem.isascii() or (len(stem) > 1 and stem[0] == "0"):
        return None
    return int(stem)


def _check_entry_set(info: DatasetInfo, entries: dict[str, zipfile.ZipInfo]) -> None:
    # Work from the archive's entries, never from range(N): N comes from the metadata and may be absurd.
    others = set(entries) - {METADATA_NAME}
    if info.overlay:
        if OVERLAY_NAME not in entries:
            raise DatasetError(
                "metadata.json says overlay: true, but overlay.jpg is missing",
                rule="overlay-missing", entry=OVERLAY_NAME,
            )
        others.discard(OVERLAY_NAME)
    elif OVERLAY_NAME in entries:
        raise DatasetError(
            "overlay.jpg is present, but metadata.json says overlay: false (or does not mention it)",
            rule="overlay-unexpected", entry=OVERLAY_NAME,
        )
    count = info.png_count
    what = (f"{count} PNG files (0.png … {count - 1}.png) for "
            f"{info.features} channels at {info.precision} bit")
    present = set()
    extra = []
    for name in others:
        k = _png_index(name)
        if k is None or k >= count:
            extra.append(name)
        else:
            present.add(k)
    if extra:
        extra.sort(key=_natural)
        raise DatasetError(
            f"unexpected entr{'ies' if len(extra) > 1 else 'y'} {_list(extra)}: the dataset should hold {what}",
            rule="unexpected-entry", entry=extra[0],
        )
    if len(present) < count:
        first = []
        for k in range(count):  # stops after a few: every entry below count is present or missing
            if k not in present:
                first.append(png_name(k))
                if len(first) == 5:
                    break
        missing = count - len(present)
        shown = ", ".join(repr(n) for n in first)
        more = f" and {missing - len(first)} more" if missing > len(first) else ""
        raise DatasetError(
            f"missing {shown}{more}: the dataset should hold {what}",
            rule="missing-png", entry=first[0],
        )


def _natural(name: str):
    stem = name.split(".", 1)[0]
    # isdecimal() and ASCII: found by tests/test_fuzz.py, '²'.isdigit() is true but int('²') fails.
    return (0, int(stem), name) if stem.isascii() and stem.isdecimal() else (1, 0, name)


def _list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _describe(info: DatasetInfo) -> str:
    """info.describe(), with absurd numbers (1e300 is an integral float) shortened."""
    def n(value: int) -> str:
        return str(value) if value < 10 ** 15 else f"{value:.3g}"

    return f"{n(info.height)}×{n(info.width)}×{n(info.features)} (H×W×C) @ {info.precision} bit"


def _check_budget_declared(info: DatasetInfo, budget: int) -> None:
    if info.decoded_bytes > budget:
        raise DatasetError(
            f"the dataset declares {_describe(info)}, which needs {format_bytes(info.decoded_bytes)} "
            f"once decoded, more than the memory budget of {format_bytes(budget)}",
            rule="too-large", entry=METADATA_NAME,
        )


def _check_entry_sizes(info: DatasetInfo, entries: dict[str, zipfile.ZipInfo]) -> None:
    limit = _max_png_bytes(info)
    for k in range(info.png_count):
        entry = entries[png_name(k)]
        if entry.file_size > limit:
            raise DatasetError(
                f"entry {entry.filename!r} declares {format_bytes(entry.file_size)}, more than any "
                f"{info.width}×{info.height} RGBA PNG can need ({format_bytes(limit)})",
                rule="entry-too-large", entry=entry.filename,
            )
    if info.overlay and entries[OVERLAY_NAME].file_size > MAX_OVERLAY_BYTES:
        raise DatasetError(
            f"overlay.jpg declares {format_bytes(entries[OVERLAY_NAME].file_size)}, more than the "
            f"limit of {format_bytes(MAX_OVERLAY_BYTES)}",
            rule="entry-too-large", entry=OVERLAY_NAME,
        )


def check_png_header(data: bytes, name: str, width: int, height: int) -> None:
    """The PNG signature and IHDR: W×H, 8 bits per sample, RGBA. Read before decoding."""
    if not data.startswith(PNG_SIGNATURE):
        raise DatasetError(f"entry {name!r} is not a PNG image", rule="png-format", entry=name)
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise DatasetError(f"entry {name!r} is a damaged PNG (no header)", rule="png-format", entry=name)
    png_width, png_height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if (png_width, png_height) != (width, height):
        raise DatasetError(
            f"entry {name!r} is {png_width}×{png_height} pixels, but metadata.json declares "
            f"{width}×{height} (width×height)",
            rule="png-size", entry=name,
        )
    kinds = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale with alpha", 6: "RGBA"}
    if colour != 6 or depth != 8:
        kind = kinds.get(colour, f"colour type {colour}")
        raise DatasetError(
            f"entry {name!r} is a {depth}-bit {kind} PNG; dataset PNGs must be 8-bit RGBA",
            rule="png-mode", entry=name,
        )


def decode_png(data: bytes, name: str, width: int, height: int) -> np.ndarray:
    """(H, W, 4) uint8 RGBA, exactly as stored: no premultiplied alpha, no colour conversion."""
    import numpy as np
    from PIL import Image

    check_png_header(data, name, width, height)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.mode != "RGBA":
                raise DatasetError(f"entry {name!r} decodes as {image.mode}, not RGBA", rule="png-mode", entry=name)
            pixels = np.asarray(image)
    except DatasetError:
        raise
    except Image.DecompressionBombError:
        raise DatasetError(
            f"entry {name!r} is {width}×{height} pixels, more than the image decoder accepts "
            f"({2 * Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels)", rule="too-large", entry=name,
        ) from None
    except Image.UnidentifiedImageError:
        # Found by tests/test_fuzz.py: Pillow's message quotes the BytesIO object's address.
        raise DatasetError(f"entry {name!r} is a damaged PNG: its chunks cannot be read", rule="png-damaged",
                           entry=name) from None
    except Exception as exc:  # Pillow raises many types for damaged streams
        raise DatasetError(f"entry {name!r} is a damaged PNG: {exc}", rule="png-damaged", entry=name) from None
    if pixels.shape != (height, width, 4):
        raise DatasetError(f"entry {name!r} decodes to shape {pixels.shape}", rule="png-size", entry=name)
    return pixels


def check_overlay(data: bytes) -> tuple[int, int]:
    """The overlay must be an image of sensible size; returns (width, height). Header only."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below
            with Image.open(io.BytesIO(data)) as image:
                size = image.size
                fmt = image.format
    except Image.DecompressionBombError:
        # Pillow refuses headers declaring more than twice its own pixel limit before we see the size.
        raise DatasetError(
            f"overlay.jpg declares an image of more than {2 * Image.MAX_IMAGE_PIXELS // 1_000_000} "
            f"megapixels, more than the limit of {MAX_OVERLAY_PIXELS // 1_000_000} megapixels",
            rule="overlay-too-large", entry=OVERLAY_NAME,
        ) from None
    except Exception:
        raise DatasetError("overlay.jpg is not an image that can be read", rule="overlay-format",
                           entry=OVERLAY_NAME) from None
    if fmt not in ("JPEG", "PNG", "GIF", "WEBP", "BMP"):
        raise DatasetError(f"overlay.jpg is a {fmt} image, which browsers cannot show",
                           rule="overlay-format", entry=OVERLAY_NAME)
    if size[0] * size[1] > MAX_OVERLAY_PIXELS:
        raise DatasetError(
            f"overlay.jpg is {size[0]}×{size[1]} pixels, more than the limit of "
            f"{MAX_OVERLAY_PIXELS // 1_000_000} megapixels",
            rule="overlay-too-large", entry=OVERLAY_NAME,
        )
    return size


def read_info(source) -> DatasetInfo:
    """Only validate the archive's structure and metadata (nothing inflated but metadata.json)."""
    with _open_zip(source) as archive:
        entries = _check_entries(archive.infolist())
        return _read_metadata(archive, entries)


def _read_metadata(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> DatasetInfo:
    meta_info = entries.get(METADATA_NAME)
    if meta_info is None:
        raise DatasetError("metadata.json is missing: this ZIP is not an IFeaLiD dataset",
                           rule="metadata-missing", entry=METADATA_NAME)
    if meta_info.file_size > MAX_METADATA_BYTES:
        raise DatasetError(
            f"metadata.json declares {format_bytes(meta_info.file_size)}, more than the limit of "
            f"{format_bytes(MAX_METADATA_BYTES)}",
            rule="metadata-too-large", entry=METADATA_NAME,
        )
    return parse_metadata(_read_entry(archive, meta_info))


@dataclass
class CheckedArchive:
    """What check_archive found: the metadata, the entries by name, the overlay (bytes, size)."""
    info: DatasetInfo
    entries: dict[str, zipfile.ZipInfo]
    overlay_bytes: bytes | None
    overlay_size: tuple[int, int] | None


def check_archive(archive: zipfile.ZipFile, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                  overlay: bool = True) -> CheckedArchive:
    """Every rule of the format that needs no pixel decoded: the entries, metadata.json, the
    memory budget from the declared size, the set and sizes of the PNGs, the overlay (its
    header, unless ``overlay`` is false: check_overlay_entry then); in read_dataset's order,
    which checks the PNGs next as it decodes them. Needs neither numpy nor, without an overlay,
    Pillow."""
    entries = _check_entries(archive.infolist())
    info = _read_metadata(archive, entries)
    _check_budget_declared(info, memory_budget)
    _check_entry_set(info, entries)
    _check_entry_sizes(info, entries)
    checked = CheckedArchive(info, entries, None, None)
    return check_overlay_entry(archive, checked) if overlay else checked


def check_overlay_entry(archive: zipfile.ZipFile, checked: CheckedArchive) -> CheckedArchive:
    """check_archive's last step: the overlay read and its header checked (with Pillow)."""
    if checked.info.overlay:
        checked.overlay_bytes = _read_entry(archive, checked.entries[OVERLAY_NAME])
        checked.overlay_size = check_overlay(checked.overlay_bytes)
    return checked


def read_dataset(source, *, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 progress: Progress | None = None) -> Dataset:
    """Read and validate a dataset ZIP (a path, bytes or a binary file object).

    Raises DatasetError naming the entry and the rule for anything wrong.
    ``progress(done, total)`` is called as PNGs are decoded.
    """
    import numpy as np

    from .dataset import Dataset

    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                return read_dataset(handle, memory_budget=memory_budget, progress=progress)
        except FileNotFoundError:
            raise DatasetError(f"no such file: {os.fspath(source)}", rule="not-found") from None
    with _open_zip(source) as archive:
        checked = check_archive(archive, memory_budget)
        info, entries = checked.info, checked.entries
        layers = np.zeros(info.layers_shape, dtype=info.dtype)
        slots = layers_as_bytes(layers)
        total = info.png_count
        for k in range(total):
            name = png_name(k)
            pixels = decode_png(_read_entry(archive, entries[name]), name, info.width, info.height)
            layer, start = png_slot(k, info.precision)
            slots[layer, :, :, start:start + 4] = pixels
            if progress is not None:
                progress(k + 1, total)
    return Dataset(info=info, layers=layers, overlay_bytes=checked.overlay_bytes, overlay_size=checked.overlay_size)
