// Principal components of a dataset's vectors (issue 14), in float64, as app/pca.py defines them:
//   the fit set     the pixels the components are fitted on (all, or a subset), at most
//                   PCA_SAMPLE of them: beyond, a fixed sample (sampleOf)
//   the covariance  of the values (compute/values.js: t = a·(q − μ) + b) over the fit set,
//                   divided by its size; from the integers' Gram matrix, exact at 8 and 16 bit
//                   (the CPU kernel's dot products, on the sample transposed), scaled by a_i·a_j
//   the components  the top eigenvectors (compute/eigen.js), each signed so that its largest
//                   entry is positive
//   the scores      (t_p − m)·v_k for every pixel, m the fit set's mean
// Everything here is pure arithmetic on typed arrays; long loops call `tick()` between chunks so
// that the page can stay responsive and cancel (pca-job.js).
import { CpuKernel } from './cpu-kernel.js';

export { topEigen } from './eigen.js';

export const PCA_SAMPLE = 16384;
const GOLDEN = 0.6180339887498949;

const gcd = (a, b) => { while (b) [a, b] = [b, a % b]; return a; };

/**
 * The fit set's pixels: all of `pool` (pixel indices, ascending; null: every pixel 0..N−1) when
 * there are at most `max`, else the sample {(k·s) mod n : k < max} of its positions, s the
 * smallest integer ≥ round(0.618…·n) coprime with n, in ascending order. Int32Array.
 */
export function sampleOf(N, pool = null, max = PCA_SAMPLE) {
  const n = pool ? pool.length : N;
  const at = (i) => (pool ? pool[i] : i);
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => at(i));
  let s = Math.max(1, Math.round(GOLDEN * n));
  while (gcd(s, n) !== 1) s += 1;
  const picks = new Int32Array(max);
  for (let k = 0; k < max; k++) picks[k] = Number((BigInt(k) * BigInt(s)) % BigInt(n));
  picks.sort();
  return picks.map(at);
}

/** Pixel p's stored integers into out[0..C) (the page's (L, H, W, 4) layout). */
function readPixel(layers, L, N, C, p, out) {
  for (let l = 0; l < L; l++) {
    const base = (l * N + p) * 4;
    for (let j = 0; j < 4 && 4 * l + j < C; j++) out[4 * l + j] = layers[base + j];
  }
}

/**
 * Σ q_i q_j over the fit pixels (C × C, float64: exact at 8 and 16 bit) and Σ q_i.
 * 8/16 bit: the sample transposed into a "dataset" whose pixels are the channels, so that the CPU
 * kernel's dot products of one "pixel" with all are a row of the Gram matrix.
 */
export async function gramOf({ info, layers }, picks, tick = async () => {}) {
  const { width: W, height: H, features: C, precision: P } = info;
  const N = W * H, L = Math.ceil(C / 4), n = picks.length;
  const sums = new Float64Array(C), gram = new Float64Array(C * C);
  const q = new Float64Array(C);
  if (P === 8 || P === 16) {
    const Ln = Math.ceil(n / 4);
    const t = new (P === 8 ? Uint8Array : Uint16Array)(Ln * C * 4);
    for (let l = 0; l < L; l++) {  // layer by layer: each layer's pixels are read in order
      const src = l * N * 4;
      for (let j = 0; j < 4 && 4 * l + j < C; j++) {
        const c = 4 * l + j;
        let s = 0;
        for (let k = 0; k < n; k++) {
          const v = layers[src + 4 * picks[k] + j];
          t[((k >> 2) * C + c) * 4 + (k & 3)] = v;
          s += v;
        }
        sums[c] = s;
      }
    }
    const kernel = new CpuKernel({ width: C, height: 1, features: Ln * 4, precision: P, layers: t });
    for (let i = 0; i < C; i++) {  // the upper triangle, mirrored
      const row = kernel.dotsWith(i, [[i, C]]);
      for (let j = i; j < C; j++) { gram[i * C + j] = row[j]; gram[j * C + i] = row[j]; }
      if (i % 16 === 15) await tick((i + 1) * (2 * C - i) / (C * (C + 1)));
    }
    return { gram, sums, count: n };
  }
  for (let k = 0; k < n; k++) {  // 32 bit: products beyond 2^53; float64 sums
    readPixel(layers, L, N, C, picks[k], q);
    for (let i = 0; i < C; i++) {
      sums[i] += q[i];
      const qi = q[i], row = i * C;
      for (let j = i; j < C; j++) gram[row + j] += qi * q[j];
    }
    if (k % 256 === 255) await tick((k + 1) / n);
  }
  for (let i = 0; i < C; i++) for (let j = 0; j < i; j++) gram[i * C + j] = gram[j * C + i];
  return { gram, sums, count: n };
}

/**
 * The values' covariance a_i·a_j·(n·G_ij − S_i·S_j) / n² (μ and b drop out) and the mean of q.
 * The bracket is exact (8 bit: every term below 2^53; 16 bit: in BigInt), so the covariance is
 * rounded once, as app/pca.py's two-pass float64 one nearly is: no cancellation between
 * G/n and the squared mean, which is large beside a small variance.
 */
export function covarianceOf({ gram, sums, count: n }, a) {
  const C = sums.length;
  const mean = sums.map((s) => s / n);
  const cov = new Float64Array(C * C);
  let big = 0;
  for (let i = 0; i < C; i++) big = Math.max(big, gram[i * C + i], sums[i] * sums[i]);
  const integers = gram.every(Number.isSafeInteger) && sums.every(Number.isSafeInteger);
  const bracket = !integers ? (i, j) => n * gram[i * C + j] - sums[i] * sums[j]
    : n * big < 2 ** 53 ? (i, j) => n * gram[i * C + j] - sums[i] * sums[j]
      : (i, j) => Number(BigInt(n) * BigInt(gram[i * C + j]) - BigInt(sums[i]) * BigInt(sums[j]));
  for (let i = 0; i < C; i++) {
    for (let j = i; j < C; j++) {
      const v = (a[i] * a[j] * bracket(i, j)) / (n * n);
      cov[i * C + j] = v;
      cov[j * C + i] = v;
    }
  }
  return { cov, meanQ: mean };
}

