// window.harness: thin wrappers the browser tests call through page.evaluate: a renderer on a
// canvas of its own, driven through a view model as the page drives it. Binary data crosses as
// base64 (little-endian typed-array bytes).
import { Renderer } from '/glue/render/renderer.js';
import { ViewModel } from '/glue/model/view.js';
import { fitCamera, zoomCamera, canvasToPixel, pixelToCanvas } from '/glue/render/camera.js';
import { LAYER_ARRAY } from '/glue/model/layout.js';

function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function toBase64(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));

const harness = {
  renderer: null,
  model: null,
  frames: [],

  create({ canvasWidth = 48, canvasHeight = 34, options = {} } = {}) {
    if (harness.renderer) {
      harness.unsubscribe();
      harness.renderer.dispose();
      // Each test gets a fresh canvas; free the old context now rather than at Chromium's cap.
      harness.renderer.gl.getExtension('WEBGL_lose_context')?.loseContext();
    }
    const old = document.getElementById('map');
    const canvas = document.createElement('canvas');
    canvas.id = 'map';
    canvas.width = canvasWidth;
    canvas.height = canvasHeight;
    old.replaceWith(canvas);
    harness.frames = [];
    harness.dataset = null;
    harness.contextEvents = [];
    harness.renderer = new Renderer(canvas, {
      autoRender: false, sync: true, ...options, onFrame: (f) => harness.frames.push(f),
      onContextLost: () => harness.contextEvents.push('lost'),
      onContextRestored: () => harness.contextEvents.push('restored'),
    });
    harness.model = new ViewModel({ compute: 'gpu' });
    harness.unsubscribe = harness.model.subscribe((view) => harness.renderer.sync(view));
    return harness.renderer.limits;
  },

  // Upload a dataset and show it as the page does: reference in the centre, fitted with 10 px around.
  // range: [lo, hi] or null; stats: {mean, std} per channel (the worker's), for centred and z-scored values.
  load({ width, height, features, precision, data, range = null, stats = null }) {
    const bytes = fromBase64(data);
    const dataset = {
      info: { width, height, features, precision, range },
      layers: new LAYER_ARRAY[precision](bytes.buffer),
      stats: stats && { mean: Float64Array.from(stats.mean), std: Float64Array.from(stats.std) },
    };
    harness.renderer.setDataset(dataset);
    const { canvas } = harness.renderer;
    harness.model.set({
      dataset, mode: 'similarity', channel: null, pins: [], regions: [], values: 'stored', threshold: null,
      reference: { x: Math.floor(width / 2), y: Math.floor(height / 2) },
      camera: fitCamera(width, height, canvas.width, canvas.height, 10),
    });
    harness.dataset = dataset;
    return harness.renderer.stats();
  },

  // Similarity maps from the CPU kernel (true) or the shader (false).
  cpu(on) {
    harness.model.set({ compute: on ? 'cpu' : 'gpu' });
    return { on: harness.renderer.computeOn, software: harness.renderer.softwareRenderer };
  },

  view() { return harness.model.state; },

  canvasToPixel(cx, cy) {
    const { camera, dataset } = harness.model.state;
    return canvasToPixel(camera, dataset.info.width, dataset.info.height, cx, cy);
  },

  pixelToCanvas(x, y) { return pixelToCanvas(harness.model.state.camera, x, y); },

  zoomAt(cx, cy, factor) { harness.model.set({ camera: zoomCamera(harness.model.state.camera, cx, cy, factor) }); },

  // Lose the WebGL context (WEBGL_lose_context), then restore it; resolves once the renderer
  // has been told both ways and the page has uploaded the data again.
  async loseAndRestoreContext() {
    const ext = harness.renderer.gl.getExtension('WEBGL_lose_context');
    const started = performance.now();
    const wait = (what) => new Promise((resolve, reject) => {
      const poll = () => {
        const failed = harness.contextEvents.find((e) => e.startsWith('restore failed'));
        if (failed) reject(new Error(failed));
        else if (harness.contextEvents.includes(what)) resolve();
        else if (performance.now() - started > 60000) reject(new Error(`no '${what}' event within 60 s`));
        else setTimeout(poll, 10);
      };
      poll();
    });
    ext.loseContext();
    await wait('lost');
    const during = { lost: harness.renderer.isContextLost(), stats: harness.renderer.stats() };
    ext.restoreContext();
    await wait('restored');
    return { during, after: harness.renderer.stats(), lost: harness.renderer.isContextLost() };
  },

  // Apply a state object: {reference: [x, y], metric, channel (null: similarity), stretch, view
  // (the camera), fit (padding), lut (b64), opacity, overlayColour}.
  apply(state = {}) {
    const m = harness.model;
    if (state.lut) {
      harness.renderer.setColormaps({ test: fromBase64(state.lut) });
      m.set({ colormap: 'test' });
    }
    const patch = {};
    if (state.reference) patch.reference = { x: state.reference[0], y: state.reference[1] };
    if (state.metric) patch.metric = state.metric;
    if ('channel' in state) Object.assign(patch, state.channel === null ? { mode: 'similarity' } : { mode: 'channel', channel: state.channel });
    if (state.stretch) patch.stretch = state.stretch;
    if (state.view) patch.camera = state.view;
    if ('fit' in state) {
      const { width, height } = m.state.dataset.info, { canvas } = harness.renderer;
      patch.camera = fitCamera(width, height, canvas.width, canvas.height, state.fit);
    }
    if ('opacity' in state) patch.opacity = state.opacity;
    if ('overlayColour' in state) patch.overlayColour = state.overlayColour;
    // The analyses (issue 13): pins [[x, y], ...], regions [[x0, y0, x1, y1], ...].
    for (const key of ['values', 'combine', 'pointer', 'threshold', 'connected', 'locked']) if (key in state) patch[key] = state[key];
    if (state.pins) patch.pins = state.pins.map(([x, y]) => ({ x, y }));
    if (state.regions) patch.regions = state.regions.map(([x0, y0, x1, y1]) => ({ x0, y0, x1, y1 }));
    m.set(patch);
  },

  similarity(state) {
    harness.apply(state);
    return toBase64(harness.renderer.readMap());
  },

  // The threshold's mask (0/1 bytes) for a state.
  mask(state) {
    harness.apply(state);
    return toBase64(harness.renderer.readMask());
  },

  render(state) {
    harness.apply(state);
    const canvas = harness.renderer.readCanvas();
    return { canvas: toBase64(canvas), stretch: harness.renderer.readStretch() };
  },

  // Solid-colour overlay image (an ImageBitmap, as the page would pass).
  async overlay(rgb) {
    if (!rgb) { harness.renderer.setOverlay(null); return; }
    const c = new OffscreenCanvas(13, 9);
    const ctx = c.getContext('2d');
    ctx.fillStyle = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
    ctx.fillRect(0, 0, 13, 9);
    harness.renderer.setOverlay(await createImageBitmap(c));
  },

  // An image file's bytes (base64) as the overlay, decoded by the browser as the page does.
  async overlayImage(b64) {
    harness.renderer.setOverlay(await createImageBitmap(new Blob([fromBase64(b64)])));
  },

  // Scripted pointer moves, one per animation frame, then wait for the refine.
  // Reads the canvas right after each frame is drawn (same task, so no preserveDrawingBuffer needed).
  async moves(refs, settleFrames = 6) {
    const r = harness.renderer;
    const w = r.canvas.width, h = r.canvas.height;
    const shots = [];
    const gl = r.gl;
    r.onFrame = (f) => {
      harness.frames.push(f);
      const px = new Uint8Array(w * h * 4);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
      shots.push(toBase64(px));
    };
    harness.frames = [];
    for (const [x, y] of refs) {
      harness.model.set({ reference: { x, y } });
      r.requestRender();
      await nextFrame();
    }
    for (let i = 0; i < settleFrames; i++) await nextFrame();
    await new Promise((resolve) => setTimeout(resolve, 50));
    r.onFrame = (f) => harness.frames.push(f);
    return {
      frames: harness.frames.map((f) => ({ kind: f.kind, reference: f.reference, stretch: f.stretch, t: f.t, issued: f.issued })),
      shots,
    };
  },

  // Pointer moves issued back to back in one task (each a preview frame), then wait for the
  // refinement. Returns the frames and the canvas read as each frame was reported.
  async previews(refs, timeoutMs = 20000) {
    const r = harness.renderer;
    const w = r.canvas.width, h = r.canvas.height;
    const gl = r.gl;
    const frames = [], shots = [];
    r.onFrame = (f) => {
      frames.push({ kind: f.kind, reference: f.reference, stretch: f.stretch, region: f.region });
      const px = new Uint8Array(w * h * 4);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
      shots.push(toBase64(px));
    };
    for (const [x, y] of refs) {
      harness.model.set({ reference: { x, y } });
      r.renderNow({ preview: true });
    }
    const [lx, ly] = refs[refs.length - 1];
    const started = performance.now();
    while (!frames.some((f) => f.kind === 'full' && f.reference.x === lx && f.reference.y === ly)) {
      if (performance.now() - started > timeoutMs) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));  // nothing else may follow
    r.onFrame = (f) => harness.frames.push(f);
    return { frames, shots };
  },

  // A move that arrives while the refinement of the one before is under way: starts a
  // refinement in many small chunks, waits until some (not all) were issued, moves on.
  async preempt(a, b, timeoutMs = 20000) {
    const r = harness.renderer;
    const frames = [];
    r.onFrame = (f) => frames.push({ kind: f.kind, reference: f.reference });
    harness.model.set({ reference: { x: a[0], y: a[1] } });
    r.renderNow({ preview: true });
    const token = r.frames.refine;
    const total = token.chunks.length;
    const started = performance.now();
    // The move comes right after the refinement's first chunks are issued (in a microtask of
    // that task): a page timer polling for them could wake only after later rounds of chunks,
    // since the renderer's poll hops through messages and timers nested this deep are clamped.
    const frames_ = r.frames, step = frames_._refineStep;
    let issuedBefore = 0;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no refinement chunk was issued')), timeoutMs);
      frames_._refineStep = (t) => {
        step.call(frames_, t);
        if (t !== token || token.chunks.length === total) return;
        frames_._refineStep = step;
        issuedBefore = total - token.chunks.length;
        queueMicrotask(() => {
          clearTimeout(timer);
          harness.model.set({ reference: { x: b[0], y: b[1] } });
          r.renderNow({ preview: true });
          resolve();
        });
      };
    });
    while (!frames.some((f) => f.kind === 'full' && f.reference.x === b[0]) && performance.now() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    r.onFrame = (f) => harness.frames.push(f);
    return { frames, total, issuedBefore, issuedAfter: total - token.chunks.length };
  },

  // Time full or preview frames (with sync: true each includes waiting for the GPU); informative only.
  timeFrames(refs, kind) {
    const r = harness.renderer;
    const times = [];
    for (const [x, y] of refs) {
      harness.model.set({ reference: { x, y } });
      const t0 = performance.now();
      r.renderNow({ preview: kind === 'preview' });
      times.push(performance.now() - t0);
    }
    return times;
  },
};

window.harness = harness;
harness.ready = true;
