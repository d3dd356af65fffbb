"""A corpus of hostile and broken dataset ZIPs, ENVI headers and NumPy arrays, generated (no opaque blobs).

Every case builds its ZIP's bytes from scratch and states what the reader must answer:
the rule id (``DatasetError.rule``), a stable phrase of the message a user reads, and,
where the rule is about one entry, the entry's name. The same cases go through
``ifealid validate`` and ``read_dataset`` (tests/test_corpus.py) and through the page's
file input into the Pyodide worker (tests/browser/test_corpus_page.py).

    python tests/corpus.py OUTDIR      # writes OUTDIR/<id>.zip, OUTDIR/<id>/ (inputs), valid.zip, expected.json

The input cases (INPUT_CASES) are the files a user opens together (an ENVI header with its data
file, an .npy, an .npz), each with the rule and phrase its refusal must carry.

A crash the fuzzer (tests/test_fuzz.py) finds becomes a case here.
"""
from __future__ import annotations

import functools
import io
import json
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zipkit import dataset_entries, jpeg_bytes, png_bytes, random_values, zip_bytes  # noqa: E402

# The base dataset: 6×5 pixels, 7 channels at 8 bit: 0.png and 1.png.
VALUES = random_values((6, 5, 7), 8, seed=11)
WIDTH, HEIGHT = 5, 6
MARKUP = '<img src=x onerror="window.pwned=1">'


def base_entries(**kw) -> dict[str, bytes]:
    return dataset_entries(VALUES, 8, name="corpus", **kw)


def valid_zip() -> bytes:
    """A tiny valid dataset, opened after the broken ones to show the app still works."""
    return zip_bytes(dataset_entries(random_values((4, 6, 9), 8, seed=5), 8, name="valid after corpus"))


def with_meta(changes: dict, entries: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The base entries with metadata.json fields changed (value DELETE removes the field)."""
    e = dict(entries or base_entries())
    meta = json.loads(e["metadata.json"])
    for key, value in changes.items():
        if value is DELETE:
            meta.pop(key, None)
        else:
            meta[key] = value
    e["metadata.json"] = json.dumps(meta).encode()
    return e


DELETE = object()


# --- hand-made ZIPs: sizes, flags and names exactly as given ------------------------------------

@dataclass
class Raw:
    """One entry as it lies in the archive: `data` is the stored (maybe compressed) stream."""

    name: bytes
    data: bytes
    method: int = zipfile.ZIP_STORED
    crc: int = 0
    file_size: int = 0
    flags: int = 0
    external_attr: int = 0


def raw_entry(name: str | bytes, payload: bytes, *, deflate: bool = False, **kw) -> Raw:
    """An honest entry for `payload` (its CRC and size), overridable by keyword."""
    data = payload
    if deflate:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = c.compress(payload) + c.flush()
    fields = dict(name=name.encode() if isinstance(name, str) else name, data=data,
                  method=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
                  crc=zlib.crc32(payload), file_size=len(payload))
    fields.update(kw)
    return Raw(**fields)


def raw_zip(entries: list[Raw]) -> bytes:
    """Local headers, data, central directory and end record, no ZIP64, nothing checked."""
    out = bytearray()
    central = bytearray()
    for e in entries:
        offset = len(out)
        header = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21,
                             e.crc, len(e.data), e.file_size, len(e.name), 0)
        out += header + e.name + e.data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, e.flags, e.method, 0, 0x21,
                               e.crc, len(e.data), e.file_size, len(e.name), 0, 0, 0, 0,
                               e.external_attr, offset) + e.name
    start = len(out)
    out += central
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), start, 0)
    return bytes(out)


def raw_from(entries: dict[str, bytes], **replace: Raw) -> list[Raw]:
    """Honest Raw entries for a dict, some replaced (keyword: entry name with '.' as '_')."""
    out = []
    for name, payload in entries.items():
        out.append(replace.get(name.replace(".", "_")) or raw_entry(name, payload))
    return out


# --- zip bombs ----------------------------------------------------------------------------------

BOMB_SIZE = 2 * 1024 ** 3  # 2 GiB of zeros


def _crc32_of_zeros(n: int) -> int:
    """zlib.crc32(bytes(n)) without touching n bytes: the CRC register over zero bits is a
    linear map, applied n·8 times by repeated squaring (as zlib's crc32_combine does)."""
    def times(matrix, vector):
        out, i = 0, 0
        while vector:
            if vector & 1:
                out ^= matrix[i]
            vector >>= 1
            i += 1
        return out

    def square(matrix):
        return [times(matrix, column) for column in matrix]

    one_bit = [0xEDB88320] + [1 << i for i in range(31)]  # register >> 1, xor poly when bit 0 was set
    register = 0xFFFFFFFF
    bits = n * 8
    matrix = one_bit
    while bits:
        if bits & 1:
            register = times(matrix, register)
        bits >>= 1
        if bits:
            matrix = square(matrix)
    return register ^ 0xFFFFFFFF


@functools.lru_cache(maxsize=None)
def zero_bomb_stream(size: int = BOMB_SIZE) -> bytes:
    """A raw deflate stream of `size` zero bytes (about size/1000 bytes long), built without
    compressing `size` bytes: after a full flush deflate starts afresh, so every 1 MiB block
    compresses to the same bytes."""
    block_size = 1 << 20
    assert size % block_size == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(block_size)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * (size // block_size) + b"\x03\x00"  # an empty final block


def bomb_entry(name: str, *, declared: int = BOMB_SIZE, crc: int | None = None) -> Raw:
    return Raw(name=name.encode(), data=zero_bomb_stream(), method=zipfile.ZIP_DEFLATED,
               crc=_crc32_of_zeros(BOMB_SIZE) if crc is None else crc, file_size=declared)


# --- PNG and JPEG made by hand -------------------------------------------------------------------

def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_raw(width: int, height: int, depth: int = 8, colour: int = 6, *, rows: bytes | None = None,
            before_idat: list[bytes] = ()) -> bytes:
    """A PNG with any IHDR; `rows` (filter bytes included) default to zeros of the right size."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    if rows is None:
        rows = bytes(height * (1 + width * channels * depth // 8))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(before_idat)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims width×height."""
    data = bytearray(jpeg_bytes(16, 8))
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 7] = height.to_bytes(2, "big")
    data[at + 7:at + 9] = width.to_bytes(2, "big")
    return bytes(data)


def tiff_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="TIFF")
    return buffer.getvalue()


# --- the cases -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], bytes]
    rule: str
    phrase: str          # a stable part of the message (what the tests look for)
    entry: object = ...  # the entry the error must name (... = not checked)
    why: str = ""


CASES: list[Case] = []


def case(id, rule, phrase, entry=..., why=""):
    def register(build):
        CASES.append(Case(id, build, rule, phrase, entry, why))
        return build
    return register


def zipped(entries) -> Callable[[], bytes]:
    return lambda: zip_bytes(entries() if callable(entries) else entries)


# The archive itself.
case("not-a-zip", "not-zip", "not a readable ZIP", why="an HTML error page saved as .zip")(
    lambda: b"<!doctype html><title>404</title><p>Not found")
case("empty-file", "not-zip", "not a readable ZIP")(lambda: b"")
case("truncated-zip", "not-zip", "truncated")(lambda: zip_bytes(base_entries())[:700])


@case("bad-crc", "damaged-entry", "'0.png' is damaged", entry="0.png")
def _():
    data = bytearray(zip_bytes(base_entries()))
    data[data.index(b"IDAT") + 8] ^= 0xFF  # a byte inside 0.png's stored data
    return bytes(data)


@case("encrypted-entry", "encrypted", "password-protected", entry="0.png")
def _():
    return raw_zip(raw_from(base_entries(), **{"0_png": raw_entry("0.png", base_entries()["0.png"], flags=0x1)}))


@case("unsupported-compression", "compression", "only stored and deflate", entry="1.png")
def _():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in base_entries().items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_BZIP2 if name == "1.png" else zipfile.ZIP_STORED)
    return buffer.getvalue()


