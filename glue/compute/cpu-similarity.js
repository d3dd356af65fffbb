// The similarity map of an 8- or 16-bit dataset computed on the CPU: WebAssembly SIMD for the
// integer dot products (dots.wat), then the similarity per pixel in float64 (similarity.js).
// For machines whose WebGL is a software renderer, where the CPU is all there is: there the
// SIMD kernel is an order of magnitude quicker than the same arithmetic in a shader
// (glue/render/RENDERER.md, "Similarity on the CPU"; docs/benchmarks.md has the figures).
import { DOTS_WASM } from './dots-wasm.js';
import { FROM_SUMS } from './similarity.js';
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

export class CpuSimilarity {
  /**
   * {width, height, features, precision: 8 | 16, layers}: layers in the page's (L, H, W, 4)
   * layout (model/layout.js). Copied once into the kernel's memory (each layer padded to a
   * multiple of 4 pixels); the caller's array is not kept.
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
    this._N = N;
    this._N4 = N4;
    this._px = px;
    this._at = { ref, out, norms, data };
    const heap = new Uint8Array(exports.memory.buffer);
    const src = new Uint8Array(layers.buffer, layers.byteOffset, layers.byteLength);
    if (N4 === N) heap.set(src, data);
    else for (let l = 0; l < L; l++) heap.set(src.subarray(l * N * px, (l + 1) * N * px), data + l * N4 * px);
    (P === 8 ? exports.sumsq : exports.sumsq16)(data, L, N4, norms, 0);
    this._map = new Float32Array(N);
  }

  /** Every pixel's dot product with pixel p = y·W + x (the kernel's run), in kernel memory. */
  _dots(p) {
    const k = this._k, { ref, out, data } = this._at;
    const { L, P } = this.layout, N4 = this._N4, px = this._px;
    const heap = new Uint8Array(k.memory.buffer);
    for (let l = 0; l < L; l++) heap.copyWithin(ref + l * px, data + (l * N4 + p) * px, data + (l * N4 + p + 1) * px);
    (P === 8 ? k.dots : k.dots16)(data, L, N4, ref, out, 0);
  }

  /**
   * The map for reference pixel (x, y): angular or cosine similarity (similarity.js), 0 where
   * either vector is zero. Float32Array of W * H, row 0 = top; reused by the next call.
   */
  map(x, y, metric = 'angular') {
    const fromSums = FROM_SUMS[metric];
    if (!fromSums) throw new Error(`cpu similarity: unknown metric ${metric}`);
    const p = y * this.layout.W + x;
    this._dots(p);
    const N = this._N;
    const Sums = this.layout.P === 8 ? Uint32Array : Float64Array;
    const buffer = this._k.memory.buffer;
    const dots = new Sums(buffer, this._at.out, N);
    const nn = new Sums(buffer, this._at.norms, N);
    const nr = nn[p];
    const s = this._map;
    // D, |p|² and |r|² are exact integers (8 bit: the numerator |p|²|r|² − D² too, while below
    // 2^53, about 1,100 channels); the formula's accuracy beyond that is similarity.js's.
    for (let i = 0; i < N; i++) s[i] = fromSums(dots[i], nn[i], nr);
    return s;
  }
}
