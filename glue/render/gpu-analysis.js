// The GPU's side of the analyses (issue 13): maps of reference vectors for any values setting
// and metric (analysis-shaders.js), the per-pixel terms they need, and the references that do
// not move with the pointer (pins, regions) combined once into a map of their own, which each
// pointer move's map merges with. The reference vectors and transforms come from the CPU
// (compute/values.js, float64), uploaded as float32 into a uniform block.
import { analysisFS, termsFS, FINISH_FS } from './analysis-shaders.js';
import { withDefine } from './shaders.js';
import { UNIT } from './device.js';
import { transformOf, valuesAt, regionVector, unitVector } from '../compute/values.js';

const FAMILY = { angular: 'chord', cosine: 'chord', correlation: 'chord', euclidean: 'euclid', dot: 'dot' };
const COMBINE_OP = { max: 1, min: 2, sum: 3 };

// Uniform-block bytes of one reference (info, ρ, a, b): the general path's channel limit.
export const analysisBlockBytes = (layers) => (3 * layers + 1) * 16;

/** The reference vector ρ of the chord, euclid or dot form, and whether it is zero. */
function referenceVector(dataset, transform, ref, metric) {
  const v = ref.kind === 'vector' ? ref.vector : ref.kind === 'pixel'
    ? valuesAt(dataset, transform, ref.x, ref.y) : regionVector(dataset, transform, ref, metric);
  return FAMILY[metric] === 'chord' ? unitVector(v, metric === 'correlation') : { v, zero: false };
}

export class GpuAnalysis {
  /** gpu: GpuContext; data: the dataset's GPU data (upload.js); dataset: {info, layers, stats}. */
  constructor(gpu, data, dataset, { unrollLimit = 256 } = {}) {
    const gl = gpu.gl;
    this.gpu = gpu;
    this.data = data;
    this.dataset = dataset;
    this.unrollLimit = unrollLimit;
    const { L, W, H } = data.layout;
    this.block = new Float32Array(4 + 12 * L);
    this.ubo = gpu.track('buffer', gl.createBuffer());
    gl.bindBuffer(gl.UNIFORM_BUFFER, this.ubo);
    gl.bufferData(gl.UNIFORM_BUFFER, this.block.byteLength, gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.UNIFORM_BUFFER, null);
    this.programs = new Map();
    this.plain = { step: 1, shift: 0, pw: W, ph: H };  // a plain W × H target's geometry
    this.whole = [{ x0: 0, y0: 0, x1: W, y1: H, ph: 0 }];
    this.terms = null;     // {tex, fb, key}
    this.statics = null;   // {targets: [a, b], at (the one holding the map), key}
  }

  fits(limits) { return analysisBlockBytes(this.data.layout.L) <= limits.maxUniformBlockSize; }

  // kind: 'terms:<mode>', 'finish', or a map's '<family>:<one scale>:<centred>'.
  _program(kind, combine) {
    const name = `${kind}${combine ? '+' : ''}`;
    let pr = this.programs.get(name);
    if (pr) return pr;
    const { layout, arrays, samplers } = this.data;
    const shape = { precision: layout.P, layers: layout.L, packed: layout.G, features: layout.C, arrays };
    const [family, oneScale, centred] = kind.split(':');
    let source = kind.startsWith('terms:') ? termsFS({ ...shape, mode: kind.slice(6) })
      : kind === 'finish' ? FINISH_FS
        : analysisFS({ ...shape, unrollLimit: this.unrollLimit, family, oneScale: oneScale === '1', centred: centred === '1' });
    if (combine) source = withDefine(source, 'COMBINE');
    pr = this.gpu.program(source, `analysis ${name}`, { ...samplers, uTerms: UNIT.terms, uPrev: UNIT.prev });
    this.programs.set(name, pr);
    return pr;
  }

  // The transform (and a reference) into the uniform block: info (zero reference, offset b,
  // the one scale a), ρ (for euclid ρ − b), a, μ per channel. `offset` false: b left out (it
  // cancels in the integer centring).
  _upload(transform, rho = null, zero = false, offset = true, family = 'chord') {
    const { L, C } = this.data.layout;
    const blk = this.block;
    const b = offset ? transform.offset : 0;
    blk.fill(0);
    blk[0] = zero ? 1 : 0;
    blk[1] = b;
    blk[2] = transform.scale ?? 0;
    for (let c = 0; c < C; c++) {
      if (rho) blk[4 + c] = family === 'euclid' ? rho[c] - b : rho[c];
      blk[4 + 4 * L + c] = transform.a[c];
      blk[4 + 8 * L + c] = transform.mu[c];
    }
    const gl = this.gpu.gl;
    gl.bindBuffer(gl.UNIFORM_BUFFER, this.ubo);
    gl.bufferSubData(gl.UNIFORM_BUFFER, 0, blk);
    gl.bindBuffer(gl.UNIFORM_BUFFER, null);
  }

