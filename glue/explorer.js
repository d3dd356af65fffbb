// The explorer screen: pointer, wheel and keyboard input, the read-out, the chart,
// the colour scale, the marker. Drawing is the renderer's; this only wires the DOM.
// All of the screen's state is in `state.view` (see app.js).
import { SimilarityRenderer, DeviceLimitError } from './renderer.js';
import { FeatureChart } from './chart.js';
import { vectorAt, similarity } from './vectors.js';
import { CpuSimilarity, cpuSimilaritySupported, isSoftwareRenderer } from './cpu-similarity.js';

const $ = (id) => document.getElementById(id);
const ZOOM_STEP = 1.25;
const PAN_STEP = 60;       // CSS pixels per arrow key
const DRAG_THRESHOLD = 4;  // CSS pixels before a press becomes a drag, not a click
const CLICK_DELAY = 250;   // ms a click waits to be sure it is not half of a double-click (zoom)

// 'rgb(17, 17, 17)' -> [17, 17, 17]; null (a transparent canvas) for anything translucent.
function cssRGB(colour) {
  const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)$/.exec(colour);
  return m && (m[4] === undefined || Number(m[4]) === 1) ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

const fmt = (v) => (Number.isFinite(v) ? v.toFixed(4) : '–');

export class Explorer {
  constructor(state, { onFrame = () => {} } = {}) {
    this.state = state;
    this.canvas = $('map');
    // Throws with a clear message where WebGL 2 or float render targets are missing.
    this.renderer = new SimilarityRenderer(this.canvas, {
      // An opaque canvas in the stage's colour: the compositor blends nothing beneath it.
      background: cssRGB(getComputedStyle($('stage')).backgroundColor),
      onFrame: (frame) => { this._onFrame(frame); onFrame(frame); },
      // A lost WebGL context (GPU reset, driver update): the browser restores it, and the
      // data this screen keeps (the DATASET message) goes up again, with the same view.
      onContextLost: () => { this.contextLosses += 1; this._updateReadout(); },
      onContextRestored: () => this._restoreContext(),
    });
    this.contextLosses = 0;
    // Software WebGL (no GPU): its shaders run on the CPU at a fraction of what SIMD code does.
    this.softwareRenderer = isSoftwareRenderer(this.renderer.gl);
    this.chart = new FeatureChart($('chart'));
    this.colormaps = null;
    this.dataset = null;
    this._drag = null;
    this._bind();
    new ResizeObserver(() => this._resize()).observe($('stage'));
  }

  get dpr() { return this.canvas.width / Math.max(1, this.canvas.clientWidth); }

  setColormaps(colormaps) {
    this.colormaps = colormaps;
    const select = $('colormap');
    select.replaceChildren(...Object.keys(colormaps).map((name) => new Option(name, name)));
    select.value = this.state.view.colormap in colormaps ? this.state.view.colormap : Object.keys(colormaps)[0];
    this.setColormap(select.value);
  }

  // Throws a DeviceLimitError (rule 'gpu-limits', a message saying what would fit) when this
  // device cannot hold the dataset; nothing on screen changes. Limits come from the live context.
  check(info) {
    const plan = this.renderer.plan(info);
    if (!plan.fits) throw new DeviceLimitError(plan.message, plan);
    return plan;
  }

