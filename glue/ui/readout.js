// The read-outs' text for a view state: what the hovered and pinned pixels hold and how
// similar they are to the reference, in float64 (compute/similarity.js: the formula of the CPU
// maps, from the stored integers). Pure functions of the view; the panels put the text on screen.
import { storedVector, vectorAt } from '../model/layout.js';
import { similarity } from '../compute/similarity.js';
import { formatValue as fmt } from '../format.js';

/** The read-out under the map: position, value or similarity, the pinned pixel, the lock. */
export function readoutText(view, { contextLost = false } = {}) {
  const { dataset: ds, hover, reference, pinned, locked, mode, channel, metric } = view;
  const parts = [];
  if (contextLost) parts.push('the graphics context was lost; restoring the map…');
  const similarityTo = (p) => similarity(storedVector(ds, p.x, p.y), storedVector(ds, reference.x, reference.y), metric);
  if (hover && ds) {
    parts.push(`x ${hover.x}, y ${hover.y}`);
    if (mode === 'channel') parts.push(`channel ${channel} = ${fmt(vectorAt(ds, hover.x, hover.y)[channel])}`);
    else if (reference) parts.push(`similarity ${fmt(similarityTo(hover))}`);
  }
  if (pinned && ds && reference && mode === 'similarity') parts.push(`pinned ${pinned.x}, ${pinned.y}: ${fmt(similarityTo(pinned))}`);
  if (locked && reference) parts.push(`reference locked at ${reference.x}, ${reference.y}`);
  return parts.join(' · ');
}

/** The line under the chart: the channel shown and its values, or the channel count. */
export function chartText(view) {
  const { dataset: ds, hover, reference, pinned, mode, channel } = view;
  if (!ds) return '0 channels';
  if (mode !== 'channel') return `${ds.info.features} channels`;
  const at = hover ?? reference;
  let text = `channel ${channel}`;
  if (at) text += `: ${fmt(vectorAt(ds, at.x, at.y)[channel])}`;
  if (pinned) text += ` · pinned ${fmt(vectorAt(ds, pinned.x, pinned.y)[channel])}`;
  return text;
}