def _extra(name: str, payload: bytes = b"x", **kw) -> Callable[[], bytes]:
    return lambda: raw_zip(raw_from(base_entries()) + [raw_entry(name, payload, **kw)])


case("folder-entry", "folder-entry", "is a folder", entry="data/")(_extra("data/", b"", external_attr=0x10))
case("file-in-folder", "entry-name", "inside a folder", entry="data/0.png")(_extra("data/0.png"))
case("dotdot-name", "entry-name", "inside a folder", entry="../0.png")(_extra("../0.png"))
case("dotdot-deep-name", "entry-name", "inside a folder", entry="../../../../tmp/x.png")(_extra("../../../../tmp/x.png"))
case("absolute-path", "entry-name", "absolute path", entry="/etc/passwd")(_extra("/etc/passwd"))
case("windows-drive-path", "entry-name", "absolute path", entry="C:\\evil.png")(_extra("C:\\evil.png"))
case("backslash-name", "entry-name", "inside a folder", entry="a\\0.png")(_extra("a\\0.png"))
case("nul-in-name", "entry-name", "NUL character")(_extra(b"2.png\x00.txt"))
case("empty-entry-name", "entry-name", "an entry with an empty name", entry="",
     why="found by the fuzzer: zipfile's is_dir() raised IndexError")(_extra(b""))
case("invalid-utf8-name", "entry-name", "not valid UTF-8")(_extra(b"\xff\xfe\xfd.png", flags=0x800))
case("markup-entry-name", "unexpected-entry", MARKUP, entry=f"{MARKUP}.png",
     why="a message quoting a name with markup: the page must show it as text")(_extra(f"{MARKUP}.png"))


@case("duplicate-png", "duplicate-entry", "'1.png' appears 2 times", entry="1.png")
def _():
    e = base_entries()
    return raw_zip(raw_from(e) + [raw_entry("1.png", e["1.png"])])


