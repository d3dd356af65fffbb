"""Maps larger than the largest texture, drawn in tiles (issue 19): every texture of a tile fits
the device, and what the renderer computes and draws is the same as from one texture.

Tiles are forced small here (the renderer's maxTileSize option: 16 or 8 pixels) on maps of a
few dozen pixels, so that borders run through the middle of what is drawn; the test of the
device's real limit loads a map one pixel wider than the largest texture. Each tiled result is
compared with the same view drawn from one tile (bit for bit: maps, canvases, stretches, masks,
pictures) and the maps with the float64 reference.
"""
from __future__ import annotations

import base64

import numpy as np
import pytest

from ifealid import similarity as S
from ifealid.colormaps import lut_bytes
from test_renderer import REACHED, _shots, h, make_values, module_page, to_layers  # noqa: F401 (fixtures)

HEIGHT, WIDTH, CHANNELS = 29, 37, 13
LUT = base64.b64encode(lut_bytes("viridis")).decode()

# Views of the map: references on and beside tile borders (16, 32 in x; 16 in y), metrics,
# pins and regions in other tiles, zoomed (two-step colour) and panned views, the fixed scale.
STATES = [
    dict(reference=[16, 16], metric="angular", lut=LUT),
    dict(reference=[15, 16], metric="cosine", view={"scale": 3.5, "offsetX": -40.3, "offsetY": -33.7}),
    dict(reference=[33, 3], metric="euclidean", view={"scale": 1.3, "offsetX": 2.2, "offsetY": 1.1}),
    dict(reference=[2, 27], metric="angular", pins=[[31, 2], [17, 15]], combine="max", fit=4),
    dict(reference=[20, 20], metric="correlation", values="centred", regions=[[12, 10, 21, 19]], pointer=False),
    dict(reference=[8, 8], metric="angular", stretch="absolute", view={"scale": 2, "offsetX": -20, "offsetY": -5}),
]


def _dataset(precision):
    values = make_values(19, HEIGHT, WIDTH, CHANNELS, precision)
    top = 2 ** precision - 1
    stats = {"mean": values.reshape(-1, CHANNELS).mean(0), "std": values.reshape(-1, CHANNELS).std(0)}
    return values, top, stats


def _draw_all(h, values, precision, stats, compute, tile, canvas=(71, 53)):
    options = {"maxTileSize": tile} if tile else {}
    h.create(canvas=canvas, **options)
    h.load(to_layers(values, precision), CHANNELS, precision, range_=[0, 2 ** precision - 1], stats=stats)
    assert h.call("cpu", compute == "cpu")["on"] == compute
    tiles = h.page.evaluate("harness.renderer.ds.tiles.map((t) => [t.x0, t.y0, t.w, t.h])")
    out = []
    for state in STATES:
        sim = h.similarity(**state)
        picture, stretch = h.render()
        out.append((sim, picture, stretch))
    return tiles, out


@pytest.mark.parametrize("compute,precision", [("gpu", 8), ("gpu", 16), ("cpu", 8), ("cpu", 16)])
def test_tiled_maps_and_canvases_equal_one_texture_and_float64(h, compute, precision):
    values, top, stats = _dataset(precision)
    _, whole = _draw_all(h, values, precision, stats, compute, None)
    tiles, tiled = _draw_all(h, values, precision, stats, compute, 16)
    assert tiles == [[0, 0, 16, 16], [16, 0, 16, 16], [32, 0, 5, 16],
                     [0, 16, 16, 13], [16, 16, 16, 13], [32, 16, 5, 13]]
    for state, (sim_w, canvas_w, stretch_w), (sim_t, canvas_t, stretch_t) in zip(STATES, whole, tiled):
        assert np.array_equal(sim_t, sim_w), state
        assert stretch_t == stretch_w, state
        assert np.array_equal(canvas_t, canvas_w), state
    # And the maps are float64's: the first state's angular similarity across every border.
    ref = S.similarity_map(values.astype(np.float64) / top, 16, 16, "angular")
    assert np.abs(tiled[0][0] - ref).max() <= REACHED
    # The relative stretch is over every visible tile: the whole map's min and max here.
    assert tiled[0][2] == {"min": tiled[0][0].min(), "max": tiled[0][0].max()}


