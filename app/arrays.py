"""NumPy files (.npy, .npz) as dataset sources: their headers read as hostile input, the layout
of their axes, and the Cube (app/cube.py) that reads their data in blocks.

What is accepted (README, "Opening datasets"):

* dtypes: bool, signed and unsigned integers of 8-64 bits, float16/32/64, either byte order;
  complex, object, text, date and structured arrays are refused by name;
* shapes: (a, b, c), and (1, a, b, c) (a batch of one: the 1 is dropped). The channel axis is the
  first or the last: the two equal axes are the map's (so (C, H, W) with H = W, the usual CNN
  map, and (H, W, C) with H = W are each found); otherwise (all three differ, or all are equal)
  the layout is ambiguous and (H, W, C), the format's own order, is taken unless the user
  chooses (C, H, W) (the page's dialog, `ifealid create --layout chw`);
* .npz: a ZIP of .npy members; the one member that can be a map is taken, or the user chooses
  (`--key`, the page's dialog) among several.

Sizes come from the header and are checked against the file's size before any data is read.
"""
from __future__ import annotations

import ast
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

from .cube import Cube
from .errors import DatasetError
from .reader import nesting_depth
from .units import format_bytes

NPY_MAGIC = b"\x93NUMPY"
MAX_HEADER_BYTES = 10_000  # numpy's own limit for reading a header (max_header_size)
MAX_NPZ_MEMBERS = 1000
LAYOUTS = {"hwc": "(H, W, C)", "chw": "(C, H, W)"}


@dataclass(frozen=True)
class NpyHeader:
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran: bool
    offset: int  # where the data starts

    @property
    def data_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize

    def describe(self) -> str:
        return f"{_dtype_name(self.dtype)} {_shape_text(self.shape)}"


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _dtype_name(dtype: np.dtype) -> str:
    name = dtype.name
    big = dtype.byteorder == ">" or (dtype.byteorder == "=" and not np.little_endian)
    if dtype.itemsize > 1 and big:
        name += " (big-endian)"
    return name


def _refuse(name: str, reason: str, rule: str = "npy-format", entry=None):
    raise DatasetError(f"{name}: {reason}", rule=rule, entry=entry)


def check_dtype(dtype: np.dtype, name: str) -> np.dtype:
    """Numbers only: bool, integers, floats up to 64 bits."""
    kind = dtype.kind
    if dtype.fields is not None or kind == "V":
        _refuse(name, "it holds a structured array (records with named fields), not numbers: save one field "
                      "as its own array", "npy-dtype")
    if kind in "biu" or (kind == "f" and dtype.itemsize <= 8):
        return dtype
    what = {"c": "complex numbers", "O": "Python objects", "U": "text", "S": "bytes", "M": "dates",
            "m": "time spans", "f": f"{dtype.itemsize * 8}-bit floats"}.get(kind, f"values of type {dtype}")
    _refuse(name, f"it holds {what} ({dtype.str}); IFeaLiD reads bool, integer and float arrays "
                  f"(float up to 64 bits)", "npy-dtype")


MAX_HEADER_NESTING = 16  # numpy's headers nest 2 deep ({'shape': (...)}), structured dtypes a few more


