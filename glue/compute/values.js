// Which values are compared (issue 13): every setting is an affine map of the stored integers,
// t_c = a_c · q_c + b_c per channel c, so the analyses work on the integers the page already
// holds plus a few constants and per-pixel sums (app/analysis.py has the float64 definitions):
//   stored   q / (2^P − 1)                               a = 1/M,          b = 0
//   true     lo + q/M · (hi − lo)  (needs the range)     a = (hi − lo)/M,  b = lo
//   centred  base − its per-channel mean (base: true     a = s,            b_c = −s·m_c
//            values with a range, else stored)            (s: base's scale, m_c: mean of q_c)
//   zscore   centred / its per-channel std (0 for a      a_c = 1/σ_c,      b_c = −m_c/σ_c
//            constant channel)                            (σ_c: std of q_c)
// m and σ are the worker's per-channel statistics of q (exact float64, pyworker/protocol.js).
import { storedVector } from '../model/layout.js';

/**
 * The transform of a values setting for a dataset {info (with range), stats {mean, std}}:
 * {values, a: Float64Array(C), b: Float64Array(C), scale: a number when every a_c is the
 * same (then dot products follow from integer ones), else null, key}; and the same as
 * t_c = a_c·(q_c − mu_c) + offset (mu: Float64Array(C), offset: a number), the form the GPU
 * computes in, where a mean comes off the integers before they are scaled.
 */
export function transformOf({ info, stats }, values, joint = null) {
  const C = info.features, M = 2 ** info.precision - 1;
  if (joint) return jointTransform(info, values, joint);
  const range = info.range ?? null;
  if (values === 'true' && !range) throw new Error('true values need the range the dataset was quantised with; it records none');
  if ((values === 'centred' || values === 'zscore') && !stats) throw new Error(`${values} values need the dataset's statistics`);
  const a = new Float64Array(C), b = new Float64Array(C), mu = new Float64Array(C);
  const s = range ? (range[1] - range[0]) / M : 1 / M;
  let scale = null, offset = 0;
  if (values === 'stored') { a.fill(1 / M); scale = 1 / M; } else if (values === 'true') {
    a.fill(s); b.fill(range[0]); scale = s; offset = range[0];
  } else if (values === 'centred') {
    a.fill(s); scale = s;
    for (let c = 0; c < C; c++) { b[c] = -s * stats.mean[c]; mu[c] = stats.mean[c]; }
  } else if (values === 'zscore') {
    for (let c = 0; c < C; c++) {
      const sd = stats.std[c];
      if (sd > 0) { a[c] = 1 / sd; b[c] = -stats.mean[c] / sd; mu[c] = stats.mean[c]; }
    }
  } else {
    throw new Error(`unknown values ${values}`);
  }
  return { values, a, b, scale, mu, offset, key: values };
}

/**
 * A comparison's one transform (issue 16; app/compare.py defines it): the base is the true
 * values when every dataset records its range, else the stored ones (`stored`); centred and
 * z-scored values subtract the mean pooled over every dataset's pixels and divide by the pooled
 * standard deviation, both in the base's units.
 * joint: {key, stored, mean: Float64Array(C), std: Float64Array(C)} (jointStats).
 */
function jointTransform(info, values, joint) {
  const C = info.features, M = 2 ** info.precision - 1;
  const range = values === 'stored' || joint.stored ? null : info.range;
  if (values === 'true' && !range) throw new Error('true values need every dataset\'s range');
  const s = range ? (range[1] - range[0]) / M : 1 / M, o = range ? range[0] : 0;
  const a = new Float64Array(C).fill(s), b = new Float64Array(C).fill(o), mu = new Float64Array(C);
  let scale = s, offset = o;  // stored, true: as for one dataset
  if (values === 'centred' || values === 'zscore') {
    offset = 0;
    for (let c = 0; c < C; c++) {
      // t = o + s·q − mean = s·(q − mu): mu in the integers' units, for the GPU's centring
      b[c] = o - joint.mean[c];
      mu[c] = (joint.mean[c] - o) / s;
      if (values === 'zscore') {
        const sd = joint.std[c];
        a[c] = sd > 0 ? s / sd : 0;
        b[c] = sd > 0 ? b[c] / sd : 0;
        if (!(sd > 0)) mu[c] = 0;
      }
    }
    if (values === 'zscore') scale = null;
  }
  return { values, a, b, scale, mu, offset, key: `${values}|${joint.key}` };
}

