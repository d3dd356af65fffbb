// Map sources: what fills a map target with the values the current view shows, one value per
// pixel. Every source has the same face, so the frame code and the scheduler never ask which
// one draws:
//
//   key(view)              the map's identity under this view state: the same key means the
//                          same values, so texels computed for it stay valid
//   phased                 true: can fill single phase planes over a rectangle (previews and
//                          their refinement); false: fills a whole plain (step-1) map at once
//   fill(target, draws, view)
//                          phased: draw these target rectangles ({x0, y0, x1, y1, ph}, from
//                          phases.js); not phased: `draws` is ignored and the whole map is filled
//   dispose()
//
// What a similarity view asks for (values, metric, references, how they combine) is the map
// request (model/analysis.js), read by both similarity sources. The GPU's draws with shaders;
// the CPU's (WebAssembly SIMD and float64, for software renderers) computes the whole map and
// uploads it; the channel view is one fetch per pixel.
import { refFS, similarityFS, CHANNEL_FS, withDefine } from './shaders.js';
import { UNIT } from './device.js';
import { unpackFrom } from './upload.js';
import { GpuAnalysis, drawPhase } from './gpu-analysis.js';
import { channelSlot } from '../model/layout.js';
import { mapRequest, combiner } from '../model/analysis.js';
import { shownPca as pcaOf } from '../compute/pca-job.js';

// The round-1 shaders serve the stored values' angular and cosine maps of pixel references
// (exact integer arithmetic at 8 bit, unit vectors in float at 16 and 32 bit: see RENDERER.md);
// every other request goes to the analyses' general shaders (gpu-analysis.js).
const classic = (request, ref) => request.values === 'stored' && ref.kind === 'pixel'
  && (request.metric === 'angular' || request.metric === 'cosine');

/**
 * Similarity maps on the GPU, for any map request, of one tile (the dataset's, when it is one):
 * `locate(x, y)` gives the tile data holding map pixel (x, y) and the pixel there ({data, x, y}),
 * since a pointer's vector may lie in another tile.
 */
export class GpuSimilaritySource {
  constructor(gpu, gpuData, dataset, { unrollLimit = 256 } = {}, locate = (x, y) => ({ data: gpuData, x, y })) {
    const gl = gpu.gl;
    const { layout } = gpuData;
    this.gpu = gpu;
    this.data = gpuData;
    this.locate = locate;
    this.phased = true;
    this.unrollLimit = unrollLimit;
    this._refPixel = null;  // the reference pixel whose vector the round-1 uniform buffer holds
    this._programs = {};
    // The round-1 reference: a 1-row RGBA32UI target, copied into the uniform buffer on the GPU.
    this.refTarget = gpu.target(gl.RGBA32UI, layout.L + 1, 1);
    this.refUbo = gpu.track('buffer', gl.createBuffer());
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, this.refUbo);
    gl.bufferData(gl.PIXEL_PACK_BUFFER, (layout.L + 1) * 16, gl.DYNAMIC_COPY);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    try {
      this.refProg = gpu.program(refFS(layout.P, gpuData.arrays), 'reference', { ...gpuData.samplers, uNorm: UNIT.norm });
      this._classicProgram(false);  // compiled now: the first frame needs it
      this.analysis = new GpuAnalysis(gpu, gpuData, dataset, { unrollLimit });
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  key(view) { return `gpu:${mapRequest(view).key}`; }

  _classicProgram(combine) {
    const name = combine ? 'combine' : 'plain';
    if (!this._programs[name]) {
      const { layout, arrays, samplers } = this.data;
      let source = similarityFS({ precision: layout.P, layers: layout.L, packed: layout.G, unrollLimit: this.unrollLimit, arrays });
      if (combine) source = withDefine(source, 'COMBINE');
      this._programs[name] = this.gpu.program(source, 'similarity', { ...samplers, uNorm: UNIT.norm, uPrev: UNIT.prev });
    }
    return this._programs[name];
  }

  fill(t, draws, view) {
    const request = mapRequest(view);
    const op = combiner(request.metric, request.combine);
    const one = (target, into, ref, merge) => this._drawReference(target, into, ref, request, merge);
    const prev = this.analysis.staticMap(request, op, one);
    const scale = op === 'sum' && request.count ? 1 / request.count : 1;
    if (request.pointer) one(t, draws, request.pointer, prev ? { prev, op, scale } : {});
    else this.analysis.finish(t, draws, prev, scale);
  }

  _drawReference(t, draws, ref, request, merge) {
    if (!classic(request, ref)) {
      this.analysis.drawReference(t, draws, ref, request, merge);
      return;
    }
    const gl = this.gpu.gl;
    this._uploadReference(ref);
    const pr = this._classicProgram(Boolean(merge.prev));
    gl.useProgram(pr.prog);
    this.data.bindData();
    this.gpu.bind(UNIT.norm, gl.TEXTURE_2D, this.data.norm);
    if (merge.prev) this.analysis._bindPrev(pr, merge.prev, merge.op, merge.scale ?? 1);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, this.refUbo);
    gl.uniform1i(pr.u.uMetric, request.metric === 'angular' ? 0 : 1);
    for (const d of draws) drawPhase(this.gpu, pr, t, d);
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, null);
  }

  // The round-1 reference vector: read on the GPU into the 1-row target, then copied into the
  // uniform buffer with readPixels into a PIXEL_PACK buffer. Nothing reaches the CPU.
  _uploadReference({ x, y }) {
    if (this._refPixel && this._refPixel.x === x && this._refPixel.y === y) return;
    const gl = this.gpu.gl;
    const pr = this.refProg;
    const L = this.data.layout.L;
    const at = this.locate(x, y);
    gl.useProgram(pr.prog);
    gl.uniform2i(pr.u.uRef, at.x, at.y);
    at.data.bindData();
    this.gpu.bind(UNIT.norm, gl.TEXTURE_2D, at.data.norm);
    this.gpu.draw(this.refTarget.fb, 0, 0, L + 1, 1);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, this.refUbo);
    gl.readPixels(0, 0, L + 1, 1, gl.RGBA_INTEGER, gl.UNSIGNED_INT, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    this._refPixel = { x, y };
  }

  dispose() {
    this.gpu.dropTarget(this.refTarget);
    this.gpu.delete('buffer', this.refUbo);
    this.gpu.delete('program', this.refProg?.prog);
    for (const pr of Object.values(this._programs)) this.gpu.delete('program', pr.prog);
    this.analysis?.dispose();
  }
}