def read_npy_header(stream, size: int, name: str) -> NpyHeader:
    """The header of an .npy stream (at its start) whose whole length is ``size`` bytes, checked
    as hostile input: magic, version, header length, a literal dict of exactly 'descr',
    'fortran_order' and 'shape', a numeric dtype, and data no longer than the file."""
    head = stream.read(12)
    if len(head) < 10 or not head.startswith(NPY_MAGIC):
        _refuse(name, "this is not an .npy file (it does not start with the NumPy format's signature)", "not-npy")
    major, minor = head[6], head[7]
    if (major, minor) == (1, 0):
        length, start = struct.unpack("<H", head[8:10])[0], 10
    elif (major, minor) in ((2, 0), (3, 0)):
        if len(head) < 12:
            _refuse(name, "its header is cut short")
        length, start = struct.unpack("<I", head[8:12])[0], 12
    else:
        _refuse(name, f"it is an .npy file of format version {major}.{minor}, which IFeaLiD does not know "
                      "(1.0, 2.0 and 3.0 are known)")
    if length > MAX_HEADER_BYTES:
        _refuse(name, f"its header declares {length} bytes, more than the limit of {MAX_HEADER_BYTES}")
    text = (head[start:] + stream.read(length - (len(head) - start)))
    if len(text) < length:
        _refuse(name, "its header is cut short")
    try:
        text = text.decode("utf-8" if major == 3 else "latin-1")
        if nesting_depth(text, quotes="'\"", opening="([{", closing=")]}") > MAX_HEADER_NESTING:
            # Refused before parsing: in Pyodide, Python's parser overflows the JavaScript stack on
            # deep nesting long before its own limit stops it (found by tests/corpus.py in the worker).
            raise ValueError("nested too deeply")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError, TypeError):
        _refuse(name, "its header is not the dictionary the NumPy format writes")
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        _refuse(name, "its header must hold exactly 'descr', 'fortran_order' and 'shape'")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        _refuse(name, f"its header's shape must be a tuple of whole numbers ≥ 0, not {str(shape)[:60]}")
    if len(shape) > 32:
        _refuse(name, f"its header declares {len(shape)} dimensions")
    if not isinstance(fortran, bool):
        _refuse(name, "its header's 'fortran_order' must be True or False")
    if not isinstance(descr, str):
        _refuse(name, "it holds a structured array (records with named fields), not numbers: save one field "
                      "as its own array", "npy-dtype")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        _refuse(name, f"its header names an unknown data type {descr[:40]!r}", "npy-dtype")
    dtype = check_dtype(dtype, name)
    header = NpyHeader(dtype=dtype, shape=shape, fortran=fortran, offset=start + length)
    available = size - header.offset
    if header.data_bytes > available:
        _refuse(name, f"it holds {format_bytes(max(available, 0))} of data, but its header declares "
                      f"{header.describe()}, which needs {format_bytes(header.data_bytes)}: the file is cut "
                      "short", "data-too-short")
    return header


@dataclass(frozen=True)
class Layout:
    """How an array's axes map to the map: the (H, W, C) of each choice, the default and whether
    the rule could not tell."""

    dims: tuple[int, int, int]          # the three axes (a leading 1 dropped)
    default: str                        # 'hwc' or 'chw'
    ambiguous: bool

    def shape(self, layout: str) -> tuple[int, int, int]:
        a, b, c = self.dims
        return (a, b, c) if layout == "hwc" else (b, c, a)

    def choices(self) -> list[dict]:
        return [{"id": k, "label": LAYOUTS[k], "shape": list(self.shape(k))} for k in LAYOUTS]


def layout_of(shape: tuple[int, ...], name: str) -> Layout:
    """The stated rule (module docstring) for an array's shape; refuses what cannot be a map."""
    dims = tuple(shape)
    if len(dims) == 4:
        if dims[0] != 1:
            _refuse(name, f"it is a batch of {dims[0]} maps {_shape_text(dims)}: a dataset is one map; save one "
                          "of them, (C, H, W) or (H, W, C)", "ndim")
        dims = dims[1:]
    if len(dims) != 3:
        hint = " (for one channel, add an axis: array[..., None])" if len(dims) == 2 else ""
        _refuse(name, f"a feature array must have 3 dimensions (height, width, channels), this one has "
                      f"{len(shape)} with shape {_shape_text(shape)}{hint}", "ndim")
    if 0 in dims:
        _refuse(name, f"the array is empty (shape {_shape_text(shape)})", "empty")
    a, b, c = dims
    if b == c and a != b:
        return Layout(dims, "chw", False)
    if a == b and c != a:
        return Layout(dims, "hwc", False)
    return Layout(dims, "hwc", True)


