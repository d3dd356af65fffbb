// The explorer screen's input: pointer, wheel, keyboard, buttons and selects become changes of
// the view model. The renderer (render/renderer.js) and the panels (panels.js) subscribe to the
// model and show them; nothing here draws.
import { Renderer, DeviceLimitError } from '../render/renderer.js';
import { fitCamera, zoomCamera, panCamera, canvasToPixel } from '../render/camera.js';
import { MAX_PINS, MAX_REGIONS } from '../model/view.js';
import { Panels } from './panels.js';
import { AnalysisPanel } from './analysis-panel.js';
import { PcaPanel } from './pca-panel.js';
import { Marks } from './marks.js';

const $ = (id) => document.getElementById(id);
const ZOOM_STEP = 1.25;
const PAN_STEP = 60;       // CSS pixels per arrow key
const DRAG_THRESHOLD = 4;  // CSS pixels before a press becomes a drag, not a click
const CLICK_DELAY = 250;   // ms a click waits to be sure it is not half of a double-click (zoom)
const FIT_PADDING = 10;    // CSS pixels around a fitted map

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
  constructor(model, { onFrame = () => {}, onNotice = () => {} } = {}) {
    this.model = model;
    this.onNotice = onNotice;
    this.canvas = $('map');
    // Throws with a clear message where WebGL 2 or float render targets are missing.
    this.renderer = new Renderer(this.canvas, {
      // An opaque canvas in the stage's colour: the compositor blends nothing beneath it.
      background: cssRGB(getComputedStyle($('stage')).backgroundColor),
      onFrame: (frame) => {
        // (a superseded frame brings none; the PCA view's scale is the panels' own)
        if (frame.stretch && frame.mode !== 'pca') this.panels.showStretch(frame.stretch);
        this.analysis.frame(frame);
        onFrame(frame);
      },
      // A lost WebGL context (GPU reset, driver update): the renderer uploads the dataset
      // again once the browser restores it, with the same view.
      onContextLost: () => { this.contextLosses += 1; this.panels.updateHover({ now: true }); },
      onContextRestored: () => { this.contextRestores += 1; this.panels.updateHover({ now: true }); },
    });
    this.contextLosses = 0;
    this.contextRestores = 0;
    // The renderer first: a pointer move's frame is issued before anything else reacts to it.
    model.subscribe((view) => this.renderer.sync(view));
    this.panels = new Panels(model, this.renderer, this.canvas);
    this.analysis = new AnalysisPanel(model);
    this.pca = new PcaPanel(model);
    this.marks = new Marks(model, this.canvas, { onRemovePin: (i) => this.removePin(i) });
    this._drag = null;
    this.shortcuts = {};  // more keys (the exports'), set by the page
    this._bind();
    new ResizeObserver(() => this._resize()).observe($('stage'));
  }

  get view() { return this.model.state; }

  get dataset() { return this.model.state.dataset; }

  get dpr() { return this.canvas.width / Math.max(1, this.canvas.clientWidth); }

  /** The colour tables from the worker ({name: 768 RGB bytes}, the default first). */
  setColormaps(tables) {
    this.renderer.setColormaps(tables);
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
   * view starts afresh (reference in the centre, fitted). When the GPU refuses it (a
   * DeviceLimitError, as check() would have said), the previous dataset stays on screen.
   */
  async show(dataset) {
    const { info } = dataset;
    if (this.renderer.isContextLost()) {
      throw new Error('the graphics (WebGL) context is lost at the moment; open the file again once the map is back');
    }
    this._resize(true);
    const previous = this.dataset;
    try {
      this.renderer.setDataset(dataset);
    } catch (err) {
      if (previous) this.renderer.setDataset(previous);  // it fitted before: back on screen
      throw err;
    }
    const hasOverlay = Boolean(dataset.overlay);
    this.renderer.setOverlay(null);
    // A fresh view of the new dataset; the values, metric and colours chosen stay (true values
    // only where the dataset records its range).
    // The PCA settings stay where the new dataset has the components (else the defaults).
    const pca = this.view.pca.components.every((k) => k <= info.features) ? this.view.pca
      : { ...this.view.pca, components: info.features >= 3 ? [1, 2, 3] : [1] };
    this.model.set({
      dataset, hover: null, pins: [], regions: [], locked: false, pointer: true, mode: 'similarity', channel: null,
      pca: { ...pca, fit: pca.fit === 'region' ? 'all' : pca.fit }, pcaResult: null, pcaBackground: false,
      threshold: null, values: this.view.values === 'true' && !info.range ? 'stored' : this.view.values,
      reference: { x: Math.floor(info.width / 2), y: Math.floor(info.height / 2) },
      camera: this._fitted(info),
      opacity: hasOverlay ? 0.9 : 1,  // the original: 0.9 with an overlay, opaque without
    });
    if (!hasOverlay) return;
    // No larger than the device's largest texture (the reader allows up to 64 megapixels).
    const max = this.renderer.limits.maxTextureSize;
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
    if (this.dataset === dataset) this.renderer.setOverlay(bitmap);
  }

  _fitted(info = this.dataset.info) {
    return fitCamera(info.width, info.height, this.canvas.width, this.canvas.height, FIT_PADDING * this.dpr);
  }

  /** Where similarity maps are computed: 'auto', 'gpu' or 'cpu' (see the view model's `compute`). */
  setCompute(mode) { this.model.set({ compute: mode }); }

  /** 'cpu' or 'gpu': where the current dataset's similarity maps are computed. */
  get computeOn() { return this.renderer.computeOn; }

  // ---------------------------------------------------------------- input

  _bind() {
    const c = this.canvas;
    c.addEventListener('pointermove', (e) => this._pointerMove(e));
    // pointermove is aligned to animation frames: Chromium dispatches it only at the next
    // frame. pointerrawupdate comes as the move arrives, and
    // the renderer draws from it at once. pointermove still pans, and its hover repeats the raw
    // event's pixel, which changes nothing.
    if ('onpointerrawupdate' in c) {
      c.addEventListener('pointerrawupdate', (e) => { if (!this._drag) this.hoverAt(e.offsetX, e.offsetY, e.timeStamp); });
    }
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      c.setPointerCapture(e.pointerId);
      // Shift: a region from here to where the button is let go; otherwise a pan or a click.
      const start = e.shiftKey ? this.pixelAt(e.offsetX, e.offsetY) : null;
      this._drag = { x: e.offsetX, y: e.offsetY, moved: false, region: start && { x0: start.x, y0: start.y, x1: start.x, y1: start.y } };
    });
    c.addEventListener('pointerup', (e) => {
      const drag = this._drag;
      this._drag = null;
      if (drag?.region) this.addRegion(drag.region);
      else if (drag && !drag.moved) this._click(e);
    });
    c.addEventListener('pointerleave', () => { if (this.dataset) this.model.set({ hover: null }); });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      this._zoom(factor, e.offsetX, e.offsetY);
    }, { passive: false });
    c.addEventListener('dblclick', (e) => {
      clearTimeout(this._clickTimer);
      this._zoom(2, e.offsetX, e.offsetY);
    });
    $('zoom-in').addEventListener('click', () => this._zoom(ZOOM_STEP));
    $('zoom-out').addEventListener('click', () => this._zoom(1 / ZOOM_STEP));
    $('zoom-fit').addEventListener('click', () => this.fit());
    $('lock').addEventListener('click', () => this.toggleLock());
    $('colour-toggle').addEventListener('click', () => this.toggleOverlayColour());
    $('opacity').addEventListener('input', (e) => this.model.set({ opacity: Number(e.target.value) }));
    $('stretch').addEventListener('change', (e) => this.model.set({ stretch: e.target.value }));
    $('colormap').addEventListener('change', (e) => this.model.set({ colormap: e.target.value }));
    const chart = $('chart');
    chart.addEventListener('pointermove', (e) => this.showChannel(this.panels.chart.channelAt(e.offsetY)));
    chart.addEventListener('pointerleave', () => this.showChannel(null));
    document.addEventListener('keydown', (e) => this._key(e));
  }

  _key(e) {
    if (!this.dataset || $('explorer').hidden) return;
    if (e.target.closest?.('select, input[type=range], input[type=text], input[type=number]') || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      '+': () => this._zoom(ZOOM_STEP), '=': () => this._zoom(ZOOM_STEP), '-': () => this._zoom(1 / ZOOM_STEP),
      0: () => this.fit(), l: () => this.toggleLock(), L: () => this.toggleLock(),
      c: () => this.toggleOverlayColour(), C: () => this.toggleOverlayColour(),
      ArrowLeft: () => this._pan(PAN_STEP, 0), ArrowRight: () => this._pan(-PAN_STEP, 0),
      ArrowUp: () => this._pan(0, PAN_STEP), ArrowDown: () => this._pan(0, -PAN_STEP),
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

  _pointerMove(e) {
    const drag = this._drag;
    if (drag?.region) {
      const p = this._clampedPixel(e.offsetX, e.offsetY);
      if (p) Object.assign(drag.region, { x1: p.x, y1: p.y });
      this.marks.showDrag(drag.region);
      return;
    }
    if (drag) {
      const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
      if (drag.moved || Math.hypot(dx, dy) > DRAG_THRESHOLD) {
        drag.moved = true;
        drag.x = e.offsetX;
        drag.y = e.offsetY;
        this._pan(dx, dy);
        return;
      }
    }
    this.hoverAt(e.offsetX, e.offsetY, e.timeStamp);
  }

  // The map pixel nearest CSS offset (ox, oy): a drag may leave the map.
  _clampedPixel(ox, oy) {
    const { dataset: ds, camera } = this.view;
    if (!ds || !camera) return null;
    const clamp = (v, n) => Math.max(0, Math.min(n - 1, Math.floor(v)));
    return {
      x: clamp((ox * this.dpr - camera.offsetX) / camera.scale, ds.info.width),
      y: clamp((oy * this.dpr - camera.offsetY) / camera.scale, ds.info.height),
    };
  }

  /** The map pixel under CSS offset (ox, oy) of the canvas, or null. */
  pixelAt(ox, oy) {
    const { dataset: ds, camera } = this.view;
    return ds && camera ? canvasToPixel(camera, ds.info.width, ds.info.height, ox * this.dpr, oy * this.dpr) : null;
  }

  /** Hover at CSS offset (ox, oy) of the canvas: the hot path. Never waits on the worker. */
  hoverAt(ox, oy, timeStamp = performance.now()) {
    const v = this.view;
    if (!v.dataset) return;
    const p = this.pixelAt(ox, oy);
    if (!p) {
      if (v.hover) this.model.set({ hover: null });
      return;
    }
    if (v.hover && v.hover.x === p.x && v.hover.y === p.y) return;
    this.model.set(v.locked ? { hover: p } : { hover: p, reference: p }, { time: timeStamp });
  }

  _click(e) {
    const p = this.pixelAt(e.offsetX, e.offsetY);
    clearTimeout(this._clickTimer);
    if (p && e.detail < 2) this._clickTimer = setTimeout(() => this.pin(p), CLICK_DELAY);
  }

  // --------------------------------------------------------------- actions

  /** Pin pixel p (a reference of its own), or remove the pin already there. */
  pin(p) {
    if (!this.dataset) return;
    const pins = this.view.pins;
    const at = pins.findIndex((q) => q.x === p.x && q.y === p.y);
    if (at >= 0) { this.removePin(at); return; }
    if (pins.length >= MAX_PINS) { this.onNotice(`At most ${MAX_PINS} pins: remove one to pin another.`); return; }
    this.model.set({ pins: [...pins, p] });
  }

  removePin(i) { this.model.set({ pins: this.view.pins.filter((_, j) => j !== i) }); }

  /** A region reference from two corners (inclusive, any order). */
  addRegion({ x0, y0, x1, y1 }) {
    this.marks.showDrag(null);
    if (!this.dataset) return;
    if (this.view.regions.length >= MAX_REGIONS) { this.onNotice(`At most ${MAX_REGIONS} regions: remove one to add another.`); return; }
    const r = { x0: Math.min(x0, x1), y0: Math.min(y0, y1), x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
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

  fit() { if (this.dataset) this.model.set({ camera: this._fitted() }); }

  _zoom(factor, ox, oy) {
    if (!this.dataset) return;
    const cx = ox === undefined ? this.canvas.width / 2 : ox * this.dpr;
    const cy = oy === undefined ? this.canvas.height / 2 : oy * this.dpr;
    this.model.set({ camera: zoomCamera(this.view.camera, cx, cy, factor) });
  }

  _pan(dx, dy) {
    if (this.dataset) this.model.set({ camera: panCamera(this.view.camera, dx * this.dpr, dy * this.dpr) });
  }

  _resize(force = false) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (!force && w === this.canvas.width && h === this.canvas.height) return;
    const firstLayout = this.canvas.width <= 1;
    this.canvas.width = w;
    this.canvas.height = h;
    if (this.dataset) {
      if (firstLayout) this.fit();
      this.renderer.requestRender();
      this.marks.place();
    }
    this.panels.chart.draw();
  }
}
