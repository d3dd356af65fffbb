// What a view asks to be computed: the map request, one pure function of the view state that
// every map source reads (so both compute paths, the read-outs and the exports agree on it).
//   references: the pointer's pixel (when it takes part), then the pins, then the regions
//   statics:    the references that do not move with the pointer; their combined map is kept
//               while the pointer moves, so a move costs one reference's map however many pins
//   key:        the map's identity (same key, same values)
import { nearIsLarge } from '../compute/similarity.js';

/** {mode, channel, values, metric, combine, pointer, statics, count, staticKey, key}. */
export function mapRequest(view) {
  if (view.mode === 'pca') return { mode: 'pca', statics: [], pointer: null, count: 0, key: `pca:${view.pcaResult?.key ?? '-'}` };
  if (view.mode === 'channel') {
    return { mode: 'channel', channel: view.channel, statics: [], pointer: null, count: 0, key: `channel:${view.channel}` };
  }
  const pointer = view.pointer && view.reference ? { kind: 'pixel', x: view.reference.x, y: view.reference.y } : null;
  const statics = [
    ...view.pins.map((p) => ({ kind: 'pixel', x: p.x, y: p.y })),
    ...view.regions.map((r) => ({ kind: 'region', ...r })),
  ];
  const ref = (r) => (r.kind === 'pixel' ? `${r.x},${r.y}` : `${r.x0},${r.y0},${r.x1},${r.y1}`);
  const base = `${view.values}:${view.metric}:${view.combine}`;
  const staticKey = `${base}|${statics.map(ref).join(';')}`;
  return {
    mode: 'similarity', values: view.values, metric: view.metric, combine: view.combine,
    pointer, statics, count: statics.length + (pointer ? 1 : 0),
    staticKey, key: `${staticKey}|${pointer ? ref(pointer) : '-'}`,
  };
}

/**
 * How several maps combine: 'max' keeps, per pixel, the nearest ("like any of these": the
 * largest value, the smallest distance), 'mean' their mean.
 */
export function combiner(metric, combine) {
  if (combine === 'mean') return 'sum';  // summed, divided by the count at the end
  return nearIsLarge(metric) ? 'max' : 'min';
}

/** Every reference pixel and region of a view, for the mask's `connected` rule and the marks. */
export function referenceShapes(view) {
  const r = mapRequest(view);
  return r.mode !== 'similarity' ? [] : [...(r.pointer ? [r.pointer] : []), ...r.statics];
}

/**
 * The colour scale's fixed ('absolute') range of a metric: angular, cosine and correlation
 * run from −1 to 1 (from 0 for angular and cosine of the stored, non-negative values, the
 * original's scale); euclidean and dot have none, so they take the map's own range.
 */
export function absoluteRange(metric, values) {
  if (metric === 'euclidean' || metric === 'dot') return null;
  return values === 'stored' && metric !== 'correlation' ? [0, 1] : [-1, 1];
}

/**
 * How the map's values become colours: {relative (stretched to the visible map's min and max),
 * absolute ([lo, hi] otherwise), reverse (near is small: distances, drawn so that near is
 * bright)}. The channel view shows a channel's stored values, 0 to 1.
 */
export function colourScale(view) {
  if (view.mode === 'channel') return { relative: view.stretch === 'relative', absolute: [0, 1], reverse: false };
  // The PCA view's colours are scaled by its own setting (compute/pca.js scaleScores).
  if (view.mode === 'pca') return { relative: false, absolute: [0, 1], reverse: false };
  const range = absoluteRange(view.metric, view.values);
  return { relative: view.stretch === 'relative' || !range, absolute: range, reverse: !nearIsLarge(view.metric) };
}
