// The geometry of map targets (glue/RENDERER.md, "Map targets"): a target with step s = 2^k
// holds s × s phase planes of ⌈W/s⌉ × ⌈H/s⌉ texels side by side; texel (i, j) of plane
// (px, py) is map pixel (s·i + px, s·j + py). Plane (0, 0) alone is a preview; the other planes
// hold exactly the pixels it skipped, so a refinement never computes a pixel twice. Step 1 is a
// plain W × H map. Pure functions of numbers: no GL here.

/** The preview's step: previewFactor rounded down to a power of two (1 = no preview), at most 8. */
export function previewStep(factor) {
  const f = Math.max(1, Math.min(8, Math.floor(Number(factor) || 1)));
  return 2 ** Math.floor(Math.log2(f));
}

/** A target's geometry for a W × H map at step s, and what its planes hold (see covers()). */
export function targetGeometry(W, H, step) {
  return {
    step, shift: Math.log2(step), pw: Math.ceil(W / step), ph: Math.ceil(H / step),
    key: null,                               // the map its planes hold (see holdMap)
    done: new Array(step * step).fill(null), // per plane: the texel rectangle computed for `key`
    gen: 0,                                  // bumped whenever texels change (the reduction's cache)
  };
}

/** Every plane of a target (true), or the preview's plane alone (false). */
export function phasesOf(t, all) {
  return all ? Array.from({ length: t.step * t.step }, (_, i) => i) : [0];
}

/**
 * The texels of plane `ph` of target t whose pixels cover map rectangle r. Plane (0, 0) takes
 * the s × s blocks that r touches (the preview shows each block's first pixel); the other
 * planes only the pixels inside r. Null when the plane has none there.
 */
export function phaseRect(t, ph, r) {
  const s = t.step, px = ph % s, py = Math.floor(ph / s);
  const lo = (v, p) => (p === 0 ? Math.floor(v / s) : Math.ceil((v - p) / s));
  const hi = (v, p) => Math.ceil((v - p) / s);
  const q = { x0: lo(r.x0, px), y0: lo(r.y0, py), x1: hi(r.x1, px), y1: hi(r.y1, py) };
  return q.x1 > q.x0 && q.y1 > q.y0 ? q : null;
}

// Whether plane `ph` of target t holds what map rectangle r needs of it (for t.key's map).
function planeHolds(t, ph, r) {
  const q = phaseRect(t, ph, r);
  const d = t.done[ph];
  return !q || Boolean(d && d.x0 <= q.x0 && d.y0 <= q.y0 && d.x1 >= q.x1 && d.y1 >= q.y1);
}

/** Make t hold map `key` from now on: a different map forgets what every plane held. */
export function holdMap(t, key) {
  if (t.key !== key) {
    t.key = key;
    t.done.fill(null);
  }
}

/** The phases (of `phases`) whose planes do not yet hold what map rectangle r needs. */
export function missingPhases(t, r, phases) {
  return phases.filter((ph) => !planeHolds(t, ph, r));
}

/** Whether target t holds map `key` for these phases over map rectangle r. */
export function covers(t, key, r, phases) {
  return t.key === key && missingPhases(t, r, phases).length === 0;
}

/**
 * Target texel rectangles of these phases' planes over map rectangle r, one per plane:
 * {x0, y0, x1, y1 (texels of the target), ph, q (the plane's own texel rectangle)}.
 */
export function phaseDraws(t, r, phases) {
  const rects = [];
  for (const ph of phases) {
    const q = phaseRect(t, ph, r);
    if (!q) continue;
    const ox = (ph % t.step) * t.pw, oy = Math.floor(ph / t.step) * t.ph;
    rects.push({ x0: ox + q.x0, y0: oy + q.y0, x1: ox + q.x1, y1: oy + q.y1, ph, q });
  }
  return rects;
}

/**
 * A preview's refinement: the other planes over map rectangle r, as chunks of at most
 * `limit` pixels × channels (row bands of a plane, consecutive bands packed together: each
 * chunk costs a fence and the wait to see it). [{bands: [{d, y0, y1}], work}].
 */
export function refineChunks(t, r, channels, limit) {
  const chunks = [];
  let chunk = null;
  for (const d of phaseDraws(t, r, phasesOf(t, true).slice(1))) {
    const rowWork = (d.x1 - d.x0) * channels;
    const rows = Math.max(1, Math.floor(limit / rowWork));
    for (let y = d.y0; y < d.y1; y += rows) {
      const band = { d, y0: y, y1: Math.min(d.y1, y + rows) };
      const work = (band.y1 - band.y0) * rowWork;
      if (!chunk || chunk.work + work > limit) {
        chunk = { bands: [], work: 0 };
        chunks.push(chunk);
      }
      chunk.bands.push(band);
      chunk.work += work;
    }
  }
  return chunks;
}

/**
 * The same refinement for a source that computes whole map rows (the CPU): chunks of texel
 * rows across every plane at once, so that each map row is computed once, in the chunk that
 * shows it, and a chunk's work (at most `limit` multiply-adds: map rows × visible width ×
 * channels) is what it costs. Same shape as refineChunks'.
 */
export function refineRowChunks(t, r, channels, limit) {
  const draws = phaseDraws(t, r, phasesOf(t, true).slice(1));
  if (!draws.length) return [];
  const j0 = Math.min(...draws.map((d) => d.q.y0)), j1 = Math.max(...draws.map((d) => d.q.y1));
  const rowWork = t.step * (r.x1 - r.x0) * channels;  // one texel row: step map rows
  const rows = Math.max(1, Math.floor(limit / rowWork));
  const chunks = [];
  for (let j = j0; j < j1; j += rows) {
    const bands = [];
    for (const d of draws) {
      const a = Math.max(j, d.q.y0), b = Math.min(j + rows, d.q.y1);
      if (b > a) bands.push({ d, y0: d.y0 + a - d.q.y0, y1: d.y0 + b - d.q.y0 });
    }
    if (bands.length) chunks.push({ bands, work: (Math.min(j + rows, j1) - j) * rowWork });
  }
  return chunks;
}
