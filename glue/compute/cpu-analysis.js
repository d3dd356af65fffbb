// Maps on the CPU for any values setting, metric and set of references (issue 13), built from
// the kernel's sums (cpu-kernel.js) and the one set of formulas (similarity.js):
//   t_p · ρ  for a reference vector ρ = Σ_c q_pc a_c ρ_c + Σ_c b_c ρ_c   (a weighted sum)
//   t_p · t_r for a reference pixel r, when every a_c is the same s (stored, true, centred):
//            s²·(q_p · q_r) + s·(B_p + B_r) + Σb²,  B_p = Σ_c b_c q_pc   (the exact integer
//            dot product: what the kernel computes quickest, and exactly)
//   |t_p|², Σ_c t_pc per pixel: computed once per values setting.
// References that do not move with the pointer (pins, regions) are combined once and kept;
// a pointer move costs one reference's map and a pass that combines it with them.
import { FROM_SUMS } from './similarity.js';
import { transformOf, valuesAt, regionVector } from './values.js';
import { combiner } from '../model/analysis.js';

export class CpuAnalysis {
  /** kernel: a CpuKernel of the dataset; dataset: {info, layers, stats} (the DATASET message). */
  constructor(kernel, dataset) {
    this.kernel = kernel;
    this.dataset = dataset;
    this.N = kernel.N;
    this._terms = new Map();  // values → per-pixel terms
    this._static = null;      // {key, acc: Float64Array} of the static references
    this._out = new Float32Array(this.N);
  }

  // Per-pixel |t_p|², Σ t_pc and (one scale) B_p of a values setting (and comparison), once.
  _termsOf(values, joint = null) {
    const key = `${values}|${joint?.key ?? ''}`;
    let terms = this._terms.get(key);
    if (terms) return terms;
    const k = this.kernel, N = this.N;
    const transform = transformOf(this.dataset, values, joint);
    const { a, b, scale: s } = transform;
    let bb = 0, sb = 0;
    for (let c = 0; c < b.length; c++) { bb += b[c] * b[c]; sb += b[c]; }
    const norm = new Float64Array(N), sum = new Float64Array(N);
    let B = null;
    if (s !== null) {
      B = b.some((v) => v !== 0) ? k.weighted(b) : new Float64Array(N);
      for (let p = 0; p < N; p++) {
        norm[p] = selfDot(s, k.norms[p], B[p], bb);
        sum[p] = s * k.sums[p] + sb;
      }
    } else {
      const ab = a.map((v, c) => v * b[c]);
      const sq = k.weighted(a.map((v) => v * v), undefined, { squares: true });
      const lin = k.weighted(ab);
      const asum = k.weighted(a);
      for (let p = 0; p < N; p++) {
        norm[p] = sq[p] + 2 * lin[p] + bb;
        sum[p] = asum[p] + sb;
      }
    }
    terms = { transform, norm, sum, B, bb };
    this._terms.set(key, terms);
    return terms;
  }

  /**
   * One reference's map (float64, N values): a pixel {kind: 'pixel', x, y}, a region, or
   * another pane's vector {kind: 'vector', vector} (model/analysis.js). With `ranges`
   * ([[from, to], …] pixel ranges, a preview's rows): only those pixels of `out` are written.
   */
  referenceMap(ref, values, metric, out = new Float64Array(this.N), joint = null, ranges = null) {
    const terms = this._termsOf(values, joint);
    const { transform, norm, sum, B, bb } = terms;
    const { a, b, scale: s } = transform;
    const k = this.kernel, C = this.dataset.info.features;
    const spans = ranges ?? [[0, this.N]];
    const f = FROM_SUMS[metric];
    if (ref.kind === 'pixel' && s !== null) {
      // Exact integer dot products; the pixel with itself gives |t_r|² bit for bit.
      const r = ref.y * this.dataset.info.width + ref.x;
      const D = k.dotsWith(r, ranges);
      const nr = norm[r], sr = sum[r], Br = B[r];
      for (const [from, to] of spans) {
        for (let p = from; p < to; p++) out[p] = f(crossDot(s, D[p], B[p], Br, bb), norm[p], nr, sum[p], sr, C);
      }
      return out;
    }
    const rho = ref.kind === 'vector' ? ref.vector : ref.kind === 'pixel'
      ? valuesAt(this.dataset, transform, ref.x, ref.y)
      : regionVector(this.dataset, transform, ref, metric);
    let rr = 0, sr = 0, k0 = 0;
    const w = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      rr += rho[c] * rho[c];
      sr += rho[c];
      k0 += b[c] * rho[c];
      w[c] = a[c] * rho[c];
    }
    const dots = k.weighted(w, this._dots ??= new Float64Array(this.N), { ranges });
    for (const [from, to] of spans) {
      for (let p = from; p < to; p++) out[p] = f(dots[p] + k0, norm[p], rr, sum[p], sr, C);
    }
    return out;
  }

  /**
   * The map a request (model/analysis.js mapRequest) asks for: every reference's map combined,
   * as Float32Array(N), row 0 = top (reused by the next call). With `ranges` (as referenceMap's)
   * only those pixels are computed; the others keep what an earlier call left.
   */
  map(request, ranges = null) {
    const { values, metric, combine, pointer, statics, count, joint } = request;
    const out = this._out;
    const spans = ranges ?? [[0, this.N]];
    if (!count) { for (const [from, to] of spans) out.fill(0, from, to); return out; }
    const op = combiner(metric, combine);
    // The static references do not move: their combined map is made whole, once.
    if (statics.length && this._static?.key !== request.staticKey) {
      const acc = this.referenceMap(statics[0], values, metric, undefined, joint);
      const one = new Float64Array(this.N);
      for (const ref of statics.slice(1)) combineInto(acc, this.referenceMap(ref, values, metric, one, joint), op);
      this._static = { key: request.staticKey, acc };
    }
    const mine = pointer
      ? this.referenceMap(pointer, values, metric, this._pointer ??= new Float64Array(this.N), joint, ranges) : null;
    const acc = statics.length ? this._static.acc : null;
    const scale = op === 'sum' ? 1 / count : 1;
    for (const [from, to] of spans) {
      if (acc && mine) {
        for (let p = from; p < to; p++) out[p] = combineOne(acc[p], mine[p], op) * scale;
      } else {
        const only = acc ?? mine;
        for (let p = from; p < to; p++) out[p] = only[p] * scale;
      }
    }
    return out;
  }
}

// |t_p|² = s²|q_p|² + 2s·B_p + Σb², and t_p · t_r in the same order of operations, so that
// crossDot(s, |q_r|², B_r, B_r, bb) === selfDot(s, |q_r|², B_r, bb).
const selfDot = (s, qq, B, bb) => s * s * qq + s * (B + B) + bb;
const crossDot = (s, D, Bp, Br, bb) => s * s * D + s * (Bp + Br) + bb;

function combineOne(x, y, op) {
  if (op === 'max') return x > y ? x : y;
  if (op === 'min') return x < y ? x : y;
  return x + y;
}

function combineInto(acc, map, op) {
  for (let p = 0; p < acc.length; p++) acc[p] = combineOne(acc[p], map[p], op);
}