/** Channel k's own values, q / (2^P − 1): one fetch per pixel. */
export class ChannelSource {
  constructor(gpu, gpuData) {
    this.gpu = gpu;
    this.data = gpuData;
    this.phased = true;
    this.prog = gpu.program(CHANNEL_FS, 'channel', { uData: UNIT.data });
  }

  key(view) { return `channel:${view.channel}`; }

  fill(t, draws, view) {
    const gl = this.gpu.gl;
    const { layout } = this.data;
    const { texel, component, shift } = channelSlot(layout, view.channel);
    const { array, layer } = this.data.texelAt(texel);
    const pr = this.prog;
    for (const d of draws) {
      this.gpu.bind(UNIT.data, gl.TEXTURE_2D_ARRAY, array);
      gl.useProgram(pr.prog);
      gl.uniform4i(pr.u.uSel, layer, component, shift, 0);
      gl.uniform1ui(pr.u.uMask, layout.P === 32 ? 0xFFFFFFFF : layout.maxValue);
      gl.uniform1f(pr.u.uMax, layout.maxValue);
      drawPhase(this.gpu, pr, t, d);
    }
  }

  dispose() { this.gpu.delete('program', this.prog.prog); }
}

// Map rows y0, y0 + 1, … (n of them).
const rowsFrom = (y0, n) => Array.from({ length: n }, (_, j) => y0 + j);

/**
 * Similarity maps from the CPU (compute/cpu-analysis.js) for the view's request, one source
 * for every tile: a target takes its tile's part of the map (t.ox, t.oy, t.width, t.height). The
 * plain map is uploaded whole; into the phased target (large maps, RENDERER.md "Preview and refine policy")
 * only the texels of the planes asked for, from the map rows they lie on: a preview computes
 * every step-th row (memory is read row by row, so rows are what a preview can skip), its
 * refinement the rest. Every texel is the exact value at its pixel.
 */
export class CpuSimilaritySource {
  constructor(gpu, layout, analysis) {
    this.gpu = gpu;
    this.layout = layout;
    this.analysis = analysis;
    this.phased = true;
    this._last = null;  // the current map: {key, request, map, rows (1 where computed)}
  }

  key(view) { return `cpu:${mapRequest(view).key}`; }

  _current(view) {
    const request = mapRequest(view);
    if (this._last?.key !== request.key) {
      this._last = { key: request.key, request, map: null, rows: new Uint8Array(this.layout.H) };
    }
    return this._last;
  }

