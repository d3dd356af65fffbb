// Principal components of a dataset's vectors (issue 14), in float64, as app/pca.py defines them:
//   the fit set     the pixels the components are fitted on (all, or a subset), at most
//                   PCA_SAMPLE of them: beyond, a fixed sample (sampleOf)
//   the covariance  of the values (compute/values.js: t = a·(q − μ) + b) over the fit set,
//                   divided by its size; from the integers' Gram matrix, exact at 8 and 16 bit
//                   (the CPU kernel's dot products, on the sample transposed), scaled by a_i·a_j
//   the components  the top eigenvectors (Lanczos with full reorthogonalisation; Jacobi on the
//                   small tridiagonal matrix), each signed so that its largest entry is positive
//   the scores      (t_p − m)·v_k for every pixel, m the fit set's mean
// Everything here is pure arithmetic on typed arrays; long loops call `tick()` between chunks so
// that the page can stay responsive and cancel (pca-job.js).
import { CpuKernel } from './cpu-kernel.js';

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
    for (let k = 0; k < n; k++) {
      readPixel(layers, L, N, C, picks[k], q);
      const base = (Math.floor(k / 4) * C) * 4 + (k % 4);
      for (let c = 0; c < C; c++) { t[base + 4 * c] = q[c]; sums[c] += q[c]; }
    }
    const kernel = new CpuKernel({ width: C, height: 1, features: Ln * 4, precision: P, layers: t });
    for (let i = 0; i < C; i++) {
      const row = kernel.dotsWith(i);
      for (let j = 0; j < C; j++) gram[i * C + j] = row[j];
      if (i % 16 === 15) await tick();
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
    if (k % 256 === 255) await tick();
  }
  for (let i = 0; i < C; i++) for (let j = 0; j < i; j++) gram[i * C + j] = gram[j * C + i];
  return { gram, sums, count: n };
}

/** The values' covariance a_i·a_j·(G_ij/n − m_i·m_j) (μ and b drop out) and the mean of q. */
export function covarianceOf({ gram, sums, count }, a) {
  const C = sums.length;
  const mean = sums.map((s) => s / count);
  const cov = new Float64Array(C * C);
  for (let i = 0; i < C; i++) {
    for (let j = 0; j < C; j++) cov[i * C + j] = a[i] * a[j] * (gram[i * C + j] / count - mean[i] * mean[j]);
  }
  return { cov, meanQ: mean };
}