@case("duplicate-metadata", "duplicate-entry", "'metadata.json' appears 2 times", entry="metadata.json")
def _():
    e = base_entries()
    return raw_zip(raw_from(e) + [raw_entry("metadata.json", b'{"name": "other"}')])


# Zip bombs: 2 GiB of zeros in about 2 MB.
case("zip-bomb-png", "entry-too-large", "more than any 5×6 RGBA PNG can need", entry="0.png",
     why="0.png declares (and inflates to) 2 GiB")(
    lambda: raw_zip(raw_from(base_entries(), **{"0_png": bomb_entry("0.png")})))
case("zip-bomb-lying-size", "damaged-entry", "'0.png' is damaged", entry="0.png",
     why="0.png declares 120 bytes but its stream inflates to 2 GiB: only 120 bytes may be inflated")(
    lambda: raw_zip(raw_from(base_entries(), **{"0_png": bomb_entry("0.png", declared=120)})))
case("zip-bomb-metadata", "metadata-too-large", "more than the limit", entry="metadata.json")(
    lambda: raw_zip(raw_from(base_entries(), **{"metadata_json": bomb_entry("metadata.json")})))
case("zip-bomb-metadata-lying", "damaged-entry", "'metadata.json' is damaged", entry="metadata.json")(
    lambda: raw_zip(raw_from(base_entries(), **{"metadata_json": bomb_entry("metadata.json", declared=200)})))
case("zip-bomb-overlay", "entry-too-large", "overlay.jpg declares", entry="overlay.jpg")(
    lambda: raw_zip(raw_from(base_entries(overlay=jpeg_bytes()), **{"overlay_jpg": bomb_entry("overlay.jpg")})))


# metadata.json as a whole.
@case("no-metadata", "metadata-missing", "metadata.json is missing", entry="metadata.json")
def _():
    e = base_entries()
    del e["metadata.json"]
    return zip_bytes(e)


def _metadata(raw: bytes) -> Callable[[], bytes]:
    return lambda: zip_bytes({**base_entries(), "metadata.json": raw})


case("metadata-not-json", "metadata-json", "not valid JSON", entry="metadata.json")(_metadata(b"{name: corpus"))
case("metadata-not-utf8", "metadata-json", "not UTF-8", entry="metadata.json")(_metadata(b"\xff\xfe{\x00"))
case("metadata-empty", "metadata-json", "not valid JSON", entry="metadata.json")(_metadata(b""))
case("metadata-nan", "metadata-json", "not valid JSON", entry="metadata.json")(
    _metadata(b'{"name": "x", "width": 5, "height": 6, "features": 7, "precision": 8, "overlay": false,'))
case("metadata-array", "metadata-object", "must hold a JSON object", entry="metadata.json")(_metadata(b"[5, 6, 7, 8]"))
case("metadata-string", "metadata-object", "must hold a JSON object", entry="metadata.json")(_metadata(b'"corpus"'))
case("metadata-null", "metadata-object", "must hold a JSON object", entry="metadata.json")(_metadata(b"null"))
case("metadata-deeply-nested", "metadata-json", "nested too deeply", entry="metadata.json",
     why="found in the worker: json's C parser overflowed the JavaScript stack and Pyodide died")(
    _metadata(b"[" * 30000 + b"]" * 30000))
case("metadata-deeply-nested-object", "metadata-json", "nested too deeply", entry="metadata.json")(
    _metadata(b'{"a":' * 10000 + b"1" + b"}" * 10000))
case("metadata-huge", "metadata-too-large", "more than the limit", entry="metadata.json")(
    lambda: zip_bytes(with_meta({"padding": "x" * 200_000})))

# Each field: missing, of the wrong type, zero, negative, absurdly large.
WRONG_TYPES = {"width": "5", "height": 6.5, "features": None, "precision": True, "name": 12}
ABSURD = {"width": 10 ** 12, "height": 1e300, "features": 2 ** 64, "precision": 10 ** 12}

for _field in ("precision", "name", "height", "width", "features"):
    case(f"field-{_field}-missing", "missing-field", f"lacks the field '{_field}'", entry="metadata.json")(
        zipped(with_meta({_field: DELETE})))
    _phrase = "must be a string" if _field == "name" else "must be an integer"
    case(f"field-{_field}-wrong-type", "field-type", f"'{_field}' {_phrase}", entry="metadata.json")(
        zipped(with_meta({_field: WRONG_TYPES[_field]})))
    if _field == "name":
        continue
    case(f"field-{_field}-zero", "field-range", f"'{_field}' must be greater than 0, not 0", entry="metadata.json")(
        zipped(with_meta({_field: 0})))
    case(f"field-{_field}-negative", "field-range", f"'{_field}' must be greater than 0, not -3",
         entry="metadata.json")(zipped(with_meta({_field: -3})))
    if _field == "precision":
        case("field-precision-absurd", "precision", "8, 16 or 32 bits", entry="metadata.json")(
            zipped(with_meta({"precision": ABSURD["precision"]})))
    else:
        case(f"field-{_field}-absurd", "too-large", "more than the memory budget", entry="metadata.json")(
            zipped(with_meta({_field: ABSURD[_field]})))

