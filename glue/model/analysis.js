// What a view asks to be computed: the map request, one pure function of the view state that
// every map source reads (so both compute paths, the read-outs and the exports agree on it).
//   references: the pointer's pixel (when it takes part), then the pins, then the regions
//   statics:    the references that do not move with the pointer; their combined map is kept
//               while the pointer moves, so a move costs one reference's map however many pins
//   key:        the map's identity (same key, same values)
//   (comparing datasets, issue 16) references of other panes are vectors ({kind: 'vector',
//   vector, key}) under the comparison's one transform (`joint`, model/panes.js)
import { nearIsLarge } from '../compute/similarity.js';
import { transformOf, valuesAt, regionVector } from '../compute/values.js';
import { jointOf, datasetsOf } from './panes.js';

/** {mode, channel, values, metric, combine, joint, pointer, statics, count, staticKey, key}. */
export function mapRequest(view) {
  if (view.mode === 'pca') return { mode: 'pca', statics: [], pointer: null, count: 0, key: `pca:${view.pcaResult?.key ?? '-'}` };
  if (view.mode === 'channel') {
    return { mode: 'channel', channel: view.channel, statics: [], pointer: null, count: 0, key: `channel:${view.channel}` };
  }
  // (the model's own state is pane 0's view)
  const here = view.pane ?? 0, joint = view.joint !== undefined ? view.joint : jointOf(view);
  // A pixel or region with no pane lies on pane 0, except the pointer's reference of a pane's
  // state, which lies on that pane (model/panes.js).
  const ref = (r, home = 0) => {
    const own = (r.pane ?? home) === here;
    const shape = r.x0 === undefined ? { kind: 'pixel', x: r.x, y: r.y } : { kind: 'region', x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1 };
    return own ? shape : foreignVector(view, r.pane ?? home, shape);
  };
  const pointer = !view.pointer ? null
    : view.reference ? ref(view.reference, here) : view.foreignReference ? ref(view.foreignReference) : null;
  const statics = [...view.pins.map((r) => ref(r)), ...view.regions.map((r) => ref(r))];
  const base = `${view.values}:${view.metric}:${view.combine}${joint ? `:${joint.key}` : ''}`;
  const staticKey = `${base}|${statics.map(refKey).join(';')}`;
  return {
    mode: 'similarity', values: view.values, metric: view.metric, combine: view.combine, joint,
    pointer, statics, count: statics.length + (pointer ? 1 : 0),
    staticKey, key: `${staticKey}|${pointer ? refKey(pointer) : '-'}`,
  };
}

const refKey = (r) => (r.kind === 'pixel' ? `${r.x},${r.y}` : r.kind === 'region' ? `${r.x0},${r.y0},${r.x1},${r.y1}` : r.key);

// Reference vectors of other panes, per dataset and transform (a region's costs its pixels).
const vectors = new WeakMap();

/**
 * The reference vector of a pixel or region ({kind, …}) of pane k, under the view's transform:
 * {kind: 'vector', vector (Float64Array), key}.
 */
export function foreignVector(view, k, shape) {
  const ds = (view.panes ?? datasetsOf(view))[k];
  const key = `p${k}:${refKey(shape)}`;
  const joint = view.joint !== undefined ? view.joint : jointOf(view);
  const cacheKey = `${view.values}|${joint?.key ?? ''}|${shape.kind === 'region' ? view.metric : ''}|${key}`;
  let cache = vectors.get(ds);
  if (!cache) vectors.set(ds, cache = new Map());
  let vector = cache.get(cacheKey);
  if (!vector) {
    const transform = transformOf(ds, view.values, joint);
    vector = shape.kind === 'pixel' ? valuesAt(ds, transform, shape.x, shape.y) : regionVector(ds, transform, shape, view.metric);
    if (cache.size > 64) cache.clear();
    cache.set(cacheKey, vector);
  }
  return { kind: 'vector', vector, key, pane: k, shape };
}

/**
 * How several maps combine: 'max' keeps, per pixel, the nearest ("like any of these": the
 * largest value, the smallest distance), 'mean' their mean.
 */
export function combiner(metric, combine) {
  if (combine === 'mean') return 'sum';  // summed, divided by the count at the end
  return nearIsLarge(metric) ? 'max' : 'min';
}

/**
 * Every reference pixel and region of a view on its own pane, for the mask's `connected` rule
 * and the marks (another pane's references lie on that pane).
 */
export function referenceShapes(view) {
  const r = mapRequest(view);
  return r.mode !== 'similarity' ? [] : [...(r.pointer ? [r.pointer] : []), ...r.statics].filter((s) => s.kind !== 'vector');
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
  const reverse = !nearIsLarge(view.metric);
  // Comparing datasets with one colour scale: the range over every pane's map (model/panes.js).
  if (view.stretchRange) return { relative: false, absolute: view.stretchRange, reverse };
  const range = absoluteRange(view.metric, view.values);
  return { relative: view.stretch === 'relative' || !range, absolute: range, reverse };
}
