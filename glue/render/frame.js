// One frame, from the view state to the canvas: which map target and which phases, the map
// source filling what is missing, the min/max reduction, the colour pass; then knowing when the
// GPU has drawn it (a fence, or a blocking read-back in sync mode) and reporting it; and a
// preview's refinement (RENDERER.md, "Preview and refine policy").
import { visibleRect } from './camera.js';
import { phasesOf, covers, refineChunks, refineRowChunks, previewStep } from './phases.js';
import { ensureMap } from './targets.js';
import { colourScale } from '../model/analysis.js';

// `fn` in a task of its own, at once (a timer would be clamped to 4 ms when nested).
const channel = typeof MessageChannel === 'function' ? new MessageChannel() : null;
const queued = [];
if (channel) channel.port1.onmessage = () => queued.shift()?.();
function nextTask(fn) {
  if (!channel) { setTimeout(fn, 0); return; }
  queued.push(fn);
  channel.port2.postMessage(0);
}

export class Frames {
  /** r: the renderer (its gpu, fences, scheduler, colour and reduce passes, options, dataset, view). */
  constructor(r) {
    this.r = r;
    this.refine = null;      // the refinement in progress, or null
    this.drawnSize = null;   // the canvas size of the last frame ('WxH')
    this.rect = null;        // the map rectangle the last frame showed
    this.stretch = { min: 0, max: 1 };  // the latest known colour-scale range
    this.last = null;        // the newest frame reported (onFrame)
    this.issued = null;      // the newest frame issued (its t and stretch come when it is drawn)
  }

  reset() {
    this.refine = null;
    this.drawnSize = null;
  }

  /** Draw a frame of the current view now (a preview where allowed), and see it through. */
  draw(allowPreview) {
    this.refine = null;  // a new frame supersedes any refinement in progress
    const kind = this._paint(allowPreview);
    const { canvas } = this.r.gpu.gl;
    this.drawnSize = `${canvas.width}x${canvas.height}`;
    // A preview is refined once the GPU has drawn it, unless something newer came first.
    // (Refining on the CPU at once, while the GPU process draws the preview, had the full frame
    // sooner but the preview later: they share the cores.)
    const token = kind === 'preview' ? this._planRefine() : null;
    this.refine = token;
    this._finish(kind, token);
  }

  _paint(allowPreview) {
    const r = this.r, ds = r.ds, view = r.view;
    const { canvas } = r.gpu.gl;
    const { W, H } = ds.layout;
    const rect = visibleRect(view.camera, W, H, canvas.width, canvas.height);
    this.rect = rect;
    if (!rect) {
      r.colour.clearCanvas(r.clearColour);
      return 'full';
    }
    // Large maps go through the phased target: a pointer move computes plane (0, 0) alone (the
    // preview), the refinement the other planes; small maps and whole-map sources go plain.
    const source = r.source();
    const factor = this._previewWorth(source, rect) ? r.previewFactorOf(source) : 1;
    const { full, masked } = paintTiles(r, rect, { factor, allowPreview });
    this.mask = masked ? { count: r.maskLayer.state.count, total: r.maskLayer.state.total } : null;
    return full ? 'full' : 'preview';
  }

  // (The phased targets are made, or made again at another step, only once a preview is worth it.)
  _previewWorth(source, rect) {
    const r = this.r, { preview } = r.options;
    if (!source.phased || r.view.mode !== 'similarity') return false;
    const least = source === r.ds.sources.cpu ? r.options.cpuPreviewMinWork : r.options.previewMinWork;
    const worth = preview === true
      || (preview === 'auto' && (rect.x1 - rect.x0) * (rect.y1 - rect.y0) * r.ds.layout.C >= least);
    return worth && previewStep(r.previewFactorOf(source)) > 1;
  }

  _info(kind) {
    const v = this.r.view;
    return {
      kind, issued: performance.now(), t: 0,
      reference: v.reference && { ...v.reference },
      mode: v.mode,
      key: this.r.ds ? this.r.source().key(v) : null,  // what the map shows (map-sources.js)
      channel: v.mode === 'channel' ? v.channel : null,
      metric: v.metric,
      scale: colourScale(v),
      region: this.rect && { ...this.rect },
      mask: this.mask,  // {count, total} of the threshold's mask, or null
      stretch: null,
    };
  }