case("field-name-absurd", "field-range", "'name' is 5000 characters long", entry="metadata.json")(
    zipped(with_meta({"name": "n" * 5000})))
case("field-width-string-markup", "field-type", "<b>5</b>", entry="metadata.json",
     why="a message quoting a value with markup")(zipped(with_meta({"width": "<b>5</b>"})))
case("field-overlay-wrong-type", "field-type", "'overlay' must be true or false", entry="metadata.json")(
    zipped(with_meta({"overlay": "yes"})))
case("precision-12", "precision", "must be 8, 16 or 32 bits, not 12", entry="metadata.json")(
    zipped(with_meta({"precision": 12})))
case("precision-64", "precision", "must be 8, 16 or 32 bits, not 64", entry="metadata.json")(
    zipped(with_meta({"precision": 64})))
case("declares-100000x100000", "too-large", "100000×100000×7", entry="metadata.json")(
    zipped(with_meta({"width": 100_000, "height": 100_000})))


# The optional "range" key ([lo, hi], two finite numbers, lo ≤ hi): every malformed value.
def _meta_text(replace: str, by: str) -> Callable[[], bytes]:
    """The base metadata.json with a raw JSON text in place of a placeholder (for literals that
    json.dumps does not write, such as 1e400)."""
    def build():
        text = json.dumps({**json.loads(base_entries()["metadata.json"]), "range": replace})
        return zip_bytes({**base_entries(), "metadata.json": text.replace(json.dumps(replace), by).encode()})
    return build


RANGE_TYPE = "'range' must be a list of two numbers [lo, hi]"
for _id, _value in [("string", "0..1"), ("number", 1.5), ("bool", True), ("object", {"lo": 0, "hi": 1}),
                    ("empty", []), ("one-number", [0.5]), ("three-numbers", [0, 1, 2]),
                    ("nested", [[0], [1]]), ("bools", [False, True]), ("strings", ["0", "1"]),
                    ("null-item", [None, 1]), ("markup", [MARKUP, 1])]:
    case(f"range-{_id}", "field-type", RANGE_TYPE, entry="metadata.json")(zipped(with_meta({"range": _value})))
for _id, _value in [("nan", [float("nan"), 1]), ("infinity", [0, float("inf")]),
                    ("minus-infinity", [float("-inf"), 0])]:
    case(f"range-{_id}", "field-range", "'range' must hold finite numbers, not ",
         entry="metadata.json", why="Python's json reads the NaN and Infinity literals")(
        zipped(with_meta({"range": _value})))
case("range-overflowing-literal", "field-range", "'range' must hold finite numbers, not ",
     entry="metadata.json", why="1e400 reads as an infinite float")(_meta_text("@", "[0, 1e400]"))
case("range-huge-integer", "field-range", "'range' must hold numbers within float64's range", entry="metadata.json",
     why="an integer that no float64 holds")(zipped(with_meta({"range": [0, 10 ** 400]})))
case("range-reversed", "field-range", "'range' must have lo ≤ hi, not [1.5, -2]", entry="metadata.json")(
    zipped(with_meta({"range": [1.5, -2]})))


# The PNG entries against the metadata.
@case("too-few-pngs", "missing-png", "missing '1.png'", entry="1.png")
def _():
    e = base_entries()
    del e["1.png"]
    return zip_bytes(e)


@case("no-pngs", "missing-png", "missing '0.png', '1.png'", entry="0.png")
def _():
    e = base_entries()
    del e["0.png"], e["1.png"]
    return zip_bytes(e)


@case("too-many-pngs", "unexpected-entry", "unexpected entry '2.png'", entry="2.png")
def _():
    e = base_entries()
    e["2.png"] = e["1.png"]
    return zip_bytes(e)


case("superscript-digit-name", "unexpected-entry", "unexpected entries '2.png', '²'", entry="2.png",
     why="found by the fuzzer: sorting the names for the message raised ValueError on int('²')")(
    lambda: zip_bytes({**base_entries(), "²": b"x", "2.png": base_entries()["1.png"]}))


@case("zero-padded-png-name", "unexpected-entry", "'01.png'", entry="01.png")
def _():
    e = base_entries()
    e["01.png"] = e.pop("1.png")
    return zip_bytes(e)


@case("stray-file", "unexpected-entry", "'.DS_Store'", entry=".DS_Store")
def _():
    return zip_bytes({**base_entries(), ".DS_Store": b"\x00\x00\x00\x01Bud1"})


