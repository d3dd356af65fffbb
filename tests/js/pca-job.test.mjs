// The PCA view's computation (glue/compute/pca-job.js) against plain float64 arithmetic: the fit
// sets (all, foreground, region), the scores and colours, the refusals, the cache, and the
// controller that keeps the view's pcaResult current (cancelling what a newer request replaces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PcaComputer, PcaJobs, PcaError, regionPixels, resultKey } from '../../glue/compute/pca-job.js';
import { symmetricEigen } from '../../glue/compute/eigen.js';
import { ViewModel, VIEW_DEFAULTS } from '../../glue/model/view.js';

// A W×H×C 8-bit dataset: a bright square ("foreground") on a background, two patterns in it.
function dataset(W = 24, H = 20, C = 10, { constant = false, twoVectors = false } = {}) {
  const L = Math.ceil(C / 4), N = W * H;
  const layers = new Uint8Array(L * N * 4);
  const q = (x, y, c) => {
    if (constant) return 7;
    if (twoVectors) return (x + y) % 2 ? 10 + 20 * c : 200 - 3 * c;
    const fg = x >= 6 && x < 18 && y >= 5 && y < 15;
    const wave = Math.sin(0.7 * x + c) * 30 + Math.cos(0.45 * y * (c % 3 + 1)) * 20;
    return Math.max(0, Math.min(255, Math.round((fg ? 170 : 60) + (fg ? wave : 0.3 * wave) + ((x * 7 + y * 13 + c * 5) % 11))));
  };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) {
    layers[(Math.floor(c / 4) * N + y * W + x) * 4 + (c % 4)] = q(x, y, c);
  }
  const mean = new Float64Array(C), std = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0, s2 = 0;
    for (let p = 0; p < N; p++) { const v = layers[(Math.floor(c / 4) * N + p) * 4 + (c % 4)]; s += v; s2 += v * v; }
    mean[c] = s / N; std[c] = Math.sqrt(Math.max(0, s2 / N - mean[c] ** 2));
  }
  return { info: { width: W, height: H, features: C, precision: 8 }, layers, stats: { mean, std } };
}

const vectorAt = (ds, p) => Array.from({ length: ds.info.features }, (_, c) => ds.layers[(Math.floor(c / 4) * ds.info.width * ds.info.height + p) * 4 + (c % 4)] / 255);

// The reference: covariance of the stored values over `pixels` (divided by their count), all
// eigenpairs, signed by the largest entry; scores of every pixel.
function reference(ds, pixels) {
  const C = ds.info.features;
  const X = pixels.map((p) => vectorAt(ds, p));
  const m = Array.from({ length: C }, (_, c) => X.reduce((s, x) => s + x[c], 0) / X.length);
  const cov = new Float64Array(C * C);
  for (const x of X) for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) cov[i * C + j] += (x[i] - m[i]) * (x[j] - m[j]) / X.length;
  const eig = symmetricEigen(cov, C);
  const N = ds.info.width * ds.info.height;
  const score = (k, p) => vectorAt(ds, p).reduce((s, v, c) => s + (v - m[c]) * eig.vectors[k][c], 0);
  return { eig, m, score, N, trace: eig.values.reduce((a, b) => a + b, 0) };
}

const view = (ds, pca = {}, extra = {}) => ({ ...VIEW_DEFAULTS, dataset: ds, mode: 'pca', pca: { ...VIEW_DEFAULTS.pca, ...pca }, ...extra });

