// A tile's render targets (a dataset's, when it is one tile): the map targets (a plain W × H
// map, and the phased one that previews and their refinements share) and the min/max
// reduction's ping-pong pair; and filling a map target from a map source.
import { targetGeometry, previewStep, holdMap, missingPhases, phaseDraws } from './phases.js';

/**
 * {full, phased (previews; null until phasedAt makes it), red: [a, b], stretchAt, reduced,
 * phasedAt(factor), release()} of the W × H tile at map pixel (ox, oy). The phased target's
 * step follows the preview factor of the compute path that asks (the CPU's previews skip more
 * than the GPU's). Map targets know their tile (ox, oy, width, height): sources that hold the
 * whole map (the CPU's, PCA's) fill a tile's part.
 */
export function makeTargets(gpu, W, H, ox = 0, oy = 0) {
  const gl = gpu.gl;
  const made = [];
  const target = (format, w, h) => { const t = gpu.target(format, w, h); made.push(t); return t; };
  const map = (name, step) => {
    const geometry = targetGeometry(W, H, step);
    const owned = target(gl.R32F, geometry.pw * step, geometry.ph * step);
    return { name, ...geometry, ...owned, owned, ox, oy, width: W, height: H };
  };
  try {
    const red = [0, 1].map(() => target(gl.RG32F, Math.ceil(W / 4), Math.ceil(H / 4)));
    return {
      width: W,
      height: H,
      ox,
      oy,
      full: map('full', 1),
      phased: null,
      red,
      stretchAt: red[0],  // where the last reduction left its (min, max)
      reduced: null,      // what it reduced (reduce.js)
      /** The phased target for previews of `factor` (null for none), made when first asked or when the step differs. */
      phasedAt(factor) {
        const step = previewStep(factor);
        if ((this.phased?.step ?? 1) === step) return this.phased;
        if (this.phased) {
          made.splice(made.indexOf(this.phased.owned), 1);
          gpu.dropTarget(this.phased.owned);
          this.phased = null;
          this.reduced = null;
        }
        if (step > 1) this.phased = map('phased', step);
        return this.phased;
      },
      release() { for (const t of made) gpu.dropTarget(t); made.length = 0; },
    };
  } catch (err) {
    for (const t of made) gpu.dropTarget(t);
    throw err;
  }
}

/**
 * Make target t hold map `key` from `source` for these phases over map rectangle r, computing
 * only the planes (and parts of planes) it lacks. A source that is not phased fills the whole
 * plain map at once.
 */
export function ensureMap(t, source, key, r, phases, view) {
  holdMap(t, key);
  const missing = missingPhases(t, r, phases);
  if (!missing.length) return;
  if (!source.phased) {
    if (t.step !== 1) throw new Error('renderer: a whole-map source can only fill the plain map');
    source.fill(t, null, view);
    t.done[0] = { x0: 0, y0: 0, x1: t.pw, y1: t.ph };
  } else {
    const draws = phaseDraws(t, r, missing);
    source.fill(t, draws, view);
    for (const d of draws) t.done[d.ph] = d.q;
  }
  t.gen++;
}
