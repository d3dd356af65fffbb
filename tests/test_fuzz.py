"""Property-based fuzzing of the reader: whatever the bytes, only DatasetError may escape.

Mutations of valid dataset ZIPs at three levels: raw bytes (flips, overwrites with
boundary values, insertions, deletions, truncation), entries (dropped, duplicated,
renamed, replaced, re-compressed, PNG bytes mutated) and metadata.json (arbitrary JSON
values in every field). Every input must either read as a dataset whose arrays agree
with its metadata, or raise ``DatasetError`` with a rule and a message. Anything else is
a crash: it becomes a case in tests/corpus.py.

CI runs a bounded number of cases (IFEALID_FUZZ_EXAMPLES, default 1200 per test, about
4800 in all). A longer run:

    IFEALID_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest tests/test_fuzz.py -s

(``-s`` prints the cases run; failures print a reproduction blob for ``@reproduce_failure``.)
"""
from __future__ import annotations

import json
import os
import zipfile
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ifealid
from ifealid import DatasetError
from ifealid.browser import decode_for_worker
from corpus import raw_entry, raw_zip
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

EXAMPLES = int(os.environ.get("IFEALID_FUZZ_EXAMPLES", "1200"))
# Small, so that a mutation declaring a large (but plausible) shape is refused by the budget
# rule rather than allocating; the code paths are the same at any budget.
BUDGET = 16 * 1024 ** 2
RUN = Counter()

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared; hangs would show as a stuck test, not a slow case
    database=None if EXAMPLES <= 5000 else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)


def _bases():
    """Valid datasets to mutate: every precision, stored and deflated, with and without overlay."""
    out = []
    for precision, shape, overlay, compression in [
        (8, (6, 5, 7), False, zipfile.ZIP_STORED),
        (16, (3, 4, 5), True, zipfile.ZIP_DEFLATED),
        (32, (2, 3, 2), False, zipfile.ZIP_DEFLATED),
    ]:
        values = random_values(shape, precision, seed=precision)
        entries = dataset_entries(values, precision, name=f"fuzz {precision}",
                                  overlay=jpeg_bytes(8, 6) if overlay else None)
        out.append((entries, compression))
    return out


BASES = _bases()
BASE_ZIPS = [zip_bytes(entries, compression) for entries, compression in BASES]


def check(data: bytes) -> None:
    """The property: a valid dataset, or a DatasetError; the worker's entry point agrees."""
    RUN["cases"] += 1
    try:
        dataset = ifealid.read_dataset(data, memory_budget=BUDGET)
    except DatasetError as exc:
        assert exc.rule and isinstance(exc.rule, str)
        assert exc.message and isinstance(exc.message, str)
        assert " object at 0x" not in exc.message, exc.message  # no Python object reprs for users
        RUN[exc.rule] += 1
        outcome = exc.to_dict()
    else:
        info = dataset.info
        assert dataset.layers.shape == info.layers_shape
        assert dataset.layers.dtype == info.dtype
        assert dataset.values().shape == info.shape
        RUN["valid"] += 1
        outcome = None
    result = decode_for_worker(data, memory_budget=BUDGET)
    if outcome is None:
        assert "error" not in result
        assert result["layers"].shape == dataset.layers.shape
    else:
        assert result["error"] == outcome


# --- byte level ---------------------------------------------------------------------------------

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
               b"\xff\xff", b"\x00\x00\x00\x80", b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"IHDR"]


