// The view model: everything the user sees as state, in one object with change events.
// The explorer turns DOM events into changes; the renderer, the read-out, the chart, the colour
// scale and the benchmark's recorder subscribe and apply what changed. Nothing else keeps a
// copy of any of it.
//
// The state object is immutable: every change makes a new one, so a subscriber can keep the last
// state it applied and compare fields by identity.

export const METRICS = Object.freeze(['angular', 'cosine', 'correlation', 'euclidean', 'dot']);
export const VALUES = Object.freeze(['stored', 'true', 'centred', 'zscore']);
export const COMBINE = Object.freeze(['max', 'mean']);
export const STRETCHES = Object.freeze(['relative', 'absolute']);
export const MODES = Object.freeze(['similarity', 'channel', 'pca']);
export const PCA_SCALES = Object.freeze(['robust', 'minmax', 'sigmoid']);
export const PCA_FITS = Object.freeze(['all', 'foreground', 'region']);
export const PCA_MAX_COMPONENT = 64;
export const COMPUTE = Object.freeze(['auto', 'gpu', 'cpu']);
export const MAX_PINS = 16;
export const MAX_PANES = 8;     // datasets compared side by side (issue 16)
export const MAX_MATCHES = 16;  // best matches marked per pane
export const MAX_REGIONS = 16;

export const VIEW_DEFAULTS = Object.freeze({
  dataset: null,        // the dataset on screen: {info, layers, overlay, overlaySize, decodeMs}
  hover: null,          // {x, y}: the map pixel under the pointer, or null
  reference: null,      // {x, y}: the pointer's reference pixel (follows hover unless locked)
  locked: false,
  pointer: true,        // whether the pointer's reference takes part in the map (with pins, it may not)
  pins: [],             // [{x, y}]: pinned pixels, references too (at most MAX_PINS)
  regions: [],          // [{x0, y0, x1, y1}]: rectangles (inclusive corners) whose mean vector is a reference
  combine: 'max',       // several references: 'max' (anything like any of them) or 'mean'
  mode: 'similarity',   // 'similarity' | 'channel' (channel `channel`'s own values)
  channel: null,        // the channel shown in 'channel' mode
  values: 'stored',     // which values are compared: 'stored' | 'true' | 'centred' | 'zscore'
  metric: 'angular',
  threshold: null,      // a number in the metric's units: the map becomes a mask (≥ it; euclidean: ≤)
  connected: false,     // the mask keeps only the 4-connected parts that hold a reference
  stretch: 'relative',  // 'relative': the visible map's min and max; 'absolute': 0 to 1
  colormap: 'fire',
  opacity: 0.9,         // of the heat map over the overlay
  overlayColour: false, // the overlay in colour (true) or greyscale
  // Where similarity maps are computed: 'auto' (the CPU for 8- and 16-bit data under a software
  // WebGL renderer, else the GPU), 'gpu' or 'cpu'.
  compute: 'auto',
  // The PCA view (issue 14): which components (1-based; three as red, green, blue, or one through
  // the colour map), how each is scaled to colours, which pixels they are fitted on (the
  // foreground: PC1's whitened score, its sign flipped or not, above `threshold`; a region: the
  // union of `regions`).
  pca: Object.freeze({ components: Object.freeze([1, 2, 3]), scale: 'robust', fit: 'all', threshold: 0, flip: false }),
  pcaResult: null,      // the components of the current settings, once computed (compute/pca-job.js)
  pcaBackground: false, // the similarity map over the PCA colours instead of over the overlay
  camera: null,         // {scale, offsetX, offsetY}: canvas pixel = offset + scale · map pixel
  // Comparing datasets (issue 16): `dataset` is pane 0, `others` panes 1, 2, …; a pixel or
  // region of pane k > 0 (hover, reference, pins, regions) carries `pane: k` (pane 0's carry
  // none), and references from any pane apply to every pane's map (model/panes.js).
  others: [],
  cameras: [],          // the cameras of panes 1, 2, … (null: fitted when shown)
  syncCameras: false,   // zoom and pan every pane together (the same part of each map)
  jointStretch: true,   // one colour scale over every pane's map (false: each its own)
  matches: 1,           // the best matches marked in every other pane (0: none)
  matchRadius: 0,       // top-k: none within this distance (map pixels) of one marked before
});

// The dataset of a pixel's or region's pane (undefined: no such pane), given the state.
const paneOf = (s, p) => {
  if (p.pane === undefined) return s.dataset;
  return Number.isInteger(p.pane) && p.pane >= 1 ? s.others[p.pane - 1] : undefined;
};
const pixelIn = (s) => (p) => {
  if (p === null) return true;
  if (!p || !Number.isInteger(p.x) || !Number.isInteger(p.y) || p.x < 0 || p.y < 0) return false;
  const ds = paneOf(s, p);
  return ds !== undefined && (!ds || (p.x < ds.info.width && p.y < ds.info.height));
};
const regionIn = (s) => (r) => {
  if (!r || ![r.x0, r.y0, r.x1, r.y1].every(Number.isInteger) || r.x0 < 0 || r.y0 < 0 || r.x0 > r.x1 || r.y0 > r.y1) return false;
  const ds = paneOf(s, r);
  return ds !== undefined && (!ds || (r.x1 < ds.info.width && r.y1 < ds.info.height));
};
const isDataset = (v) => typeof v === 'object' && v !== null && Boolean(v.info && v.layers);
const oneOf = (list) => (v) => list.includes(v);
const listOf = (max, item) => (v) => Array.isArray(v) && v.length <= max && v.every((x) => x !== null && item(x));