  // (α_p, β_p, γ_p) for the chord form of this values setting (termsFS's modes).
  _terms(values, mode, transform) {
    const key = `${transform.key}:${mode}`;
    const gpu = this.gpu, gl = gpu.gl;
    const { W, H } = this.data.layout;
    this.terms ??= { ...gpu.target(gl.RGBA32F, W, H), key: null };
    if (this.terms.key === key) return;
    this._upload(transform);
    const pr = this._program(`terms:${mode}`, false);
    gl.useProgram(pr.prog);
    this.data.bindData();
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, this.ubo);
    gpu.draw(this.terms.fb, 0, 0, W, H);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, null);
    this.terms.key = key;
  }

  /**
   * Draw reference `ref`'s map into target t over `draws` (phases.js), merged with `prev` (a
   * plain map texture, or null) by `op` ('max' | 'min' | 'sum') and scaled by `scale`.
   */
  drawReference(t, draws, ref, request, { prev = null, op = null, scale = 1 } = {}) {
    const gpu = this.gpu, gl = gpu.gl;
    const { values, metric } = request;
    const transform = transformOf(this.dataset, values, request.joint);
    const family = FAMILY[metric];
    // Correlation with one scale centres each pixel in the integers (γ), where b cancels.
    const mode = metric !== 'correlation' ? 'unit' : transform.scale !== null ? 'integer' : 'values';
    if (family === 'chord') this._terms(values, mode, transform);
    const { v, zero } = referenceVector(this.dataset, transform, ref, metric);
    this._upload(transform, v, zero, mode !== 'integer', family);
    const centred = transform.mu.some((m) => m !== 0);
    const pr = this._program(`${family}:${transform.scale !== null ? 1 : 0}:${centred ? 1 : 0}`, Boolean(prev));
    gl.useProgram(pr.prog);
    this.data.bindData();
    if (this.terms) gpu.bind(UNIT.terms, gl.TEXTURE_2D, this.terms.tex);
    if (prev) this._bindPrev(pr, prev, op, scale);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, this.ubo);
    gl.uniform1i(pr.u.uMetric, metric === 'angular' ? 0 : 1);
    for (const d of draws) drawPhase(gpu, pr, t, d);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, null);
  }

  _bindPrev(pr, prev, op, scale) {
    const gl = this.gpu.gl;
    this.gpu.bind(UNIT.prev, gl.TEXTURE_2D, prev);
    gl.uniform1i(pr.u.uCombine, COMBINE_OP[op]);
    gl.uniform1f(pr.u.uScale, scale);
  }

  /** t over `draws` = prev · scale (a map of references drawn before; zeros without any). */
  finish(t, draws, prev, scale) {
    const gpu = this.gpu, gl = gpu.gl;
    const pr = this._program('finish', false);
    gl.useProgram(pr.prog);
    gpu.bind(UNIT.prev, gl.TEXTURE_2D, prev ?? this._zeros());
    gl.uniform1f(pr.u.uScale, prev ? scale : 0);
    for (const d of draws) drawPhase(gpu, pr, t, d);
  }

  _zeros() {
    const { W, H } = this.data.layout;
    this._zeroMap ??= this.gpu.target(this.gpu.gl.R32F, W, H);  // texStorage's contents start at zero
    return this._zeroMap.tex;
  }

  /**
   * The static references' combined map (a plain W × H texture), drawn with `drawOne(target,
   * draws, ref, {prev, op})` per reference; kept while request.staticKey stays the same.
   */
  staticMap(request, op, drawOne) {
    if (!request.statics.length) return null;
    const gpu = this.gpu, gl = gpu.gl;
    const { W, H } = this.data.layout;
    if (!this.statics) this.statics = { targets: [gpu.target(gl.R32F, W, H), gpu.target(gl.R32F, W, H)], at: 0, key: null };
    const s = this.statics;
    if (s.key === request.staticKey) return s.targets[s.at].tex;
    request.statics.forEach((ref, i) => {
      const into = s.targets[i % 2], before = i ? s.targets[(i - 1) % 2].tex : null;
      drawOne({ ...this.plain, fb: into.fb }, this.whole, ref, { prev: before, op });
      s.at = i % 2;
    });
    s.key = request.staticKey;
    return s.targets[s.at].tex;
  }

  dispose() {
    const gpu = this.gpu;
    for (const pr of this.programs.values()) gpu.delete('program', pr.prog);
    this.programs.clear();
    gpu.delete('buffer', this.ubo);
    gpu.dropTarget(this.terms);
    gpu.dropTarget(this._zeroMap);
    for (const t of this.statics?.targets ?? []) gpu.dropTarget(t);
    this.terms = this.statics = this._zeroMap = null;
  }
}

/** Draw target rectangle d of phase plane d.ph of target t with program pr (bound). */
export function drawPhase(gpu, pr, t, d) {
  const gl = gpu.gl;
  const px = d.ph % t.step, py = Math.floor(d.ph / t.step);
  gl.uniform2i(pr.u.uOrigin, px * t.pw, py * t.ph);
  gl.uniform2i(pr.u.uPhase, px, py);
  gl.uniform1i(pr.u.uShift, t.shift);
  gpu.draw(t.fb, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
}
