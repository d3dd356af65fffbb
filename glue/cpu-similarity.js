// The similarity map of an 8- or 16-bit dataset computed on the CPU: WebAssembly SIMD for the
// integer dot products (dots.wat), then the angle per pixel in float64. For machines whose
// WebGL is a software renderer, where the CPU is all there is: there the SIMD kernel is 15-26x
// quicker than the same arithmetic in a shader (RENDERER.md, "Similarity on the CPU"). The
// renderer uploads the map and does everything else (stretch, colour, overlay) as always.
import { DOTS_WASM } from './dots-wasm.js';

const TILE = 1024;           // pixels per tile in the kernel (dots.wat)
const ACC_BYTES = TILE * 24; // its scratch area (16 bit: 48 bytes per pixel pair)
const HALF_PI = Math.PI / 2;

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
   * {width, height, features, precision: 8 | 16, layers}: layers as the renderer takes them,
   * (L, H, W, 4) layer-major Uint8Array / Uint16Array, row 0 = top. Copied once into the kernel's memory
   * (each layer padded to a multiple of 4 pixels); the caller's array is not kept.
   */
  constructor({ width: W, height: H, features: C, precision: P, layers }) {
    if (P !== 8 && P !== 16) throw new Error(`cpu similarity: ${P}-bit data is not supported (8 and 16 bit are)`);
    const L = Math.ceil(C / 4);
    const N = W * H, N4 = Math.ceil(N / 4) * 4;
    const ArrayType = P === 8 ? Uint8Array : Uint16Array;
    if (!(layers instanceof ArrayType) || layers.length !== L * N * 4) {
      throw new Error(`cpu similarity: layers must be a ${ArrayType.name} of ${L * N * 4} values`);
    }
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
    this.width = W;
    this.height = H;
    this.features = C;
    this.precision = P;
    this._L = L;
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

  /**
   * The map for reference pixel (x, y): angular (1 - angle / (pi/2), the original's) or
   * cosine similarity, clamped to [0, 1], 0 where either vector is zero. Float32Array of
   * W * H, row 0 = top; reused by the next call.
   */
  map(x, y, metric = 'angular') {
    const k = this._k, { ref, out, norms, data } = this._at;
    const L = this._L, N = this._N, N4 = this._N4, px = this._px;
    const p = y * this.width + x;
    const heap = new Uint8Array(k.memory.buffer);
    for (let l = 0; l < L; l++) heap.copyWithin(ref + l * px, data + (l * N4 + p) * px, data + (l * N4 + p + 1) * px);
    const Sums = this.precision === 8 ? Uint32Array : Float64Array;
    (this.precision === 8 ? k.dots : k.dots16)(data, L, N4, ref, out, 0);
    const dots = new Sums(k.memory.buffer, out, N);
    const nn = new Sums(k.memory.buffer, norms, N);
    const nr = nn[p];
    const s = this._map;
    // D, |p|^2 and |r|^2 are exact integers. The sin^2 numerator |p|^2 |r|^2 - D^2 is exact in
    // float64 while |p|^2 |r|^2 < 2^53 (8 bit, up to about 1,100 channels); beyond (16 bit),
    // each product is rounded at 1.1e-16 of itself, which leaves sin^2 within 2.2e-16 and the
    // angle within 1.5e-8 at cos = 1. angle = atan2(sqrt(numerator), D): well conditioned.
    if (metric === 'cosine') {
      for (let i = 0; i < N; i++) {
        const np = nn[i];
        s[i] = np && nr ? Math.min(1, dots[i] / Math.sqrt(np * nr)) : 0;
      }
    } else {
      for (let i = 0; i < N; i++) {
        const np = nn[i];
        if (!np || !nr) { s[i] = 0; continue; }
        const d = dots[i];
        const angle = Math.atan2(Math.sqrt(Math.max(0, np * nr - d * d)), d);
        s[i] = 1 - Math.min(angle / HALF_PI, 1);
      }
    }
    return s;
  }
}