  _emit(info) {
    this.last = info;
    this.r.onFrame?.(info);
  }

  // Report the frame once drawn; then refine it when it is a preview.
  _finish(kind, token) {
    const r = this.r, gl = r.gpu.gl;
    const info = this._info(kind);
    this.issued = info;
    const relative = info.scale.relative && this.rect;
    const fixed = info.scale.absolute && { min: info.scale.absolute[0], max: info.scale.absolute[1] };
    const then = token && (() => this._refineStep(token));
    if (r.options.sync) {
      // A 1-pixel read-back of the canvas returns only once every pass has run.
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
      if (relative) this.stretch = this.readStretchTexel();
      else if (fixed) this.stretch = fixed;
      info.stretch = { ...this.stretch };
      info.t = performance.now();
      this._emit(info);
      if (then) setTimeout(then, 0);  // a task of its own, so that a move issued meanwhile wins
      return;
    }
    let pbo = null;
    if (relative) {
      pbo = r.fences.takeBuffer();
      if (pbo) {
        gl.bindFramebuffer(gl.FRAMEBUFFER, r.ds.stretch.stretchAt.fb);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pbo);
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, 0);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
        gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      }
    } else if (fixed) {
      this.stretch = fixed;
    }
    r.fences.push(() => this._drawn(info, pbo, token, then), { frame: true, dropped: () => r.fences.giveBuffer(pbo) });
  }

  // The GPU has drawn the frame: time it, read its min/max when worth it, report it.
  _drawn(info, pbo, token, then) {
    const r = this.r, gl = r.gpu.gl;
    info.t = performance.now();  // before any read-back
    if (pbo) {
      // getBufferSubData waits for every command queued so far, a newer frame's too: read
      // min/max only from the newest frame when nothing is queued behind it (an older frame's
      // numbers are superseded, its buffer goes back unread); nor when a refinement starts
      // from this frame: the read-back is a round trip to the GPU process that would hold it
      // back, and the full frame brings the numbers. (The copy into the buffer is still made:
      // under ANGLE it makes the GPU process run the frame at once.)
      if (r.fences.length === 0 && !r.scheduler.scheduled && !(token && this._refineCurrent(token))) {
        const buf = new Float32Array(4);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pbo);
        gl.getBufferSubData(gl.PIXEL_PACK_BUFFER, 0, buf);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
        this.stretch = { min: buf[0], max: buf[1] };
        info.stretch = { ...this.stretch };
      }
      r.fences.giveBuffer(pbo);
    } else if (!info.scale.relative) {
      info.stretch = { min: info.scale.absolute[0], max: info.scale.absolute[1] };
    }
    this._emit(info);
    then?.();
  }

  /** {min, max} in the last reduction's texel, read now (blocks until the GPU is done). */
  readStretchTexel() {
    const gl = this.r.gpu.gl;
    const out = new Float32Array(4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.r.ds.stretch.stretchAt.fb);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, out);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return { min: out[0], max: out[1] };
  }

  // ------------------------------------------------------------- refinement

  // The refinement of the preview just drawn: the other planes of the visible region in
  // chunks, tile after tile.
  _planRefine() {
    const r = this.r, ds = r.ds, source = r.source();
    // The CPU computes whole map rows, in chunks of rows, with a task of its own each (the
    // GPU only receives their texels, nothing to wait for); the GPU a plane's bands at a time.
    const cpu = source === ds.sources.cpu;
    const parts = visibleTiles(ds, this.rect).map(({ tile, local }) => ({ tile, local, t: tile.targets.phased }));
    const chunks = parts.flatMap(({ tile, local, t }) => (cpu
      ? refineRowChunks(t, local, ds.layout.C, r.options.cpuRefineChunkWork)
      : refineChunks(t, local, ds.layout.C, r.options.refineChunkWork)).map((chunk) => ({ ...chunk, tile, t })));
    return { key: source.key(r.view), rect: this.rect, size: this.drawnSize, ds, parts, inflight: 0, cpu, chunks };
  }

  // Still worth refining: nothing changed since the preview (a change makes its own frame).
  _refineCurrent(token) {
    const r = this.r;
    if (this.refine !== token || r.scheduler.dirty || r.ds !== token.ds || r.gpu.isLost()
      || token.parts.some(({ tile, t }) => tile.targets.phased !== t)) return false;
    const { canvas } = r.gpu.gl;
    const rect = visibleRect(r.view.camera, token.ds.layout.W, token.ds.layout.H, canvas.width, canvas.height);
    return Boolean(rect) && ['x0', 'y0', 'x1', 'y1'].every((k) => rect[k] === token.rect[k])
      && r.source().key(r.view) === token.key && `${canvas.width}x${canvas.height}` === token.size;
  }

  // Issue the next chunks: two in flight at most (the GPU never idles between them, and a new
  // move waits for two at most); after the last one, the full frame.
  _refineStep(token) {
    if (!this._refineCurrent(token)) {
      if (this.refine === token) this.refine = null;
      return;
    }
    const r = this.r;
    const limit = r.options.sync ? Infinity : token.cpu ? 1 : 2;
    while (token.chunks.length && token.inflight < limit) {
      const { bands, tile, t } = token.chunks.shift();
      const source = r.source(tile);
      for (const band of bands) {
        const { d } = band;
        source.fill(t, [{ x0: d.x0, y0: band.y0, x1: d.x1, y1: band.y1, ph: d.ph }], r.view);
        t.gen++;
        if (band.y1 === d.y1) t.done[d.ph] = d.q;
      }
      if (!token.chunks.length || r.options.sync) continue;
      token.inflight++;
      const next = () => { token.inflight--; this._refineStep(token); };
      if (token.cpu) nextTask(next);  // input events come first
      else r.fences.push(next);
    }
    if (!token.chunks.length) {  // everything is computed: colour it
      r.scheduler.frameStarted();
      this.draw(false);
    }
  }
}

