// The one array layout from ZIP to GPU (RATIONALE.md, "One array layout"), written once for the
// page: the worker posts an (L, H, W, 4) array of the precision's unsigned type, L = ceil(C/4),
// RGBA of layer l = channels 4l..4l+3, row 0 at the top. The renderer packs 128 bits of it per
// texel (16 × 8 bit, 8 × 16 bit or 4 × 32 bit values): 32/P source layers in each.

export const LAYER_ARRAY = Object.freeze({ 8: Uint8Array, 16: Uint16Array, 32: Uint32Array });

// Source layers go to the GPU in chunks of at most this many bytes of packed texels.
export const UPLOAD_CHUNK_BYTES = 8 << 20;

/**
 * The layout of a W×H×C dataset at P bit: {W, H, C, P, L (source layers), perTexel (source
 * layers per packed texel), G (packed texels per pixel), ArrayType, length (values in the
 * array), maxValue (2^P − 1), channelsPerTexel}. Throws for a shape or precision it cannot hold.
 */
export function layoutOf({ width, height, features, precision }) {
  const W = width | 0, H = height | 0, C = features | 0, P = precision | 0;
  if (!(W > 0 && H > 0 && C > 0) || W !== width || H !== height || C !== features) {
    throw new Error(`bad dataset shape ${width}×${height}×${features}`);
  }
  if (!LAYER_ARRAY[P]) throw new Error(`precision must be 8, 16 or 32, got ${precision}`);
  const L = Math.ceil(C / 4);
  const perTexel = 32 / P;
  return Object.freeze({
    W, H, C, P, L, perTexel,
    G: Math.ceil(L / perTexel),
    channelsPerTexel: 4 * perTexel,
    ArrayType: LAYER_ARRAY[P],
    length: L * H * W * 4,
    maxValue: 2 ** P - 1,
  });
}

/** Throws unless `layers` is the typed array of this layout (type and length). */
export function checkLayers(layout, layers) {
  const { ArrayType, L, H, W, P } = layout;
  if (!(layers instanceof ArrayType)) {
    throw new Error(`${P}-bit layers must be a ${ArrayType.name}, got ${layers?.constructor?.name}`);
  }
  if (layers.length !== layout.length) {
    throw new Error(`layers has ${layers.length} values, expected ${L}x${H}x${W}x4 = ${layout.length}`);
  }
}

/**
 * The 8/16-bit upload's staging chunk: packed texels per chunk, the source layers that fill
 * them, and the staging array's bytes (32 bit goes up without staging: 0). The memory plan
 * and the upload both read it, so they agree.
 */
export function uploadChunk(layout) {
  const { W, H, L, G, perTexel, P } = layout;
  const packedPerChunk = Math.max(1, Math.min(G, Math.floor(UPLOAD_CHUNK_BYTES / (W * H * 16))));
  const chunkLayers = Math.min(L, packedPerChunk * perTexel);
  return { packedPerChunk, chunkLayers, bytes: P === 32 ? 0 : chunkLayers * W * H * 4 * (P / 8) };
}

/** Where channel k lives among the packed texels: {texel, component, shift} (bits). */
export function channelSlot(layout, k) {
  const per = 32 / layout.P;  // values per 32-bit component
  return {
    texel: Math.floor(k / layout.channelsPerTexel),
    component: Math.floor((k % layout.channelsPerTexel) / per),
    shift: layout.P * (k % per),
  };
}

/** Pixel (x, y)'s C stored values (integers, as a Float64Array) of a dataset {info, layers}. */
export function storedVector({ info, layers }, x, y) {
  const { W, H, C } = layoutOf(info);
  const out = new Float64Array(C);
  const plane = W * H * 4;
  let base = (y * W + x) * 4;
  for (let k = 0; k < C; k += 4, base += plane) {
    for (let j = 0; j < 4 && k + j < C; j++) out[k + j] = layers[base + j];
  }
  return out;
}

/** Pixel (x, y)'s C values as q / (2^P − 1), in [0, 1] (what the chart and read-outs show). */
export function vectorAt(dataset, x, y) {
  const out = storedVector(dataset, x, y);
  const scale = 1 / layoutOf(dataset.info).maxValue;
  for (let k = 0; k < out.length; k++) out[k] *= scale;
  return out;
}