def cube_of(header: NpyHeader, opener, name: str, layout: str | None) -> Cube:
    """The Cube that reads the array's data as the map of ``layout`` (None: the rule's)."""
    rule = layout_of(header.shape, name)
    if layout is None:
        layout = rule.default
    if layout not in LAYOUTS:
        raise DatasetError(f"the layout must be one of {', '.join(LAYOUTS)}, not {layout!r}", rule="input")
    dims, axes = rule.dims, layout
    if header.fortran:  # column-major: the last axis varies slowest in the file
        dims, axes = dims[::-1], axes[::-1]
    notes = []
    if rule.ambiguous and layout == rule.default:
        h, w, c = rule.shape(layout)
        notes.append(f"{name}: {_shape_text(header.shape)} could be (H, W, C) or (C, H, W); read as (H, W, C): "
                     f"{h}×{w} pixels, {c} channels")
    return Cube(name=name, open=opener, offset=header.offset, dtype=header.dtype, storage=tuple(dims), axes=axes,
                notes=notes)


@dataclass
class Member:
    """An array of an .npz (or a .npy, key None): its header, or why it cannot be a map."""

    key: str | None
    header: NpyHeader | None
    layout: Layout | None
    problem: str | None
    open: object  # opener of the member's bytes

    def describe(self) -> dict:
        out = {"key": self.key, "usable": self.problem is None, "problem": self.problem}
        if self.header is not None:
            out.update(shape=list(self.header.shape), dtype=_dtype_name(self.header.dtype))
        if self.layout is not None:
            out.update(layouts=self.layout.choices(), layout=self.layout.default, ambiguous=self.layout.ambiguous)
        return out


def npy_member(opener, size: int, name: str, key: str | None) -> Member:
    """Read the header of one .npy stream; for an .npz member, a problem is kept (the member is
    listed as unusable), for a lone .npy it is raised."""
    try:
        with opener() as stream:
            header = read_npy_header(stream, size, name)
        layout = layout_of(header.shape, name)
        return Member(key, header, layout, None, opener)
    except DatasetError as exc:
        if key is None or exc.rule in ("data-too-short", "damaged-entry"):
            raise
        return Member(key, None, None, exc.message.split(": ", 1)[-1], opener)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DatasetError(f"{name}: the member cannot be read: {exc}", rule="damaged-entry") from None


def npz_members(archive: zipfile.ZipFile, name: str) -> list[Member]:
    """The .npy members of an open .npz archive (other members are not arrays and are skipped)."""
    infos = [i for i in archive.infolist() if i.filename.endswith(".npy") and not i.is_dir()]
    if not infos:
        raise DatasetError(f"{name}: this ZIP holds no .npy arrays, so it is not an .npz file", rule="npz-format")
    if len(infos) > MAX_NPZ_MEMBERS:
        raise DatasetError(f"{name}: it holds {len(infos)} arrays, more than the limit of {MAX_NPZ_MEMBERS}",
                           rule="npz-format")
    keys = [i.filename[:-4] for i in infos]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise DatasetError(f"{name}: the array {dup!r} appears {keys.count(dup)} times", rule="duplicate-entry",
                           entry=dup + ".npy")
    members = []
    for info, key in zip(infos, keys):
        if info.flag_bits & 0x1:
            raise DatasetError(f"{name}: the array {key!r} is encrypted", rule="encrypted", entry=info.filename)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DatasetError(f"{name}: the array {key!r} uses ZIP compression method {info.compress_type}; only "
                               "stored and deflate are supported", rule="compression", entry=info.filename)
        members.append(npy_member(lambda info=info: archive.open(info), info.file_size, f"{name}[{key}]", key))
    return members


def choose_member(members: list[Member], key: str | None, name: str) -> Member | None:
    """The member to convert: ``key``'s; without a key the one usable member, or None when the
    user must choose among several."""
    if key is not None:
        for m in members:
            if m.key == key:
                if m.problem is not None:
                    raise DatasetError(f"{name}[{key}]: {m.problem}", rule="ndim")
                return m
        raise DatasetError(f"{name} has no array {key!r}; it has {', '.join(repr(m.key) for m in members)}",
                           rule="input")
    usable = [m for m in members if m.problem is None]
    if not usable:
        reasons = "; ".join(f"{m.key!r}: {m.problem}" for m in members[:5])
        raise DatasetError(f"{name} holds no array that can be a map ({reasons})", rule="ndim")
    return usable[0] if len(usable) == 1 else None
