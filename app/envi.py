"""ENVI cubes (a text header `.hdr` beside a raw data file) as dataset sources.

The header is hostile input: it is parsed within a size limit, every key this reader uses is
checked (missing, not a number, out of range, contradicting the others or the data file's size)
and refused with a message naming the key. Keys used (README, "Opening datasets"):

* required: `samples`, `lines`, `bands`, `data type` (1, 2, 3, 4, 5, 12, 13, 14, 15: uint8, int16,
  int32, float32, float64, uint16, uint32, int64, uint64; 6 and 9 are complex, refused),
  `interleave` (bsq, bil, bip; may be left out for one band);
* optional: `header offset` (bytes before the data, default 0), `byte order` (0 little-endian,
  1 big-endian; default 0, said in a note where it matters), `data ignore value` (masked: left
  out of the range and stored as 0), `reflectance scale factor` (the stored values are divided
  by it, so the range is in reflectance), `wavelength` with `wavelength units`, `fwhm` and
  `band names` (the channel axis), `default bands` (the overlay's R, G, B, 1-based; one band:
  grey), `file type` (a spectral library is refused: it is not an image).

Without `default bands` the overlay is natural colour where the wavelengths (in nm or µm) cover
460-640 nm: the bands nearest 640, 550 and 460 nm; otherwise three bands spread over the range
(at 5/6, 1/2 and 1/6 of it). Unknown keys are ignored.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .cube import Cube, spread_bands
from .errors import DatasetError
from .units import format_bytes

MAX_HEADER_BYTES = 4 * 1024 * 1024  # a header with thousands of band names stays far below
MAX_SIDE = 1 << 31
DATA_TYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
COMPLEX_TYPES = {6: "complex64", 9: "complex128"}
INTERLEAVES = {"bsq": "chw", "bil": "hcw", "bip": "hwc"}  # storage axes of each interleave
UNITS = {"nanometers": "nm", "nanometer": "nm", "nm": "nm", "micrometers": "µm", "micrometer": "µm",
         "microns": "µm", "micron": "µm", "um": "µm", "µm": "µm", "μm": "µm", "millimeters": "mm", "mm": "mm",
         "centimeters": "cm", "meters": "m", "wavenumber": "cm⁻¹", "cm-1": "cm⁻¹", "ghz": "GHz", "mhz": "MHz"}
NATURAL_COLOUR_NM = (640.0, 550.0, 460.0)
TO_NM = {"nm": 1.0, "µm": 1000.0}


@dataclass
class Header:
    """A parsed header: keys (lower case, spaces collapsed) → a string or a list of strings."""

    name: str
    fields: dict
    notes: list

    def error(self, message: str, rule: str = "envi-header") -> DatasetError:
        return DatasetError(f"{self.name}: {message}", rule=rule, entry=self.name)


def _decode(raw: bytes, name: str, notes: list) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Headers written on old systems are often Latin-1 (µm, °); binary data is not a header.
        if re.search(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]", raw):
            where = raw[:exc.start].count(b"\n") + 1
            raise DatasetError(f"{name}: this is not a text file (binary byte 0x{raw[exc.start]:02x} on line {where}), "
                               "so it cannot be an ENVI header", rule="envi-header", entry=name) from None
        notes.append(f"{name} is not UTF-8 text: read as Latin-1")
        return raw.decode("latin-1")


def parse_header(raw: bytes, name: str) -> Header:
    """Key = value lines after a first line "ENVI"; a value in braces may span lines; ';' starts a
    comment line. Nested braces, an unclosed brace and a key given twice are refused."""
    if len(raw) > MAX_HEADER_BYTES:
        raise DatasetError(f"{name}: the header is {format_bytes(len(raw))}, more than the limit of "
                           f"{format_bytes(MAX_HEADER_BYTES)}", rule="envi-header", entry=name)
    notes: list = []
    text = _decode(raw, name, notes)
    if not text.lstrip().startswith("ENVI"):
        raise DatasetError(f"{name}: this is not an ENVI header (its first line is not 'ENVI')",
                           rule="envi-header", entry=name)
    text = text.lstrip()[4:]
    fields: dict = {}
    pos, end = 0, len(text)
    while pos < end:
        stop = text.find("\n", pos)
        stop = end if stop < 0 else stop
        line = text[pos:stop]
        if "=" not in line or line.lstrip().startswith(";"):
            pos = stop + 1
            continue
        key = " ".join(line.partition("=")[0].split()).lower()
        value_at = pos + line.index("=") + 1
        rest = text[value_at:stop].lstrip()
        if rest.startswith("{"):
            opened = text.index("{", value_at)
            close = text.find("}", opened + 1)
            inner_open = text.find("{", opened + 1)
            if close < 0:
                raise DatasetError(f"{name}: the value of '{key}' opens a '{{' that is never closed",
                                   rule="envi-header", entry=name)
            if 0 <= inner_open < close:
                raise DatasetError(f"{name}: the value of '{key}' has nested braces '{{ {{', which ENVI headers "
                                   "do not allow", rule="envi-header", entry=name)
            value = [item.strip() for item in text[opened + 1:close].split(",")]
            if value == [""]:
                value = []
            stop = text.find("\n", close)
            stop = end if stop < 0 else stop
        else:
            value = rest.strip()
        if not key:
            pos = stop + 1
            continue
        if key in fields:
            raise DatasetError(f"{name}: the key '{key}' appears twice", rule="envi-header", entry=name)
        fields[key] = value
        pos = stop + 1
    return Header(name=name, fields=fields, notes=notes)


def _scalar(h: Header, key: str) -> str | None:
    value = h.fields.get(key)
    if isinstance(value, list):
        if len(value) != 1:
            raise h.error(f"'{key}' must be one value, not a list of {len(value)}")
        value = value[0]
    return value


def _integer(h: Header, key: str, *, default=None, minimum: int = 1, maximum: int = MAX_SIDE) -> int:
    text = _scalar(h, key)
    if text is None:
        if default is None:
            raise h.error(f"the header lacks '{key}', which every ENVI cube needs")
        return default
    if not re.fullmatch(r"[+-]?\d{1,30}", text.strip()):
        raise h.error(f"'{key}' must be a whole number, not {text[:40]!r}")
    number = int(text)
    if number < minimum:
        raise h.error(f"'{key}' must be at least {minimum}, not {number}")
    if number > maximum:
        raise h.error(f"'{key}' is {number}: at most {maximum} is allowed")
    return number


def _number(h: Header, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise h.error(f"'{key}' must hold numbers, not {text[:40]!r}") from None
    return value


def _numbers(h: Header, key: str, bands: int) -> list[float] | None:
    value = h.fields.get(key)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if len(items) != bands:
        raise h.error(f"'{key}' has {len(items)} values for {bands} bands: there must be one per band")
    numbers = [_number(h, key, item) for item in items]
    if not all(math.isfinite(v) for v in numbers):
        raise h.error(f"'{key}' must hold finite numbers")
    return numbers


@dataclass
class EnviInfo:
    """What the header declares, checked."""

    samples: int
    lines: int
    bands: int
    data_type: int
    dtype: np.dtype
    interleave: str
    byte_order: int
    offset: int
    ignore: float | None
    scale: float | None
    channel_axis: dict | None
    default_bands: tuple[int, ...] | None

    @property
    def data_bytes(self) -> int:
        return self.samples * self.lines * self.bands * self.dtype.itemsize

    def describe(self) -> dict:
        return {"shape": [self.lines, self.samples, self.bands], "dataType": self.data_type,
                "dtype": self.dtype.name, "interleave": self.interleave, "byteOrder": self.byte_order,
                "headerOffset": self.offset, "ignoreValue": self.ignore, "scaleFactor": self.scale,
                "channelAxis": self.channel_axis}


def read_header(h: Header) -> EnviInfo:
    """Check the keys this reader uses (module docstring)."""
    file_type = _scalar(h, "file type")
    if file_type and "spectral library" in file_type.lower():
        raise h.error("this is an ENVI spectral library (a list of spectra), not an image cube")
    samples = _integer(h, "samples")
    lines = _integer(h, "lines")
    bands = _integer(h, "bands", maximum=1 << 20)
    code = _integer(h, "data type", minimum=0, maximum=1 << 16)
    if code in COMPLEX_TYPES:
        raise h.error(f"'data type' {code} is complex ({COMPLEX_TYPES[code]}), which IFeaLiD cannot show; "
                      "save the magnitudes as another type", rule="envi-data-type")
    if code not in DATA_TYPES:
        raise h.error(f"'data type' {code} is not an ENVI data type IFeaLiD knows (1, 2, 3, 4, 5, 12, 13, 14, 15)",
                      rule="envi-data-type")
    interleave = (_scalar(h, "interleave") or "").strip().lower()
    if not interleave:
        if bands > 1:
            raise h.error("the header lacks 'interleave' (bsq, bil or bip), which a cube of several bands needs")
        interleave = "bsq"
    if interleave not in INTERLEAVES:
        raise h.error(f"'interleave' must be bsq, bil or bip, not {interleave[:20]!r}")
    byte_order = _integer(h, "byte order", minimum=0, maximum=1) if "byte order" in h.fields else None
    if byte_order is None:
        byte_order = 0
        if np.dtype(DATA_TYPES[code]).itemsize > 1:
            h.notes.append(f"{h.name} does not give its 'byte order': read as 0 (little-endian)")
    offset = _integer(h, "header offset", default=0, minimum=0, maximum=1 << 62)
    dtype = np.dtype(DATA_TYPES[code]).newbyteorder("<" if byte_order == 0 else ">")

    ignore = _scalar(h, "data ignore value")
    ignore = _number(h, "data ignore value", ignore) if ignore not in (None, "") else None
    scale = _scalar(h, "reflectance scale factor")
    if scale not in (None, ""):
        scale = _number(h, "reflectance scale factor", scale)
        if not (math.isfinite(scale) and scale > 0):
            raise h.error(f"'reflectance scale factor' must be a positive number, not {scale:g}")
        scale = None if scale == 1 else scale
    else:
        scale = None

    channel_axis = _channel_axis(h, bands)
    default_bands = None
    if "default bands" in h.fields:
        value = h.fields["default bands"]
        items = value if isinstance(value, list) else [value]
        if len(items) not in (1, 3):
            raise h.error(f"'default bands' must name 1 or 3 bands, not {len(items)}")
        picked = []
        for item in items:
            if not re.fullmatch(r"\s*\d{1,12}\s*", item):
                raise h.error(f"'default bands' must hold band numbers, not {item[:40]!r}")
            number = int(item)
            if not 1 <= number <= bands:
                raise h.error(f"'default bands' names band {number}, but the cube has bands 1 to {bands}")
            picked.append(number - 1)
        default_bands = tuple(picked)
    return EnviInfo(samples, lines, bands, code, dtype, interleave, byte_order, offset, ignore, scale,
                    channel_axis, default_bands)


def _channel_axis(h: Header, bands: int) -> dict | None:
    """wavelength (+ units, fwhm, band names) or band names alone; never made up."""
    names = h.fields.get("band names")
    if names is not None:
        names = names if isinstance(names, list) else [names]
        if len(names) != bands:
            raise h.error(f"'band names' has {len(names)} names for {bands} bands: there must be one per band")
        names = [n[:256] for n in names]
    wavelengths = _numbers(h, "wavelength", bands)
    fwhm = _numbers(h, "fwhm", bands)
    if fwhm is not None and any(v < 0 for v in fwhm):
        raise h.error("'fwhm' must not be negative")
    unit_text = (_scalar(h, "wavelength units") or "").strip()
    if wavelengths is not None and unit_text.lower() == "index":
        h.notes.append(f"{h.name}: 'wavelength units = Index' makes the wavelengths band numbers: not shown")
        wavelengths = fwhm = None
    if wavelengths is not None:
        axis = {"name": "wavelength"}
        unit = UNITS.get(unit_text.lower(), unit_text[:64]) if unit_text.lower() not in ("", "unknown") else None
        if unit:
            axis["unit"] = unit
        axis["values"] = wavelengths
        if fwhm is not None:
            axis["fwhm"] = fwhm
        if names is not None:
            axis["labels"] = names
        return axis
    if names is not None:
        return {"name": "band", "labels": names}
    return None


def overlay_bands(info: EnviInfo) -> tuple[tuple[int, ...], str]:
    """The overlay's bands (0-based) and a sentence saying which they are and why."""
    axis = info.channel_axis or {}
    values, unit = axis.get("values"), axis.get("unit")

    def named(bands):  # channels as the page counts them (from 0), with their wavelengths
        text = [f"{b} ({values[b]:g}{' ' + unit if unit else ''})" if values is not None else str(b) for b in bands]
        return ("channel " if len(text) == 1 else "channels ") + (
            text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1])

    if info.default_bands is not None:
        return info.default_bands, f"Overlay: the header's default bands {named(info.default_bands)}"
    if values is not None and unit in TO_NM:
        nm = np.asarray(values) * TO_NM[unit]
        if nm.min() <= 470 and nm.max() >= 630:
            bands = tuple(int(np.argmin(np.abs(nm - target))) for target in NATURAL_COLOUR_NM)
            return bands, f"Overlay: natural colour from the bands nearest 640, 550 and 460 nm: {named(bands)}"
    bands = spread_bands(info.bands)
    if len(bands) == 1:
        return bands, f"Overlay: band {named(bands)} in grey"
    return bands, f"Overlay: bands spread over the range (at 5/6, 1/2 and 1/6): {named(bands)}"