  // Compute map rows `ys` (ascending) of the current map where not done yet.
  _compute(current, ys) {
    const { W } = this.layout;
    const ranges = [];
    for (const y of ys) {
      if (current.rows[y]) continue;
      current.rows[y] = 1;
      const last = ranges[ranges.length - 1];
      if (last && last[1] === y * W) last[1] += W;
      else ranges.push([y * W, (y + 1) * W]);
    }
    if (ranges.length) current.map = this.analysis.map(current.request, ranges);
  }

  /** The whole map for a view, as the CPU computes it (Float32Array; the last one is kept). */
  mapOf(view) {
    const current = this._current(view);
    this._compute(current, rowsFrom(0, this.layout.H));
    return current.map;
  }

  fill(t, draws, view) {
    const gl = this.gpu.gl;
    const { W, H } = this.layout;
    const { ox, oy } = t;
    gl.bindTexture(gl.TEXTURE_2D, t.tex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    if (t.step === 1) {
      const current = this._current(view);
      this._compute(current, rowsFrom(oy, t.height));
      unpackFrom(gl, { ox, oy, W, H });
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, t.width, t.height, gl.RED, gl.FLOAT, current.map);
      unpackFrom(gl, null);
      return;
    }
    const current = this._current(view), s = t.step;
    for (const d of draws) {
      // Texel (i, j) of plane (px, py) is the tile's pixel (s·i + px, s·j + py) (phases.js).
      const px = d.ph % s, py = Math.floor(d.ph / s);
      const i0 = d.x0 - px * t.pw, j0 = d.y0 - py * t.ph;
      const w = d.x1 - d.x0, h = d.y1 - d.y0;
      const ys = [];
      for (let j = j0; j < j0 + h && s * j + py < t.height; j++) ys.push(oy + s * j + py);
      this._compute(current, ys);
      const map = current.map;
      const texels = new Float32Array(w * h);  // 0 beyond the tile's edges
      for (let j = 0; j < ys.length; j++) {
        const row = ys[j] * W + ox;
        for (let i = 0, x = s * i0 + px; i < w && x < t.width; i++, x += s) texels[j * w + i] = map[row + x];
      }
      gl.texSubImage2D(gl.TEXTURE_2D, 0, d.x0, d.y0, w, h, gl.RED, gl.FLOAT, texels);
    }
  }

  dispose() {}
}


/**
 * The PCA view (compute/pca-job.js computes it on the CPU): three components are a picture of
 * their own colours, uploaded into a texture the colour pass lays over the overlay; one is a
 * map of its colours' positions (0 to 1) that goes through the colour map like any other.
 * Where the components were refused, the map is empty: the overlay alone.
 */
export class PcaSource {
  constructor(gpu, layout) {
    this.gpu = gpu;
    this.layout = layout;
    this.phased = false;
    this.pictures = new Map();  // per tile ('ox,oy'): {tex, uploaded (the result it holds)}
  }

  key(view) { return `pca:${pcaOf(view)?.key ?? '-'}`; }

  // Target t's tile of a whole-map array (W × H pixels, row 0 = top) into t's texture (bound).
  _upload(t, format, type, values) {
    const gl = this.gpu.gl;
    const { W, H } = this.layout;
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    unpackFrom(gl, { ox: t.ox, oy: t.oy, W, H });
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, t.width, t.height, format, type, values);
    unpackFrom(gl, null);
  }

  fill(t, draws, view) {
    const gl = this.gpu.gl;
    const { W, H } = this.layout;
    const result = pcaOf(view);
    gl.bindTexture(gl.TEXTURE_2D, t.tex);
    // The first component's colour positions (a picture's colours are its own texture).
    const values = result ? Float32Array.from(result.colours[0]) : new Float32Array(W * H);
    this._upload(t, gl.RED, gl.FLOAT, values);
  }

  /**
   * The texture of the view's RGB picture over tile `tile` (its targets: ox, oy, width,
   * height), uploaded when new; or null for a single component.
   */
  picture(view, tile) {
    const result = pcaOf(view);
    if (!result || result.map) return null;
    const gl = this.gpu.gl;
    const at = `${tile.ox},${tile.oy}`;
    let p = this.pictures.get(at);
    if (!p) {
      p = { tex: this.gpu.texture2D(gl.RGBA8, tile.width, tile.height), uploaded: null };
      this.pictures.set(at, p);
    }
    if (p.uploaded !== result) {
      gl.bindTexture(gl.TEXTURE_2D, p.tex);
      this._upload(tile, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(result.picture.buffer));
      p.uploaded = result;
    }
    return p.tex;
  }

  dispose() {
    for (const p of this.pictures.values()) this.gpu.delete('texture', p.tex);
    this.pictures.clear();
  }
}
