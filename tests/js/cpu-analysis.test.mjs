// CPU maps for every values setting, metric and kind of reference (glue/compute/cpu-analysis.js)
// against the plain formulas on each pixel's vector (similarity.js on values.js), which the
// browser tests in turn hold to app/analysis.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuKernel } from '../../glue/compute/cpu-kernel.js';
import { CpuAnalysis } from '../../glue/compute/cpu-analysis.js';
import { similarity } from '../../glue/compute/similarity.js';
import { transformOf, valuesAt, regionVector } from '../../glue/compute/values.js';
import { mapRequest } from '../../glue/model/analysis.js';
import { VIEW_DEFAULTS, METRICS, VALUES } from '../../glue/model/view.js';
import { storedVector } from '../../glue/model/layout.js';

function makeDataset(P, W = 9, H = 7, C = 11, seed = 1) {
  const L = Math.ceil(C / 4), M = 2 ** P - 1;
  const layers = new (P === 8 ? Uint8Array : Uint16Array)(L * H * W * 4);
  let s = seed;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32; };
  for (let l = 0; l < L; l++) for (let p = 0; p < W * H; p++) for (let j = 0; j < 4; j++) {
    if (4 * l + j < C) layers[(l * W * H + p) * 4 + j] = rand() < 0.3 ? 0 : Math.floor(rand() * (M + 1));
  }
  for (let l = 0; l < L; l++) layers.fill(0, (l * W * H + 5) * 4, (l * W * H + 6) * 4);  // pixel (5, 0): zero
  const info = { width: W, height: H, features: C, precision: P, range: [-1.5, 2.25] };
  const ds = { info, layers };
  const mean = new Float64Array(C), std = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const v = []; for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) v.push(storedVector(ds, x, y)[c]);
    mean[c] = v.reduce((a, b) => a + b, 0) / v.length;
    std[c] = Math.sqrt(v.reduce((a, b) => a + (b - mean[c]) ** 2, 0) / v.length);
  }
  std[3] = 0;  // a channel treated as constant: contributes 0 to z-scores
  ds.stats = { mean, std };
  return ds;
}

function expected(ds, request) {
  const { width: W, height: H } = ds.info;
  const t = transformOf(ds, request.values);
  const refs = [...(request.pointer ? [request.pointer] : []), ...request.statics].map((r) => (r.kind === 'pixel'
    ? valuesAt(ds, t, r.x, r.y) : regionVector(ds, t, r, request.metric)));
  const out = new Float64Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const p = valuesAt(ds, t, x, y);
    const m = refs.map((r) => similarity(p, r, request.metric));
    out[y * W + x] = request.combine === 'mean' ? m.reduce((a, b) => a + b, 0) / m.length
      : (request.metric === 'euclidean' ? Math.min(...m) : Math.max(...m));
  }
  return out;
}

test('every values setting and metric, pixel references, 8 and 16 bit', () => {
  for (const P of [8, 16]) {
    const ds = makeDataset(P);
    const cpu = new CpuAnalysis(new CpuKernel({ ...ds.info, layers: ds.layers }), ds);
    for (const values of VALUES) for (const metric of METRICS) for (const [x, y] of [[2, 3], [5, 0], [8, 6]]) {
      const view = { ...VIEW_DEFAULTS, dataset: ds, values, metric, reference: { x, y } };
      const req = mapRequest(view);
      const got = cpu.map(req), want = expected(ds, req);
      const scale = Math.max(1, ...want.map(Math.abs));
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * scale, `${P} bit ${values} ${metric} ref ${x},${y} pixel ${i}: ${got[i]} vs ${want[i]}`);
      }
      if (metric === 'angular' && x !== 5) assert.equal(got[y * ds.info.width + x], 1);  // the reference itself: exactly 1
    }
  }
});

test('pins, regions and the pointer combined by max and by mean', () => {
  const ds = makeDataset(8, 10, 8, 13, 5);
  const cpu = new CpuAnalysis(new CpuKernel({ ...ds.info, layers: ds.layers }), ds);
  for (const values of ['stored', 'centred', 'zscore']) for (const metric of ['angular', 'euclidean', 'correlation']) {
    for (const combine of ['max', 'mean']) for (const pointer of [true, false]) {
      const view = {
        ...VIEW_DEFAULTS, dataset: ds, values, metric, combine, pointer, reference: { x: 1, y: 1 },
        pins: [{ x: 7, y: 2 }, { x: 3, y: 6 }], regions: [{ x0: 2, y0: 2, x1: 4, y1: 3 }],
      };
      const req = mapRequest(view);
      const got = cpu.map(req), want = expected(ds, req);
      const scale = Math.max(1, ...want.map(Math.abs));
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * scale, `${values} ${metric} ${combine} ${pointer} ${i}`);
      // A second move with the same statics reuses them and still gives the right map.
      const moved = mapRequest({ ...view, reference: { x: 9, y: 7 } });
      const again = cpu.map(moved), want2 = expected(ds, moved);
      for (let i = 0; i < want2.length; i++) assert.ok(Math.abs(again[i] - want2[i]) <= 1e-6 * scale);
    }
  }
});

test('true values need a range', () => {
  const ds = makeDataset(8);
  ds.info = { ...ds.info, range: undefined };
  assert.throws(() => transformOf(ds, 'true'), /range/);
});

test('a map of some pixel ranges (a preview\'s rows): those pixels bit for bit, the others untouched', () => {
  for (const P of [8, 16]) {
    const ds = makeDataset(P, 13, 9, 11, 7);  // 13 px a row: ranges that do not start at fours
    const W = ds.info.width;
    const full = new CpuAnalysis(new CpuKernel({ ...ds.info, layers: ds.layers }), ds);
    const part = new CpuAnalysis(new CpuKernel({ ...ds.info, layers: ds.layers }), ds);
    for (const values of ['stored', 'centred', 'zscore']) for (const metric of ['angular', 'euclidean', 'correlation']) {
      for (const pins of [[], [{ x: 7, y: 2 }]]) {
        const view = { ...VIEW_DEFAULTS, dataset: ds, values, metric, pins, reference: { x: 4, y: 5 } };
        const req = mapRequest(view);
        const want = Float32Array.from(full.map(req));
        const out = part.map(req, []);  // nothing computed
        out.fill(-7);
        const rows = [1, 2, 5, 8];
        const got = part.map(req, [[W, 3 * W], [5 * W, 6 * W], [8 * W, 9 * W]]);
        for (let y = 0; y < ds.info.height; y++) for (let x = 0; x < W; x++) {
          const i = y * W + x;
          if (rows.includes(y)) assert.equal(got[i], want[i], `${P} ${values} ${metric} ${pins.length} (${x}, ${y})`);
          else assert.equal(got[i], -7, `(${x}, ${y}) was not asked for`);
        }
      }
    }
  }
});