@st.composite
def byte_mutations(draw):
    data = bytearray(draw(st.sampled_from(BASE_ZIPS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "set", "interesting", "insert", "delete", "truncate"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "interesting":
            value = draw(st.sampled_from(INTERESTING))
            data[at:at + len(value)] = value
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(byte_mutations())
def test_fuzz_bytes(data):
    check(data)


@FUZZ
@given(st.sampled_from(BASE_ZIPS), st.data())
def test_fuzz_header_fields(base, data):
    """Overwrite a 2- or 4-byte field of a local header, the central directory or the end record
    (sizes, offsets, counts, flags, methods, name lengths) with a boundary or random value."""
    blob = bytearray(base)
    starts = [i for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06")
              for i in range(len(blob)) if blob.startswith(sig, i)]
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.sampled_from(starts))
        offset = start + data.draw(st.integers(4, 44))
        width = data.draw(st.sampled_from([2, 4]))
        value = data.draw(st.one_of(st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
                                    st.integers(0, 2 ** (8 * width) - 1)))
        blob[offset:offset + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    check(bytes(blob))


# --- entry level -------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(["0.png", "1.png", "2.png", "00.png", "-1.png", "1.PNG", "metadata.json", "overlay.jpg",
                     "Metadata.json", "a/0.png", "../0.png", "/0.png", "0.png/", "\\0.png", "٣.png", "0.png ",
                     "１.png", "1e3.png", "²", "².png", "0.png\x00", ""]),
    st.text(min_size=0, max_size=12),
)


@st.composite
def entry_mutations(draw):
    entries, compression = draw(st.sampled_from(BASES))
    items = list(entries.items())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["drop", "duplicate", "rename", "replace", "truncate", "flip", "swap"]))
        if not items:
            break
        i = draw(st.integers(0, len(items) - 1))
        name, payload = items[i]
        if kind == "drop":
            items.pop(i)
        elif kind == "duplicate":
            items.append((name, payload))
        elif kind == "rename":
            items[i] = (draw(NAMES), payload)
        elif kind == "replace":
            items[i] = (name, draw(st.one_of(st.binary(max_size=64), st.sampled_from([p for _, p in items]))))
        elif kind == "truncate":
            items[i] = (name, payload[:draw(st.integers(0, max(0, len(payload) - 1)))])
        elif kind == "flip" and payload:
            b = bytearray(payload)
            for _ in range(draw(st.integers(1, 4))):
                b[draw(st.integers(0, len(b) - 1))] ^= 1 << draw(st.integers(0, 7))
            items[i] = (name, bytes(b))
        elif kind == "swap" and len(items) > 1:
            j = draw(st.integers(0, len(items) - 1))
            items[i], items[j] = (name, items[j][1]), (items[j][0], payload)
    # Written by hand (tests/corpus.py): zipfile's writer refuses empty names and warns on duplicates.
    deflate = draw(st.sampled_from([compression == zipfile.ZIP_DEFLATED, False, True, None]))
    return raw_zip([raw_entry(name.encode("utf-8", "surrogatepass"), payload,
                              deflate=draw(st.booleans()) if deflate is None else deflate,
                              flags=0 if name.isascii() else 0x800)
                    for name, payload in items])


@FUZZ
@given(entry_mutations())
def test_fuzz_entries(data):
    check(data)


# --- metadata -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
FIELDS = ["name", "width", "height", "features", "precision", "overlay", "range"]


@st.composite
def metadata_mutations(draw):
    entries, compression = draw(st.sampled_from(BASES))
    entries = dict(entries)
    meta = json.loads(entries["metadata.json"])
    for field in draw(st.lists(st.sampled_from(FIELDS + ["extra"]), min_size=1, max_size=4, unique=True)):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            meta.pop(field, None)
        elif choice == 1 and field in ("width", "height", "features", "precision"):
            meta[field] = meta[field] + draw(st.integers(-3, 3))  # near the truth: count mismatches
        else:
            meta[field] = draw(JSON_VALUES)
    raw = json.dumps(meta, allow_nan=True).encode()
    if draw(st.booleans()):
        raw = draw(st.sampled_from([raw, b"\xef\xbb\xbf" + raw, raw.replace(b'"', b"'"), raw[:-1], raw + b"x"]))
    entries["metadata.json"] = raw
    return zip_bytes(entries, compression)


@FUZZ
@given(metadata_mutations())
def test_fuzz_metadata(data):
    check(data)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if RUN:
        rules = ", ".join(f"{rule} {n}" for rule, n in RUN.most_common() if rule != "cases")
        print(f"\nfuzz: {RUN['cases']} cases run ({rules})")


def test_mutated_bases_are_valid_to_start_with():
    for data in BASE_ZIPS:
        assert ifealid.read_dataset(data).values().size > 0
    assert np.dtype(ifealid.read_dataset(BASE_ZIPS[2]).layers.dtype) == np.dtype("<u4")
