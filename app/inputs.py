"""What a user opens, told apart: a dataset ZIP, an .npy, an .npz, or an ENVI cube (its .hdr with
its data file, or both in a ZIP). The same rules serve `ifealid create`/`validate` (files on
disk) and the page's worker (the browser's buffers).

The rule, in order (README, "Opening datasets"):

1. a `.hdr` among the files: an ENVI cube, paired with its data file by name
   (envi.is_data_file_of); more than one header is refused;
2. several files without a header: refused (one dataset at a time);
3. one file, by its first bytes: NumPy's signature → .npy; HDF5's (also at byte 512, MATLAB
   v7.3) or a MATLAB v5 header → refused with the reason (no h5py in the page's Python);
   "ENVI" → a header without its data file; a ZIP → a dataset ZIP when it holds metadata.json,
   else an ENVI cube when it holds a .hdr, else an .npz when it holds .npy members; a name
   ending in .npy that is not one → refused as such; anything else is read as a dataset ZIP
   (whose reader says what is wrong).
"""
from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import arrays, envi
from .cube import Cube, Converted, convert, value_range
from .errors import DatasetError
from .format import PRECISIONS
from .streams import RandomAccessStream  # noqa: F401 - where the page's and the notebook's streams come from
from .units import format_bytes

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_MESSAGE = ("HDF5 files (.h5, .hdf5, MATLAB .mat v7.3) cannot be opened here: the page's Python "
                "(Pyodide 0.27.7) has no h5py wheel that can be fetched and checked like numpy and Pillow. "
                "Save the array with numpy (numpy.save('features.npy', array)) and open the .npy")
MAT_MESSAGE = ("this is a MATLAB .mat file (v5), which IFeaLiD cannot read: load it with scipy.io.loadmat and "
               "save the array with numpy.save('features.npy', array)")
ENVI_DATA_EXTENSIONS = ("img", "dat", "raw", "bin", "bsq", "bil", "bip", "sli")


@dataclass
class InputFile:
    """One file as the user gave it: a name, a size and a way to read it (a fresh stream each time)."""

    name: str
    size: int
    open: Callable[[], contextlib.AbstractContextManager]

    def head(self, count: int = 1024) -> bytes:
        with self.open() as stream:
            return stream.read(count)

    def read_all(self, limit: int, what: str) -> bytes:
        if self.size > limit:
            raise DatasetError(f"{self.name}: {what} is {format_bytes(self.size)}, more than the limit of "
                               f"{format_bytes(limit)}", rule="envi-header", entry=self.name)
        with self.open() as stream:
            return stream.read(limit + 1)


def from_path(path) -> InputFile:
    path = Path(os.fspath(path))
    if not path.is_file():
        raise DatasetError(f"no such file: {path}", rule="not-found")
    return InputFile(path.name, path.stat().st_size, lambda: open(path, "rb"))


def from_bytes(name: str, data) -> InputFile:
    data = bytes(data)
    return InputFile(name, len(data), lambda: contextlib.nullcontext(io.BytesIO(data)))