@pytest.mark.parametrize("compute", ["gpu", "cpu"])
def test_tiled_previews_refine_to_the_same_frames(h, compute):
    """Previews over tiles (origins at multiples of 8, the largest step, so every tile's phase
    planes line up with the map's): each frame, preview and refined, as from one texture."""
    values, _, _ = _dataset(8)
    view = {"scale": 2.5, "offsetX": -11.5, "offsetY": -6.0}
    canvas = (83, 67)
    shots = {}
    for tile in (None, 8):
        options = {"maxTileSize": tile} if tile else {}
        h.create(canvas=canvas, preview=True, previewFactor=2, cpuPreviewFactor=4, refineChunkWork=300,
                 cpuRefineChunkWork=600, preserveDrawingBuffer=True, **options)
        h.load(to_layers(values, 8), CHANNELS, 8)
        h.call("cpu", compute == "cpu")
        h.call("apply", {"view": view})
        out = h.call("previews", [[5, 4], [17, 9]])
        kinds = [(f["kind"], f["reference"]["x"]) for f in out["frames"]]
        assert kinds == [("preview", 5), ("preview", 17), ("full", 17)], kinds
        shots[tile] = (_shots(out, canvas[1], canvas[0]), [f["stretch"] for f in out["frames"]])
        if tile:
            assert h.page.evaluate("harness.renderer.ds.tiles.length") == 20
    for a, b in zip(shots[None][0], shots[8][0]):
        assert np.array_equal(a, b)
    assert shots[None][1] == shots[8][1]
    # The preview differs from the full frame (it is one): what was compared is not trivial.
    assert not np.array_equal(shots[8][0][1], shots[8][0][2])


def test_tiled_mask_outlines_and_channel_view_and_overlay(h):
    """The threshold's mask crosses tile borders without an outline there (each tile's mask
    texture has a border of its neighbours' pixels); the channel view and the overlay under
    the map are drawn as from one texture."""
    values, _, _ = _dataset(8)
    states = [
        dict(reference=[16, 15], threshold=0.15, connected=True, view={"scale": 4, "offsetX": -40, "offsetY": -30}),
        dict(reference=[16, 15], threshold=0.3, connected=False, fit=3, opacity=0.5),
        dict(channel=5, view={"scale": 1.7, "offsetX": 3, "offsetY": -2}),
    ]
    got = {}
    for tile in (None, 16):
        options = {"maxTileSize": tile} if tile else {}
        h.create(canvas=(75, 61), **options)
        h.load(to_layers(values, 8), CHANNELS, 8)
        h.page.evaluate("rgb => harness.overlay(rgb)", [200, 100, 50])
        got[tile] = []
        for state in states:
            mask = h.mask(**state) if "threshold" in state else None
            canvas, stretch = h.render(**state)
            got[tile].append((mask, canvas, stretch))
    for (mask_w, canvas_w, stretch_w), (mask_t, canvas_t, stretch_t) in zip(got[None], got[16]):
        assert (mask_w is None) == (mask_t is None)
        if mask_w is not None:
            assert np.array_equal(mask_t, mask_w)
            assert 0 < mask_t.sum() < mask_t.size
        assert stretch_t == stretch_w
        assert np.array_equal(canvas_t, canvas_w)
    # The connected mask (one part, holding the reference) lies on both sides of the borders at 16.
    connected = got[16][0][0]
    assert connected[15, 16] and connected[:, :16].any() and connected[:16].any() and connected[16:].any()


def test_a_tiled_picture_is_drawn_in_pieces_and_equals_one(h):
    """The whole map as a picture at 3× (111 × 87 pixels) with tiles and pieces of 16 pixels:
    the same bytes as from one texture."""
    values, _, _ = _dataset(8)
    pictures = {}
    for tile in (None, 16):
        options = {"maxTileSize": tile} if tile else {}
        h.create(canvas=(40, 30), **options)
        h.load(to_layers(values, 8), CHANNELS, 8)
        h.call("apply", {"reference": [20, 17], "threshold": 0.6, "lut": LUT})
        raw = h.page.evaluate("() => Array.from(harness.renderer.renderPicture(3))")
        pictures[tile] = np.array(raw, dtype=np.uint8).reshape(HEIGHT * 3, WIDTH * 3, 4)
    assert np.array_equal(pictures[16], pictures[None])
    assert len(np.unique(pictures[16].reshape(-1, 4), axis=0)) > 20


