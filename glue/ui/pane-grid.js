// Datasets side by side (issue 16): the explorer's panes, one canvas and one renderer each, in a
// grid that gives the maps the most room. Adding a pane checks it against the first (channel
// count, at most MAX_PANES, the GPU's limits); every view change reaches each pane's renderer as
// that pane's state (model/panes.js), with one colour scale over all panes when asked (the CPU
// maps' ranges first; on the GPU, the frames' ranges and a second draw); after the frames, each
// pane's best matches are marked.
import { MAX_PANES } from '../model/view.js';
import { paneOf, inPane, fittedCameras, datasetsOf } from '../model/panes.js';
import { colourScale } from '../model/analysis.js';
import { visibleRect } from '../render/camera.js';
import { bestMatches } from '../compute/matches.js';
import { Marks } from './marks.js';

export const FIT_PADDING = 10;    // CSS pixels around a fitted map
const MATCH_REST_MS = 120; // the pointer at rest this long: the GPU panes' best matches are read back

export class PaneGrid {
  /** explorer: the explorer whose panes (explorer.panes, pane 0 its own canvas) this arranges. */
  constructor(explorer) {
    this.e = explorer;
    this.matches = [];  // per pane: [{x, y, value}] of the best matches marked
  }

  /**
   * Add a dataset as a pane beside those on screen (comparing them, issue 16). Refused with a
   * message, nothing on screen changed, when no dataset is shown yet, eight are, its channel
   * count differs from the first's, or the GPU cannot hold it.
   */
  async add(dataset) {
    const first = this.e.dataset;
    const { info } = dataset;
    if (!first) throw new Error('open a dataset first: a comparison adds datasets to the one on screen');
    if (this.e.panes.length >= MAX_PANES) throw new Error(`at most ${MAX_PANES} datasets side by side: close one to add ${quoted(info.name)}`);
    if (info.features !== first.info.features) {
      throw new Error(`${quoted(info.name)} has ${info.features} channels and ${quoted(first.info.name)} has ${first.info.features}: `
        + 'datasets compared side by side must have the same channel count (the same layer of one model); it was not added');
    }
    this.e.check(info);
    const element = document.createElement('div');
    element.className = 'pane';
    const canvas = document.createElement('canvas');
    canvas.className = 'pane-map';
    canvas.tabIndex = 0;
    canvas.setAttribute('aria-label', `Similarity map of ${info.name}`);
    const layer = document.createElement('div');
    layer.className = 'marks';
    const box = document.createElement('div');
    box.className = 'drag-box';
    box.hidden = true;
    element.append(canvas, layer, box);
    this.e.$('panes').append(element);
    const k = this.e.panes.length;
    let renderer;
    try {
      renderer = this.e.makeRenderer(canvas, k);
      if (this.e.colormaps) renderer.setColormaps(this.e.colormaps);
      renderer.setDataset(dataset);
    } catch (err) {
      renderer?.dispose();
      element.remove();
      throw err;
    }
    const pane = { element, canvas, renderer, label: null, marks: null };
    this.e.panes.push(pane);
    pane.marks = new Marks(this.e.model, canvas, {
      onRemovePin: (i) => this.e.removePin(i), layer, box, stateOf: (view) => this.e.states.of(view, this.e.panes.indexOf(pane)),
    });
    this.e.bindPane(pane);
    this.layout();
    this.e.resize(true);
    const view = this.e.view;
    // True values only where every dataset records its range.
    const values = view.values === 'true' && !info.range ? 'stored' : view.values;
    const patch = { others: [...view.others, dataset], values };
    const size = [canvas.width, canvas.height];
    const fitted = fittedCameras({ ...view, ...patch }, size[0], size[1], FIT_PADDING * this.e.dpr);
    this.e.model.set({ ...patch, ...fitted, pcaResult: null });
    this.layout();  // its name, now that the model has it
    await this.overlay(k, dataset);
  }

  /** Close pane k > 0: its references go, later panes move up. */
  remove(k) {
    if (k < 1 || k >= this.e.panes.length) return;
    const view = this.e.view;
    const renumber = (list) => list.filter((p) => paneOf(p) !== k).map((p) => (paneOf(p) > k ? inPane(p, paneOf(p) - 1) : p));
    const hover = view.hover && paneOf(view.hover) === k ? null : renumber(view.hover ? [view.hover] : [])[0] ?? null;
    const reference = view.reference && paneOf(view.reference) === k ? null : renumber(view.reference ? [view.reference] : [])[0] ?? null;
    const [pane] = this.e.panes.splice(k, 1);
    this.e.model.set({
      others: view.others.filter((_, i) => i !== k - 1), cameras: view.cameras.filter((_, i) => i !== k - 1),
      pins: renumber(view.pins), regions: renumber(view.regions), hover, pcaResult: null,
      reference: reference ?? { x: Math.floor(view.dataset.info.width / 2), y: Math.floor(view.dataset.info.height / 2) },
    });
    pane.renderer.dispose();
    pane.element.remove();
    this.layout();
    this.e.resize(true);
  }

