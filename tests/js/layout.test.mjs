// The array layout (glue/model/layout.js), against the packing the renderer's pack shader does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layoutOf, checkLayers, uploadChunk, channelSlot, storedVector, vectorAt, UPLOAD_CHUNK_BYTES } from '../../glue/model/layout.js';

test('counts per precision', () => {
  const l8 = layoutOf({ width: 3, height: 2, features: 13, precision: 8 });
  assert.deepEqual([l8.L, l8.perTexel, l8.G, l8.channelsPerTexel, l8.length, l8.maxValue], [4, 4, 1, 16, 96, 255]);
  assert.equal(l8.ArrayType, Uint8Array);
  const l16 = layoutOf({ width: 3, height: 2, features: 13, precision: 16 });
  assert.deepEqual([l16.L, l16.perTexel, l16.G, l16.channelsPerTexel, l16.maxValue], [4, 2, 2, 8, 65535]);
  const l32 = layoutOf({ width: 3, height: 2, features: 13, precision: 32 });
  assert.deepEqual([l32.L, l32.perTexel, l32.G, l32.channelsPerTexel, l32.ArrayType], [4, 1, 4, 4, Uint32Array]);
  assert.throws(() => layoutOf({ width: 3, height: 2, features: 13, precision: 12 }), /precision must be 8, 16 or 32/);
  assert.throws(() => layoutOf({ width: 0, height: 2, features: 13, precision: 8 }), /bad dataset shape/);
  assert.throws(() => layoutOf({ width: 2.5, height: 2, features: 13, precision: 8 }), /bad dataset shape/);
});

test('the array must be the precision\'s type and length', () => {
  const l = layoutOf({ width: 4, height: 3, features: 5, precision: 16 });
  assert.throws(() => checkLayers(l, new Uint8Array(96)), /16-bit layers must be a Uint16Array, got Uint8Array/);
  assert.throws(() => checkLayers(l, new Uint16Array(10)), /expected 2x3x4x4 = 96/);
  checkLayers(l, new Uint16Array(96));
});

test('the upload chunk stays within its budget and covers whole packed texels', () => {
  for (const [w, h, c, p] of [[512, 512, 512, 8], [160, 106, 256, 8], [2048, 2048, 64, 16], [3, 2, 13, 8]]) {
    const l = layoutOf({ width: w, height: h, features: c, precision: p });
    const { packedPerChunk, chunkLayers, bytes } = uploadChunk(l);
    assert.ok(packedPerChunk >= 1 && packedPerChunk <= l.G);
    assert.ok(packedPerChunk * w * h * 16 <= Math.max(UPLOAD_CHUNK_BYTES, w * h * 16));
    assert.equal(chunkLayers, Math.min(l.L, packedPerChunk * l.perTexel));
    assert.equal(bytes, chunkLayers * w * h * 4 * (p / 8));
  }
  assert.equal(uploadChunk(layoutOf({ width: 3, height: 2, features: 13, precision: 32 })).bytes, 0);
});

// What the pack shader (render/shaders.js packFS) puts in packed texel g's 32-bit word j: 8 bit,
// source layer 4g + j's four bytes; 16 bit, source layer 2g + (j >> 1)'s values 2(j & 1), +1.
function packedWord(layers, l, g, j, pixel) {
  const at = (layer, c) => (layer < l.L ? layers[(layer * l.H * l.W + pixel) * 4 + c] : 0);
  if (l.P === 8) { const s = 4 * g + j; return (at(s, 0) | (at(s, 1) << 8) | (at(s, 2) << 16) | (at(s, 3) << 24)) >>> 0; }
  if (l.P === 16) { const s = 2 * g + (j >> 1); return (at(s, 2 * (j & 1)) | (at(s, 2 * (j & 1) + 1) << 16)) >>> 0; }
  return at(g, j);
}

test('every channel is found where channelSlot says, for every precision', () => {
  for (const P of [8, 16, 32]) {
    const C = 37, l = layoutOf({ width: 2, height: 1, features: C, precision: P });
    const layers = new l.ArrayType(l.length);
    for (let k = 0; k < C; k++) for (let p = 0; p < 2; p++) layers[((k >> 2) * 2 + p) * 4 + (k & 3)] = (k + 1) * (p + 1);
    for (let k = 0; k < C; k++) {
      const { texel, component, shift } = channelSlot(l, k);
      const mask = P === 32 ? 0xFFFFFFFF : l.maxValue;
      assert.equal(((packedWord(layers, l, texel, component, 1) >>> shift) & mask) >>> 0, (k + 1) * 2, `${P} bit channel ${k}`);
    }
    const ds = { info: { width: 2, height: 1, features: C, precision: P }, layers };
    assert.deepEqual(Array.from(storedVector(ds, 1, 0)), Array.from({ length: C }, (_, k) => (k + 1) * 2));
    assert.ok(Math.abs(vectorAt(ds, 0, 0)[C - 1] - C / l.maxValue) < 1e-15);
  }
});
