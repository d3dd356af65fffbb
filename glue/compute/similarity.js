// The metrics from sums, in float64: the one set of formulas the page uses, for every pixel of a
// CPU map (cpu-analysis.js, from exact integer sums where it can) and for the read-outs. The
// definitions are app/analysis.py's, the float64 reference both are tested against:
//   angular      1 − 2θ/π, θ ∈ [0, π] the angle
//   cosine       cos θ
//   correlation  Pearson across channels: the cosine of the vectors centred on their own mean
//   euclidean    |p − r|
//   dot          p · r
// 0 where the quantity is undefined (a zero vector; a constant one for correlation).
//
// Inputs: dot = p·r, pp = |p|², rr = |r|², sp = Σp, sr = Σr, n = the channel count.
// θ = atan2(sqrt(|p|²|r|² − D²), D) is well conditioned everywhere, cos ≈ 1 included, where
// acos(cos) magnifies rounding. With exact sums only the last roundings remain; with float64
// sums each product is within 1.1e-16 of itself, which leaves the angle within about 1.5e-8.

const TWO_OVER_PI = 2 / Math.PI;

function angular(dot, pp, rr) {
  if (!(pp > 0) || !(rr > 0)) return 0;
  return 1 - TWO_OVER_PI * Math.atan2(Math.sqrt(Math.max(0, pp * rr - dot * dot)), dot);
}

function cosine(dot, pp, rr) {
  if (!(pp > 0) || !(rr > 0)) return 0;
  return Math.min(1, Math.max(-1, dot / Math.sqrt(pp * rr)));
}

// A vector whose spread about its own mean is below what rounding leaves of a constant one
// counts as constant: there is no correlation to speak of.
const CONSTANT = 1e-12;

function correlation(dot, pp, rr, sp, sr, n) {
  const cpp = pp - (sp * sp) / n, crr = rr - (sr * sr) / n;
  if (!(cpp > CONSTANT * pp) || !(crr > CONSTANT * rr)) return 0;
  return Math.min(1, Math.max(-1, (dot - (sp * sr) / n) / Math.sqrt(cpp * crr)));
}

const euclidean = (dot, pp, rr) => Math.sqrt(Math.max(0, pp - 2 * dot + rr));

const dotProduct = (dot) => dot;

/** metric → (dot, pp, rr, sp, sr, n) → value. */
export const FROM_SUMS = Object.freeze({ angular, cosine, correlation, euclidean, dot: dotProduct });

/** The metric of vectors a and b (plain arrays or typed arrays of one length). */
export function similarity(a, b, metric = 'angular') {
  const fromSums = FROM_SUMS[metric];
  if (!fromSums) throw new Error(`unknown metric ${metric}`);
  let dot = 0, pp = 0, rr = 0, sp = 0, sr = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    pp += a[i] * a[i];
    rr += b[i] * b[i];
    sp += a[i];
    sr += b[i];
  }
  return fromSums(dot, pp, rr, sp, sr, a.length);
}

/** Whether larger values mean nearer (all but euclidean): max combines as "like any of these". */
export const nearIsLarge = (metric) => metric !== 'euclidean';
