// Pixel vectors read from the decoded layers (the array the worker posted), and
// the similarity of two of them in float64, for the read-out and the chart.
// The formulas are app/similarity.py's; the GPU computes the same for the map.

/** Float64Array of pixel (x, y)'s C values as q / (2^P - 1). */
export function vectorAt({ info, layers }, x, y) {
  const { width: W, height: H, features: C, precision: P } = info;
  const scale = 1 / (2 ** P - 1);
  const out = new Float64Array(C);
  const plane = W * H * 4;
  let base = (y * W + x) * 4;
  for (let k = 0; k < C; k += 4, base += plane) {
    for (let j = 0; j < 4 && k + j < C; j++) out[k + j] = layers[base + j] * scale;
  }
  return out;
}

/** cos of the angle between a and b; 0 when either is a zero vector. */
export function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 || nb === 0) return 0;
  return Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb)));
}

/** 'angular': 1 - angle / (π/2), clamped to [0, 1]; 'cosine': clamp(cos, 0, 1); 0 for a zero vector.
 *  The angle is 2·asin(|â − b̂| / 2), well conditioned where cos ≈ 1 (as app/similarity.py). */
export function similarity(a, b, metric = 'angular') {
  let na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { na += a[i] * a[i]; nb += b[i] * b[i]; }
  if (na === 0 || nb === 0) return 0;
  if (metric === 'cosine') return Math.max(0, cosine(a, b));
  const ia = 1 / Math.sqrt(na), ib = 1 / Math.sqrt(nb);
  let chord = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i] * ia - b[i] * ib; chord += d * d; }
  const angle = 2 * Math.asin(Math.min(1, Math.sqrt(chord) / 2));
  return Math.min(1, Math.max(0, 1 - angle / (Math.PI / 2)));
}