  // Show a decoded dataset (a DATASET message). Replaces the previous one on the GPU.
  async show(dataset) {
    const { info } = dataset;
    const v = this.state.view;
    this.check(info);
    if (this.renderer.isContextLost()) {
      throw new Error('the graphics (WebGL) context is lost at the moment; open the file again once the map is back');
    }
    this.dataset = dataset;
    Object.assign(v, { hover: null, pinned: null, locked: false, channel: null, reference: null });
    this._resize(true);
    try {
      if (!this.renderer.isContextLost()) this.renderer.setDataset({ ...info, layers: dataset.layers });
    } catch (err) {
      this.dataset = null;  // the GPU refused it after all (out of memory): nothing half-shown
      throw err;
    }
    this._applyCompute();
    this.renderer.fit(10 * this.dpr);
    v.reference = { ...this.renderer.reference };
    this.chart.setFeatures(info.features);
    const hasOverlay = Boolean(dataset.overlay);
    $('opacity-box').hidden = !hasOverlay;
    $('colour-toggle').hidden = !hasOverlay;
    v.opacity = hasOverlay ? 0.9 : 1;  // the original: 0.9 with an overlay, opaque without
    $('opacity').value = String(v.opacity);
    this.renderer.setOpacity(v.opacity);
    this.renderer.setOverlay(null);
    if (hasOverlay) {
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
        this._updateAll();
        throw new Error(`overlay.jpg could not be decoded by the browser (${err.message}); the heat map is shown without it`);
      }
      if (this.dataset === dataset) this.renderer.setOverlay(bitmap);
    }
    this._updateAll();
  }

  // The context is back (programs, colour map and overlay restored by the renderer): upload the
  // kept data again; view, reference and channel stay as they were.
  _restoreContext() {
    const ds = this.dataset;
    if (ds) {
      this.renderer.setDataset({ ...ds.info, layers: ds.layers }, { keepView: true });
      this._applyCompute();
    }
    this.contextRestores = (this.contextRestores ?? 0) + 1;
    this._updateReadout();
  }

  /** Where similarity maps are computed: 'auto', 'gpu' or 'cpu' (see state.view.compute). */
  setCompute(mode) {
    if (!['auto', 'gpu', 'cpu'].includes(mode)) throw new Error(`explorer: unknown compute mode ${mode}`);
    this.state.view.compute = mode;
    this._applyCompute();
  }

  /** 'cpu' or 'gpu': where the current dataset's similarity maps are computed. */
  get computeOn() { return this.renderer.similarityOn; }

  // The CPU computes the maps of 8- and 16-bit data under a software renderer ('auto'), or when
  // asked ('cpu'); 32-bit data, and browsers without WebAssembly SIMD, stay on the GPU path.
  _applyCompute() {
    const ds = this.dataset;
    if (!ds || !this.renderer.dataset) return;
    const mode = this.state.view.compute;
    const wanted = mode === 'cpu' || (mode === 'auto' && this.softwareRenderer);
    let source = null;
    if (wanted && ds.info.precision !== 32 && cpuSimilaritySupported()) {
      try {
        ds.cpuSimilarity ??= new CpuSimilarity({ ...ds.info, layers: ds.layers });
        source = ds.cpuSimilarity;
      } catch (err) {
        console.warn(`similarity stays on the GPU: ${err.message}`);
      }
    }
    this.renderer.setMapSource(source);
  }

  setColormap(name) {
    this.state.view.colormap = name;
    this.renderer.setColormap(this.colormaps[name]);
    this._drawScale();
  }

  // ---------------------------------------------------------------- input

  _bind() {
    const c = this.canvas;
    c.addEventListener('pointermove', (e) => this._pointerMove(e));
    // pointermove is aligned to animation frames: Chromium dispatches it only at the next
    // frame (about 14 ms after the move here). pointerrawupdate comes as the move arrives, and
    // the renderer draws from it at once (its drawAtOnce). pointermove still pans, and its hover
    // repeats the raw event's pixel, which changes nothing.
    if ('onpointerrawupdate' in c) {
      c.addEventListener('pointerrawupdate', (e) => { if (!this._drag) this.hoverAt(e.offsetX, e.offsetY, e.timeStamp); });
    }
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      c.setPointerCapture(e.pointerId);
      this._drag = { x: e.offsetX, y: e.offsetY, moved: false };
    });
    c.addEventListener('pointerup', (e) => {
      const drag = this._drag;
      this._drag = null;
      if (drag && !drag.moved) this._click(e);
    });
    c.addEventListener('pointerleave', () => { this.state.view.hover = null; this._updateReadout(); });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      this._zoom(factor, e.offsetX, e.offsetY);
    }, { passive: false });
    c.addEventListener('dblclick', (e) => {
      clearTimeout(this._clickTimer);
      this._zoom(2, e.offsetX, e.offsetY);
    });
    $('marker').addEventListener('click', () => this.pin(null));
    $('zoom-in').addEventListener('click', () => this._zoom(ZOOM_STEP));
    $('zoom-out').addEventListener('click', () => this._zoom(1 / ZOOM_STEP));
    $('zoom-fit').addEventListener('click', () => this.fit());
    $('lock').addEventListener('click', () => this.toggleLock());
    $('colour-toggle').addEventListener('click', () => this.toggleOverlayColour());
    $('opacity').addEventListener('input', (e) => {
      this.state.view.opacity = Number(e.target.value);
      this.renderer.setOpacity(this.state.view.opacity);
    });
    $('metric').addEventListener('change', (e) => this.setMetric(e.target.value));
    $('stretch').addEventListener('change', (e) => this.setStretch(e.target.value));
    $('colormap').addEventListener('change', (e) => this.setColormap(e.target.value));
    const chart = $('chart');
    chart.addEventListener('pointermove', (e) => this.showChannel(this.chart.channelAt(e.offsetY)));
    chart.addEventListener('pointerleave', () => this.showChannel(null));
    document.addEventListener('keydown', (e) => this._key(e));
  }

  _key(e) {
    if (!this.dataset || $('explorer').hidden) return;
    if (e.target.closest?.('select, input[type=range], input[type=text]') || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      '+': () => this._zoom(ZOOM_STEP), '=': () => this._zoom(ZOOM_STEP), '-': () => this._zoom(1 / ZOOM_STEP),
      0: () => this.fit(), l: () => this.toggleLock(), L: () => this.toggleLock(),
      c: () => this.toggleOverlayColour(), C: () => this.toggleOverlayColour(),
      ArrowLeft: () => this._pan(PAN_STEP, 0), ArrowRight: () => this._pan(-PAN_STEP, 0),
      ArrowUp: () => this._pan(0, PAN_STEP), ArrowDown: () => this._pan(0, -PAN_STEP),
      Escape: () => this.pin(null),
    };
    const action = actions[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  _pointerMove(e) {
    const drag = this._drag;
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

  /** Hover at CSS offset (ox, oy) of the canvas: the hot path. Never waits on the worker. */
  hoverAt(ox, oy, timeStamp = performance.now()) {
    const v = this.state.view;
    const p = this.renderer.canvasToPixel(ox * this.dpr, oy * this.dpr);
    if (!p) {
      v.hover = null;
      this._updateReadout();
      return;
    }
    if (v.hover && v.hover.x === p.x && v.hover.y === p.y) return;
    v.hover = p;
    if (!v.locked) {
      v.reference = p;
      const moves = this.state.moves;
      moves.push({ x: p.x, y: p.y, t: timeStamp });
      if (moves.length > 500) moves.splice(0, moves.length - 500);
      this.renderer.setReference(p.x, p.y);
    }
    this._updateHoverPanels();
  }

  // Read-out and chart for the hovered pixel, in the animation frame's callbacks after the
  // renderer's (which was requested first): the GPU gets the new map's commands before the
  // page spends its time on text and bars, and several moves in one frame draw them once.
  _updateHoverPanels() {
    if (this._panelsFrame) return;
    this._panelsFrame = requestAnimationFrame(() => {
      this._panelsFrame = 0;
      this._updateReadout();
      this._updateChart();
    });
  }

  _click(e) {
    const p = this.renderer.canvasToPixel(e.offsetX * this.dpr, e.offsetY * this.dpr);
    clearTimeout(this._clickTimer);
    if (p && e.detail < 2) this._clickTimer = setTimeout(() => this.pin(p), CLICK_DELAY);
  }

  // --------------------------------------------------------------- actions

  pin(p) {
    this.state.view.pinned = p;
    this._placeMarker();
    this._updateChart();
    this._updateReadout();
  }

  toggleLock() {
    const v = this.state.view;
    v.locked = !v.locked;
    if (!v.locked && v.hover) {  // unlocking follows the pointer again
      v.reference = v.hover;
      this.renderer.setReference(v.hover.x, v.hover.y);
    }
    this._updateLock();
    this._updateReadout();
  }

  toggleOverlayColour() {
    const v = this.state.view;
    v.overlayColour = !v.overlayColour;
    this.renderer.setOverlayColour(v.overlayColour);
    $('colour-toggle').setAttribute('aria-pressed', String(v.overlayColour));
  }

  setMetric(metric) {
    this.state.view.metric = metric;
    this.renderer.setMetric(metric);
    $('metric').value = metric;
    this._updateReadout();
  }

  setStretch(mode) {
    this.state.view.stretch = mode;
    this.renderer.setStretch(mode);
    $('stretch').value = mode;
  }

  showChannel(k) {
    const v = this.state.view;
    if (v.channel === k) return;
    v.channel = k;
    this.renderer.setChannel(k);
    this.chart.update({ highlight: k });
    this._updateReadout();
  }

  fit() {
    this.renderer.fit(10 * this.dpr);
    this._placeMarker();
  }

  _zoom(factor, ox, oy) {
    const cx = ox === undefined ? this.canvas.width / 2 : ox * this.dpr;
    const cy = oy === undefined ? this.canvas.height / 2 : oy * this.dpr;
    this.renderer.zoomAt(cx, cy, factor);
    this._placeMarker();
  }

  _pan(dx, dy) {
    this.renderer.panBy(dx * this.dpr, dy * this.dpr);
    this._placeMarker();
  }

  // ---------------------------------------------------------------- output

  _resize(force = false) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (!force && w === this.canvas.width && h === this.canvas.height) return;
    const firstLayout = this.canvas.width <= 1;
    this.canvas.width = w;
    this.canvas.height = h;
    if (this.renderer.dataset) {
      if (firstLayout) this.renderer.fit(10 * dpr);
      this.renderer.requestRender();
      this._placeMarker();
    }
    this.chart.draw();
  }

  _onFrame(frame) {
    if (!frame.stretch) return;  // a superseded frame: the newest one brings the numbers
    const { min, max } = frame.stretch;
    $('scale-min').textContent = fmt(min);
    $('scale-max').textContent = fmt(max);
  }

  _drawScale() {
    const lut = this.colormaps[this.state.view.colormap];
    const canvas = $('scale');
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(256, 1);
    for (let i = 0; i < 256; i++) image.data.set([lut[3 * i], lut[3 * i + 1], lut[3 * i + 2], 255], 4 * i);
    ctx.putImageData(image, 0, 0);
  }

  _placeMarker() {
    const marker = $('marker');
    const p = this.state.view.pinned;
    marker.hidden = !p;
    if (!p) return;
    const c = this.renderer.pixelToCanvas(p.x + 0.5, p.y + 0.5);
    marker.style.transform = `translate(${c.x / this.dpr}px, ${c.y / this.dpr}px)`;
  }

  _updateLock() {
    const locked = this.state.view.locked;
    $('lock').setAttribute('aria-pressed', String(locked));
    $('lock').textContent = locked ? 'Unlock (L)' : 'Lock (L)';
    $('locked-badge').hidden = !locked;
    $('stage').classList.toggle('locked', locked);
  }

  _updateReadout() {
    const v = this.state.view;
    const ds = this.dataset;
    const parts = [];
    if (this.renderer.isContextLost()) parts.push('the graphics context was lost; restoring the map…');
    if (v.hover && ds) {
      parts.push(`x ${v.hover.x}, y ${v.hover.y}`);
      if (v.channel !== null) {
        parts.push(`channel ${v.channel} = ${fmt(vectorAt(ds, v.hover.x, v.hover.y)[v.channel])}`);
      } else if (v.reference) {
        const s = similarity(vectorAt(ds, v.hover.x, v.hover.y), vectorAt(ds, v.reference.x, v.reference.y), v.metric);
        parts.push(`similarity ${fmt(s)}`);
      }
    }
    if (v.pinned && ds && v.reference && v.channel === null) {
      const s = similarity(vectorAt(ds, v.pinned.x, v.pinned.y), vectorAt(ds, v.reference.x, v.reference.y), v.metric);
      parts.push(`pinned ${v.pinned.x}, ${v.pinned.y}: ${fmt(s)}`);
    }
    if (v.locked && v.reference) parts.push(`reference locked at ${v.reference.x}, ${v.reference.y}`);
    $('readout').textContent = parts.join(' · ');
    const k = v.channel;
    let chartText = '';
    if (k !== null && ds) {
      const at = v.hover ?? v.reference;
      chartText = `channel ${k}`;
      if (at) chartText += `: ${fmt(vectorAt(ds, at.x, at.y)[k])}`;
      if (v.pinned) chartText += ` · pinned ${fmt(vectorAt(ds, v.pinned.x, v.pinned.y)[k])}`;
    }
    $('chart-readout').textContent = chartText || `${ds ? ds.info.features : 0} channels`;
  }

  _updateChart() {
    const v = this.state.view;
    const ds = this.dataset;
    if (!ds) return;
    const at = v.hover ?? v.reference;
    this.chart.update({
      hover: at ? vectorAt(ds, at.x, at.y) : null,
      pinned: v.pinned ? vectorAt(ds, v.pinned.x, v.pinned.y) : null,
    });
  }

  _updateAll() {
    this._updateLock();
    this._placeMarker();
    this._updateReadout();
    this._updateChart();
    $('metric').value = this.state.view.metric;
    $('stretch').value = this.state.view.stretch;
    this.renderer.setMetric(this.state.view.metric);
    this.renderer.setStretch(this.state.view.stretch);
  }
}