test('all pixels: eigenpairs, explained variance, scores and the picture against float64', async () => {
  const ds = dataset();
  const N = 24 * 20;
  const ref = reference(ds, Array.from({ length: N }, (_, p) => p));
  const r = await new PcaComputer(ds).compute(view(ds));
  assert.equal(r.count, N);
  assert.equal(r.sampled, false);
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(r.eigenvalues[k] - ref.eig.values[k]) <= 1e-12 * ref.eig.values[0]);
    assert.ok(Math.abs(r.explained[k] - ref.eig.values[k] / ref.trace) < 1e-12);
    for (let c = 0; c < 10; c++) assert.ok(Math.abs(r.vectors[k][c] - ref.eig.vectors[k][c]) < 1e-9, `v${k}[${c}]`);
    for (const p of [0, 100, 333, N - 1]) assert.ok(Math.abs(r.scores[k][p] - ref.score(k, p)) < 1e-12);
  }
  // Robust scaling: numpy's 1st and 99th percentiles, clipped; the picture's bytes round v·255.
  const sorted = Float64Array.from(r.scores[1]).sort();
  const pos = (N - 1) * 0.01, lo = sorted[Math.floor(pos)] + (sorted[Math.ceil(pos)] - sorted[Math.floor(pos)]) * (pos - Math.floor(pos));
  assert.ok(Math.abs(r.ranges[1].lo - lo) < 1e-15);
  for (const p of [0, 57, 400]) {
    const v = Math.min(1, Math.max(0, (r.scores[1][p] - r.ranges[1].lo) / (r.ranges[1].hi - r.ranges[1].lo)));
    assert.equal(r.picture[4 * p + 1], Math.round(v * 255));  // (no halves here)
    assert.equal(r.picture[4 * p + 3], 255);
  }
  assert.equal(r.map, null);
  assert.equal(r.key, resultKey(view(ds)));
});

test('foreground: PC1 whitened above the threshold, its sign flipped on request', async () => {
  const ds = dataset();
  const N = 24 * 20;
  const all = reference(ds, Array.from({ length: N }, (_, p) => p));
  const z = (p) => all.score(0, p) / Math.sqrt(all.eig.values[0]);
  for (const flip of [false, true]) {
    const T = 0.25;
    const picked = Array.from({ length: N }, (_, p) => p).filter((p) => (flip ? -1 : 1) * z(p) > T);
    const ref = reference(ds, picked);
    const r = await new PcaComputer(ds).compute(view(ds, { fit: 'foreground', threshold: T, flip, components: [2] }));
    assert.equal(r.pool, picked.length);
    assert.ok(Math.abs(r.eigenvalues[0] - ref.eig.values[1]) <= 1e-12 * ref.eig.values[0]);
    assert.ok(Math.abs(r.scores[0][77] - ref.score(1, 77)) < 1e-12);
    assert.ok(r.map instanceof Float64Array);  // one component: a map through the colour map
  }
  // The square is the foreground: PC1 separates it (one sign or the other).
  const fg = await new PcaComputer(ds).compute(view(ds, { fit: 'foreground' }));
  const inSquare = 12 * 10;
  assert.ok(fg.pool === inSquare || fg.pool === N - inSquare, `pool ${fg.pool}`);
});