def data_candidates(header_name: str) -> list[str]:
    """Names the data file of header ``header_name`` may have, most likely first."""
    base = header_name[:-4] if header_name.lower().endswith(".hdr") else header_name
    names = [base] if "." in base.rsplit("/", 1)[-1] else []
    for ext in ("img", "dat", "raw", "bin", "bsq", "bil", "bip"):
        names.append(f"{base}.{ext}")
    if base not in names:
        names.append(base)
    return names


def is_data_file_of(header_name: str, name: str) -> bool:
    """The rule that pairs a header with its data file: the header's name without '.hdr'
    (cube.img for cube.img.hdr, cube for cube.hdr), or that plus one extension (cube.img,
    cube.dat, ...). Case does not matter; folders (in a ZIP) must be the same."""
    h, n = header_name.lower(), name.lower()
    if n == h or not h.endswith(".hdr"):
        return False
    base = h[:-4]
    if n == base:
        return True
    stem, dot, ext = n.rpartition(".")
    return bool(dot) and stem == base and "/" not in ext and ext != "hdr"


def make_cube(h: Header, data_name: str, data_size: int, opener) -> Cube:
    """The Cube of a checked header and its data file (of ``data_size`` bytes)."""
    info = read_header(h)
    need = info.offset + info.data_bytes
    if data_size < need:
        raise DatasetError(
            f"{data_name} holds {format_bytes(data_size)}, but {h.name} declares {info.lines}×{info.samples}×"
            f"{info.bands} (lines×samples×bands) values of {info.dtype.name} after a {info.offset}-byte header "
            f"offset: {format_bytes(need)}", rule="data-too-short", entry=data_name)
    notes = list(h.notes)
    if data_size > need:
        notes.append(f"{data_name} is {data_size - need} bytes longer than {h.name} declares: the rest is ignored")
    storage_axes = INTERLEAVES[info.interleave]
    size = {"h": info.lines, "w": info.samples, "c": info.bands}
    bands, rule = overlay_bands(info)
    return Cube(name=h.name.rsplit("/", 1)[-1], open=opener, offset=info.offset, dtype=info.dtype,
                storage=tuple(size[a] for a in storage_axes), axes=storage_axes, scale=info.scale,
                ignore=info.ignore, channel_axis=info.channel_axis, overlay_bands=bands, overlay_rule=rule,
                notes=notes)
