// The notebook widget's synced traits (app/notebook.py Viewer) ↔ the view model's state
// (model/view.js). Pure, so that both directions are tested without a browser
// (tests/js/widget-traits.test.mjs).
//
//   reference  [x, y] the pointer's reference pixel, or null: the pointer takes no part.
//              Set from Python it is locked there (as the L key locks it).
//   locked     whether the reference stays where it is while the pointer moves
//   pins       [[x, y], ...]
//   metric, values, threshold   as the view's fields
//   view       'similarity' | 'pca' | 'channel:K'

export const TRAITS = Object.freeze(['reference', 'locked', 'pins', 'metric', 'values', 'view', 'threshold']);

const pixel = (p) => (Array.isArray(p) && p.length === 2 ? { x: p[0], y: p[1] } : null);
const samePixel = (a, b) => (a === null && b === null) || (a && b && a.x === b.x && a.y === b.y);

/** The widget's traits as the view's state shows them. */
export function traitsFromState(s) {
  return {
    reference: s.pointer && s.reference ? [s.reference.x, s.reference.y] : null,
    locked: s.locked,
    pins: s.pins.map((p) => [p.x, p.y]),
    metric: s.metric,
    values: s.values,
    view: s.mode === 'channel' ? `channel:${s.channel}` : s.mode,
    threshold: s.threshold,
  };
}

/**
 * The view patch that makes `state` show `traits` (some of TRAITS): only what differs, so that
 * the state's own values coming back change nothing. Throws a RangeError for a view it cannot read.
 */
export function stateFromTraits(traits, s) {
  const patch = {};
  if ('reference' in traits) {
    const p = traits.reference === null ? null : pixel(traits.reference);
    if (traits.reference !== null && !p) throw new RangeError(`reference: not a pixel [x, y]: ${JSON.stringify(traits.reference)}`);
    if (p === null) {
      if (s.pointer) patch.pointer = false;
    } else if (!(s.pointer && samePixel(p, s.reference))) {
      Object.assign(patch, { reference: p, locked: true, pointer: true });
    }
  }
  if ('locked' in traits && traits.locked !== s.locked && !('locked' in patch)) {
    patch.locked = Boolean(traits.locked);
    // Unlocked, the reference follows the pointer again from where it is.
    if (!traits.locked && s.hover) patch.reference = s.hover;
  }
  if ('pins' in traits) {
    const pins = (traits.pins ?? []).map(pixel);
    if (pins.length !== s.pins.length || pins.some((p, i) => !samePixel(p, s.pins[i]))) patch.pins = pins;
  }
  for (const k of ['metric', 'values', 'threshold']) {
    if (k in traits && traits[k] !== s[k]) patch[k] = traits[k];
  }
  if ('view' in traits) {
    const m = /^(similarity|pca|channel:(\d+))$/.exec(String(traits.view));
    if (!m) throw new RangeError(`view: "similarity", "pca" or "channel:K", not ${JSON.stringify(traits.view)}`);
    if (m[2] !== undefined) {
      const k = Number(m[2]);
      if (s.mode !== 'channel' || s.channel !== k) Object.assign(patch, { mode: 'channel', channel: k });
    } else if (s.mode !== m[1]) {
      patch.mode = m[1];
    }
  }
  return patch;
}
