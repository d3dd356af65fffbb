// window.harness: thin wrappers the browser tests call through page.evaluate.
// Binary data crosses as base64 (little-endian typed-array bytes).
import { SimilarityRenderer } from '/glue/renderer.js';
import { CpuSimilarity, isSoftwareRenderer } from '/glue/cpu-similarity.js';

const ARRAYS = { 8: Uint8Array, 16: Uint16Array, 32: Uint32Array };

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
  frames: [],

  create({ canvasWidth = 48, canvasHeight = 34, options = {} } = {}) {
    if (harness.renderer) {
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
    harness.renderer = new SimilarityRenderer(canvas, {
      autoRender: false, sync: true, ...options, onFrame: (f) => harness.frames.push(f),
      // Like the page: keep the data, upload it again when the context is back.
      onContextLost: () => harness.contextEvents.push('lost'),
      onContextRestored: () => {
        try {
          if (harness.dataset) harness.renderer.setDataset(harness.dataset, { keepView: true });
          harness.contextEvents.push('restored');
        } catch (err) {
          harness.contextEvents.push(`restore failed: ${err.message}`);
        }
      },
    });
    return harness.renderer.limits;
  },

  load({ width, height, features, precision, data }) {
    const bytes = fromBase64(data);
    const layers = new ARRAYS[precision](bytes.buffer);
    harness.renderer.setDataset({ width, height, features, precision, layers });
    harness.dataset = { width, height, features, precision, layers };
    return harness.renderer.stats();
  },

  // Similarity maps from the CPU kernel (true) or the shader (false); the loaded dataset's.
  cpu(on) {
    harness.renderer.setMapSource(on ? new CpuSimilarity(harness.dataset) : null);
    return { on: harness.renderer.similarityOn, software: isSoftwareRenderer(harness.renderer.gl) };
  },

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

  // Apply a state object: {reference: [x, y], metric, channel, stretch, view, lut (b64), opacity, ...}.
  apply(state = {}) {
    const r = harness.renderer;
    if (state.reference) r.setReference(state.reference[0], state.reference[1]);
    if (state.metric) r.setMetric(state.metric);
    if ('channel' in state) r.setChannel(state.channel);
    if (state.stretch) r.setStretch(state.stretch);
    if (state.lut) r.setColormap(fromBase64(state.lut));
    if (state.view) r.setView(state.view);
    if ('fit' in state) r.fit(state.fit);
    if ('opacity' in state) r.setOpacity(state.opacity);
    if ('overlayColour' in state) r.setOverlayColour(state.overlayColour);
  },

  similarity(state) {
    harness.apply(state);
    return toBase64(harness.renderer.readSimilarity());
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
      r.setReference(x, y);
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
      r.setReference(x, y);
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
    r.setReference(a[0], a[1]);
    r.renderNow({ preview: true });
    const token = r._refine;
    const total = token.chunks.length;
    const started = performance.now();
    // The move comes right after the refinement's first chunks are issued (in a microtask of
    // that task): a page timer polling for them could wake only after later rounds of chunks,
    // since the renderer's poll hops through messages and timers nested this deep are clamped.
    const step = r._refineStep;
    let issuedBefore = 0;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no refinement chunk was issued')), timeoutMs);
      r._refineStep = (t) => {
        step.call(r, t);
        if (t !== token || token.chunks.length === total) return;
        r._refineStep = step;
        issuedBefore = total - token.chunks.length;
        queueMicrotask(() => {
          clearTimeout(timer);
          r.setReference(b[0], b[1]);
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
      r.setReference(x, y);
      const t0 = performance.now();
      r.renderNow({ preview: kind === 'preview' });
      times.push(performance.now() - t0);
    }
    return times;
  },
};

window.harness = harness;
harness.ready = true;