def test_a_map_wider_than_the_largest_texture_loads_in_tiles(h):
    """The device's own limit: a map one pixel wider than its largest texture loads (two
    tiles) instead of being refused, and its map is float64's across the border; a PCA picture
    under it is scaled to the largest texture."""
    limits = h.create(canvas=(64, 8))
    size = limits["device"]["maxTextureSize"]
    assert limits["tileSize"] == size
    rng = np.random.default_rng(5)
    values = rng.integers(0, 256, size=(2, size + 1, 4), dtype=np.uint64)
    h.load(to_layers(values, 8), 4, 8)
    assert h.page.evaluate("harness.renderer.ds.tiles.map((t) => [t.x0, t.w])") == [[0, size], [size, 1]]
    for x in (size - 1, size):
        sim = h.similarity(reference=[x, 1], metric="cosine")
        ref = S.similarity_map(values.astype(np.float64) / 255, x, 1, "cosine")
        assert np.abs(sim - ref).max() <= REACHED
    # The similarity over PCA colours: the picture, wider than a texture, goes under the map scaled
    # down (a texture of its full width would be a GL error, which the fixture reports).
    h.page.evaluate(FAKE_PCA, [3, True])
    canvas, _ = h.render(view={"scale": 4, "offsetX": -4 * (size - 8), "offsetY": 0})
    assert h.page.evaluate("harness.renderer.colour.overlay !== null && harness.renderer.colour.overlayIsPicture")
    assert (canvas[:, :36, 3] == 255).all() and (canvas[:, 36:, 3] == 0).all()  # 9 map pixels, the last one the 2nd tile


# A PCA result as compute/pca-job.js makes it (the parts the renderer reads): three components'
# RGB picture, or one component's colour positions.
FAKE_PCA = """([components, background]) => {
  const {width: W, height: H} = harness.dataset.info;
  const picture = new Uint8ClampedArray(W * H * 4), colours = new Float64Array(W * H);
  for (let i = 0; i < W * H; i++) {
    picture.set([(i * 37) % 256, (i * 11) % 256, (i * 101) % 256, 255], 4 * i);
    colours[i] = ((i * 53) % 997) / 996;
  }
  const result = {computed: true, key: `fake${components}`, dataset: harness.dataset, width: W, height: H,
                  picture, colours: [colours], map: components === 1 ? colours : null};
  harness.model.set(background ? {pcaResult: result, pcaBackground: true, mode: 'similarity'}
                               : {pcaResult: result, mode: 'pca'});
}"""


def test_tiled_pca_pictures_and_maps(h):
    """The PCA view over tiles: the RGB picture (one texture per tile) and one component's map,
    and the similarity over PCA colours, as from one texture."""
    values, _, _ = _dataset(8)
    got = {}
    for tile in (None, 16):
        options = {"maxTileSize": tile} if tile else {}
        h.create(canvas=(75, 61), **options)
        h.load(to_layers(values, 8), CHANNELS, 8)
        got[tile] = []
        for components, background, view in [(3, False, {"scale": 3.3, "offsetX": -30, "offsetY": -20}),
                                             (1, False, {"scale": 1.9, "offsetX": 2, "offsetY": 1}),
                                             (3, True, {"scale": 2.2, "offsetX": -10, "offsetY": -7})]:
            h.call("apply", {"view": view, "opacity": 0.7})
            h.page.evaluate(FAKE_PCA, [components, background])
            got[tile].append(h.render()[0])
    for a, b in zip(got[None], got[16]):
        assert np.array_equal(a, b)
    assert len(np.unique(got[16][0].reshape(-1, 4), axis=0)) > 20
