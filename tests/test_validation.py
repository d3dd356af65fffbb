"""Every refusal: the rule it reports, the entry it names, words a user understands."""
import io
import json
import zipfile

import numpy as np
import pytest

import ifealid
from ifealid import DatasetError
from zipkit import dataset_entries, jpeg_bytes, png_bytes, random_values, zip_bytes

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)

VALUES = random_values((6, 5, 7), 8, seed=11)  # 2 PNGs at 8 bit


def entries(**kw):
    return dataset_entries(VALUES, 8, **kw)


def with_meta(**changes):
    e = entries()
    meta = json.loads(e["metadata.json"])
    for key, value in changes.items():
        if value is KeyError:
            meta.pop(key)
        else:
            meta[key] = value
    e["metadata.json"] = json.dumps(meta).encode()
    return e


def refuse(data, rule, phrase, entry=...):
    with pytest.raises(DatasetError) as caught:
        ifealid.read_dataset(data if isinstance(data, bytes) else zip_bytes(data))
    error = caught.value
    assert error.rule == rule, error.message
    assert phrase in error.message, error.message
    if entry is not ...:
        assert error.entry == entry
    return error


def test_valid_dataset_reads():
    assert np.array_equal(ifealid.read_dataset(zip_bytes(entries())).values(), VALUES)


# --- the archive -------------------------------------------------------------------------------

def test_not_a_zip():
    refuse(b"<html>Not found</html>", "not-zip", "not a readable ZIP")


def test_truncated_zip():
    data = zip_bytes(entries())
    refuse(data[: len(data) // 2], "not-zip", "truncated")


def test_bad_crc_names_the_entry():
    data = bytearray(zip_bytes(entries()))
    start = data.index(b"IDAT") + 8  # flip a byte inside 0.png's stored data
    data[start] ^= 0xFF
    refuse(bytes(data), "damaged-entry", "'0.png' is damaged", entry="0.png")


def test_encrypted_entry():
    # zipfile cannot write encrypted entries: set the flag bit in the central directory by hand.
    data = bytearray(zip_bytes(entries()))
    central = data.index(b"PK\x01\x02")  # the first central record is 0.png's
    data[central + 8] |= 0x1
    refuse(bytes(data), "encrypted", "password", entry="0.png")


def test_absurd_channel_count_is_refused_quickly():
    refuse(with_meta(width=1, height=1, features=10**12), "too-large", "memory budget")
    refuse(with_meta(width=1, height=1, features=10**8), "missing-png", "and 24999993 more")


@pytest.mark.parametrize("name, rule, phrase", [
    ("data/", "folder-entry", "is a folder"),
    ("data/0.png", "entry-name", "inside a folder"),
    ("../0.png", "entry-name", "inside a folder"),
    ("/etc/passwd", "entry-name", "absolute path"),
    ("a\\b.png", "entry-name", "inside a folder"),
])
def test_entry_names_must_be_flat(name, rule, phrase):
    e = entries()
    e[name] = b"x"
    refuse(e, rule, phrase, entry=name)


def test_nul_in_entry_name():
    e = entries()
    e["3.png"] = b"x"
    data = bytearray(zip_bytes(e))
    for marker in (b"3.png",):  # local header and central directory both carry the name
        at = data.find(marker)
        while at >= 0:
            data[at + 1] = 0
            at = data.find(marker, at + 1)
    refuse(bytes(data), "entry-name", "NUL")


def test_duplicate_entry():
    e = list(entries().items()) + [("1.png", entries()["1.png"])]
    with pytest.warns(UserWarning):
        data = zip_bytes(e)
    refuse(data, "duplicate-entry", "appears 2 times", entry="1.png")


def test_unsupported_compression():
    e = entries()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in e.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_BZIP2 if name == "1.png" else zipfile.ZIP_STORED)
    refuse(buffer.getvalue(), "compression", "only stored and deflate", entry="1.png")


# --- metadata.json ------------------------------------------------------------------------------

def test_metadata_missing():
    e = entries()
    del e["metadata.json"]
    refuse(e, "metadata-missing", "metadata.json is missing")


@pytest.mark.parametrize("raw, phrase", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
], ids=["not-json", "not-utf-8", "nested-5000-deep"])  # explicit: pytest versions differ on long values' ids
def test_metadata_not_json(raw, phrase):
    e = entries()
    e["metadata.json"] = raw
    refuse(e, "metadata-json", phrase, entry="metadata.json")


def test_metadata_not_an_object():
    e = entries()
    e["metadata.json"] = b"[1, 2]"
    refuse(e, "metadata-object", "JSON object")


def test_metadata_huge():
    e = entries()
    e["metadata.json"] = json.dumps({**json.loads(e["metadata.json"]), "pad": "x" * 100_000}).encode()
    refuse(e, "metadata-too-large", "more than the limit of 66 kB")  # 64 KiB, in the page's units


def test_metadata_with_bom_is_read():
    # Some editors start UTF-8 files with a byte order mark; the metadata must still read in full.
    e = entries(name="with BOM")
    e["metadata.json"] = b"\xef\xbb\xbf" + e["metadata.json"]
    dataset = ifealid.read_dataset(zip_bytes(e))
    assert dataset.info.to_metadata() == {"name": "with BOM", "width": 5, "height": 6, "features": 7,
                                          "precision": 8, "overlay": False}
    assert np.array_equal(dataset.values(), VALUES)


@pytest.mark.parametrize("field", ["precision", "name", "height", "width", "features"])
def test_metadata_field_missing(field):
    refuse(with_meta(**{field: KeyError}), "missing-field", f"lacks the field '{field}'")


def test_several_missing_fields_are_listed_together():
    error = refuse(with_meta(width=KeyError, height=KeyError), "missing-field", "fields")
    assert "'width'" in error.message and "'height'" in error.message


