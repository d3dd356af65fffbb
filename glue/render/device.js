// What the device can hold: limits read from the live context, a GPU memory budget, and the
// plan for a dataset (how its packed texels are split over texture arrays, the bytes it needs,
// and, when it does not fit, a message that says what would).
import { layoutOf, uploadChunk } from '../model/layout.js';
import { formatBytes } from '../format.js';
import { previewStep } from './phases.js';

// Texture units, fixed per role so that no unit ever holds two sampler types. Data array 0
// uses unit `data`; arrays 1, 2, ... (a dataset split over several texture arrays) use units
// from `moreData` on. terms, prev: the analyses' per-pixel terms and earlier references' map;
// mask: the threshold's mask.
export const UNIT = Object.freeze({
  data: 0, norm: 1, sim: 2, stretch: 3, lut: 4, overlay: 5, src: 6, terms: 7, prev: 8, mask: 9, moreData: 10,
});
export const dataUnit = (a) => (a === 0 ? UNIT.data : UNIT.moreData + a - 1);

const GiB = 1024 ** 3;

/** A dataset the device cannot hold; the message says what would fit. */
export class DeviceLimitError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = 'DeviceLimitError';
    this.rule = 'gpu-limits';
    this.entry = null;
    this.details = details;
  }
}

// GPU memory the renderer allows itself: WebGL cannot tell how much there is, so a budget
// from the device's RAM (navigator.deviceMemory: 0.25 to 8 GB, rounded) — a quarter of it,
// between 256 MiB and 2 GiB; 1 GiB where the browser does not say.
export function defaultMemoryBudget() {
  const gb = typeof navigator !== 'undefined' ? navigator.deviceMemory : undefined;
  if (!gb) return GiB;
  return Math.min(2 * GiB, Math.max(GiB / 4, (gb * GiB) / 4));
}

/**
 * What one dataset may use on this context: the device's own limits (`device`), lowered by
 * the options `maxArrayLayers` and `memoryBudget` (tests force tiny ones).
 */
export function readLimits(gl, { maxArrayLayers = Infinity, memoryBudget = null, maxTileSize = Infinity } = {}) {
  const device = {
    maxTextureSize: gl.getParameter(gl.MAX_TEXTURE_SIZE),
    maxArrayLayers: gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS),
    maxUniformBlockSize: gl.getParameter(gl.MAX_UNIFORM_BLOCK_SIZE),
    maxTextureImageUnits: gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS),
  };
  return {
    ...device,
    maxArrayLayers: Math.max(1, Math.min(device.maxArrayLayers, maxArrayLayers)),
    maxDataArrays: 1 + Math.max(0, device.maxTextureImageUnits - UNIT.moreData),
    memoryBudget: memoryBudget ?? defaultMemoryBudget(),
    // A map larger than this in either axis is drawn in tiles of it (a multiple of 8, the
    // largest preview step, so that every tile's phase planes line up with the map's).
    tileSize: Math.max(8, 8 * Math.floor(Math.min(device.maxTextureSize, maxTileSize) / 8)),
    device,
  };
}

/**
 * The tiles of a W × H map: [{x0, y0, w, h}] in rows from the top-left, each at most `size`
 * on a side, so that every texture of a tile fits the device. Usually one.
 */
export function tileGrid(W, H, size) {
  const tiles = [];
  for (let y0 = 0; y0 < H; y0 += size) {
    for (let x0 = 0; x0 < W; x0 += size) tiles.push({ x0, y0, w: Math.min(size, W - x0), h: Math.min(size, H - y0) });
  }
  return tiles;
}

/** The index in tileGrid(W, H, size) of the tile holding map pixel (x, y). */
export const tileIndexAt = (W, size, x, y) => Math.floor(y / size) * Math.ceil(W / size) + Math.floor(x / size);

// Estimated GPU bytes for a dataset: packed data, the upload's staging array, norms, the full
// and preview maps, the min/max pair and the reference block (the two-step colour's heat map
// is the visible rectangle's size: colour.js).
function gpuBytes(shape, previewFactor) {
  const layout = layoutOf(shape);
  const { W, H, L, G } = layout;
  const f = previewStep(previewFactor);
  const phased = f > 1 ? f * Math.ceil(W / f) * f * Math.ceil(H / f) * 4 : 0;
  // Full and phased maps, min/max pair; the analyses' two static maps, terms and mask.
  const maps = W * H * 4 * 2 + phased + 2 * Math.ceil(W / 4) * Math.ceil(H / 4) * 8 + W * H * 17;
  return G * W * H * 16 + uploadChunk(layout).bytes + maps + (L + 1) * 32;
}