// Eigenvalues and eigenvectors of a small symmetric matrix (cyclic Jacobi): {values, vectors (columns)}.
function jacobi(A, m) {
  const a = Float64Array.from(A), v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) off += a[i * m + j] ** 2;
    if (off < 1e-30 * (1 + a.reduce((s, x, k) => s + (k % (m + 1) === 0 ? x * x : 0), 0))) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = a[p * m + q];
        if (apq === 0) continue;
        const theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < m; k++) {
          const akp = a[k * m + p], akq = a[k * m + q];
          a[k * m + p] = c * akp - s * akq;
          a[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = a[p * m + k], aqk = a[q * m + k];
          a[p * m + k] = c * apk - s * aqk;
          a[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = v[k * m + p], vkq = v[k * m + q];
          v[k * m + p] = c * vkp - s * vkq;
          v[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Array.from({ length: m }, (_, i) => a[i * m + i]), vectors: v };
}

function matVec(A, C, x, out) {
  for (let i = 0; i < C; i++) {
    let s = 0;
    const row = i * C;
    for (let j = 0; j < C; j++) s += A[row + j] * x[j];
    out[i] = s;
  }
  return out;
}

const dot = (x, y) => { let s = 0; for (let i = 0; i < x.length; i++) s += x[i] * y[i]; return s; };

/**
 * The top k eigenpairs of a symmetric C × C matrix (row-major Float64Array): {values (descending),
 * vectors: [Float64Array(C)], each signed so that its entry of largest magnitude is positive}.
 * Lanczos with full reorthogonalisation, its steps doubled until every pair's residual
 * |A·v − λ·v| is within 1e-12 of the matrix's scale.
 */
export function topEigen(A, C, k) {
  let scale = 0;
  for (let i = 0; i < C; i++) scale = Math.max(scale, Math.abs(A[i * C + i]));
  let m = Math.min(C, Math.max(2 * k + 10, 40));
  for (;;) {
    const Q = [];
    const alpha = [], beta = [];
    let q = new Float64Array(C);
    for (let i = 0; i < C; i++) q[i] = Math.sqrt(Math.abs(A[i * C + i])) + 1e-3 * (1 + (i % 7));  // deterministic start
    q = q.map((x) => x / Math.sqrt(dot(q, q)));
    let steps = 0;
    for (let j = 0; j < m; j++) {
      Q.push(q);
      const w = matVec(A, C, q, new Float64Array(C));
      alpha.push(dot(w, q));
      for (let pass = 0; pass < 2; pass++) {  // full reorthogonalisation, twice
        for (const u of Q) { const d = dot(w, u); for (let i = 0; i < C; i++) w[i] -= d * u[i]; }
      }
      steps = j + 1;
      const b = Math.sqrt(dot(w, w));
      if (j === m - 1 || b <= 1e-14 * (scale || 1)) break;
      beta.push(b);
      q = w.map((x) => x / b);
    }
    const T = new Float64Array(steps * steps);
    for (let i = 0; i < steps; i++) {
      T[i * steps + i] = alpha[i];
      if (i + 1 < steps) { T[i * steps + i + 1] = beta[i]; T[(i + 1) * steps + i] = beta[i]; }
    }
    const { values, vectors } = jacobi(T, steps);
    const order = values.map((v, i) => i).sort((x, y) => values[y] - values[x]).slice(0, Math.min(k, steps));
    const out = { values: [], vectors: [] };
    let worst = 0;
    for (const r of order) {
      const v = new Float64Array(C);
      for (let j = 0; j < steps; j++) { const y = vectors[j * steps + r]; for (let i = 0; i < C; i++) v[i] += y * Q[j][i]; }
      const norm = Math.sqrt(dot(v, v));
      for (let i = 0; i < C; i++) v[i] /= norm;
      let big = 0;
      for (let i = 1; i < C; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
      if (v[big] < 0) for (let i = 0; i < C; i++) v[i] = -v[i];
      const Av = matVec(A, C, v, new Float64Array(C));
      let res = 0;
      for (let i = 0; i < C; i++) res += (Av[i] - values[r] * v[i]) ** 2;
      worst = Math.max(worst, Math.sqrt(res));
      out.values.push(values[r]);
      out.vectors.push(v);
    }
    if (worst <= 1e-12 * (scale || 1) || m >= C || out.values.length < Math.min(k, C) && steps < m) return out;
    m = Math.min(C, 2 * m);
  }
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
  for (let l = 0; l < L; l++) {
    for (let k = 0; k < K; k++) {
      const s = out[k], wk = w[k];
      const w0 = wk[4 * l], w1 = 4 * l + 1 < C ? wk[4 * l + 1] : 0;
      const w2 = 4 * l + 2 < C ? wk[4 * l + 2] : 0, w3 = 4 * l + 3 < C ? wk[4 * l + 3] : 0;
      let i = l * N * 4;
      for (let p = 0; p < N; p++, i += 4) s[p] += layers[i] * w0 + layers[i + 1] * w1 + layers[i + 2] * w2 + layers[i + 3] * w3;
    }
    if (l % 8 === 7) await tick();
  }
  return out;
}

/** numpy's percentile (linear interpolation between closest ranks) of ascending values. */
export function percentile(sorted, p) {
  const pos = (sorted.length - 1) * (p / 100);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * A component's scores scaled to [0, 1]: 'robust' (1st to 99th percentile), 'minmax', or
 * 'sigmoid' (whitened, 1 / (1 + e^(−2·s/√λ))). Returns {v: Float32Array, lo, hi}.
 */
export function scaleScores(scores, method, lambda) {
  const n = scores.length, v = new Float32Array(n);
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
