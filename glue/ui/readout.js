// The read-outs' text for a view state: what the hovered pixel holds and how it compares with
// each reference, in float64 with the maps' own formulas (compute/similarity.js on the vectors of
// compute/values.js), combined as the map combines them. Pure functions of the view (with a
// small cache of reference vectors); the panels put the text on screen.
import { similarity, nearIsLarge } from '../compute/similarity.js';
import { transformOf, valuesAt, regionVector } from '../compute/values.js';
import { mapRequest, combiner } from '../model/analysis.js';
import { formatValue as fmt } from '../format.js';
import { shownPca } from '../compute/pca-job.js';
import { channelLabel } from '../model/channels.js';

/** How the metric's values are named in the read-outs. */
export const METRIC_LABEL = Object.freeze({
  angular: 'angular', cosine: 'cosine', correlation: 'correlation', euclidean: 'distance', dot: 'dot',
});

const cache = new Map();  // reference vectors, by dataset, values, metric and reference
const cacheKeys = new WeakMap();

function vectorsOf(view) {
  const { dataset: ds, values, metric } = view;
  if (!cacheKeys.has(ds)) { cache.clear(); cacheKeys.set(ds, true); }
  const request = mapRequest(view);
  const transform = transformOf(ds, values, view.joint);
  const refs = [...(request.pointer ? [request.pointer] : []), ...request.statics];
  return refs.map((r) => {
    if (r.kind === 'vector') return r.vector;  // another pane's (model/analysis.js)
    if (r.kind === 'pixel') return valuesAt(ds, transform, r.x, r.y);
    const key = `${values}:${view.joint?.key ?? ''}:${metric}:${r.x0},${r.y0},${r.x1},${r.y1}`;
    if (!cache.has(key)) {
      if (cache.size > 64) cache.clear();
      cache.set(key, regionVector(ds, transform, r, metric));
    }
    return cache.get(key);
  });
}

/**
 * Pixel p compared with every reference of the view: {each: [value per reference: the pointer's
 * first when it takes part, then pins, then regions], combined: as the map combines them}.
 */
export function compareAt(view, p) {
  const vectors = vectorsOf(view);
  if (!vectors.length) return { each: [], combined: 0 };
  const here = valuesAt(view.dataset, transformOf(view.dataset, view.values, view.joint), p.x, p.y);
  const each = vectors.map((r) => similarity(here, r, view.metric));
  const op = combiner(view.metric, view.combine);
  const combined = op === 'sum' ? each.reduce((a, b) => a + b, 0) / each.length
    : each.reduce((a, b) => (op === 'max' ? Math.max(a, b) : Math.min(a, b)));
  return { each, combined };
}

/** The read-out under the map: position, then the channel's value or the map's value there. */
export function readoutText(view, { contextLost = false } = {}) {
  const { dataset: ds, hover, reference, locked, pointer, mode, channel, metric } = view;
  const parts = [];
  if (contextLost) parts.push('the graphics context was lost; restoring the map…');
  if (hover && ds) {
    parts.push(`x ${hover.x}, y ${hover.y}`);
    if (mode === 'channel') parts.push(`${channelLabel(ds.info, channel)} = ${fmt(valuesAt(ds, transformOf(ds, view.values, view.joint), hover.x, hover.y)[channel])}`);
    else if (mode === 'pca') parts.push(...pcaScoresAt(view, hover));
    else if (mapRequest(view).count) parts.push(`${METRIC_LABEL[metric]} ${fmt(compareAt(view, hover).combined)}`);
  }
  if (locked && reference && pointer) parts.push(`reference locked at ${reference.x}, ${reference.y}`);
  return parts.join(' · ');
}

/** The hovered pixel's scores on the shown components ('PC2 0.513'), from the view's PCA result. */
export function pcaScoresAt(view, p) {
  const r = shownPca(view);
  if (!r) return [];
  return r.components.map((k, i) => `PC${k} ${fmt(r.scores[i][p.y * r.width + p.x])}`);
}

/** The line under the chart: the channel shown and its values (in the values setting), or the channel count. */
export function chartText(view) {
  const { dataset: ds, hover, reference, pins, mode, channel, values } = view;
  if (!ds) return '0 channels';
  if (mode !== 'channel') return `${ds.info.features} channels, ${values} values`;
  const at = hover ?? reference;
  const pin = pins.filter((q) => (q.pane ?? 0) === (view.pane ?? 0)).at(-1);  // this pane's newest
  const transform = transformOf(ds, values, view.joint);
  const value = (p) => fmt(valuesAt(ds, transform, p.x, p.y)[channel]);
  let text = channelLabel(ds.info, channel);
  if (at) text += `: ${value(at)}`;
  if (pin) text += ` · pin ${pins.indexOf(pin) + 1} ${value(pin)}`;
  return text;
}

/** The threshold in words: which side of it the mask takes, with the angle where there is one. */
export function thresholdText(metric, t) {
  const side = nearIsLarge(metric) ? '≥' : '≤';
  let angle = '';
  if (metric === 'angular') angle = ` (angle ≤ ${(Math.min(2, Math.max(0, 1 - t)) * 90).toFixed(1)}°)`;
  if (metric === 'cosine') angle = ` (angle ≤ ${(Math.acos(Math.min(1, Math.max(-1, t))) * 180 / Math.PI).toFixed(1)}°)`;
  return `${METRIC_LABEL[metric]} ${side} ${fmt(t)}${angle}`;
}
