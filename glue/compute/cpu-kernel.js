// The CPU's arithmetic on an 8- or 16-bit dataset's stored integers: WebAssembly SIMD for every
// pixel's exact integer dot product with one pixel (dots.wat), and float64 weighted sums. For
// machines whose WebGL is a software renderer, where the CPU is all there is: there the SIMD
// kernel is an order of magnitude quicker than the same arithmetic in a shader
// (glue/render/RENDERER.md, "Similarity on the CPU"; docs/benchmarks.md has the figures).
// cpu-analysis.js builds the maps from these sums.
import { DOTS_WASM } from './dots-wasm.js';
import { layoutOf, checkLayers } from '../model/layout.js';

const TILE = 1024;           // pixels per tile in the kernel (dots.wat)
const ACC_BYTES = TILE * 24; // its scratch area (16 bit: 48 bytes per pixel pair)

let compiled = null;

function wasmModule() {
  if (!compiled) {
    const bin = atob(DOTS_WASM);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/** Whether this browser runs the kernel (WebAssembly with SIMD). */
export function cpuSimilaritySupported() {
  try {
    return typeof WebAssembly === 'object' && Boolean(wasmModule());
  } catch {
    return false;
  }
}

/**
 * Whether a WebGL context is a software renderer (SwiftShader, llvmpipe, WARP and the like):
 * then its "GPU" is the CPU, and the kernel here is the quicker way to the map.
 */
export function isSoftwareRenderer(gl) {
  let name = '';
  try {
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    name = `${gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER)}`;
  } catch {
    return false;
  }
  return /SwiftShader|llvmpipe|softpipe|Software|Basic Render|WARP/i.test(name);
}

export class CpuKernel {
  /**
   * {width, height, features, precision: 8 | 16, layers}: layers in the page's (L, H, W, 4)
   * layout (model/layout.js). Copied once into the kernel's memory (each layer padded to a
   * multiple of 4 pixels); the caller's array is not kept. Every pixel's |q|² and Σq (exact
   * integers) are computed here.
   */
  constructor({ width, height, features, precision, layers }) {
    if (precision !== 8 && precision !== 16) {
      throw new Error(`cpu similarity: ${precision}-bit data is not supported (8 and 16 bit are)`);
    }
    const layout = layoutOf({ width, height, features, precision });
    checkLayers(layout, layers);
    const { W, H, L, P } = layout;
    const N = W * H, N4 = Math.ceil(N / 4) * 4;
    // Memory: scratch | reference | dot products | squared norms | data. 8 bit: sums as
    // uint32; 16 bit: as float64 (exact below 2^53).
    const px = 4 * (P / 8);                     // bytes per pixel and layer
    const sum = P === 8 ? 4 : 8;                // bytes per dot product / norm
    const align = (n) => Math.ceil(n / 16) * 16;
    const ref = ACC_BYTES, out = align(ref + L * px), norms = align(out + N4 * sum), data = align(norms + N4 * sum);
    const bytes = data + L * N4 * px;
    if (bytes > 2 ** 31) throw new Error('cpu similarity: the dataset does not fit in WebAssembly memory');
    const { exports } = new WebAssembly.Instance(wasmModule(), {});
    // The module has its own memory (one page): grow it to size.
    exports.memory.grow(Math.ceil(bytes / 65536) - exports.memory.buffer.byteLength / 65536);
    this._k = exports;
    this.layout = layout;
    this.N = N;
    this._N4 = N4;
    this._px = px;
    this._at = { ref, out, norms, data };
    const heap = new Uint8Array(exports.memory.buffer);
    const src = new Uint8Array(layers.buffer, layers.byteOffset, layers.byteLength);
    if (N4 === N) heap.set(src, data);
    else for (let l = 0; l < L; l++) heap.set(src.subarray(l * N * px, (l + 1) * N * px), data + l * N4 * px);
    (P === 8 ? exports.sumsq : exports.sumsq16)(data, L, N4, norms, 0);
    this.norms = Float64Array.from(this._sums(norms));  // |q|²
    // Σq: the dot product with a vector of ones.
    new (P === 8 ? Uint8Array : Uint16Array)(exports.memory.buffer, ref, L * 4).fill(1);
    this._run();
    this.sums = Float64Array.from(this._sums(out));
  }

  _sums(at) { return new (this.layout.P === 8 ? Uint32Array : Float64Array)(this._k.memory.buffer, at, this.N); }

  // The kernel over pixels [from, to), widened to whole fours.
  _run(from = 0, to = this._N4) {
    const { ref, out, data } = this._at;
    const end = Math.min(this._N4, Math.ceil(to / 4) * 4);
    (this.layout.P === 8 ? this._k.dots : this._k.dots16)(data, this.layout.L, this._N4, ref, out, 0, from & ~3, end);
  }

  /**
   * Every pixel's exact dot product q·q_p with pixel p = y·W + x (a view of kernel memory, valid
   * until the next call). With `ranges` ([[from, to], …]: pixels from <= p < to): only those are
   * computed (and a few pixels around each, the kernel goes in fours); the rest of the view
   * holds what an earlier call left.
   */
  dotsWith(p, ranges = null) {
    const k = this._k, { ref, data } = this._at;
    const { L } = this.layout, N4 = this._N4, px = this._px;
    const heap = new Uint8Array(k.memory.buffer);
    for (let l = 0; l < L; l++) heap.copyWithin(ref + l * px, data + (l * N4 + p) * px, data + (l * N4 + p + 1) * px);
    if (!ranges) this._run();
    else for (const [from, to] of ranges) if (to > from) this._run(from, to);
    return this._sums(this._at.out);
  }

  /**
   * The layers given to the constructor as a view of the kernel's copy (the same values in the
   * same layout), or null where the kernel pads its layers (W·H not a multiple of 4). Valid for
   * the kernel's life: its memory never grows again.
   */
  layersView() { return this._N4 === this.N ? this._data() : null; }

  /** The stored data, layer-major with N4 pixels a layer: a view of kernel memory. */
  _data() {
    const { L, P } = this.layout;
    const Type = P === 8 ? Uint8Array : Uint16Array;
    return new Type(this._k.memory.buffer, this._at.data, L * this._N4 * 4);
  }

  /**
   * out[p] = Σ_c w_c · q_pc (squares: Σ_c w_c · q_pc²) in float64, for weights w (C values).
   * Plain JavaScript: it runs when the values setting changes, and per move only for z-scores.
   * With `ranges` (as dotsWith's) only those pixels of `out` are written.
   */
  weighted(w, out = new Float64Array(this.N), { squares = false, ranges = null } = {}) {
    const { L, C } = this.layout, N4 = this._N4;
    const q = this._data();
    const spans = ranges ?? [[0, this.N]];
    for (const [from, to] of spans) out.fill(0, from, to);
    for (let l = 0; l < L; l++) {
      const w0 = w[4 * l] ?? 0, w1 = 4 * l + 1 < C ? w[4 * l + 1] : 0;
      const w2 = 4 * l + 2 < C ? w[4 * l + 2] : 0, w3 = 4 * l + 3 < C ? w[4 * l + 3] : 0;
      if (!w0 && !w1 && !w2 && !w3) continue;
      for (const [from, to] of spans) {
        let k = (l * N4 + from) * 4;
        if (squares) {
          for (let p = from; p < to; p++, k += 4) {
            const a = q[k], b = q[k + 1], c = q[k + 2], d = q[k + 3];
            out[p] += a * a * w0 + b * b * w1 + c * c * w2 + d * d * w3;
          }
        } else {
          for (let p = from; p < to; p++, k += 4) out[p] += q[k] * w0 + q[k + 1] * w1 + q[k + 2] * w2 + q[k + 3] * w3;
        }
      }
    }
    return out;
  }
}
