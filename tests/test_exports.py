"""The export encodings (app/exports.py) that `ifealid map` writes and the page's worker makes:
each read back with numpy or Pillow equals what went in. Runs in CPython and in the worker's
Pyodide (tests/runtimes.py), where the page's exports are encoded."""
import csv
import io

import numpy as np
import pytest
from PIL import Image

from ifealid import exports
from ifealid.browser import EXPORT_KINDS, encode_for_worker

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)


def a_map(seed=0, shape=(9, 13)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.7, 1.0, size=shape).astype(np.float32)


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def test_map_npy_is_float32_hw_and_reads_back_exactly():
    smap = a_map()
    back = np.load(io.BytesIO(exports.encode_map_npy(smap)), allow_pickle=False)
    assert back.dtype == np.float32 and back.shape == (9, 13) and np.array_equal(back, smap)
    as_float64 = np.load(io.BytesIO(exports.encode_map_npy(smap.astype(np.float64) + 1e-12)))
    assert as_float64.dtype == np.float32  # a float64 map is stored as float32


def test_map_png16_is_16_bit_greyscale_from_min_to_max_with_its_range_in_text_chunks():
    smap = a_map(1)
    smap[0, 0], smap[1, 1] = -0.7, 1.0
    image = png(exports.encode_map_png16(smap, "angular", "centred"))
    assert image.mode in ("I;16", "I") and image.size == (13, 9)  # Pillow < 10.? reads 16-bit grey as "I"
    with Image.open(io.BytesIO(exports.encode_map_png16(smap, "angular", "centred"))) as raw:
        assert raw.info.get("transparency") is None and raw.getbands() == ("I",)
    pixels = np.asarray(image).astype(np.int64)
    lo, hi = float(smap.min()), float(smap.max())
    expected = np.rint((smap.astype(np.float64) - lo) / (hi - lo) * 65535)
    assert np.array_equal(pixels, expected) and pixels.min() == 0 and pixels.max() == 65535
    assert image.text == {"ifealid:min": repr(lo), "ifealid:max": repr(hi), "ifealid:metric": "angular",
                          "ifealid:values": "centred", "ifealid:scale": "linear"}
    back = float(image.text["ifealid:min"]) + pixels / 65535 * (float(image.text["ifealid:max"]) - lo)
    assert np.abs(back - smap).max() <= (hi - lo) / 65535 / 2 * 1.000001


def test_a_flat_map_is_all_zeros_with_min_equal_to_max():
    image = png(exports.encode_map_png16(np.full((3, 4), 0.25, np.float32), "cosine", "stored"))
    assert not np.asarray(image).any() and image.text["ifealid:min"] == image.text["ifealid:max"] == "0.25"


def test_mask_png_is_0_and_255_in_8_bits_and_mask_npy_is_bool():
    mask = np.random.default_rng(2).random((7, 5)) > 0.5
    image = png(exports.encode_mask_png(mask))
    assert image.mode == "L" and image.size == (5, 7)
    assert np.array_equal(np.asarray(image), np.where(mask, 255, 0))
    back = np.load(io.BytesIO(exports.encode_mask_npy(mask)))
    assert back.dtype == bool and np.array_equal(back, mask)
    assert exports.encode_mask_png(mask.astype(np.uint8)) == exports.encode_mask_png(mask)  # 0/1 accepted


def test_references_csv_has_one_column_per_reference_and_exact_numbers():
    vectors = np.random.default_rng(3).normal(size=(6, 3))
    vectors[0, 0] = 1 / 3
    labels = ["pixel 3,4", 'region "a", 0,0,2,2', "x"]
    text = exports.encode_references_csv(vectors, labels).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["channel", *labels]
    assert [int(r[0]) for r in rows[1:]] == list(range(6))
    assert np.array_equal(np.array([[float(v) for v in r[1:]] for r in rows[1:]]), vectors)
    assert text.endswith("\n") and "\r" not in text
    back = np.load(io.BytesIO(exports.encode_references_npy(vectors)))
    assert back.dtype == np.float64 and np.array_equal(back, vectors)


def test_encodings_are_deterministic():
    smap = a_map(4)
    assert exports.encode_map_png16(smap, "dot", "true") == exports.encode_map_png16(smap.copy(), "dot", "true")
    assert exports.encode_map_npy(smap) == exports.encode_map_npy(smap.astype(np.float64))


@pytest.mark.parametrize("call, phrase", [
    (lambda: exports.encode_map_npy(np.zeros((2, 2, 2))), "(H, W)"),
    (lambda: exports.encode_map_png16(np.array([[np.nan, 1.0]]), "angular", "stored"), "NaN"),
    (lambda: exports.encode_map_npy(np.array([[1e39]])), "float32"),
    (lambda: exports.encode_mask_png(np.array([[0, 2]])), "true/false"),
    (lambda: exports.encode_references_csv(np.zeros((3, 2)), ["a"]), "2 references need 2 labels"),
    (lambda: exports.encode_references_npy(np.zeros(3)), "(C, K)"),
])
def test_wrong_arrays_are_refused(call, phrase):
    with pytest.raises(ValueError) as caught:
        call()
    assert phrase in str(caught.value)


def test_the_workers_entry_gives_the_same_bytes_as_the_encoders():
    smap, mask = a_map(5), a_map(6) > 0.2
    vectors = np.random.default_rng(7).normal(size=(4, 2))
    scores = np.random.default_rng(8).normal(size=(5, 4, 3)).astype(np.float32)
    picture = np.random.default_rng(9).random(size=(5, 4, 3))
    pca_meta = {"components": [1, 2, 3], "values": "centred", "fit": "all", "scale": "robust",
                "explained": [0.5, 0.2, 0.1]}
    cases = {  # kind: (the page's typed array, its type, meta, the encoder's bytes)
        "map-npy": (smap, "Float32Array", {}, exports.encode_map_npy(smap)),
        "map-png16": (smap, "Float32Array", {"metric": "euclidean", "values": "zscore"},
                      exports.encode_map_png16(smap, "euclidean", "zscore")),
        "mask-png": (mask.astype(np.uint8) * 255, "Uint8Array", {}, exports.encode_mask_png(mask)),
        "mask-npy": (mask.astype(np.uint8), "Uint8Array", {}, exports.encode_mask_npy(mask)),
        "refs-csv": (vectors, "Float64Array", {"labels": ["a", "b"]}, exports.encode_references_csv(vectors, ["a", "b"])),
        "refs-npy": (vectors, "Float64Array", {}, exports.encode_references_npy(vectors)),
        "pca-npy": (scores, "Float32Array", {}, exports.encode_pca_npy(scores)),
        "pca-png": (picture, "Float64Array", pca_meta, exports.encode_pca_png(picture, **pca_meta)),
    }
    assert set(cases) == set(EXPORT_KINDS)
    for kind, (array, array_type, meta, expected) in cases.items():
        assert encode_for_worker(kind, array.tobytes(), array_type, list(array.shape), meta) == expected, kind
    with pytest.raises(ValueError, match="do not fill the shape"):
        encode_for_worker("map-npy", smap.tobytes(), "Float32Array", [5, 5])
    with pytest.raises(ValueError, match="unknown export"):
        encode_for_worker("map.tiff", b"", "Float32Array", [1, 1])
    with pytest.raises(ValueError, match="cannot be a 'BigInt64Array'"):
        encode_for_worker("map-npy", bytes(8), "BigInt64Array", [1, 1])