  closeExtra() {
    for (const pane of this.e.panes.splice(1)) {
      pane.renderer.dispose();
      pane.element.remove();
    }
  }

  // The overlay image of pane k's dataset (decoded by the browser), once it is known.
  async overlay(k, dataset) {
    if (!hasOverlayOf(dataset)) return;
    const renderer = this.e.panes[k].renderer;
    // No larger than the device's largest texture (the reader allows up to 64 megapixels).
    const max = renderer.limits.maxTextureSize;
    const [w, h] = dataset.overlaySize ?? [0, 0];
    const scale = Math.min(1, max / Math.max(w, h, 1));
    const resize = scale < 1
      ? { resizeWidth: Math.max(1, Math.floor(w * scale)), resizeHeight: Math.max(1, Math.floor(h * scale)), resizeQuality: 'high' }
      : {};
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([dataset.overlay]), resize);
    } catch (err) {
      throw new Error(`overlay.jpg could not be decoded by the browser (${err.message}); the heat map is shown without it`);
    }
    if (this.e.panes[k]?.renderer === renderer && datasetsOf(this.e.view)[k] === dataset) renderer.setOverlay(bitmap);
  }

  // The panes' grid: the columns that give the maps the most room, names on every pane.
  layout() {
    const n = this.e.panes.length;
    const grid = this.e.$('panes');
    const stage = this.e.$('stage');
    grid.classList.toggle('compare', n > 1);
    const datasets = datasetsOf(this.e.view);
    const first = datasets[0]?.info ?? { width: 1, height: 1 };
    const W = Math.max(1, stage.clientWidth), H = Math.max(1, stage.clientHeight);
    let best = 1, bestScale = 0;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const scale = Math.min(W / cols / first.width, H / rows / first.height);
      if (scale > bestScale) { best = cols; bestScale = scale; }
    }
    grid.style.gridTemplateColumns = `repeat(${best}, minmax(0, 1fr))`;
    grid.style.gridTemplateRows = `repeat(${Math.ceil(n / best)}, minmax(0, 1fr))`;
    this.e.panes.forEach((pane, k) => {
      if (n > 1 && !pane.label) {
        pane.label = document.createElement('div');
        pane.label.className = 'pane-label';
        pane.element.append(pane.label);
      }
      if (!pane.label) return;
      pane.label.hidden = n < 2;
      const ds = datasets[k];
      const info = ds?.info;
      if (!info) return;
      pane.label.replaceChildren(`${k}: ${info.name} · ${info.width}×${info.height} @${info.precision}`);
      if (k > 0) {
        const close = document.createElement('button');
        close.type = 'button';
        close.className = 'pane-close';
        close.textContent = '×';
        close.title = `Close ${info.name}`;
        close.addEventListener('click', () => this.remove(this.e.panes.indexOf(pane)));
        pane.label.append(close);
      }
    });
  }

  // ------------------------------------------------------------ the panes' views

  // Every pane's renderer gets its state (model/panes.js): with one colour scale over all panes,
  // the range of every map, computed first where the CPU computes them; then the best matches.
  sync(view) {
    const n = this.e.panes.length;
    if (n === 1 || !view.others.length) {
      this.e.renderer.sync(this.e.states.of(view, 0));
      this.scheduleMatches();
      return;
    }
    const states = this.e.panes.map((_, k) => this.e.states.of(view, k));
    const joint = view.jointStretch && states[0].mode === 'similarity' && colourScale(states[0]).relative;
    let range = null;
    if (joint) {
      const ranges = this.e.panes.map((p, k) => visibleRange(p, states[k]));
      if (ranges.every(Boolean)) range = union(ranges);
      else if (this._gpuRange?.key === this._rangeKey(states)) range = this._gpuRange.range;
    }
    this._stretchRange = range && (this._stretchRange && this._stretchRange[0] === range[0] && this._stretchRange[1] === range[1]
      ? this._stretchRange : Object.freeze(range));
    this.e.panes.forEach((p, k) => {
      const state = range ? this._withRange(k, states[k], this._stretchRange) : states[k];
      p.renderer.sync(state);
    });
    this.scheduleMatches();
  }

  // Pane k's state with the joint colour scale (the same object while neither changes).
  _withRange(k, state, range) {
    this._ranged ??= [];
    const last = this._ranged[k];
    if (last && last.state === state && last.range === range) return last.out;
    const out = Object.freeze({ ...state, stretchRange: range });
    this._ranged[k] = { state, range, out };
    return out;
  }

  // On the GPU each pane's range comes with its frame: once every pane has drawn the current
  // maps, their union is the joint scale (the panes are drawn again with it).
  frameStretch(k, frame) {
    const view = this.e.view;
    if (this.e.panes.length < 2 || !view.jointStretch || !frame.stretch || frame.scale?.relative === false) return;
    this._gpuStretch ??= new Map();
    this._gpuStretch.set(k, { key: frame.key, stretch: frame.stretch });
    const states = this.e.panes.map((_, i) => this.e.states.of(view, i));
    const keys = states.map((st, i) => this.e.panes[i].renderer.ds && this.e.panes[i].renderer.source().key(st));
    if (!this.e.panes.every((_, i) => this._gpuStretch.get(i)?.key === keys[i])) return;
    const range = union(this.e.panes.map((_, i) => [this._gpuStretch.get(i).stretch.min, this._gpuStretch.get(i).stretch.max]));
    const key = this._rangeKey(states);
    if (this._gpuRange?.key === key) return;
    this._gpuRange = { key, range };
    setTimeout(() => this.sync(this.e.view), 0);
  }

  // What the panes' ranges depend on: each pane's map and the part of it on screen.
  _rangeKey(states) {
    return states.map((st, i) => {
      const r = this.e.panes[i].renderer, c = st.camera;
      return `${r.ds ? r.source().key(st) : '-'}@${c?.scale},${c?.offsetX},${c?.offsetY}`;
    }).join(';');
  }

  // The best matches of every pane but the reference's: after the frames, at the next animation frame.
  scheduleMatches() {
    if (this._matchFrame || (this.e.panes.length === 1 && !this.matches.some((m) => m.length))) return;
    this._matchFrame = requestAnimationFrame(() => {
      this._matchFrame = 0;
      this.updateMatches();
    });
  }

  // CPU maps are at hand; a GPU map is read back only once the pointer rests (a read-back
  // waits for the GPU, which would hold up the next move).
  updateMatches(settled = false) {
    const view = this.e.view;
    const shown = this.e.panes.length > 1 && view.matches > 0 && view.mode === 'similarity';
    const from = view.pointer && view.reference ? paneOf(view.reference) : -1;
    let waiting = false;
    this.matches = this.e.panes.map((p, k) => {
      if (!shown || k === from) return [];
      const state = this.e.states.of(view, k);
      try {
        let map = p.renderer.cpuMap(state);
        if (!map && p.renderer.ds && state.dataset) {
          if (!settled) { waiting = true; return this.matches[k] ?? []; }
          map = p.renderer.readMap();
        }
        if (!map || !state.dataset) return [];
        return bestMatches(map, state.dataset.info.width, view.metric, view.matches, view.matchRadius);
      } catch {
        return [];
      }
    });
    this.e.panes.forEach((p, k) => p.marks?.showMatches(this.matches[k] ?? []));
    clearTimeout(this._matchTimer);
    if (waiting) this._matchTimer = setTimeout(() => this.updateMatches(true), MATCH_REST_MS);
  }
}

const quoted = (name) => `"${name.length > 60 ? `${name.slice(0, 60)}…` : name}"`;
const union = (ranges) => {
  let lo = Infinity, hi = -Infinity;
  for (const [a, b] of ranges) { if (a < lo) lo = a; if (b > hi) hi = b; }
  return [lo, hi];
};

// The min and max of pane p's map over its visible part, where the CPU computes the map; else null.
function visibleRange(pane, state) {
  const map = pane.renderer.cpuMap(state);
  if (!map || !state.camera) return null;
  const { width: W, height: H } = state.dataset.info;
  const rect = visibleRect(state.camera, W, H, pane.canvas.width, pane.canvas.height);
  if (!rect) return null;
  let lo = Infinity, hi = -Infinity;
  for (let y = rect.y0; y < rect.y1; y++) {
    for (let p = y * W + rect.x0, end = y * W + rect.x1; p < end; p++) {
      const v = map[p];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

export const hasOverlayOf = (dataset) => Boolean(dataset.overlay);