def _png1(png: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: zip_bytes({**base_entries(), "1.png": png()})


case("png-wrong-size", "png-size", "'1.png' is 4×6 pixels", entry="1.png")(
    _png1(lambda: png_bytes(np.zeros((6, 4, 4), np.uint8), "RGBA")))
case("png-transposed", "png-size", "'1.png' is 6×5 pixels", entry="1.png")(
    _png1(lambda: png_bytes(np.zeros((5, 6, 4), np.uint8), "RGBA")))
case("png-rgb", "png-mode", "8-bit RGB PNG", entry="1.png")(
    _png1(lambda: png_bytes(np.zeros((6, 5, 3), np.uint8), "RGB")))
case("png-greyscale", "png-mode", "8-bit greyscale PNG", entry="1.png")(
    _png1(lambda: png_bytes(np.zeros((6, 5), np.uint8), "L")))
case("png-palette", "png-mode", "palette PNG", entry="1.png")(
    _png1(lambda: png_bytes(np.arange(30, dtype=np.uint8).reshape(6, 5), "P")))
case("png-16bit-greyscale", "png-mode", "16-bit greyscale PNG", entry="1.png")(
    _png1(lambda: png_bytes(np.arange(30, dtype=np.uint16).reshape(6, 5) * 1000)))
case("png-16bit-rgba", "png-mode", "16-bit RGBA PNG", entry="1.png")(_png1(lambda: png_raw(5, 6, 16, 6)))
case("png-is-jpeg", "png-format", "'1.png' is not a PNG image", entry="1.png")(_png1(lambda: jpeg_bytes(5, 6)))
case("png-is-text", "png-format", "'1.png' is not a PNG image", entry="1.png")(_png1(lambda: b"not a png"))
case("png-empty", "png-format", "'1.png' is not a PNG image", entry="1.png")(_png1(lambda: b""))
case("png-no-header", "png-format", "no header", entry="1.png")(_png1(lambda: b"\x89PNG\r\n\x1a\n\x00"))


@case("png-damaged-pixels", "png-damaged", "damaged PNG", entry="1.png")
def _():
    good = png_bytes(np.full((6, 5, 4), 7, np.uint8), "RGBA")
    at = good.index(b"IDAT")
    return zip_bytes({**base_entries(), "1.png": good[:at + 4] + b"\x00" * 12 + good[at + 16:]})


@case("png-bad-header-crc", "png-damaged", "its chunks cannot be read", entry="1.png",
      why="found by the fuzzer: the message quoted a Python object's address")
def _():
    png = bytearray(png_bytes(np.full((6, 5, 4), 3, np.uint8), "RGBA"))
    png[29] ^= 0xFF  # the IHDR chunk's CRC
    return zip_bytes({**base_entries(), "1.png": bytes(png)})


case("png-truncated", "png-damaged", "damaged PNG", entry="1.png")(
    _png1(lambda: png_bytes(np.full((6, 5, 4), 9, np.uint8), "RGBA")[:45]))
case("png-decompression-bomb", "png-size", "'1.png' is 100000×100000 pixels", entry="1.png",
     why="the PNG header declares 10^10 pixels; it must be refused from the header, never decoded")(
    _png1(lambda: png_raw(100_000, 100_000, rows=b"")))
case("png-text-chunk-bomb", "png-damaged", "damaged PNG", entry="1.png",
     why="a zTXt chunk that inflates to 64 MB")(
    _png1(lambda: png_raw(5, 6, before_idat=[png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(64 << 20), 9))])))


# The overlay.
case("overlay-missing", "overlay-missing", "overlay.jpg is missing", entry="overlay.jpg")(
    zipped(with_meta({"overlay": True})))
case("overlay-unexpected", "overlay-unexpected", "but metadata.json says overlay: false", entry="overlay.jpg")(
    lambda: zip_bytes({**base_entries(), "overlay.jpg": jpeg_bytes()}))
case("overlay-not-an-image", "overlay-format", "not an image that can be read", entry="overlay.jpg")(
    lambda: zip_bytes(base_entries(overlay=b"GIF89a? not really")))
case("overlay-empty", "overlay-format", "not an image that can be read", entry="overlay.jpg")(
    lambda: zip_bytes(base_entries(overlay=b"")))
case("overlay-tiff", "overlay-format", "browsers cannot show", entry="overlay.jpg")(
    lambda: zip_bytes(base_entries(overlay=tiff_bytes())))
case("overlay-enormous", "overlay-too-large", "more than the limit of 64 megapixels", entry="overlay.jpg",
     why="a JPEG header declaring 65000×65000 pixels (Pillow's own bomb check fires first)")(
    lambda: zip_bytes(base_entries(overlay=jpeg_declaring(65000, 65000))))
case("overlay-too-large", "overlay-too-large", "9000×9000 pixels", entry="overlay.jpg")(
    lambda: zip_bytes(base_entries(overlay=jpeg_declaring(9000, 9000))))


# --- inputs that are converted: ENVI headers and NumPy arrays ------------------------------------
# Each builds the files a user would open together ({name: bytes}); `convert`: refused only when
# the data is read (after the page's conversion dialog), not from the headers.

@dataclass(frozen=True)
class InputCase:
    id: str
    build: Callable[[], dict]
    rule: str
    phrase: str
    convert: bool = False
    why: str = ""


INPUT_CASES: list[InputCase] = []


def input_case(id, rule, phrase, convert=False, why=""):
    def register(build):
        INPUT_CASES.append(InputCase(id, build, rule, phrase, convert, why))
        return build
    return register