/**
 * Every pixel's scores on `vectors` (float64, one Float64Array(N) per component):
 * (t_p − m)·v = Σ_c q_pc·(a_c v_c) − Σ_c a_c·meanQ_c·v_c, t = a·(q − μ) + b and m its mean.
 */
export async function scoresOf({ info, layers }, a, meanQ, vectors, tick = async () => {}) {
  const { width: W, height: H, features: C } = info;
  const N = W * H, L = Math.ceil(C / 4), K = vectors.length;
  const w = vectors.map((v) => v.map((x, c) => a[c] * x));
  const k0 = vectors.map((v) => -v.reduce((s, x, c) => s + a[c] * meanQ[c] * x, 0));
  const out = vectors.map((_, k) => new Float64Array(N).fill(k0[k]));
  // Up to three components per pass over a layer: each layer's bytes are read once.
  for (let k = 0; k < K; k += 3) {
    const s0 = out[k], s1 = out[k + 1] ?? null, s2 = out[k + 2] ?? null;
    const weight = (kk, c) => (kk < K && c < C ? w[kk][c] : 0);
    for (let l = 0; l < L; l++) {
      const c = 4 * l;
      const a0 = weight(k, c), a1 = weight(k, c + 1), a2 = weight(k, c + 2), a3 = weight(k, c + 3);
      const b0 = weight(k + 1, c), b1 = weight(k + 1, c + 1), b2 = weight(k + 1, c + 2), b3 = weight(k + 1, c + 3);
      const d0 = weight(k + 2, c), d1 = weight(k + 2, c + 1), d2 = weight(k + 2, c + 2), d3 = weight(k + 2, c + 3);
      let i = l * N * 4;
      if (s2) {
        for (let p = 0; p < N; p++, i += 4) {
          const q0 = layers[i], q1 = layers[i + 1], q2 = layers[i + 2], q3 = layers[i + 3];
          s0[p] += q0 * a0 + q1 * a1 + q2 * a2 + q3 * a3;
          s1[p] += q0 * b0 + q1 * b1 + q2 * b2 + q3 * b3;
          s2[p] += q0 * d0 + q1 * d1 + q2 * d2 + q3 * d3;
        }
      } else {
        for (let p = 0; p < N; p++, i += 4) {
          const q0 = layers[i], q1 = layers[i + 1], q2 = layers[i + 2], q3 = layers[i + 3];
          s0[p] += q0 * a0 + q1 * a1 + q2 * a2 + q3 * a3;
          if (s1) s1[p] += q0 * b0 + q1 * b1 + q2 * b2 + q3 * b3;
        }
      }
      if (l % 4 === 3) await tick(((k / 3) * L + l + 1) / (Math.ceil(K / 3) * L));
    }
  }
  return out;
}

/**
 * numpy's percentile of ascending values (its default 'linear' method), rounded as numpy rounds
 * it: from the upper neighbour when the fraction is at least a half.
 */
export function percentile(sorted, p) {
  const pos = (sorted.length - 1) * (p / 100);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  const t = pos - lo, d = sorted[hi] - sorted[lo];
  return t >= 0.5 ? sorted[hi] - d * (1 - t) : sorted[lo] + d * t;
}

/**
 * A component's scores scaled to [0, 1]: 'robust' (1st to 99th percentile), 'minmax', or
 * 'sigmoid' (whitened, 1 / (1 + e^(−2·s/√λ))). Returns {v: Float64Array, lo, hi}.
 */
export function scaleScores(scores, method, lambda) {
  const n = scores.length, v = new Float64Array(n);
  if (method === 'sigmoid') {
    const k = lambda > 0 ? 2 / Math.sqrt(lambda) : 0;
    for (let i = 0; i < n; i++) v[i] = 1 / (1 + Math.exp(-k * scores[i]));
    return { v, lo: null, hi: null };
  }
  let lo, hi;
  if (method === 'minmax') {
    lo = Infinity; hi = -Infinity;
    for (let i = 0; i < n; i++) { lo = Math.min(lo, scores[i]); hi = Math.max(hi, scores[i]); }
  } else {
    const sorted = Float64Array.from(scores).sort();
    lo = percentile(sorted, 1);
    hi = percentile(sorted, 99);
  }
  const span = hi - lo;
  for (let i = 0; i < n; i++) v[i] = span > 0 ? Math.min(1, Math.max(0, (scores[i] - lo) / span)) : 0;
  return { v, lo, hi };
}

/** A colour position 0..1 as a byte: round(v · 255), halves to even (numpy's rint, app/exports.py). */
export function byteOf(v) {
  const x = v * 255;
  let r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) r -= 1;
  return r;
}

/** RGBA bytes (row 0 at the top) of N pixels' colour positions: three as R, G, B; one as grey. */
export function pictureOf(colours, N) {
  const picture = new Uint8ClampedArray(N * 4);
  const [r, g, b] = colours.length === 3 ? colours : [colours[0], colours[0], colours[0]];
  for (let p = 0; p < N; p++) {
    picture[4 * p] = byteOf(r[p]);
    picture[4 * p + 1] = byteOf(g[p]);
    picture[4 * p + 2] = byteOf(b[p]);
    picture[4 * p + 3] = 255;
  }
  return picture;
}