// Each field's rule, given the state the change applies to (pixels must lie on its dataset).
const VALID = {
  dataset: (v) => v === null || isDataset(v),
  hover: (v, s) => pixelIn(s)(v),
  reference: (v, s) => pixelIn(s)(v),
  locked: (v) => typeof v === 'boolean',
  pointer: (v) => typeof v === 'boolean',
  pins: (v, s) => listOf(MAX_PINS, pixelIn(s))(v),
  regions: (v, s) => listOf(MAX_REGIONS, regionIn(s))(v),
  combine: oneOf(COMBINE),
  mode: oneOf(MODES),
  channel: (v, s) => v === null || (Number.isInteger(v) && v >= 0 && (!s.dataset || v < s.dataset.info.features)),
  // True values need the range every dataset was quantised with.
  values: (v, s) => VALUES.includes(v) && (v !== 'true' || [s.dataset, ...s.others].every((d) => !d || Boolean(d.info.range))),
  metric: oneOf(METRICS),
  threshold: (v) => v === null || (typeof v === 'number' && Number.isFinite(v)),
  connected: (v) => typeof v === 'boolean',
  stretch: oneOf(STRETCHES),
  colormap: (v) => typeof v === 'string' && v.length > 0,
  opacity: (v) => typeof v === 'number' && v >= 0 && v <= 1,
  overlayColour: (v) => typeof v === 'boolean',
  compute: oneOf(COMPUTE),
  pca: (v, s) => v && typeof v === 'object' && Array.isArray(v.components)
    && (v.components.length === 1 || v.components.length === 3)
    && v.components.every((k) => Number.isInteger(k) && k >= 1 && k <= PCA_MAX_COMPONENT
      && (!s.dataset || k <= s.dataset.info.features))
    && new Set(v.components).size === v.components.length
    && PCA_SCALES.includes(v.scale) && PCA_FITS.includes(v.fit)
    && typeof v.threshold === 'number' && Number.isFinite(v.threshold) && typeof v.flip === 'boolean',
  pcaResult: (v) => v === null || (typeof v === 'object' && v.computed === true && typeof v.key === 'string'),
  pcaBackground: (v) => typeof v === 'boolean',
  camera: (v) => isCamera(v),
  // Panes compare vectors: every dataset has pane 0's channel count.
  others: (v, s) => Array.isArray(v) && v.length < MAX_PANES && v.every(isDataset)
    && (!s.dataset || v.every((d) => d.info.features === s.dataset.info.features)),
  cameras: (v, s) => Array.isArray(v) && v.length <= s.others.length && v.every(isCamera),
  syncCameras: (v) => typeof v === 'boolean',
  jointStretch: (v) => typeof v === 'boolean',
  matches: (v) => Number.isInteger(v) && v >= 0 && v <= MAX_MATCHES,
  matchRadius: (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e4,
};

function isCamera(v) {
  return v === null || (v.scale > 0 && Number.isFinite(v.scale) && Number.isFinite(v.offsetX) && Number.isFinite(v.offsetY));
}

// Value objects ({x, y}, the camera, the PCA settings) are equal when their fields are; lists
// of them when their items are. The dataset and computed results are compared by identity.
function same(a, b) {
  if (a === b) return true;
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  if (!isValue(a) || !isValue(b)) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => same(a[k], b[k]));
}

// Value objects are copied and frozen; datasets and computed results (pcaResult) are kept.
const isValue = (v) => v && typeof v === 'object' && !v.info && !(typeof v.key === 'string' && v.computed);

function copy(v) {
  if (Array.isArray(v)) return Object.freeze(v.map(copy));
  if (!isValue(v)) return v;
  return Object.freeze(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])));
}

export class ViewModel {
  constructor(initial = {}) {
    this._state = VIEW_DEFAULTS;
    this._listeners = new Set();
    this.set(initial);
  }

  /** The current state (frozen; replaced, never changed, by set()). */
  get state() { return this._state; }

  /**
   * Apply `patch` (some fields of the state) and tell every subscriber what changed. Throws a
   * RangeError naming the field for an invalid value, before anything changes. `meta` travels
   * with the change event (e.g. {time} of the pointer event behind it). Returns the changed keys.
   */
  set(patch, meta = {}) {
    const next = { ...this._state };
    const changed = new Set();
    for (const [key, value] of Object.entries(patch)) {
      if (!(key in VALID)) throw new RangeError(`view: no field "${key}"`);
      if (!same(next[key], value)) {
        next[key] = copy(value);
        changed.add(key);
      }
    }
    if (!changed.size) return changed;
    for (const key of Object.keys(VALID)) {
      // A new dataset (or set of panes) re-checks every pixel and channel against its size.
      if ((changed.has(key) || changed.has('dataset') || changed.has('others')) && !VALID[key](next[key], next)) {
        throw new RangeError(`view: invalid ${key}: ${JSON.stringify(next[key]?.info ? next[key].info : next[key])}`);
      }
    }
    const previous = this._state;
    this._state = Object.freeze(next);
    for (const listener of [...this._listeners]) listener(this._state, changed, { ...meta, previous });
    return changed;
  }

  /** Call listener(state, changedKeys, meta) after every change; returns the unsubscribe function. */
  subscribe(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }
}