/**
 * The statistics of a comparison of datasets [{info, stats}] (app/compare.py joint_values, in
 * its order of operations): {key, stored, mean, std} pooled over all their pixels, in the base's
 * units (true values when every dataset has a range, else stored). null for one dataset: it
 * keeps its own transform.
 */
export function jointStats(datasets) {
  if (datasets.length < 2) return null;
  const C = datasets[0].info.features;
  const stored = datasets.some((d) => !d.info.range);
  const mean = new Float64Array(C), std = new Float64Array(C);
  const parts = datasets.map(({ info, stats }) => {
    const M = 2 ** info.precision - 1;
    const s = stored ? 1 / M : (info.range[1] - info.range[0]) / M, o = stored ? 0 : info.range[0];
    const m = new Float64Array(C), v = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      m[c] = o + s * stats.mean[c];
      const sd = s * stats.std[c];
      v[c] = sd * sd;
    }
    return { n: info.width * info.height, m, v };
  });
  const total = parts.reduce((t, p) => t + p.n, 0);
  for (const p of parts) for (let c = 0; c < C; c++) mean[c] += p.n * p.m[c];
  for (let c = 0; c < C; c++) mean[c] /= total;
  for (const p of parts) {
    for (let c = 0; c < C; c++) { const d = p.m[c] - mean[c]; std[c] += p.n * (p.v[c] + d * d); }
  }
  for (let c = 0; c < C; c++) std[c] = Math.sqrt(std[c] / total);
  const key = `joint${++jointCount}`;
  return Object.freeze({ key, stored, mean, std });
}
let jointCount = 0;

/** t = a ⊙ q + b for a vector of stored integers q. */
export function apply(transform, q) {
  const { a, b } = transform;
  const out = new Float64Array(q.length);
  for (let c = 0; c < q.length; c++) out[c] = a[c] * q[c] + b[c];
  return out;
}

/** Pixel (x, y)'s vector under the transform. */
export const valuesAt = (dataset, transform, x, y) => apply(transform, storedVector(dataset, x, y));

/**
 * A vector scaled to unit length, first centred on its own mean when `centre` (correlation):
 * {v (a copy), zero: whether it was zero, or (centred) constant but for rounding (the rule of
 * similarity.js), and stays as it is}.
 */
export function unitVector(vector, centre = false) {
  const v = Float64Array.from(vector);
  let before = 0;
  for (let c = 0; c < v.length; c++) before += v[c] * v[c];
  if (centre) {
    let m = 0;
    for (let c = 0; c < v.length; c++) m += v[c];
    m /= v.length;
    for (let c = 0; c < v.length; c++) v[c] -= m;
  }
  let n = 0;
  for (let c = 0; c < v.length; c++) n += v[c] * v[c];
  if (!(n > (centre ? 1e-12 * before : 0))) return { v, zero: true };
  const k = 1 / Math.sqrt(n);
  for (let c = 0; c < v.length; c++) v[c] *= k;
  return { v, zero: false };
}

/**
 * The reference vector of a region {x0, y0, x1, y1} (inclusive corners): the mean of its pixels'
 * vectors, each normalised first for angular and cosine, centred and normalised for
 * correlation, as they are for euclidean and dot.
 */
export function regionVector(dataset, transform, { x0, y0, x1, y1 }, metric) {
  const C = dataset.info.features;
  const sum = new Float64Array(C);
  const unit = metric === 'angular' || metric === 'cosine' || metric === 'correlation';
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const raw = valuesAt(dataset, transform, x, y);
      const u = unit ? unitVector(raw, metric === 'correlation') : { v: raw, zero: false };
      if (!u.zero) for (let c = 0; c < C; c++) sum[c] += u.v[c];
    }
  }
  const n = (x1 - x0 + 1) * (y1 - y0 + 1);
  for (let c = 0; c < C; c++) sum[c] /= n;
  return sum;
}