@dataclass
class Source:
    """Something to convert: an .npy, an .npz or an ENVI cube."""

    kind: str                       # 'npy' | 'npz' | 'envi'
    name: str                       # what the user opened (the header's or the file's name)
    files: list[str]
    members: list = field(default_factory=list)  # arrays.Member (npy, npz)
    header: object = None           # envi.EnviInfo
    cube_of_envi: object = None     # the ENVI Cube
    keep: object = None             # an open ZIP archive its members are read from

    def required(self, options: dict) -> list[str]:
        """The choices the user must make first: 'key' for an .npz with several usable arrays."""
        if self.kind == "npz" and options.get("key") is None:
            if arrays.choose_member(self.members, None, self.name) is None:
                return ["key"]
        return []

    def cube(self, options: dict) -> Cube:
        if self.kind == "envi":
            return self.cube_of_envi
        member = (self.members[0] if self.kind == "npy"
                  else arrays.choose_member(self.members, options.get("key"), self.name))
        if member is None:
            raise DatasetError(f"{self.name} holds {sum(m.problem is None for m in self.members)} arrays: choose one "
                               f"({', '.join(m.key for m in self.members if m.problem is None)})", rule="input")
        # An .npz's array is named file.npz[key], unless it is the file's only array.
        name = self.name if member.key is None or len(self.members) == 1 else f"{self.name}[{member.key}]"
        return arrays.cube_of(member.header, member.open, name, options.get("layout"))

    def describe(self, options: dict | None = None) -> dict:
        """For the page's dialog and summary (names as the page uses them)."""
        options = options or {}
        out = {"kind": self.kind, "name": self.name, "files": list(self.files), "precisions": list(PRECISIONS),
               "required": self.required(options)}
        if self.kind == "envi":
            cube = self.cube_of_envi
            info = self.header.describe()
            out.update(envi=info, shape=list(cube.shape), overlay=cube.overlay_rule, text=self._envi_text(info))
        else:
            out["arrays"] = [m.describe() for m in self.members]
            chosen = None
            if self.kind == "npy" or options.get("key") is not None or not out["required"]:
                try:
                    chosen = (self.members[0] if self.kind == "npy"
                              else arrays.choose_member(self.members, options.get("key"), self.name))
                except DatasetError:
                    chosen = None
            out["key"] = chosen.key if chosen is not None else None
            out["text"] = (f"{self.name}: " + (chosen.header.describe() if chosen is not None
                                                else f"{len(self.members)} arrays"))
        return out

    def _envi_text(self, info: dict) -> str:
        lines, samples, bands = info["shape"]
        text = (f"{self.name}: ENVI cube, {lines}×{samples} pixels, {bands} bands of {info['dtype']}, "
                f"{info['interleave']}")
        axis = info["channelAxis"]
        if axis and "values" in axis:
            values = axis["values"]
            text += f", wavelengths {min(values):g}–{max(values):g}" + (f" {axis['unit']}" if axis.get("unit") else "")
        elif axis:
            text += ", band names"
        return text


def _zip_names(file: InputFile):
    """The names in a ZIP (and the open archive), or None when it cannot be opened as one."""
    context = file.open()
    stream = context.__enter__()  # kept open while the archive is used (its members are read later)
    try:
        archive = zipfile.ZipFile(stream)
        return archive, [i.filename for i in archive.infolist()]
    except Exception:  # noqa: BLE001 - not a readable ZIP: the dataset reader says why
        context.__exit__(None, None, None)
        return None, None


def identify(files: list[InputFile]) -> Source | None:
    """The Source to convert, or None for a dataset ZIP (read it with read_dataset). Refuses
    with a DatasetError what cannot be opened, naming the reason (module docstring)."""
    if not files:
        raise DatasetError("no file was given", rule="input")
    headers = [f for f in files if f.name.lower().endswith(".hdr")]
    if len(headers) > 1:
        raise DatasetError(f"{len(headers)} ENVI headers ({', '.join(h.name for h in headers[:4])}): open one cube "
                           "at a time, its .hdr with its data file", rule="envi-pair")
    if headers:
        header = headers[0]
        others = [f for f in files if f is not header]
        data = [f for f in others if envi.is_data_file_of(header.name, f.name)]
        exact = [f for f in data if f.name.lower() == header.name.lower()[:-4]]
        data = exact or data
        if not data:
            raise _missing_data(header.name, [f.name for f in others])
        if len(data) > 1:
            raise DatasetError(f"{header.name}: several files could be its data file ({', '.join(f.name for f in data)}): "
                               "open the header with one of them", rule="envi-pair", entry=header.name)
        return _envi_source(header, data[0])
    if len(files) > 1:
        raise DatasetError(f"{len(files)} files ({', '.join(f.name for f in files[:4])}{'…' if len(files) > 4 else ''}): "
                           "open one dataset at a time (a dataset ZIP, an .npy or an .npz), or an ENVI header (.hdr) "
                           "together with its data file", rule="input")
    file = files[0]
    head = file.head(1024)
    lower = file.name.lower()
    if head.startswith(arrays.NPY_MAGIC) or lower.endswith(".npy"):
        member = arrays.npy_member(file.open, file.size, file.name, None)
        return Source("npy", file.name, [file.name], members=[member])
    if head.startswith(HDF5_SIGNATURE) or head[512:520] == HDF5_SIGNATURE or lower.endswith((".h5", ".hdf5", ".he5")):
        raise DatasetError(f"{file.name}: {HDF5_MESSAGE}", rule="hdf5")
    if head.startswith(b"MATLAB 5.0 MAT-file") or lower.endswith(".mat"):  # v7.3 has HDF5's signature: above
        raise DatasetError(f"{file.name}: {MAT_MESSAGE}", rule="mat")
    if head.lstrip().startswith(b"ENVI"):
        raise _missing_data(file.name, [])
    if head.startswith(b"PK") or lower.endswith((".zip", ".npz")):
        archive, names = _zip_names(file)
        if archive is None or "metadata.json" in names:
            return None
        found = [n for n in names if n.lower().endswith(".hdr")]
        if found:
            return _envi_in_zip(file, archive, found)
        arrays_inside = [n for n in names if n.endswith(".npy")]
        if lower.endswith(".npz") or (arrays_inside and len(arrays_inside) == len([n for n in names if not n.endswith("/")])):
            return Source("npz", file.name, [file.name], members=arrays.npz_members(archive, file.name), keep=archive)
        return None
    if lower.rpartition(".")[2] in ENVI_DATA_EXTENSIONS:
        raise DatasetError(f"{file.name} looks like an ENVI data file: open it together with its header "
                           f"({file.name.rpartition('.')[0]}.hdr)", rule="envi-pair", entry=file.name)
    return None