/** The tiles of ds that map rectangle `rect` touches, with the part of it in each (tile pixels). */
export function visibleTiles(ds, rect) {
  const parts = [];
  for (const tile of ds.tiles) {
    const local = {
      x0: Math.max(rect.x0, tile.x0) - tile.x0, y0: Math.max(rect.y0, tile.y0) - tile.y0,
      x1: Math.min(rect.x1, tile.x0 + tile.w) - tile.x0, y1: Math.min(rect.y1, tile.y0 + tile.h) - tile.y0,
    };
    if (local.x1 > local.x0 && local.y1 > local.y0) parts.push({ tile, local });
  }
  return parts;
}

/**
 * Map rectangle `rect` of the view, tile by tile: each tile's map target (the phased one at
 * `factor` > 1) made to hold what is missing (the preview's plane alone when `allowPreview` and
 * some tile lacks the rest), the relative stretch reduced over every tile's part, the mask, and
 * the colour pass per tile into the canvas (or `into`, seen by `camera`). {full, masked}.
 */
export function paintTiles(r, rect, {
  factor = 1, allowPreview = false, into = null, camera = r.view.camera, twoStep = r.options.twoStepColour,
} = {}) {
  const ds = r.ds, view = r.view, { W, H } = ds.layout;
  const key = r.source().key(view);
  const parts = visibleTiles(ds, rect).map((p) => ({ ...p, t: factor > 1 ? p.tile.targets.phasedAt(factor) : p.tile.targets.full }));
  const full = !(factor > 1 && allowPreview) || parts.every((p) => covers(p.t, key, p.local, phasesOf(p.t, true)));
  for (const p of parts) ensureMap(p.t, r.source(p.tile), key, p.local, phasesOf(p.t, full), view);
  const scale = colourScale(view);
  // Relative stretch: min/max of the visible part of the map, at the resolution shown.
  if (scale.relative) {
    for (const p of parts) r.reduce.run(p.tile.targets, p.t, p.local, full);
    r.reduce.combine(ds.stretch, parts.map((p) => p.tile.targets.stretchAt));
  }
  // The threshold's mask goes with full frames (a preview's would be made of half a map).
  const masked = full && r.maskLayer.update(view, key, W, H, () => r.mapValues());
  parts.forEach((p, i) => r.colour.draw({
    tile: p.tile.targets, map: { width: W, height: H }, t: p.t, rect: p.local, full, view, scale,
    stretch: ds.stretch.stretchAt?.tex ?? null, mask: masked ? r.maskLayer.textureFor(p.tile) : null,
    clear: i === 0 ? r.clearColour : null, twoStep, into, camera,
    picture: r.source(p.tile).picture?.(view, p.tile.targets) ?? null,
  }));
  return { full, masked };
}