test('region: the union of rectangles; refusals with their reasons', async () => {
  const ds = dataset();
  const regions = [{ x0: 0, y0: 0, x1: 3, y1: 2 }, { x0: 2, y0: 1, x1: 5, y1: 4 }];
  const pixels = Array.from(regionPixels(regions, 24, 20));
  assert.equal(pixels.length, 12 + 16 - 4);
  const ref = reference(ds, pixels);
  const r = await new PcaComputer(ds).compute(view(ds, { fit: 'region' }, { regions }));
  assert.ok(Math.abs(r.eigenvalues[2] - ref.eig.values[2]) <= 1e-12 * ref.eig.values[0]);
  const c = new PcaComputer(ds);
  await assert.rejects(c.compute(view(ds, { fit: 'region' })), (e) => e instanceof PcaError && /draw it/.test(e.message));
  await assert.rejects(c.compute(view(ds, { fit: 'region', components: [4] }, { regions: [{ x0: 0, y0: 0, x1: 2, y1: 0 }] })),
    (e) => e instanceof PcaError && /the region's fit set has 3 pixels, and PC4 needs at least 5/.test(e.message));
  // Five pixels span four directions: PC4 yes, PC5 has no variance.
  const five = { x0: 0, y0: 0, x1: 4, y1: 0 };
  await c.compute(view(ds, { fit: 'region', components: [4] }, { regions: [five] }));
  // Two distinct vectors span one direction: PC2 has no variance.
  const two = dataset(8, 8, 5, { twoVectors: true });
  await new PcaComputer(two).compute(view(two, { components: [1] }));
  await assert.rejects(new PcaComputer(two).compute(view(two, { components: [1, 2, 3] })),
    (e) => e instanceof PcaError && /component 2 has no variance on the fit set/.test(e.message));
  const flat = dataset(8, 8, 5, { constant: true });
  await assert.rejects(new PcaComputer(flat).compute(view(flat)), (e) => e instanceof PcaError && /the dataset is constant/.test(e.message));
});

test('z-scores and true values: the covariance under the values setting', async () => {
  const ds = dataset();
  ds.info.range = [-2, 6];
  const N = 24 * 20;
  const stored = await new PcaComputer(ds).compute(view(ds));
  const tv = await new PcaComputer(ds).compute(view(ds, {}, { values: 'true' }));
  assert.ok(Math.abs(tv.eigenvalues[0] / stored.eigenvalues[0] - 64) < 1e-9);  // (hi − lo)² times
  const z = await new PcaComputer(ds).compute(view(ds, {}, { values: 'zscore' }));
  // Z-scored channels: the covariance is the correlation matrix, whose trace is C.
  assert.ok(Math.abs(z.totalVariance - 10) < 1e-9);
  assert.ok(z.eigenvalues[0] < 10 && z.eigenvalues[0] > 1);
  void N;
});

test('the controller: progress, the result in the view, cancellation, the cache', async () => {
  const ds = dataset(40, 30, 12);
  const model = new ViewModel({ dataset: ds });
  const statuses = [];
  const jobs = new PcaJobs(model, { onStatus: (s) => statuses.push(s.state) });
  model.set({ mode: 'pca' });
  const first = jobs.running.promise;
  model.set({ pca: { ...model.state.pca, components: [2, 3, 4] } });  // replaces the first request
  const second = jobs.running.promise;
  await first;
  await second;
  assert.deepEqual(model.state.pcaResult.components, [2, 3, 4]);  // the cancelled one never arrived
  assert.equal(jobs.computer.fits.size, 1);
  assert.ok(statuses.includes('running') && statuses.at(-1) === 'done');
  const fit = jobs.computer.fits.get('stored|all');
  model.set({ pca: { ...model.state.pca, components: [1, 2, 3] } });
  await jobs.running.promise;
  assert.equal(jobs.computer.fits.get('stored|all'), fit);  // one fit serves both
  // Back to the similarity: nothing runs; the background toggle asks again.
  model.set({ mode: 'similarity' });
  assert.equal(jobs.update(), null);
  model.set({ pcaBackground: true, pca: { ...model.state.pca, scale: 'minmax' } });
  await jobs.running.promise;
  assert.equal(model.state.pcaResult.scale, 'minmax');
  // A new dataset drops the old result.
  model.set({ dataset: dataset(8, 8, 12), pcaBackground: false });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(model.state.pcaResult, null);
  // An error is a status, not an exception.
  model.set({ mode: 'pca', pca: { ...model.state.pca, fit: 'region' } });
  await jobs.running.promise;
  assert.equal(jobs.last.state, 'error');
  assert.match(jobs.last.message, /region/);
  // The refusal is the setting's result (the map shows none); asking again computes nothing.
  assert.match(model.state.pcaResult.error, /draw it with shift-drag/);
  assert.equal(jobs.update(), null);
  model.set({ regions: [{ x0: 0, y0: 0, x1: 3, y1: 3 }] });  // a region: another setting, computed
  await jobs.running.promise;
  assert.equal(model.state.pcaResult.error, undefined);
  assert.equal(model.state.pcaResult.count, 16);
});
