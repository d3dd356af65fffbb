// The similarity of two vectors from their dot product and squared norms, in float64: the one
// formula the page uses, for every pixel of a CPU map (cpu-similarity.js, from exact integer
// sums) and for the read-outs (from the vectors the chart shows). app/similarity.py is the
// float64 reference both are tested against.
//
// angle = atan2(sqrt(|p|²|r|² − D²), D) is well conditioned everywhere, including cos ≈ 1 where
// acos(cos) magnifies rounding. With exact sums (8 bit) only the last roundings remain; with
// rounded ones each product is within 1.1e-16 of itself, which leaves the angle within 1.5e-8.

const HALF_PI = Math.PI / 2;

/** Angular similarity 1 − angle/(π/2), clamped to [0, 1]; 0 where either vector is zero. */
export function angularFromSums(dot, pp, rr) {
  if (!pp || !rr) return 0;
  const angle = Math.atan2(Math.sqrt(Math.max(0, pp * rr - dot * dot)), dot);
  return 1 - Math.min(angle / HALF_PI, 1);
}

/** Cosine similarity clamped to [0, 1]; 0 where either vector is zero. */
export function cosineFromSums(dot, pp, rr) {
  if (!pp || !rr) return 0;
  return Math.min(1, Math.max(0, dot / Math.sqrt(pp * rr)));
}

export const FROM_SUMS = Object.freeze({ angular: angularFromSums, cosine: cosineFromSums });

/** The similarity of vectors a and b under `metric` ('angular' | 'cosine'). */
export function similarity(a, b, metric = 'angular') {
  const fromSums = FROM_SUMS[metric];
  if (!fromSums) throw new Error(`unknown metric ${metric}`);
  let dot = 0, pp = 0, rr = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    pp += a[i] * a[i];
    rr += b[i] * b[i];
  }
  return fromSums(dot, pp, rr);
}