def _missing_data(header_name: str, others: list[str]) -> DatasetError:
    candidates = envi.data_candidates(header_name.rsplit("/", 1)[-1])
    got = f"; {', '.join(others)} {'is' if len(others) == 1 else 'are'} not named like it" if others else ""
    return DatasetError(
        f"{header_name}: the data file is missing: open the ENVI header together with its data file "
        f"({', '.join(candidates[:3])}, …){got}", rule="envi-pair", entry=header_name)


def _envi_source(header: InputFile, data: InputFile) -> Source:
    h = envi.parse_header(header.read_all(envi.MAX_HEADER_BYTES, "the header"), header.name)
    cube = envi.make_cube(h, data.name, data.size, data.open)
    return Source("envi", header.name, [header.name, data.name], header=envi.read_header(h), cube_of_envi=cube)


def _envi_in_zip(file: InputFile, archive: zipfile.ZipFile, headers: list[str]) -> Source:
    if len(headers) > 1:
        raise DatasetError(f"{file.name} holds {len(headers)} ENVI headers ({', '.join(headers[:4])}): one cube per ZIP",
                           rule="envi-pair")
    infos = {i.filename: i for i in archive.infolist() if not i.is_dir()}
    header_info = infos[headers[0]]
    members = []
    for info in (header_info, *[i for n, i in infos.items() if envi.is_data_file_of(headers[0], n)]):
        if info.flag_bits & 0x1:
            raise DatasetError(f"{file.name}: {info.filename!r} is encrypted", rule="encrypted", entry=info.filename)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DatasetError(f"{file.name}: {info.filename!r} uses ZIP compression method {info.compress_type}; "
                               "only stored and deflate are supported", rule="compression", entry=info.filename)
        members.append(InputFile(info.filename, info.file_size, lambda info=info: archive.open(info)))
    header, data = members[0], members[1:]
    exact = [f for f in data if f.name.lower() == header.name.lower()[:-4]]
    data = exact or data
    if not data:
        raise _missing_data(header.name, [])
    if len(data) > 1:
        raise DatasetError(f"{header.name}: several entries could be its data file ({', '.join(f.name for f in data)})",
                           rule="envi-pair", entry=header.name)
    source = _envi_source(header, data[0])
    source.name, source.files, source.keep = file.name, [file.name, header.name, data[0].name], archive
    return source


def check_options(options: dict | None) -> dict:
    options = dict(options or {})
    precision = options.get("precision", 8)
    if precision is None:
        precision = 8
    if isinstance(precision, bool) or precision not in PRECISIONS:
        raise DatasetError(f"precision must be 8, 16 or 32 bits, not {precision!r}", rule="precision")
    options["precision"] = int(precision)
    layout = options.get("layout")
    if layout not in (None, "auto", *arrays.LAYOUTS):
        raise DatasetError(f"the layout must be one of auto, {', '.join(arrays.LAYOUTS)}, not {layout!r}", rule="input")
    options["layout"] = None if layout == "auto" else layout
    return options


def convert_source(source: Source, options: dict, *, budget: int, progress=None) -> Converted:
    """Quantise the chosen array or cube (options: precision, layout, key)."""
    options = check_options(options)
    return convert(source.cube(options), options["precision"], budget=budget, progress=progress)


def scan_source(source: Source, options: dict, progress=None) -> tuple[Cube, float, float, int]:
    """Read the chosen array or cube through once, as `ifealid validate` does: (cube, lo, hi, masked)."""
    options = check_options(options)
    cube = source.cube(options)
    lo, hi, masked = value_range(cube, progress)
    return cube, lo, hi, masked
