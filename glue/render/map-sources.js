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
// The GPU similarity and the channel view draw with shaders; the CPU similarity (WebAssembly
// SIMD, for software renderers) computes the whole map and uploads it.
import { refFS, similarityFS, CHANNEL_FS } from './shaders.js';
import { UNIT } from './device.js';
import { channelSlot } from '../model/layout.js';
import { METRICS } from '../model/view.js';

// Uniforms every phased map shader has: the plane's corner in the target, its phase, log2(step).
function setPhase(gl, pr, t, ph) {
  const px = ph % t.step, py = Math.floor(ph / t.step);
  gl.uniform2i(pr.u.uOrigin, px * t.pw, py * t.ph);
  gl.uniform2i(pr.u.uPhase, px, py);
  gl.uniform1i(pr.u.uShift, t.shift);
}

/** Similarity to the reference pixel on the GPU (the shaders of RENDERER.md, "Passes per frame"). */
export class GpuSimilaritySource {
  constructor(gpu, gpuData, { unrollLimit = 256 } = {}) {
    const gl = gpu.gl;
    const { layout, arrays, samplers } = gpuData;
    this.gpu = gpu;
    this.data = gpuData;
    this.phased = true;
    this._refPixel = null;  // the reference pixel whose vector the uniform buffer holds
    // Reference: a 1-row RGBA32UI target, copied into the uniform buffer on the GPU.
    this.refTarget = gpu.target(gl.RGBA32UI, layout.L + 1, 1);
    this.refUbo = gpu.track('buffer', gl.createBuffer());
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, this.refUbo);
    gl.bufferData(gl.PIXEL_PACK_BUFFER, (layout.L + 1) * 16, gl.DYNAMIC_COPY);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    try {
      this.refProg = gpu.program(refFS(layout.P, arrays), 'reference', { ...samplers, uNorm: UNIT.norm });
      this.simProg = gpu.program(similarityFS({
        precision: layout.P, layers: layout.L, packed: layout.G, unrollLimit, arrays,
      }), 'similarity', { ...samplers, uNorm: UNIT.norm });
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  key(view) { return `gpu-similarity:${view.metric}:${view.reference.x},${view.reference.y}`; }

  fill(t, draws, view) {
    const gl = this.gpu.gl;
    this._uploadReference(view.reference);
    const pr = this.simProg;
    for (const d of draws) {
      this.data.bindData();
      this.gpu.bind(UNIT.norm, gl.TEXTURE_2D, this.data.norm);
      gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, this.refUbo);
      gl.useProgram(pr.prog);
      gl.uniform1i(pr.u.uMetric, METRICS.indexOf(view.metric));
      setPhase(gl, pr, t, d.ph);
      this.gpu.draw(t.fb, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
    }
    gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, null);
  }

  // The reference vector: read on the GPU into the 1-row target, then copied into the uniform
  // buffer with readPixels into a PIXEL_PACK buffer. Nothing reaches the CPU.
  _uploadReference({ x, y }) {
    if (this._refPixel && this._refPixel.x === x && this._refPixel.y === y) return;
    const gl = this.gpu.gl;
    const pr = this.refProg;
    const L = this.data.layout.L;
    gl.useProgram(pr.prog);
    gl.uniform2i(pr.u.uRef, x, y);
    this.data.bindData();
    this.gpu.bind(UNIT.norm, gl.TEXTURE_2D, this.data.norm);
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
    this.gpu.delete('program', this.simProg?.prog);
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
      setPhase(gl, pr, t, d.ph);
      this.gpu.draw(t.fb, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
    }
  }

  dispose() { this.gpu.delete('program', this.prog.prog); }
}

/**
 * Similarity maps from an object whose map(x, y, metric) returns the whole map as a
 * Float32Array of W × H, row 0 = top (compute/cpu-similarity.js): uploaded into the plain map.
 */
export class CpuSimilaritySource {
  constructor(gpu, layout, cpu) {
    this.gpu = gpu;
    this.layout = layout;
    this.cpu = cpu;
    this.phased = false;
  }

  key(view) { return `cpu-similarity:${view.metric}:${view.reference.x},${view.reference.y}`; }

  fill(t, draws, view) {
    const gl = this.gpu.gl;
    const { W, H } = this.layout;
    const map = this.cpu.map(view.reference.x, view.reference.y, view.metric);
    if (!(map instanceof Float32Array) || map.length !== W * H) {
      throw new Error(`renderer: the CPU map source returned no ${W}x${H} Float32Array`);
    }
    gl.bindTexture(gl.TEXTURE_2D, t.tex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, W, H, gl.RED, gl.FLOAT, map);
  }

  dispose() {}
}