# The base cube: 3 lines × 4 samples × 2 bands of int16, BSQ, little-endian (48 bytes).
ENVI_DATA = np.arange(24, dtype="<i2").tobytes()
ENVI_KEYS = {"samples": "4", "lines": "3", "bands": "2", "header offset": "0", "file type": "ENVI Standard",
             "data type": "2", "interleave": "bsq", "byte order": "0"}


def envi_text(changes: dict | None = None, extra: str = "") -> bytes:
    keys = dict(ENVI_KEYS)
    for key, value in (changes or {}).items():
        if value is DELETE:
            keys.pop(key, None)
        else:
            keys[key] = value
    return ("ENVI\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + extra).encode()


def envi_files(changes: dict | None = None, extra: str = "", data: bytes = ENVI_DATA) -> Callable[[], dict]:
    return lambda: {"cube.hdr": envi_text(changes, extra), "cube.img": data}


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_raw(header: str, data: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    """An .npy with a hand-written header (padded as numpy pads it)."""
    text = header.encode("latin-1")
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(text)) + text + data


def npz_bytes(arrays: dict, compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


for _key in ("samples", "lines", "bands", "data type"):
    input_case(f"envi-missing-{_key.replace(' ', '-')}", "envi-header", f"lacks '{_key}'")(envi_files({_key: DELETE}))
input_case("envi-missing-interleave", "envi-header", "lacks 'interleave'")(envi_files({"interleave": DELETE}))
input_case("envi-samples-not-a-number", "envi-header", "'samples' must be a whole number, not 'four'")(
    envi_files({"samples": "four"}))
input_case("envi-samples-float", "envi-header", "'samples' must be a whole number, not '4.5'")(envi_files({"samples": "4.5"}))
input_case("envi-bands-zero", "envi-header", "'bands' must be at least 1, not 0")(envi_files({"bands": "0"}))
input_case("envi-lines-negative", "envi-header", "'lines' must be at least 1, not -3")(envi_files({"lines": "-3"}))
input_case("envi-samples-absurd", "envi-header", "'samples' is 99999999999999: at most")(
    envi_files({"samples": "99999999999999"}))
input_case("envi-declares-100000x100000", "data-too-short", "holds 48 B, but cube.hdr declares 100000×100000×2",
           why="sizes that contradict the data file are refused before anything is read")(
    envi_files({"samples": "100000", "lines": "100000"}))
input_case("envi-data-too-short", "data-too-short", "cube.img holds 47 B")(envi_files(data=ENVI_DATA[:-1]))
input_case("envi-header-offset-beyond", "data-too-short", "after a 4096-byte header offset")(
    envi_files({"header offset": "4096"}))
input_case("envi-unknown-data-type", "envi-data-type", "'data type' 7 is not an ENVI data type")(envi_files({"data type": "7"}))
input_case("envi-complex-data-type", "envi-data-type", "is complex (complex64)")(envi_files({"data type": "6"}))
input_case("envi-byte-order-2", "envi-header", "'byte order' is 2: at most 1")(envi_files({"byte order": "2"}))
input_case("envi-interleave-unknown", "envi-header", "'interleave' must be bsq, bil or bip, not 'bsx'")(
    envi_files({"interleave": "bsx"}))
input_case("envi-wavelengths-contradict-bands", "envi-header", "'wavelength' has 3 values for 2 bands")(
    envi_files(extra="wavelength = {400, 500, 600}\n"))
input_case("envi-wavelength-not-a-number", "envi-header", "'wavelength' must hold numbers, not 'blue'")(
    envi_files(extra="wavelength = {400, blue}\n"))
input_case("envi-band-names-contradict-bands", "envi-header", "'band names' has 1 names for 2 bands")(
    envi_files(extra="band names = {only one}\n"))
input_case("envi-fwhm-negative", "envi-header", "'fwhm' must not be negative")(
    envi_files(extra="wavelength = {400, 500}\nfwhm = {10, -1}\n"))
input_case("envi-nested-braces", "envi-header", "nested braces")(
    envi_files(extra="wavelength = { {400}, 500}\n"))
input_case("envi-unclosed-brace", "envi-header", "opens a '{' that is never closed")(
    envi_files(extra="band names = {red,\n green\n"))
input_case("envi-duplicate-key", "envi-header", "the key 'bands' appears twice")(envi_files(extra="bands = 3\n"))
input_case("envi-scale-factor-zero", "envi-header", "'reflectance scale factor' must be a positive number")(
    envi_files({"reflectance scale factor": "0"}))
input_case("envi-ignore-value-not-a-number", "envi-header", "'data ignore value' must hold numbers")(
    envi_files({"data ignore value": "none"}))
input_case("envi-default-bands-out-of-range", "envi-header", "names band 9, but the cube has bands 1 to 2")(
    envi_files({"default bands": "{9, 1, 2}"}))
input_case("envi-default-bands-two", "envi-header", "'default bands' must name 1 or 3 bands, not 2")(
    envi_files({"default bands": "{1, 2}"}))
input_case("envi-spectral-library", "envi-header", "spectral library")(envi_files({"file type": "ENVI Spectral Library"}))
input_case("envi-not-a-header", "envi-header", "not an ENVI header (its first line is not 'ENVI')")(
    lambda: {"cube.hdr": b"samples = 4\nlines = 3\n", "cube.img": ENVI_DATA})
input_case("envi-header-not-utf8", "envi-header", "not a text file (binary byte",
           why="a data file saved under the header's name: invalid UTF-8 with control bytes")(
    lambda: {"cube.hdr": b"ENVI\nsamples = 4\n\xff\xfe\x00\x01" + bytes(range(256)), "cube.img": ENVI_DATA})
input_case("envi-header-markup", "envi-header", MARKUP, why="a message quoting a value with markup")(
    envi_files({"samples": MARKUP}))
input_case("envi-header-huge", "envi-header", "more than the limit",
           why="a 5 MB header: refused by its size before it is parsed")(
    envi_files(extra="description = {" + "x" * (5 << 20) + "}\n"))
input_case("envi-data-file-missing", "envi-pair", "the data file is missing",
           why="two files dropped: the header and something that is not its data file")(
    lambda: {"cube.hdr": envi_text(), "notes.txt": b"not the data"})
input_case("envi-header-alone", "envi-pair", "the data file is missing")(lambda: {"cube.hdr": envi_text()})
input_case("envi-two-headers", "envi-pair", "2 ENVI headers")(
    lambda: {"a.hdr": envi_text(), "b.hdr": envi_text(), "a.img": ENVI_DATA})
input_case("envi-data-file-alone", "envi-pair", "looks like an ENVI data file")(lambda: {"cube.img": ENVI_DATA})
input_case("envi-every-value-ignored", "no-data", "every value is NaN, ±inf or the data ignore value", convert=True)(
    envi_files({"data ignore value": "7"}, data=np.full(24, 7, "<i2").tobytes()))
input_case("envi-zip-without-data", "envi-pair", "the data file is missing",
           why="a ZIP holding the header but not its data file")(
    lambda: {"cube.zip": zip_bytes({"cube.hdr": envi_text(), "other.bin": ENVI_DATA})})

input_case("npy-not-npy", "not-npy", "not an .npy file")(lambda: {"x.npy": b"<!doctype html><p>404"})
input_case("npy-empty-file", "not-npy", "not an .npy file")(lambda: {"x.npy": b""})
input_case("npy-unknown-version", "npy-format", "format version 9.0")(
    lambda: {"x.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }", bytes(4), b"\x09\x00")})
input_case("npy-header-too-long", "npy-format", "more than the limit of 10000")(
    lambda: {"x.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30) + b"{"})
input_case("npy-header-not-a-dict", "npy-format", "not the dictionary the NumPy format writes")(
    lambda: {"x.npy": npy_raw("__import__('os').system('echo pwned')", bytes(8))})
input_case("npy-header-deeply-nested", "npy-format", "not the dictionary the NumPy format writes",
           why="found in the worker: Python's parser overflowed the JavaScript stack and Pyodide died")(
    lambda: {"x.npy": npy_raw("[" * 4000 + "]" * 4000)})
input_case("npy-header-nesting-behind-a-quote", "npy-format", "not the dictionary the NumPy format writes",
           why="an escaped quote must not hide the nesting from the depth check")(
    lambda: {"x.npy": npy_raw("'\\'' + " + "[" * 4000 + "]" * 4000)})
input_case("npy-header-extra-key", "npy-format", "must hold exactly 'descr', 'fortran_order' and 'shape'")(
    lambda: {"x.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), 'x': 1}", bytes(4))})
input_case("npy-negative-shape", "npy-format", "shape must be a tuple of whole numbers ≥ 0")(
    lambda: {"x.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1, 3), }")})
input_case("npy-unknown-dtype", "npy-dtype", "unknown data type 'zz9'")(
    lambda: {"x.npy": npy_raw("{'descr': 'zz9', 'fortran_order': False, 'shape': (1, 1, 1), }", bytes(8))})
input_case("npy-complex", "npy-dtype", "complex numbers")(lambda: {"x.npy": npy_bytes(np.zeros((2, 2, 2), complex))})
input_case("npy-object", "npy-dtype", "Python objects")(
    lambda: {"x.npy": npy_bytes(np.array([[[None]]], dtype=object))})
input_case("npy-text", "npy-dtype", "text")(lambda: {"x.npy": npy_bytes(np.array([[["a"]]]))})
input_case("npy-structured", "npy-dtype", "structured array")(
    lambda: {"x.npy": npy_bytes(np.zeros((2, 2, 2), dtype=[("a", "<f4"), ("b", "<i2")]))})
input_case("npy-float128", "npy-dtype", "128-bit floats")(
    lambda: {"x.npy": npy_raw("{'descr': '<f16', 'fortran_order': False, 'shape': (1, 1, 1), }", bytes(16))})
input_case("npy-2d", "ndim", "3 dimensions")(lambda: {"x.npy": npy_bytes(np.zeros((4, 5), np.float32))})
input_case("npy-5d", "ndim", "has 5 with shape (1, 1, 2, 2, 2)")(lambda: {"x.npy": npy_bytes(np.zeros((1, 1, 2, 2, 2)))})
input_case("npy-batch", "ndim", "a batch of 3 maps")(lambda: {"x.npy": npy_bytes(np.zeros((3, 8, 4, 4), np.float32))})
input_case("npy-empty-array", "empty", "the array is empty")(lambda: {"x.npy": npy_bytes(np.zeros((4, 0, 3)))})
input_case("npy-truncated", "data-too-short", "the file is cut short")(
    lambda: {"x.npy": npy_bytes(np.ones((6, 5, 7), np.float32))[:-10]})
input_case("npy-declares-100000x100000", "data-too-short", "float32 (100000, 100000, 64)",
           why="an absurd shape is refused from the header: the file cannot hold it")(
    lambda: {"x.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 64), }", bytes(64))})
input_case("npy-all-nan", "no-data", "every value is NaN, ±inf", convert=True)(
    lambda: {"x.npy": npy_bytes(np.full((3, 4, 5), np.nan, np.float32))})
input_case("npy-markup-name", "ndim", MARKUP, why="a file name with markup, quoted in the message")(
    lambda: {f"{MARKUP}.npy": npy_bytes(np.zeros((4, 5)))})
input_case("npz-no-arrays", "npz-format", "holds no .npy arrays")(lambda: {"x.npz": zip_bytes({"readme.txt": b"hi"})})
input_case("npz-no-usable-array", "ndim", "holds no array that can be a map")(
    lambda: {"x.npz": npz_bytes({"labels": np.arange(5), "names": np.zeros((3, 3))})})
input_case("npz-truncated-member", "data-too-short", "the file is cut short")(
    lambda: {"x.npz": zip_bytes({"a.npy": npy_bytes(np.ones((6, 5, 7), np.float32))[:-9]})})
input_case("hdf5-file", "hdf5", "HDF5 files (.h5, .hdf5, MATLAB .mat v7.3) cannot be opened here")(
    lambda: {"x.h5": b"\x89HDF\r\n\x1a\n" + bytes(100)})
input_case("mat-v73-file", "hdf5", "no h5py wheel",
           why="MATLAB v7.3: a 512-byte MATLAB header, then HDF5")(
    lambda: {"x.mat": b"MATLAB 7.3 MAT-file".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n" + bytes(100)})
input_case("mat-v5-file", "mat", "MATLAB .mat file (v5)")(lambda: {"x.mat": b"MATLAB 5.0 MAT-file".ljust(200, b" ")})
input_case("two-arrays-at-once", "input", "open one dataset at a time")(
    lambda: {"a.npy": npy_bytes(np.ones((2, 2, 2))), "b.npy": npy_bytes(np.ones((2, 2, 2)))})


def valid_npy() -> bytes:
    """A tiny valid array, opened after the broken inputs."""
    return npy_bytes(np.random.default_rng(5).normal(size=(4, 6, 9)).astype(np.float32))


def by_id(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def expected() -> dict:
    out = {c.id: {"rule": c.rule, "phrase": c.phrase, **({"entry": c.entry} if c.entry is not ... else {}),
                  **({"why": c.why} if c.why else {})} for c in CASES}
    for c in INPUT_CASES:
        out[c.id] = {"rule": c.rule, "phrase": c.phrase, "files": sorted(c.build()),
                     **({"convert": True} if c.convert else {}), **({"why": c.why} if c.why else {})}
    return out


def write(outdir: Path) -> list[Path]:
    """Write every case as OUTDIR/<id>.zip (an input case as the folder OUTDIR/<id>/ of its files),
    the valid dataset as valid.zip, a valid array as valid.npy, and expected.json."""
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in CASES:
        path = outdir / f"{c.id}.zip"
        path.write_bytes(c.build())
        paths.append(path)
    for c in INPUT_CASES:
        folder = outdir / c.id
        folder.mkdir(exist_ok=True)
        for name, data in c.build().items():
            (folder / name.replace("/", "_")).write_bytes(data)
        paths.append(folder)
    (outdir / "valid.zip").write_bytes(valid_zip())
    (outdir / "valid.npy").write_bytes(valid_npy())
    (outdir / "expected.json").write_text(json.dumps(expected(), indent=1, ensure_ascii=False) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.strip().splitlines()[0])
        print("usage: python tests/corpus.py OUTDIR")
        return 2
    paths = write(Path(args[0]))
    print(f"wrote {len(CASES)} broken datasets, {len(INPUT_CASES)} broken inputs (folders), valid.zip, valid.npy "
          f"and expected.json to {args[0]}")
    return 0


assert len({c.id for c in CASES} | {c.id for c in INPUT_CASES}) == len(CASES) + len(INPUT_CASES), "duplicate case ids"

if __name__ == "__main__":
    sys.exit(main())