@pytest.mark.parametrize("field, value", [
    ("width", "5"), ("height", 6.5), ("features", None), ("precision", True), ("width", [5]),
])
def test_metadata_numbers_must_be_integers(field, value):
    refuse(with_meta(**{field: value}), "field-type", f"'{field}' must be an integer")


def test_integral_floats_are_accepted():
    dataset = ifealid.read_dataset(zip_bytes(with_meta(width=5.0)))
    assert dataset.info.width == 5


@pytest.mark.parametrize("field, value", [("width", 0), ("height", -3), ("features", 0), ("precision", -8)])
def test_metadata_numbers_must_be_positive(field, value):
    refuse(with_meta(**{field: value}), "field-range", f"'{field}' must be greater than 0")


def test_precision_12_is_refused():
    refuse(with_meta(precision=12), "precision", "8, 16 or 32")


def test_name_must_be_a_string():
    refuse(with_meta(name=12), "field-type", "'name' must be a string")


def test_overlay_must_be_a_boolean():
    refuse(with_meta(overlay="yes"), "field-type", "'overlay' must be true or false")


def test_overlay_field_is_optional():
    assert ifealid.read_dataset(zip_bytes(with_meta(overlay=KeyError))).overlay_bytes is None


# --- the entries against the metadata ---------------------------------------------------------

def test_too_few_pngs():
    e = entries()
    del e["1.png"]
    refuse(e, "missing-png", "missing '1.png'", entry="1.png")


def test_too_many_pngs():
    e = entries()
    e["2.png"] = e["1.png"]
    refuse(e, "unexpected-entry", "'2.png'", entry="2.png")


def test_zero_padded_png_names_are_not_the_format():
    e = entries()
    e["01.png"] = e.pop("1.png")
    refuse(e, "unexpected-entry", "'01.png'")


def test_overlay_true_without_jpeg():
    refuse(with_meta(overlay=True), "overlay-missing", "overlay.jpg is missing", entry="overlay.jpg")


def test_overlay_false_with_an_extra_jpeg():
    e = entries()
    e["overlay.jpg"] = jpeg_bytes()
    refuse(e, "overlay-unexpected", "overlay: false", entry="overlay.jpg")


def test_overlay_that_is_not_an_image():
    refuse(entries(overlay=b"GIF89a? no"), "overlay-format", "not an image", entry="overlay.jpg")


def test_overlay_is_read():
    dataset = ifealid.read_dataset(zip_bytes(entries(overlay=jpeg_bytes(30, 12))))
    assert dataset.overlay_size == (30, 12)
    assert dataset.overlay_image().size == (30, 12)


# --- the PNGs ------------------------------------------------------------------------------------

def _replace_png(png: bytes):
    e = entries()
    e["1.png"] = png
    return e


def test_png_of_the_wrong_size():
    refuse(_replace_png(png_bytes(np.zeros((6, 4, 4), np.uint8), "RGBA")), "png-size", "4×6 pixels", entry="1.png")


@pytest.mark.parametrize("array, mode, phrase", [
    (np.zeros((6, 5, 3), np.uint8), "RGB", "8-bit RGB PNG"),
    (np.zeros((6, 5), np.uint8), "L", "8-bit greyscale PNG"),
    (np.arange(30, dtype=np.uint8).reshape(6, 5), "P", "palette PNG"),
    (np.arange(30, dtype=np.uint16).reshape(6, 5) * 1000, None, "16-bit greyscale PNG"),
])
def test_png_of_the_wrong_mode(array, mode, phrase):
    refuse(_replace_png(png_bytes(array, mode)), "png-mode", phrase, entry="1.png")


def test_png_entry_that_is_not_a_png():
    refuse(_replace_png(jpeg_bytes(5, 6)), "png-format", "not a PNG image", entry="1.png")


def test_png_with_damaged_pixel_data():
    good = _replace_png(png_bytes(np.full((6, 5, 4), 7, np.uint8), "RGBA"))["1.png"]
    at = good.index(b"IDAT")
    broken = good[:at + 4] + b"\x00" * 12 + good[at + 16:]
    refuse(_replace_png(broken), "png-damaged", "damaged PNG", entry="1.png")


# --- sizes checked before inflating ---------------------------------------------------------------

def test_declared_size_over_the_memory_budget_is_refused_before_decoding():
    e = with_meta(width=100_000, height=100_000, features=512)
    error = refuse(e, "too-large", "memory budget")
    assert "100000×100000×512" in error.message


def test_budget_is_configurable():
    with pytest.raises(DatasetError) as caught:
        ifealid.read_dataset(zip_bytes(entries()), memory_budget=100)
    # Two layers of 6×5 RGBA bytes; sizes are written as the page writes them (app/units.py).
    assert "needs 240 B once decoded, more than the memory budget of 100 B" in caught.value.message


def test_png_entry_declaring_more_than_a_png_can_need_is_a_zip_bomb():
    e = entries()
    e["1.png"] = e["1.png"] + b"\x00" * 3_000_000  # inflates to far more than a 5×6 PNG
    refuse(zip_bytes(e, compression=zipfile.ZIP_DEFLATED), "entry-too-large", "more than any 5×6 RGBA PNG", entry="1.png")


def test_progress_is_reported_per_png():
    calls = []
    ifealid.read_dataset(zip_bytes(entries()), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_read_info_reads_only_the_metadata():
    info = ifealid.read_info(zip_bytes(entries()))
    assert info.shape == (6, 5, 7) and info.png_count == 2


def test_missing_file():
    with pytest.raises(DatasetError, match="no such file"):
        ifealid.load_dataset("/nonexistent/x.zip")
