// PCA's numerics (glue/compute/pca.js) against plain computations: the sample rule, the Gram
// matrix from the CPU kernel, Lanczos against a full Jacobi, signs, scores, percentiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleOf, gramOf, covarianceOf, topEigen, scoresOf, percentile, scaleScores, byteOf } from '../../glue/compute/pca.js';

function dataset(P, W, H, C, seed = 1) {
  const L = Math.ceil(C / 4), M = 2 ** P - 1;
  const layers = new ({ 8: Uint8Array, 16: Uint16Array, 32: Uint32Array }[P])(L * W * H * 4);
  let s = seed;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32; };
  // Three directions with decreasing variance plus noise: well separated eigenvalues.
  const dirs = [0, 1, 2].map(() => Array.from({ length: C }, () => rand() - 0.5));
  for (let p = 0; p < W * H; p++) {
    const z = [3 * (rand() - 0.5), 2 * (rand() - 0.5), 1 * (rand() - 0.5)];
    for (let c = 0; c < C; c++) {
      const v = 0.5 + 0.25 * (z[0] * dirs[0][c] + z[1] * dirs[1][c] + z[2] * dirs[2][c]) + 0.01 * (rand() - 0.5);
      layers[(Math.floor(c / 4) * W * H + p) * 4 + (c % 4)] = Math.max(0, Math.min(M, Math.round(v * M)));
    }
  }
  return { info: { width: W, height: H, features: C, precision: P }, layers };
}

const vec = ({ info, layers }, p) => {
  const C = info.features, N = info.width * info.height;
  return Array.from({ length: C }, (_, c) => layers[(Math.floor(c / 4) * N + p) * 4 + (c % 4)]);
};

test('the sample: all when few, else the golden-ratio stride, sorted', () => {
  assert.deepEqual(Array.from(sampleOf(5)), [0, 1, 2, 3, 4]);
  const s = sampleOf(100, null, 10);  // n = 100: s = 62 (coprime with 100? no: 63 is)
  const want = Array.from({ length: 10 }, (_, k) => (k * 63) % 100).sort((a, b) => a - b);
  assert.deepEqual(Array.from(s), want);
  const pool = Int32Array.from([3, 7, 11, 19, 23, 31]);
  assert.deepEqual(Array.from(sampleOf(40, pool, 3)), [0, 1, 2].map((k) => (k * 5) % 6).sort((a, b) => a - b).map((i) => pool[i]));
});

test('Gram matrix exact at 8 and 16 bit, and the eigenpairs of the covariance', async () => {
  for (const P of [8, 16, 32]) {
    const ds = dataset(P, 9, 7, 11, P);
    const picks = sampleOf(63);
    const g = await gramOf(ds, picks);
    const C = 11;
    for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) {
      let want = 0;
      for (const p of picks) want += vec(ds, p)[i] * vec(ds, p)[j];
      assert.equal(g.gram[i * C + j], want, `${P} bit G[${i}][${j}]`);
    }
    const a = new Float64Array(C).fill(1 / (2 ** P - 1));
    const { cov, meanQ } = covarianceOf(g, a);
    const top = topEigen(cov, C, 3);
    // Each pair: A v = λ v, unit, orthogonal, descending, signed by the rule.
    for (let k = 0; k < 3; k++) {
      const v = top.vectors[k];
      for (let i = 0; i < C; i++) {
        let av = 0;
        for (let j = 0; j < C; j++) av += cov[i * C + j] * v[j];
        assert.ok(Math.abs(av - top.values[k] * v[i]) < 1e-12, `${P} bit residual`);
      }
      const big = v.reduce((b, x, i) => (Math.abs(x) > Math.abs(v[b]) ? i : b), 0);
      assert.ok(v[big] > 0);
      if (k) assert.ok(top.values[k] <= top.values[k - 1]);
    }
    // Scores: (t − m)·v for every pixel.
    const scores = await scoresOf(ds, a, meanQ, top.vectors.slice(0, 2));
    for (const p of [0, 30, 62]) {
      const t = vec(ds, p).map((x) => x * a[0]);
      const want = top.vectors[0].reduce((s, x, c) => s + (t[c] - meanQ[c] * a[0]) * x, 0);
      assert.ok(Math.abs(scores[0][p] - want) < 1e-12);
    }
  }
});

test('percentiles as numpy\'s, and the three scalings', () => {
  const x = [5, 1, 4, 2, 3];
  const sorted = Float64Array.from(x).sort();
  assert.equal(percentile(sorted, 50), 3);
  assert.equal(percentile(sorted, 1), 1 + 0.04);
  assert.equal(percentile(sorted, 99), 5 - 0.04);
  const r = scaleScores(Float64Array.from(x), 'robust', 1);
  assert.ok(Math.abs(r.lo - 1.04) < 1e-15 && Math.abs(r.hi - 4.96) < 1e-15);
  assert.equal(r.v[1], 0);  // below the 1st percentile: clipped
  const m = scaleScores(Float64Array.from(x), 'minmax', 1);
  assert.deepEqual(Array.from(m.v), [1, 0, 0.75, 0.25, 0.5]);
  const sg = scaleScores(Float64Array.from([0, 2]), 'sigmoid', 4);  // 1 / (1 + e^(-2·s/2))
  assert.ok(Math.abs(sg.v[0] - 0.5) < 1e-7 && Math.abs(sg.v[1] - 1 / (1 + Math.exp(-2))) < 1e-7);
});

test('bytes as numpy rounds: halves to even', () => {
  assert.deepEqual([0.5 / 255, 1.5 / 255, 2.5 / 255, 254.5 / 255, 1, 0, 0.1].map(byteOf), [0, 2, 2, 254, 255, 0, 26]);
  // numpy's percentile form from the upper neighbour past a half (a + d·t differs here).
  const sorted = Float64Array.from([0.1, 0.7000000000000001, 0.9, 2]);
  const pos = 3 * 0.99, lo = Math.floor(pos), t = pos - lo;
  assert.equal(percentile(sorted, 99), sorted[lo + 1] - (sorted[lo + 1] - sorted[lo]) * (1 - t));
});
