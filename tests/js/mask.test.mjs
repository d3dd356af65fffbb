// Masks from a threshold (glue/compute/mask.js), the connected rule against a union-find labelling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { thresholdMask } from '../../glue/compute/mask.js';

function components(mask, W, H) {  // union-find over 4-neighbours: an independent labelling
  const parent = Array.from(mask, (_, i) => i);
  const find = (i) => { while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const i = y * W + x;
    if (!mask[i]) continue;
    if (x + 1 < W && mask[i + 1]) parent[find(i + 1)] = find(i);
    if (y + 1 < H && mask[i + W]) parent[find(i + W)] = find(i);
  }
  return Array.from(mask, (m, i) => (m ? find(i) : -1));
}

test('threshold sides, counts, and the connected rule', () => {
  let seed = 9;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  for (let k = 0; k < 30; k++) {
    const W = 3 + Math.floor(rand() * 20), H = 3 + Math.floor(rand() * 15);
    const map = Float32Array.from({ length: W * H }, () => rand());
    for (const metric of ['angular', 'euclidean']) {
      const t = 0.3 + 0.4 * rand();
      const plain = thresholdMask(map, W, H, metric, t);
      for (let i = 0; i < map.length; i++) assert.equal(plain.mask[i], (metric === 'euclidean' ? map[i] <= t : map[i] >= t) ? 1 : 0);
      assert.equal(plain.count, plain.mask.reduce((a, b) => a + b, 0));
      const refs = [{ x: Math.floor(rand() * W), y: Math.floor(rand() * H) }, { x0: 0, y0: 0, x1: 1, y1: 1 }];
      const { mask } = thresholdMask(map, W, H, metric, t, { connected: true, references: refs });
      const label = components(plain.mask, W, H);
      const keep = new Set();
      for (const r of refs) {
        const cells = 'x0' in r ? [[0, 0], [1, 0], [0, 1], [1, 1]] : [[r.x, r.y]];
        for (const [x, y] of cells) if (label[y * W + x] >= 0) keep.add(label[y * W + x]);
      }
      for (let i = 0; i < map.length; i++) assert.equal(mask[i], keep.has(label[i]) ? 1 : 0);
    }
  }
});
