// The explorer screen's input: pointer, wheel, keyboard, buttons and selects become changes of
// the view model. The renderer (render/renderer.js) and the panels (panels.js) subscribe to the
// model and show them; nothing here draws.
import { Renderer, DeviceLimitError } from '../render/renderer.js';
import { fitCamera, zoomCamera, panCamera, canvasToPixel } from '../render/camera.js';
import { MAX_PINS, MAX_REGIONS } from '../model/view.js';
import { PaneStates, paneOf, inPane, cameraOf, cameraPatch, syncedCameras, fittedCameras, datasetsOf } from '../model/panes.js';
import { PaneGrid, FIT_PADDING, hasOverlayOf } from './pane-grid.js';
import { Panels } from './panels.js';
import { AnalysisPanel } from './analysis-panel.js';
import { PcaPanel } from './pca-panel.js';
import { ComparePanel } from './compare-panel.js';
import { Marks } from './marks.js';

import { byId } from './dom.js';
const ZOOM_STEP = 1.25;
const PAN_STEP = 60;       // CSS pixels per arrow key
const DRAG_THRESHOLD = 4;  // CSS pixels before a press becomes a drag, not a click
const CLICK_DELAY = 250;   // ms a click waits to be sure it is not half of a double-click (zoom)

// 'rgb(17, 17, 17)' -> [17, 17, 17]; null (a transparent canvas) for anything translucent.
function cssRGB(colour) {
  const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)$/.exec(colour);
  return m && (m[4] === undefined || Number(m[4]) === 1) ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export class Explorer {
  /**
   * model: the view model (model/view.js); onFrame(frame): every frame the renderer reports;
   * onNotice(text): something the user should know that is not an error (a limit reached).
   */
  constructor(model, { onFrame = () => {}, onNotice = () => {}, root = document } = {}) {
    this.root = root;
    this.$ = byId(root);
    this.model = model;
    this.onNotice = onNotice;
    this.canvas = this.$('map');
    this.contextLosses = 0;
    this.contextRestores = 0;
    this.states = new PaneStates();  // what each pane sees of the view (model/panes.js)
    // Pane 0 is the page's own canvas; panes 1, 2, … are made when datasets are added.
    this.panes = [];
    // Throws with a clear message where WebGL 2 or float render targets are missing.
    this.renderer = this.makeRenderer(this.canvas, 0, onFrame);
    this._onFrame = onFrame;
    this.panes.push({ element: this.canvas.parentElement, canvas: this.canvas, renderer: this.renderer, label: null, marks: null });
    // The renderers first: a pointer move's frames are issued before anything else reacts to it.
    this.grid = new PaneGrid(this);
    model.subscribe((view) => this.grid.sync(view));
    // The panels describe the pane under the pointer (or holding the reference).
    this.panels = new Panels(model, this.renderer, this.canvas, { root, stateOf: (view) => this.states.of(view, this.focusPane(view)) });
    this.analysis = new AnalysisPanel(model, { root, stateOf: (view) => this.states.of(view, this.focusPane(view)) });
    this.pca = new PcaPanel(model, { root });
    this.compare = new ComparePanel(model, { root });
    this.marks = new Marks(model, this.canvas, {
      onRemovePin: (i) => this.removePin(i), root, stateOf: (view) => this.states.of(view, 0),
    });
    this.panes[0].marks = this.marks;
    this._drag = null;
    this.shortcuts = {};  // more keys (the exports'), set by the page
    this._bind();
    new ResizeObserver(() => this.resize()).observe(this.$('stage'));
  }

  get view() { return this.model.state; }

  get dataset() { return this.model.state.dataset; }

  get dpr() { return this.canvas.width / Math.max(1, this.canvas.clientWidth); }

  // A renderer for pane k's canvas: its frames go to the panels (the pane under the pointer's
  // colour scale), the analysis panel (the mask's count, pane 0) and the page's recorder.
  makeRenderer(canvas, k, onFrame) {
    return new Renderer(canvas, {
      // An opaque canvas in the stage's colour: the compositor blends nothing beneath it.
      background: cssRGB(getComputedStyle(this.$('stage')).backgroundColor),
      onFrame: (frame) => {
        const pane = this.panes.indexOf(this.panes.find((p) => p.canvas === canvas));
        frame.pane = pane;
        // (a superseded frame brings none; the PCA view's scale is the panels' own)
        if (frame.stretch && frame.mode !== 'pca' && pane === this.focusPane(this.view)) this.panels.showStretch(frame.stretch);
        if (pane === 0) this.analysis.frame(frame);
        this.grid.frameStretch(pane, frame);
        (onFrame ?? this._onFrame)(frame);
      },
      // A lost WebGL context (GPU reset, driver update): the renderer uploads the dataset
      // again once the browser restores it, with the same view.
      onContextLost: () => { this.contextLosses += 1; this.panels?.updateHover({ now: true }); },
      onContextRestored: () => { this.contextRestores += 1; this.panels?.updateHover({ now: true }); },
    });
  }

  /** The colour tables from the worker ({name: 768 RGB bytes}, the default first). */
  setColormaps(tables) {
    this.colormaps = tables;
    for (const p of this.panes) p.renderer.setColormaps(tables);
    this.panels.setColormaps(tables);
    if (!(this.view.colormap in tables)) this.model.set({ colormap: Object.keys(tables)[0] });
  }

  // Throws a DeviceLimitError (rule 'gpu-limits', a message saying what would fit) when this
  // device cannot hold the dataset; nothing on screen changes. Limits come from the live context.
  check(info) {
    const plan = this.renderer.plan(info);
    if (!plan.fits) throw new DeviceLimitError(plan.message, plan);
    return plan;
  }

  /**
   * Show a decoded dataset (a DATASET message): the GPU's copy replaces the previous one, and the
   * view starts afresh (reference in the centre, fitted; any other panes closed). When the GPU
   * refuses it (a DeviceLimitError, as check() would have said), the previous dataset stays.
   */
  async show(dataset) {
    const { info } = dataset;
    if (this.renderer.isContextLost()) {
      throw new Error('the graphics (WebGL) context is lost at the moment; open the file again once the map is back');
    }
    const previous = this.dataset;
    try {
      this.renderer.setDataset(dataset);
    } catch (err) {
      if (previous) this.renderer.setDataset(previous);  // it fitted before: back on screen
      throw err;
    }
    this.grid.closeExtra();
    this.grid.layout();
    this.resize(true);
    this.renderer.setOverlay(null);
    // A fresh view of the new dataset; the values, metric and colours chosen stay (true values
    // only where the dataset records its range).
    // The PCA settings stay where the new dataset has the components (else the defaults).
    const pca = this.view.pca.components.every((k) => k <= info.features) ? this.view.pca
      : { ...this.view.pca, components: info.features >= 3 ? [1, 2, 3] : [1] };
    this.model.set({
      dataset, others: [], cameras: [], hover: null, pins: [], regions: [], locked: false, pointer: true, mode: 'similarity', channel: null,
      pca: { ...pca, fit: pca.fit === 'region' ? 'all' : pca.fit }, pcaResult: null, pcaBackground: false,
      threshold: null, values: this.view.values === 'true' && !info.range ? 'stored' : this.view.values,
      reference: { x: Math.floor(info.width / 2), y: Math.floor(info.height / 2) },
      camera: this._fitted(info),
      opacity: hasOverlayOf(dataset) ? 0.9 : 1,  // the original: 0.9 with an overlay, opaque without
    });
    await this.grid.overlay(0, dataset);
  }

  /**
   * Add a dataset as a pane beside those on screen (comparing them, issue 16; ui/pane-grid.js).
   * Refused with a message, nothing on screen changed, when no dataset is shown yet, eight are,
   * its channel count differs from the first's, or the GPU cannot hold it.
   */
  addPane(dataset) { return this.grid.add(dataset); }

  /** Close pane k > 0: its references go, later panes move up. */
  removePane(k) { this.grid.remove(k); }

  _fitted(info = this.dataset.info) {
    return fitCamera(info.width, info.height, this.canvas.width, this.canvas.height, FIT_PADDING * this.dpr);
  }

  /** Where similarity maps are computed: 'auto', 'gpu' or 'cpu' (see the view model's `compute`). */
  setCompute(mode) { this.model.set({ compute: mode }); }

  /** 'cpu' or 'gpu': where the current dataset's similarity maps are computed. */
  get computeOn() { return this.renderer.computeOn; }

  /** The pane the panels describe: under the pointer, else holding the reference. */
  focusPane(view) { return paneOf(view.hover ?? view.reference ?? null); }

  // ---------------------------------------------------------------- input

  _bind() {
    this.bindPane(this.panes[0]);
    this.$('zoom-in').addEventListener('click', () => this._zoomAll(ZOOM_STEP));
    this.$('zoom-out').addEventListener('click', () => this._zoomAll(1 / ZOOM_STEP));
    this.$('zoom-fit').addEventListener('click', () => this.fit());
    this.$('lock').addEventListener('click', () => this.toggleLock());
    this.$('colour-toggle').addEventListener('click', () => this.toggleOverlayColour());
    this.$('opacity').addEventListener('input', (e) => this.model.set({ opacity: Number(e.target.value) }));
    this.$('stretch').addEventListener('change', (e) => this.model.set({ stretch: e.target.value }));
    this.$('colormap').addEventListener('change', (e) => this.model.set({ colormap: e.target.value }));
    const chart = this.$('chart');
    chart.addEventListener('pointermove', (e) => this.showChannel(this.panels.chart.channelAt(e.offsetY)));
    chart.addEventListener('pointerleave', () => this.showChannel(null));
    // The page listens on the document; a widget on its own element (it takes the focus).
    (this.root === document ? document : this.root).addEventListener('keydown', (e) => this._key(e));
  }

  // Pointer, wheel and clicks on one pane's canvas (k: its place now; panes move up when one closes).
  bindPane(pane) {
    const c = pane.canvas;
    const k = () => this.panes.indexOf(pane);
    c.addEventListener('pointermove', (e) => this._pointerMove(e, k()));
    // pointermove is aligned to animation frames: Chromium dispatches it only at the next
    // frame. pointerrawupdate comes as the move arrives, and
    // the renderer draws from it at once. pointermove still pans, and its hover repeats the raw
    // event's pixel, which changes nothing.
    if ('onpointerrawupdate' in c) {
      c.addEventListener('pointerrawupdate', (e) => { if (!this._drag) this.hoverAt(e.offsetX, e.offsetY, e.timeStamp, k()); });
    }
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      c.setPointerCapture(e.pointerId);
      // Shift: a region from here to where the button is let go; otherwise a pan or a click.
      const start = e.shiftKey ? this.pixelAt(e.offsetX, e.offsetY, k()) : null;
      this._drag = { pane: k(), x: e.offsetX, y: e.offsetY, moved: false, region: start && { x0: start.x, y0: start.y, x1: start.x, y1: start.y } };
    });
    c.addEventListener('pointerup', (e) => {
      const drag = this._drag;
      this._drag = null;
      if (drag?.region) this.addRegion(drag.region, drag.pane);
      else if (drag && !drag.moved) this._click(e, k());
    });
    c.addEventListener('pointerleave', () => { if (this.dataset && paneOf(this.view.hover) === k()) this.model.set({ hover: null }); });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      this._zoom(factor, e.offsetX, e.offsetY, k());
    }, { passive: false });
    c.addEventListener('dblclick', (e) => {
      clearTimeout(this._clickTimer);
      this._zoom(2, e.offsetX, e.offsetY, k());
    });
  }

  _key(e) {
    if (!this.dataset || this.$('explorer')?.hidden) return;
    if (e.target.closest?.('select, input[type=range], input[type=text], input[type=number]') || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      '+': () => this._zoomAll(ZOOM_STEP), '=': () => this._zoomAll(ZOOM_STEP), '-': () => this._zoomAll(1 / ZOOM_STEP),
      0: () => this.fit(), l: () => this.toggleLock(), L: () => this.toggleLock(),
      c: () => this.toggleOverlayColour(), C: () => this.toggleOverlayColour(),
      ArrowLeft: () => this._panAll(PAN_STEP, 0), ArrowRight: () => this._panAll(-PAN_STEP, 0),
      ArrowUp: () => this._panAll(0, PAN_STEP), ArrowDown: () => this._panAll(0, -PAN_STEP),
      Escape: () => this.removeLast(),
      h: () => this.togglePointer(), H: () => this.togglePointer(),
      p: () => this.pca.toggle(), P: () => this.pca.toggle(),
      b: () => this.pca.toggleBackground(), B: () => this.pca.toggleBackground(),
      m: () => this.analysis.toggleMask(this.view.threshold === null),
      M: () => this.analysis.toggleMask(this.view.threshold === null),
      ...this.shortcuts,
    };
    const action = actions[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  _pointerMove(e, k = 0) {
    const drag = this._drag;
    if (drag?.region) {
      const p = this._clampedPixel(e.offsetX, e.offsetY, drag.pane);
      if (p) Object.assign(drag.region, { x1: p.x, y1: p.y });
      this.panes[drag.pane]?.marks.showDrag(drag.region);
      return;
    }
    if (drag) {
      const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
      if (drag.moved || Math.hypot(dx, dy) > DRAG_THRESHOLD) {
        drag.moved = true;
        drag.x = e.offsetX;
        drag.y = e.offsetY;
        this._pan(dx, dy, drag.pane);
        return;
      }
    }
    this.hoverAt(e.offsetX, e.offsetY, e.timeStamp, k);
  }

  _paneDpr(k) {
    const c = this.panes[k]?.canvas ?? this.canvas;
    return c.width / Math.max(1, c.clientWidth);
  }

  // The map pixel nearest CSS offset (ox, oy) of pane k: a drag may leave the map.
  _clampedPixel(ox, oy, k = 0) {
    const ds = datasetsOf(this.view)[k], camera = cameraOf(this.view, k);
    if (!ds || !camera) return null;
    const dpr = this._paneDpr(k);
    const clamp = (v, n) => Math.max(0, Math.min(n - 1, Math.floor(v)));
    return {
      x: clamp((ox * dpr - camera.offsetX) / camera.scale, ds.info.width),
      y: clamp((oy * dpr - camera.offsetY) / camera.scale, ds.info.height),
    };
  }

  /** The map pixel under CSS offset (ox, oy) of pane k's canvas (in that pane's terms), or null. */
  pixelAt(ox, oy, k = 0) {
    const ds = datasetsOf(this.view)[k], camera = cameraOf(this.view, k);
    const dpr = this._paneDpr(k);
    return ds && camera ? canvasToPixel(camera, ds.info.width, ds.info.height, ox * dpr, oy * dpr) : null;
  }

  /** Hover at CSS offset (ox, oy) of pane k's canvas: the hot path. Never waits on the worker. */
  hoverAt(ox, oy, timeStamp = performance.now(), k = 0) {
    const v = this.view;
    if (!v.dataset) return;
    const at = this.pixelAt(ox, oy, k);
    if (!at) {
      if (v.hover && paneOf(v.hover) === k) this.model.set({ hover: null });
      return;
    }
    const p = inPane(at, k);
    if (v.hover && v.hover.x === p.x && v.hover.y === p.y && paneOf(v.hover) === k) return;
    this.model.set(v.locked ? { hover: p } : { hover: p, reference: p }, { time: timeStamp });
  }

  _click(e, k = 0) {
    const p = this.pixelAt(e.offsetX, e.offsetY, k);
    clearTimeout(this._clickTimer);
    if (p && e.detail < 2) this._clickTimer = setTimeout(() => this.pin(inPane(p, k)), CLICK_DELAY);
  }

  // --------------------------------------------------------------- actions

  /** Pin pixel p ({x, y, pane?}: a reference of its own), or remove the pin already there. */
  pin(p) {
    if (!this.dataset) return;
    const pins = this.view.pins;
    const at = pins.findIndex((q) => q.x === p.x && q.y === p.y && paneOf(q) === paneOf(p));
    if (at >= 0) { this.removePin(at); return; }
    if (pins.length >= MAX_PINS) { this.onNotice(`At most ${MAX_PINS} pins: remove one to pin another.`); return; }
    this.model.set({ pins: [...pins, p] });
  }

  removePin(i) { this.model.set({ pins: this.view.pins.filter((_, j) => j !== i) }); }

  /** A region reference of pane k from two corners (inclusive, any order). */
  addRegion({ x0, y0, x1, y1 }, k = 0) {
    for (const p of this.panes) p.marks?.showDrag(null);
    if (!this.dataset) return;
    if (this.view.regions.length >= MAX_REGIONS) { this.onNotice(`At most ${MAX_REGIONS} regions: remove one to add another.`); return; }
    const r = inPane({ x0: Math.min(x0, x1), y0: Math.min(y0, y1), x1: Math.max(x0, x1), y1: Math.max(y0, y1) }, k);
    this.model.set({ regions: [...this.view.regions, r] });
  }

  /** Remove the newest region, else the newest pin. */
  removeLast() {
    const { pins, regions } = this.view;
    if (regions.length) this.model.set({ regions: regions.slice(0, -1) });
    else if (pins.length) this.model.set({ pins: pins.slice(0, -1) });
  }

  togglePointer() { this.model.set({ pointer: !this.view.pointer }); }

  toggleLock() {
    const { locked, hover } = this.view;
    // Unlocking follows the pointer again.
    this.model.set(locked && hover ? { locked: false, reference: hover } : { locked: !locked });
  }

  toggleOverlayColour() { this.model.set({ overlayColour: !this.view.overlayColour }); }

  /** Show channel k's own values (null: the view shown before). */
  showChannel(k) {
    if (!this.dataset) return;
    if (k === null) {
      if (this.view.mode === 'channel') this.model.set({ mode: this._modeBeforeChannel ?? 'similarity' });
      return;
    }
    if (this.view.mode !== 'channel') this._modeBeforeChannel = this.view.mode;
    this.model.set({ mode: 'channel', channel: k });
  }

  /** Fit every pane's map to its canvas. */
  fit() {
    if (!this.dataset) return;
    this.model.set(fittedCameras(this.view, this.canvas.width, this.canvas.height, FIT_PADDING * this.dpr));
  }

  // Pane k's camera changed: the others follow when the views are synchronised.
  _setCamera(k, camera) {
    const view = this.view;
    this.model.set(view.syncCameras && view.others.length ? syncedCameras(view, k, camera) : cameraPatch(view, k, camera));
  }

  _zoom(factor, ox, oy, k = 0) {
    if (!this.dataset) return;
    const c = this.panes[k].canvas, dpr = this._paneDpr(k);
    const cx = ox === undefined ? c.width / 2 : ox * dpr;
    const cy = oy === undefined ? c.height / 2 : oy * dpr;
    this._setCamera(k, zoomCamera(cameraOf(this.view, k), cx, cy, factor));
  }

  _pan(dx, dy, k = 0) {
    const dpr = this._paneDpr(k);
    if (this.dataset) this._setCamera(k, panCamera(cameraOf(this.view, k), dx * dpr, dy * dpr));
  }

  // The buttons and keys act on every pane (each about its own centre).
  _zoomAll(factor) {
    if (!this.dataset) return;
    const view = this.view;
    const all = this.panes.map((p, k) => zoomCamera(cameraOf(view, k), p.canvas.width / 2, p.canvas.height / 2, factor));
    this.model.set({ camera: all[0], cameras: all.slice(1) });
  }

  _panAll(dx, dy) {
    if (!this.dataset) return;
    const view = this.view;
    const all = this.panes.map((_, k) => panCamera(cameraOf(view, k), dx * this._paneDpr(k), dy * this._paneDpr(k)));
    this.model.set({ camera: all[0], cameras: all.slice(1) });
  }

  resize(force = false) {
    const dpr = window.devicePixelRatio || 1;
    let changed = force;
    let firstLayout = false;
    for (const pane of this.panes) {
      const c = pane.canvas;
      const w = Math.max(1, Math.round(c.clientWidth * dpr));
      const h = Math.max(1, Math.round(c.clientHeight * dpr));
      if (w === c.width && h === c.height) continue;
      if (c === this.canvas && c.width <= 1) firstLayout = true;
      c.width = w;
      c.height = h;
      changed = true;
    }
    if (!changed) return;
    if (this.dataset) {
      if (firstLayout) this.fit();
      for (const pane of this.panes) {
        pane.renderer.requestRender();
        pane.marks?.place();
      }
    }
    this.panels.chart.draw();
  }
}

