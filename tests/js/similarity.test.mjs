// The one float64 similarity formula (glue/compute/similarity.js), and the CPU map built on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { similarity, FROM_SUMS } from '../../glue/compute/similarity.js';
import { CpuKernel } from '../../glue/compute/cpu-kernel.js';
import { CpuAnalysis } from '../../glue/compute/cpu-analysis.js';
import { mapRequest } from '../../glue/model/analysis.js';
import { VIEW_DEFAULTS } from '../../glue/model/view.js';
import { storedVector } from '../../glue/model/layout.js';

const naive = (a, b, metric) => {  // acos: fine away from cos = 1, which is enough here
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  if (!na || !nb) return 0;
  const c = Math.min(1, d / Math.sqrt(na * nb));
  return metric === 'cosine' ? Math.max(0, c) : 1 - Math.acos(c) / (Math.PI / 2);
};

test('agrees with the textbook formula, and is exact where it must be', () => {
  let seed = 3;
  const rand = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  for (let k = 0; k < 200; k++) {
    const a = Array.from({ length: 9 }, () => Math.floor(rand() * 256)), b = Array.from({ length: 9 }, () => Math.floor(rand() * 256));
    for (const metric of ['angular', 'cosine']) assert.ok(Math.abs(similarity(a, b, metric) - naive(a, b, metric)) < 1e-12);
  }
  assert.equal(similarity([2, 4, 6], [1, 2, 3]), 1);              // parallel: exactly 1
  assert.equal(similarity([0, 0, 0], [1, 2, 3]), 0);              // a zero vector: 0
  assert.equal(similarity([1, 0], [0, 1]), 0);                    // orthogonal
  assert.equal(FROM_SUMS.angular(0, 0, 5), 0);
  assert.equal(FROM_SUMS.cosine(-3, 1, 9), -1);                   // clamped at -1
  assert.equal(FROM_SUMS.correlation(5, 3, 3, 3, 3, 3), 0);       // constant vectors: no correlation
  assert.equal(similarity([3, 4], [0, 0], 'euclidean'), 5);
  assert.equal(similarity([1, 2], [3, -4], 'dot'), -5);
  assert.equal(similarity([1, -1], [-1, 1], 'angular'), -1);      // opposite: the far end
  assert.throws(() => similarity([1], [1], 'euclid'), /unknown metric/);
});

test('every pixel of a CPU map equals the formula on its stored vector', () => {
  for (const P of [8, 16]) {
    const W = 7, H = 5, C = 11, L = Math.ceil(C / 4);
    const A = P === 8 ? Uint8Array : Uint16Array;
    const layers = new A(L * H * W * 4);
    for (let i = 0; i < layers.length; i++) layers[i] = (Math.imul(i + 1, 2654435761) >>> (32 - P));
    for (let p = 0; p < W * H; p++) layers[((L - 1) * H * W + p) * 4 + 3] = 0;  // channel 11 is padding: 0
    for (let l = 0; l < L; l++) layers.fill(0, (l * H * W + 4) * 4, (l * H * W + 5) * 4);  // pixel (4, 0): a zero vector
    const ds = { info: { width: W, height: H, features: C, precision: P }, layers };
    const cpu = new CpuAnalysis(new CpuKernel({ ...ds.info, layers }), ds);
    for (const metric of ['angular', 'cosine']) {
      const map = cpu.map(mapRequest({ ...VIEW_DEFAULTS, dataset: ds, metric, reference: { x: 2, y: 3 } }));
      const ref = storedVector(ds, 2, 3);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        // Stored values are q / M: the same angles as the integers'.
        const want = similarity(storedVector(ds, x, y), ref, metric);
        assert.ok(Math.abs(map[y * W + x] - want) <= 1e-7, `${P} bit ${metric} ${x},${y}: ${map[y * W + x]} ${want}`);
      }
    }
  }
});