/**
 * Whether a W×H×C dataset at P bit fits a device's `limits`, and how it is laid out:
 * {L, G, perTexel, perArray, arrays, bytes, tiles, fits, reason, message, smaller}. Packed
 * texels beyond the per-array layer limit go into further texture arrays, as many as the
 * fragment shader can sample; a map wider or taller than the largest texture goes into tiles
 * (tileGrid). Beyond the arrays, the channels a reference can hold, or the memory budget,
 * `message` says what would fit.
 */
export function planDataset(shape, limits, previewFactor = 2) {
  const { width: W, height: H, features: C, precision: P } = shape;
  const { L, G, perTexel } = layoutOf(shape);
  const perArray = Math.min(G, limits.maxArrayLayers);
  const arrays = [];
  for (let g = 0; g < G; g += perArray) arrays.push(Math.min(perArray, G - g));
  const bytes = gpuBytes(shape, previewFactor);
  const tiles = tileGrid(W, H, limits.tileSize);
  const plan = { L, G, perTexel, perArray, arrays, bytes, tiles, tileSize: limits.tileSize, fits: true, reason: null, message: null };
  const maxTex = limits.maxTextureSize;
  const maxRefTexels = Math.min(maxTex, Math.floor(limits.maxUniformBlockSize / 16));
  const maxChannels = 4 * (maxRefTexels - 1);
  const layersPerDevice = limits.maxDataArrays * limits.maxArrayLayers;
  const fitsAt = (w, h, c, p) => c <= maxChannels
    && Math.ceil(Math.ceil(c / 4) / (32 / p)) <= layersPerDevice
    && gpuBytes({ width: w, height: h, features: c, precision: p }, previewFactor) <= limits.memoryBudget;
  const lowerPrecision = [16, 8].filter((p) => p < P).find((p) => fitsAt(W, H, C, p));
  const atPrecision = lowerPrecision ? `It would load at ${lowerPrecision} bit (ifealid create -p ${lowerPrecision}).` : '';
  // The largest crop with the map's aspect ratio that fits.
  const crop = () => {
    let lo = 0, hi = 1;
    for (let i = 0; i < 40; i++) {
      const s = (lo + hi) / 2;
      if (fitsAt(Math.max(1, Math.floor(W * s)), Math.max(1, Math.floor(H * s)), C, P)) lo = s; else hi = s;
    }
    const w = Math.floor(W * lo), h = Math.floor(H * lo);
    return w >= 1 && h >= 1 ? `${w}×${h}` : null;
  };
  const refuse = (reason, text, hint) => Object.assign(plan, {
    fits: false, reason, message: `${text} ${hint}`.trim(), smaller: hint,
  });
  if (C > maxChannels) {
    return refuse('channels', `This dataset has ${C} channels; this GPU can compare at most ${maxChannels} `
      + `(its reference vector must fit one uniform block of ${limits.maxUniformBlockSize} bytes).`,
    `It would load with at most ${maxChannels} channels.`);
  }
  if (G > layersPerDevice) {
    const maxAt = (p) => Math.min(maxChannels, layersPerDevice * (128 / p));
    return refuse('layers', `This dataset (${W}×${H}×${C} @ ${P} bit) needs ${G} texture layers; this GPU holds `
      + `${limits.maxArrayLayers} per texture array and can sample ${limits.maxDataArrays} arrays at once.`,
    atPrecision || `It would load with at most ${maxAt(P)} channels.`);
  }
  if (bytes > limits.memoryBudget) {
    const c = crop();
    const hint = [atPrecision, c ? `${lowerPrecision ? 'Or, at' : 'At'} ${P} bit, a crop of at most ${c} pixels would load.` : '']
      .filter(Boolean).join(' ');
    return refuse('memory', `This dataset (${W}×${H}×${C} @ ${P} bit) needs about ${formatBytes(bytes)} of GPU `
      + `memory, more than the ${formatBytes(limits.memoryBudget)} IFeaLiD allows itself on this device.`, hint);
  }
  return plan;
}
