// GPU similarity renderer: plain WebGL 2, no framework, knows only its canvas.
// Design notes (formats, passes, precision, preview policy): glue/RENDERER.md.
import {
  FULLSCREEN_VS, BACKGROUND_FS, packFS, normFS, refFS, similarityFS, CHANNEL_FS, REDUCE_FS, COLOUR_VS, COLOUR_FS,
  HEAT_FS, BLIT_FS, withOverlay,
} from './render-shaders.js';

const ARRAY_TYPES = { 8: Uint8Array, 16: Uint16Array, 32: Uint32Array };
const METRICS = ['angular', 'cosine'];

// Texture units, fixed per role so that no unit ever holds two sampler types.
// Data array 0 uses unit `data`; arrays 1, 2, ... (a dataset split over several texture
// arrays) use units from `moreData` on.
const UNIT = { data: 0, norm: 1, sim: 2, stretch: 3, lut: 4, overlay: 5, src: 6, moreData: 7 };
const dataUnit = (a) => (a === 0 ? UNIT.data : UNIT.moreData + a - 1);

const GiB = 1024 ** 3;

/** A dataset the device cannot hold; the message says what would fit. */
export class DeviceLimitError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = 'DeviceLimitError';
    this.rule = 'gpu-limits';
    this.entry = null;
    this.details = details;
  }
}

// GPU memory the renderer allows itself: WebGL cannot tell how much there is, so a budget
// from the device's RAM (navigator.deviceMemory: 0.25 to 8 GB, rounded) — a quarter of it,
// between 256 MiB and 2 GiB; 1 GiB where the browser does not say.
export function defaultMemoryBudget() {
  const gb = typeof navigator !== 'undefined' ? navigator.deviceMemory : undefined;
  if (!gb) return GiB;
  return Math.min(2 * GiB, Math.max(GiB / 4, (gb * GiB) / 4));
}

const mb = (bytes) => (bytes >= 10 * 1024 ** 2 ? `${Math.round(bytes / 1024 ** 2)} MB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`);

const DEFAULTS = {
  // Reduced-resolution frame on reference/view changes: true, false or 'auto' (only when
  // the visible region's pixels x channels reach previewMinWork). Below that the full frame
  // takes about one animation frame (160x106x256, 4.3 M: 17-19 ms from the pointer event),
  // and a preview would only delay it: presenting the preview costs the GPU process a
  // compositor frame before the refinement runs (37-41 ms to the full frame; measured with
  // scripts/benchmark.py's hover, see RENDERER.md).
  preview: 'auto',
  // The preview computes every previewFactor-th pixel in each axis (a power of two; 4 was
  // measured: no quicker first frame than 2, and a later full one); the
  // refinement computes only the pixels the preview did not (see RENDERER.md).
  previewFactor: 2,
  previewMinWork: 6 << 20,
  // The refinement runs in GPU chunks of at most this many pixels x channels, issued only
  // while no newer move is waiting, so a move waits for at most two chunks.
  refineChunkWork: 1 << 23,
  // Colour magnified views at map resolution first ('auto': 3+ canvas pixels per map pixel).
  twoStepColour: 'auto',
  // Draw from setters on the next animation frame without an explicit requestRender().
  autoRender: true,
  // While this many frames are on the GPU and not yet seen done, changes wait, and one frame
  // then draws the newest state. Queued behind the others, a frame would only come later,
  // and the queue grows while the pointer moves faster than the GPU draws (measured in
  // continuous motion, event to frame: 42 ms at 160x106x256 and 144 ms at 512^3 with 1,
  // 64 and 209 ms with 2, 86 and 287 ms with no limit).
  maxFramesInFlight: 1,
  // A reference change draws at once, inside the caller's event handler, when no frame was
  // drawn since the last animation frame (otherwise it waits for the next one, as any other
  // change does). With a raw pointer event that saves the wait for the animation frame that
  // a rAF-aligned pointermove spends before it is even dispatched (about 14 ms here).
  drawAtOnce: true,
  // true: finish every frame with a 1-pixel readback (blocks until drawn, exact
  // onFrame times, for benchmarks); false: a fence is polled and min/max is read
  // back asynchronously.
  sync: false,
  onFrame: null,
  preserveDrawingBuffer: false,
  // null: the canvas is transparent outside the map. [r, g, b] (0-255): an opaque canvas (a
  // context without alpha) cleared to this colour, the page's own background behind the
  // map. The browser's compositor then has nothing to blend under the canvas: its frame took
  // 7 instead of 10-13 ms of the GPU process under software rendering (see RENDERER.md).
  background: null,
  // Texel fetches fully unrolled in the similarity shader before a loop takes over.
  unrollLimit: 256,
  // Device limits, for tests: at most this many layers per texture array (the device's
  // MAX_ARRAY_TEXTURE_LAYERS applies anyway), and the GPU memory budget in bytes (default:
  // defaultMemoryBudget()).
  maxArrayLayers: Infinity,
  memoryBudget: null,
  // Context loss: called when the WebGL context is lost, and when it is back (programs,
  // colour map and overlay are restored; the owner then calls setDataset(..., {keepView: true})
  // with the data it kept, since the renderer does not keep the caller's array).
  onContextLost: null,
  onContextRestored: null,
};

// ---------------------------------------------------------------- capacity

// The preview's step: previewFactor rounded to a power of two (1 = no preview), at most 8.
function previewStep(factor) {
  const f = Math.max(1, Math.min(8, Math.floor(Number(factor) || 1)));
  return 2 ** Math.floor(Math.log2(f));
}

// Estimated GPU bytes for a dataset: packed data, the upload's staging array, norms, the
// full and preview maps, the min/max pair and the reference block.
function gpuBytes(W, H, C, P, previewFactor = 2) {
  const L = Math.ceil(C / 4);
  const perTexel = 128 / P / 4;
  const G = Math.ceil(L / perTexel);
  const packed = G * W * H * 16;
  let staging = 0;
  if (P !== 32) {
    const packedPerChunk = Math.max(1, Math.min(G, Math.floor((8 << 20) / (W * H * 16))));
    staging = Math.min(L, packedPerChunk * perTexel) * W * H * 4 * (P / 8);
  }
  const f = previewStep(previewFactor);
  const phased = f > 1 ? f * Math.ceil(W / f) * f * Math.ceil(H / f) * 4 : 0;
  const maps = W * H * 4 * 2 + phased + W * H * 16 + 2 * Math.ceil(W / 4) * Math.ceil(H / 4) * 8;
  return packed + staging + maps + (L + 1) * 32;
}

/**
 * Whether a W×H×C dataset at P bit fits a device's `limits` (see SimilarityRenderer#limits),
 * and how it is laid out: {L, G, perTexel, perArray, arrays, bytes, fits, reason, message}.
 * Packed texels beyond the per-array layer limit go into further texture arrays, as many as
 * the fragment shader can sample; beyond that, or beyond the memory budget or the largest
 * texture, `message` says what would fit.
 */
export function planDataset({ width: W, height: H, features: C, precision: P }, limits, previewFactor = 2) {
  const L = Math.ceil(C / 4);
  const perTexel = 128 / P / 4;
  const G = Math.ceil(L / perTexel);
  const perArray = Math.min(G, limits.maxArrayLayers);
  const arrays = [];
  for (let g = 0; g < G; g += perArray) arrays.push(Math.min(perArray, G - g));
  const bytes = gpuBytes(W, H, C, P, previewFactor);
  const plan = { L, G, perTexel, perArray, arrays, bytes, fits: true, reason: null, message: null };
  const shape = `${W}×${H}×${C} @ ${P} bit`;
  const maxTex = limits.maxTextureSize;
  const maxRefTexels = Math.min(maxTex, Math.floor(limits.maxUniformBlockSize / 16));
  const maxChannels = 4 * (maxRefTexels - 1);
  const layersPerDevice = limits.maxDataArrays * limits.maxArrayLayers;
  const fitsAt = (w, h, c, p) => w <= maxTex && h <= maxTex && c <= maxChannels
    && Math.ceil(Math.ceil(c / 4) / (128 / p / 4)) <= layersPerDevice
    && gpuBytes(w, h, c, p, previewFactor) <= limits.memoryBudget;
  const lowerPrecision = [16, 8].filter((p) => p < P).find((p) => fitsAt(W, H, C, p));
  const atPrecision = lowerPrecision ? `It would load at ${lowerPrecision} bit (ifealid create -p ${lowerPrecision}).` : '';
  // The largest crop with the map's aspect ratio (at most the largest texture) that fits.
  const crop = () => {
    let lo = 0, hi = 1;
    for (let i = 0; i < 40; i++) {
      const s = (lo + hi) / 2;
      if (fitsAt(Math.max(1, Math.floor(W * s)), Math.max(1, Math.floor(H * s)), C, P)) lo = s; else hi = s;
    }
    const w = Math.floor(W * lo), h = Math.floor(H * lo);
    return w >= 1 && h >= 1 ? `${w}×${h}` : null;
  };
  const refuse = (reason, text, hint) => Object.assign(plan, {
    fits: false, reason, message: `${text} ${hint}`.trim(), smaller: hint,
  });
  if (C > maxChannels) {
    return refuse('channels', `This dataset has ${C} channels; this GPU can compare at most ${maxChannels} `
      + `(its reference vector must fit one uniform block of ${limits.maxUniformBlockSize} bytes).`,
    `It would load with at most ${maxChannels} channels.`);
  }
  if (W > maxTex || H > maxTex) {
    const c = crop();
    return refuse('size', `This dataset is ${W}×${H} pixels; this GPU's largest texture is ${maxTex}×${maxTex}.`,
      c ? `A crop of at most ${c} pixels would load.` : '');
  }
  if (G > layersPerDevice) {
    const maxAt = (p) => Math.min(maxChannels, layersPerDevice * (128 / p));
    return refuse('layers', `This dataset (${shape}) needs ${G} texture layers; this GPU holds `
      + `${limits.maxArrayLayers} per texture array and can sample ${limits.maxDataArrays} arrays at once.`,
    atPrecision || `It would load with at most ${maxAt(P)} channels.`);
  }
  if (bytes > limits.memoryBudget) {
    const c = crop();
    const hint = [atPrecision, c ? `${lowerPrecision ? 'Or, at' : 'At'} ${P} bit, a crop of at most ${c} pixels would load.` : '']
      .filter(Boolean).join(' ');
    return refuse('memory', `This dataset (${shape}) needs about ${mb(bytes)} of GPU memory, more than the `
      + `${mb(limits.memoryBudget)} IFeaLiD allows itself on this device.`, hint);
  }
  return plan;
}

function grey() {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut.fill(i, 3 * i, 3 * i + 3);
  return lut;
}

export class SimilarityRenderer {
  /**
   * @param {HTMLCanvasElement|OffscreenCanvas} canvas
   * @param {object} [options] see DEFAULTS
   */
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.options = { ...DEFAULTS, ...options };
    const opaque = Array.isArray(this.options.background);
    const gl = canvas.getContext('webgl2', {
      alpha: !opaque, premultipliedAlpha: true, antialias: false, depth: false, stencil: false,
      preserveDrawingBuffer: !!this.options.preserveDrawingBuffer,
    });
    if (!gl) throw new Error('WebGL 2 is not available: canvas.getContext("webgl2") returned null');
    this.gl = gl;
    this.onFrame = this.options.onFrame;
    this._lost = false;
    this._lutRGBA = null;        // kept for a context restore
    this._overlaySource = null;  // kept for a context restore (an ImageBitmap or image)
    this._pboPool = [];
    this._pending = [];
    this._pollTimer = 0;
    this._raf = 0;
    this._gate = 0;  // an animation frame is pending after each frame (see _frame)
    this._mapSource = null;  // computes similarity maps on the CPU instead (see setMapSource)
    this._sourceGen = 0;     // counts map source changes: part of the map key
    this._afterGpu = false;  // a change waits for the frame the GPU is drawing (see _animationFrame)
    this._ds = null;
    this._gen = 0;
    this._initGL();
    // A lost context (GPU reset, driver update, too many contexts, WEBGL_lose_context) is
    // restored by the browser only if the loss event is cancelled.
    this._onLost = (event) => { event.preventDefault(); this._contextLost(); };
    this._onRestored = () => this._contextRestored();
    canvas.addEventListener?.('webglcontextlost', this._onLost);
    canvas.addEventListener?.('webglcontextrestored', this._onRestored);

    this.metric = 'angular';
    this.channel = null;
    this.stretchMode = 'relative';
    this.opacity = 0.9;
    this.overlayColour = false;
    this.reference = null;
    this.view = { scale: 1, offsetX: 0, offsetY: 0 };
    this._stretch = { min: 0, max: 1 };
    this.lastFrame = null;
    this.lastIssued = null;
    this._resetFrameState();
    this.setColormap(grey());
  }

  // Everything the context holds apart from a dataset: limits, programs, colour map, overlay.
  _initGL() {
    const gl = this.gl;
    // Extensions are per context: a restored context needs float render targets enabled again.
    if (!gl.getExtension('EXT_color_buffer_float') && !gl.isContextLost()) {
      throw new Error('WebGL 2 extension EXT_color_buffer_float is missing: the similarity map needs float render targets');
    }
    const device = {
      maxTextureSize: gl.getParameter(gl.MAX_TEXTURE_SIZE),
      maxArrayLayers: gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS),
      maxUniformBlockSize: gl.getParameter(gl.MAX_UNIFORM_BLOCK_SIZE),
      maxTextureImageUnits: gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS),
    };
    // What one dataset may use, from the live context (and the options, which can only lower it).
    this.limits = {
      ...device,
      maxArrayLayers: Math.max(1, Math.min(device.maxArrayLayers, this.options.maxArrayLayers)),
      maxDataArrays: 1 + Math.max(0, device.maxTextureImageUnits - UNIT.moreData),
      memoryBudget: this.options.memoryBudget ?? defaultMemoryBudget(),
      device,
    };
    this._live = { texture: new Set(), framebuffer: new Set(), buffer: new Set(), program: new Set() };
    gl.disable(gl.DITHER);
    gl.disable(gl.BLEND);
    gl.disable(gl.DEPTH_TEST);

    this._vs = null;
    const colourUnits = { uSim: UNIT.sim, uStretch: UNIT.stretch, uLut: UNIT.lut, uOverlay: UNIT.overlay };
    this._progs = {
      reduce: this._program(REDUCE_FS, 'reduce', { uSrc: UNIT.sim }),
      colour: this._program(COLOUR_FS, 'colour', colourUnits, COLOUR_VS),
      colourOverlay: this._program(withOverlay(COLOUR_FS), 'colour', colourUnits, COLOUR_VS),
      heat: this._program(HEAT_FS, 'heat', { uSim: UNIT.sim, uStretch: UNIT.stretch, uLut: UNIT.lut }, COLOUR_VS),
      blit: this._program(BLIT_FS, 'blit', { uHeat: UNIT.sim }),
      blitOverlay: this._program(withOverlay(BLIT_FS), 'blit', { uHeat: UNIT.sim, uOverlay: UNIT.overlay }),
      channel: this._program(CHANNEL_FS, 'channel', { uData: UNIT.data }),
      background: this._program(BACKGROUND_FS, 'background', { uOverlay: UNIT.overlay }),
    };
    this._bg = null;  // the overlay resampled for the view: {tex, fb, w, h, key}
    this._lut = this._texture2D(gl.RGBA8, 256, 1);
    this._overlay = null;
    if (this._lutRGBA) this._uploadLut();
    if (this._overlaySource) this._uploadOverlay(this._overlaySource);
  }

  // ------------------------------------------------------------- context loss

  /** True while the WebGL context is lost (nothing is drawn; setDataset and read-backs throw). */
  isContextLost() { return this._lost || this.gl.isContextLost(); }

  _contextLost() {
    if (this._lost) return;
    this._lost = true;
    if (this._raf) cancelAnimationFrame(this._raf);
    if (this._gate) cancelAnimationFrame(this._gate);
    this._raf = 0;
    this._gate = 0;
    if (this._pollTimer) clearTimeout(this._pollTimer);
    this._pollTimer = 0;
    // Every GL object died with the context; the dataset's shape and the view stay known.
    const ds = this._ds;
    this._lostShape = ds && { width: ds.width, height: ds.height, features: ds.features, precision: ds.precision };
    this._ds = null;
    this._pending = [];
    this._pboPool = [];
    this._progs = null;
    this._lut = null;
    this._overlay = null;
    this._bg = null;
    this._vs = null;
    for (const set of Object.values(this._live)) set.clear();
    this.options.onContextLost?.();
  }

  _contextRestored() {
    if (this._disposed) return;
    try {
      this._initGL();
    } catch (err) {  // lost again while rebuilding: the next restore tries again
      console.warn('renderer: the restored WebGL context could not be set up', err);
      return;
    }
    this._lost = false;
    this._resetFrameState();
    const shape = this._lostShape;
    this._lostShape = null;
    this.options.onContextRestored?.(shape);
  }

  _requireContext() {
    if (this.isContextLost()) throw new Error('renderer: the WebGL context is lost (the browser restores it; the map is drawn again then)');
  }

  // ---------------------------------------------------------------- GL objects

  _track(kind, obj) { this._live[kind].add(obj); return obj; }

  _delete(kind, obj) {
    if (!obj) return;
    const gl = this.gl;
    ({ texture: (o) => gl.deleteTexture(o), framebuffer: (o) => gl.deleteFramebuffer(o),
      buffer: (o) => gl.deleteBuffer(o), program: (o) => gl.deleteProgram(o) })[kind](obj);
    this._live[kind].delete(obj);
  }

  /** Live GL objects this renderer owns, by kind (for leak checks). */
  stats() {
    return Object.fromEntries(Object.entries(this._live).map(([k, s]) => [k, s.size]));
  }

  _program(fsSource, name, samplers = {}, vsSource = null) {
    const gl = this.gl;
    const compile = (type, src) => {
      const sh = gl.createShader(type);
      gl.shaderSource(sh, src);
      gl.compileShader(sh);
      if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) {
        this._requireContext();  // a lost context compiles nothing
        const log = gl.getShaderInfoLog(sh);
        gl.deleteShader(sh);
        throw new Error(`renderer: ${name} shader does not compile: ${log}`);
      }
      return sh;
    };
    if (!this._vs) this._vs = compile(gl.VERTEX_SHADER, FULLSCREEN_VS);
    const vs = vsSource ? compile(gl.VERTEX_SHADER, vsSource) : this._vs;
    const fs = compile(gl.FRAGMENT_SHADER, fsSource);
    const prog = gl.createProgram();
    gl.attachShader(prog, vs);
    gl.attachShader(prog, fs);
    gl.linkProgram(prog);
    gl.detachShader(prog, fs);
    gl.deleteShader(fs);
    if (vs !== this._vs) {
      gl.detachShader(prog, vs);
      gl.deleteShader(vs);
    }
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) {
      this._requireContext();
      const log = gl.getProgramInfoLog(prog);
      gl.deleteProgram(prog);
      throw new Error(`renderer: ${name} program does not link: ${log}`);
    }
    const uniforms = {};
    const n = gl.getProgramParameter(prog, gl.ACTIVE_UNIFORMS);
    for (let i = 0; i < n; i++) {
      const info = gl.getActiveUniform(prog, i);
      const loc = gl.getUniformLocation(prog, info.name);
      if (loc) uniforms[info.name] = loc;
    }
    gl.useProgram(prog);
    for (const [u, unit] of Object.entries(samplers)) if (uniforms[u]) gl.uniform1i(uniforms[u], unit);
    const block = gl.getUniformBlockIndex(prog, 'Ref');
    if (block !== gl.INVALID_INDEX) gl.uniformBlockBinding(prog, block, 0);
    return { prog: this._track('program', prog), u: uniforms, name };
  }

  _texture2D(internalFormat, w, h, filter) {
    const gl = this.gl;
    const tex = this._track('texture', gl.createTexture());
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texStorage2D(gl.TEXTURE_2D, 1, internalFormat, w, h);
    const f = filter ?? gl.NEAREST;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, f);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, f);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return tex;
  }

  _textureArray(internalFormat, w, h, depth) {
    const gl = this.gl;
    const tex = this._track('texture', gl.createTexture());
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, tex);
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, internalFormat, w, h, depth);
    // Integer textures are incomplete with linear filtering.
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    return tex;
  }

  _framebuffer(tex, layer) {
    const gl = this.gl;
    const fb = this._track('framebuffer', gl.createFramebuffer());
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    if (layer === undefined) gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    else gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, tex, 0, layer);
    const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
    if (status !== gl.FRAMEBUFFER_COMPLETE) {
      throw new Error(`renderer: render target incomplete (status 0x${status.toString(16)})`);
    }
    return fb;
  }

  _bind(unit, target, tex) {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(target, tex);
  }

  _draw(fb, x, y, w, h) {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.viewport(x, y, w, h);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  // ------------------------------------------------------------------ dataset

  /**
   * Upload a dataset: layers is (L, H, W, 4) layer-major, RGBA = channels 4l..4l+3,
   * row 0 = top, typed as Uint8Array / Uint16Array / Uint32Array for 8/16/32 bit.
   * The array is not kept. The view is fitted and the reference set to the centre.
   */
  /**
   * How a dataset of this shape would sit on this device: {L, G, perTexel, perArray, arrays
   * (layers per texture array), bytes (estimated GPU memory), fits, reason, message}. When it
   * does not fit, `message` says why and what would (a lower precision, fewer channels, a crop).
   */
  plan({ width, height, features, precision }) {
    return planDataset({ width, height, features, precision }, this.limits, this.options.previewFactor);
  }

  /**
   * Upload a dataset: layers is (L, H, W, 4) layer-major, RGBA = channels 4l..4l+3,
   * row 0 = top, typed as Uint8Array / Uint16Array / Uint32Array for 8/16/32 bit.
   * The array is not kept. The view is fitted and the reference set to the centre; with
   * {keepView: true} (the same data again, after a context loss) view, reference and
   * channel stay. Throws DeviceLimitError, before anything changes, when the device cannot
   * hold it (see plan()).
   */
  setDataset({ width, height, features, precision, layers }, { keepView = false } = {}) {
    const gl = this.gl;
    this._requireContext();
    const W = width | 0, H = height | 0, C = features | 0, P = precision | 0;
    if (!(W > 0 && H > 0 && C > 0)) throw new Error(`renderer: bad dataset shape ${width}x${height}x${features}`);
    if (!ARRAY_TYPES[P]) throw new Error(`renderer: precision must be 8, 16 or 32, got ${precision}`);
    if (!(layers instanceof ARRAY_TYPES[P])) {
      throw new Error(`renderer: ${P}-bit layers must be a ${ARRAY_TYPES[P].name}, got ${layers?.constructor?.name}`);
    }
    const L = Math.ceil(C / 4);
    if (layers.length !== L * H * W * 4) {
      throw new Error(`renderer: layers has ${layers.length} values, expected ${L}x${H}x${W}x4 = ${L * H * W * 4}`);
    }
    const plan = this.plan({ width: W, height: H, features: C, precision: P });
    if (!plan.fits) throw new DeviceLimitError(plan.message, plan);
    const { perTexel, G } = plan;

    this._releaseDataset();
    const ds = {
      width: W, height: H, features: C, precision: P, L, G, perTexel,
      perArray: plan.perArray, arrays: plan.arrays, gen: ++this._gen,
    };
    const objects = []; // [kind, obj] released with the dataset
    const own = (kind, obj) => { objects.push([kind, obj]); return obj; };
    ds.objects = objects;
    const dataSamplers = Object.fromEntries(ds.arrays.map((_, a) => [`uData${a}`, dataUnit(a)]));
    try {
      // Packed data: RGBA32UI holding 16 x uint8, 8 x uint16 or 4 x uint32 per texel, in as
      // many texture arrays as the device's layer limit needs.
      ds.data = ds.arrays.map((count) => own('texture', this._textureArray(gl.RGBA32UI, W, H, count)));
      if (gl.getError() === gl.OUT_OF_MEMORY) {
        throw new DeviceLimitError(`The GPU ran out of memory for this dataset (${W}×${H}×${C} @ ${P} bit, about `
          + `${mb(plan.bytes)}). ${plan.smaller ?? ''}`.trim(), plan);
      }
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
      gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
      if (P === 32) {
        ds.arrays.forEach((count, a) => {
          gl.bindTexture(gl.TEXTURE_2D_ARRAY, ds.data[a]);
          gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, W, H, count, gl.RGBA_INTEGER, gl.UNSIGNED_INT,
            layers, a * ds.perArray * H * W * 4);
        });
      } else {
        this._packLayers(ds, layers);
      }

      // Per-pixel squared norm (8 bit, exact uint) or inverse norm (16/32 bit, float).
      ds.norm = own('texture', this._texture2D(P === 8 ? gl.R32UI : gl.R32F, W, H));
      const normProg = this._program(normFS(P, ds.arrays), 'norm', dataSamplers);
      const normFb = this._framebuffer(ds.norm);
      gl.useProgram(normProg.prog);
      this._bindData(ds);
      this._draw(normFb, 0, 0, W, H);
      this._delete('framebuffer', normFb);
      this._delete('program', normProg.prog);

      // Reference: 1-row RGBA32UI target, copied into the uniform buffer on the GPU.
      ds.refTex = own('texture', this._texture2D(gl.RGBA32UI, L + 1, 1));
      ds.refFb = own('framebuffer', this._framebuffer(ds.refTex));
      ds.refUbo = own('buffer', this._track('buffer', gl.createBuffer()));
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, ds.refUbo);
      gl.bufferData(gl.PIXEL_PACK_BUFFER, (L + 1) * 16, gl.DYNAMIC_COPY);
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
      ds.refProg = this._program(refFS(P, ds.arrays), 'reference', { ...dataSamplers, uNorm: UNIT.norm });
      own('program', ds.refProg.prog);
      ds.simProg = this._program(similarityFS({
        precision: P, layers: L, packed: G, unrollLimit: this.options.unrollLimit, arrays: ds.arrays,
      }), 'similarity', { ...dataSamplers, uNorm: UNIT.norm });
      own('program', ds.simProg.prog);

      // Similarity maps (a plain full-resolution one, and the phased one that previews and
      // their refinements share) and the min/max ping-pong pair.
      const mk = (name, step) => {
        const pw = Math.ceil(W / step), ph = Math.ceil(H / step);
        const tex = own('texture', this._texture2D(gl.R32F, pw * step, ph * step));
        return {
          name, step, shift: Math.log2(step), pw, ph, tex, fb: own('framebuffer', this._framebuffer(tex)),
          key: null, done: new Array(step * step).fill(null), gen: 0,
        };
      };
      ds.full = mk('full', 1);
      const f = previewStep(this.options.previewFactor);
      ds.phased = f > 1 ? mk('phased', f) : null;
      const heat = own('texture', this._texture2D(gl.RGBA32F, W, H));
      ds.heat = { tex: heat, fb: own('framebuffer', this._framebuffer(heat)) };
      const rw = Math.ceil(W / 4), rh = Math.ceil(H / 4);
      ds.red = [0, 1].map(() => {
        const tex = own('texture', this._texture2D(gl.RG32F, rw, rh));
        return { tex, fb: own('framebuffer', this._framebuffer(tex)) };
      });
      ds.stretchAt = ds.red[0];
    } catch (err) {
      for (const [kind, obj] of objects) this._delete(kind, obj);
      throw err;
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    this._ds = ds;
    this._resetFrameState();
    const ref = this.reference;
    if (keepView && ref && ref.x < W && ref.y < H && (this.channel === null || this.channel < C)) {
      this._changed(false);
      return;
    }
    this.channel = null;
    this.reference = { x: Math.floor(W / 2), y: Math.floor(H / 2) };
    this.fit();
    // Counts as interactive: on a large map the first paint is a preview, refined once drawn.
    this._changed(true);
  }

  // Every data array on its unit (similarity, reference and norm passes).
  _bindData(ds) {
    ds.data.forEach((tex, a) => this._bind(dataUnit(a), this.gl.TEXTURE_2D_ARRAY, tex));
  }

  // 8/16 bit: upload a few source layers at a time into a small integer staging
  // array (straight from the caller's array, no CPU copy), then pack them on the GPU.
  _packLayers(ds, layers) {
    const gl = this.gl;
    const { width: W, height: H, L, G, perTexel, precision: P } = ds;
    const [fmt, type] = P === 8 ? [gl.RGBA8UI, gl.UNSIGNED_BYTE] : [gl.RGBA16UI, gl.UNSIGNED_SHORT];
    const bytesPerPacked = W * H * 16;
    const packedPerChunk = Math.max(1, Math.min(G, Math.floor((8 << 20) / bytesPerPacked)));
    const chunkLayers = Math.min(L, packedPerChunk * perTexel);
    const staging = this._textureArray(fmt, W, H, chunkLayers);
    const prog = this._program(packFS(P), 'pack', { uSrc: UNIT.src });
    const fb = this._track('framebuffer', gl.createFramebuffer());
    try {
      gl.useProgram(prog.prog);
      this._bind(UNIT.src, gl.TEXTURE_2D_ARRAY, staging);
      gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
      gl.viewport(0, 0, W, H);
      for (let g0 = 0; g0 < G; g0 += packedPerChunk) {
        const s0 = g0 * perTexel;
        const n = Math.min(chunkLayers, L - s0);
        gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, W, H, n, gl.RGBA_INTEGER, type, layers, s0 * H * W * 4);
        for (let g = g0; g < Math.min(G, g0 + packedPerChunk); g++) {
          gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, ds.data[Math.floor(g / ds.perArray)], 0,
            g % ds.perArray);
          gl.uniform1i(prog.u.uBase, (g - g0) * perTexel);
          gl.uniform1i(prog.u.uCount, Math.min(perTexel, L - g * perTexel));
          gl.drawArrays(gl.TRIANGLES, 0, 3);
        }
      }
    } finally {
      this._delete('framebuffer', fb);
      this._delete('program', prog.prog);
      this._delete('texture', staging);
    }
  }

  _releaseDataset() {
    const ds = this._ds;
    this._mapSource = null;
    this._dropPending();
    if (!ds) return;
    this._dropBackground();
    for (const [kind, obj] of ds.objects) this._delete(kind, obj);
    this._ds = null;
  }

  /** True when nothing is left to draw or refine and every frame issued has been reported. */
  get idle() {
    return !this._dirty && !this._raf && !this._refine && this._pending.length === 0;
  }

  /** The loaded dataset's shape, or null. */
  get dataset() {
    const ds = this._ds;
    return ds && { width: ds.width, height: ds.height, features: ds.features, precision: ds.precision };
  }

  /** Free every GL object; the renderer is unusable afterwards. */
  dispose() {
    if (this._raf) cancelAnimationFrame(this._raf);
    if (this._gate) cancelAnimationFrame(this._gate);
    this._raf = 0;
    this._gate = 0;
    this.canvas.removeEventListener?.('webglcontextlost', this._onLost);
    this.canvas.removeEventListener?.('webglcontextrestored', this._onRestored);
    this._overlaySource = null;
    if (this.isContextLost()) {  // the context took every object with it
      this._ds = null;
      this._disposed = true;
      return;
    }
    this._releaseDataset();
    this._pollChannel?.port1.close();
    for (const p of this._pboPool) this._delete('buffer', p);
    this._pboPool = [];
    this._delete('texture', this._lut);
    this._delete('texture', this._overlay);
    this._dropBackground();
    for (const p of Object.values(this._progs)) this._delete('program', p.prog);
    if (this._vs) this.gl.deleteShader(this._vs);
    this._vs = null;
    this._overlay = null;
    this._disposed = true;
  }

  // ------------------------------------------------------------------ setters

  _changed(interactive, atOnce = false) {
    this._dirty = true;
    if (interactive) this._interactive = true;
    if (!this.options.autoRender) return;
    if (atOnce && this.options.drawAtOnce && !this._raf && !this._gate && !this._framesInFlight()
        && this._ds && !this._disposed && !this.isContextLost()) {
      this._interactive = false;
      this._frame(interactive);
      return;
    }
    this.requestRender();
  }

  _requireDataset() {
    // While the context is lost the shape is still known: setters keep working (and take
    // effect once the owner has uploaded the data again).
    const ds = this._ds ?? (this._lost ? this._lostShape : null);
    if (!ds) throw new Error('renderer: no dataset loaded');
    return ds;
  }

  /** Reference pixel (x right, y down from the top-left). Follows the pointer: previews. */
  setReference(x, y) {
    const ds = this._requireDataset();
    const xi = Math.floor(x), yi = Math.floor(y);
    if (!(xi >= 0 && yi >= 0 && xi < ds.width && yi < ds.height)) {
      throw new RangeError(`renderer: reference (${x}, ${y}) outside the ${ds.width}x${ds.height} map`);
    }
    if (this.reference && this.reference.x === xi && this.reference.y === yi) return;
    this.reference = { x: xi, y: yi };
    this._changed(this.channel === null, true);
  }

  setMetric(metric) {
    if (!METRICS.includes(metric)) throw new Error(`renderer: unknown metric ${metric} (${METRICS.join(', ')})`);
    if (metric === this.metric) return;
    this.metric = metric;
    this._changed(false);
  }

  /**
   * Compute similarity maps with `source` instead of the similarity shader: an object whose
   * map(x, y, metric) returns the whole map for reference pixel (x, y) as a Float32Array of
   * W * H values, row 0 = top (glue/cpu-similarity.js, for software renderers). The renderer
   * uploads it and does the stretch, colour and overlay as always; no preview is needed.
   * null: back to the shader. Reset by setDataset.
   */
  setMapSource(source) {
    this._requireDataset();
    if (source === this._mapSource) return;
    if (source && typeof source.map !== 'function') throw new Error('renderer: a map source needs map(x, y, metric)');
    this._mapSource = source || null;
    this._sourceGen += 1;  // maps computed the other way are stale
    this._changed(false);
  }

  /** 'cpu' while a map source computes the similarity maps, else 'gpu'. */
  get similarityOn() { return this._mapSource ? 'cpu' : 'gpu'; }

  /** Show channel k's own values instead of the similarity (null: back to similarity). */
  setChannel(k) {
    if (k !== null && k !== undefined) {
      const ds = this._requireDataset();
      if (!(Number.isInteger(k) && k >= 0 && k < ds.features)) throw new RangeError(`renderer: channel ${k} out of range`);
    } else k = null;
    if (k === this.channel) return;
    this.channel = k;
    this._changed(false);
  }

  setStretch(mode) {
    if (mode !== 'relative' && mode !== 'absolute') throw new Error(`renderer: unknown stretch ${mode} (relative, absolute)`);
    if (mode === this.stretchMode) return;
    this.stretchMode = mode;
    if (mode === 'absolute') this._stretch = { min: 0, max: 1 };
    this._changed(false);
  }

  /** 256 RGB entries (768 bytes), e.g. ifealid.colormaps.lut_bytes(name). */
  setColormap(lut) {
    const src = lut instanceof Uint8Array ? lut : Uint8Array.from(lut ?? []);
    if (src.length !== 768) throw new Error(`renderer: colour map must be 256x3 bytes, got ${src.length}`);
    const rgba = new Uint8Array(1024);
    for (let i = 0; i < 256; i++) {
      rgba[4 * i] = src[3 * i]; rgba[4 * i + 1] = src[3 * i + 1]; rgba[4 * i + 2] = src[3 * i + 2]; rgba[4 * i + 3] = 255;
    }
    this._lutRGBA = rgba;  // kept: a restored context gets it again
    if (!this.isContextLost()) this._uploadLut();
    this._changed(false);
  }

  _uploadLut() {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this._lut);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, 256, 1, gl.RGBA, gl.UNSIGNED_BYTE, this._lutRGBA);
  }

  /** Image under the heat map, stretched to the map's extent (ImageBitmap, image, canvas, ImageData) or null. */
  setOverlay(source) {
    this._overlaySource = source || null;  // kept (not copied): a restored context gets it again
    if (!this.isContextLost()) this._uploadOverlay(this._overlaySource);
    this._changed(false);
  }

  _dropBackground() {
    if (!this._bg) return;
    this._delete('framebuffer', this._bg.fb);
    this._delete('texture', this._bg.tex);
    this._bg = null;
  }

  // The overlay under the map for the current view and canvas, drawn only when those change.
  _background(x0, y0, x1, y1) {
    const gl = this.gl;
    const cw = this.canvas.width, ch = this.canvas.height;
    const { scale, offsetX, offsetY } = this.view;
    const key = `${this._ds.gen}:${scale},${offsetX},${offsetY}:${this.overlayColour}:${x0},${y0},${x1},${y1}`;
    if (this._bg && this._bg.w === cw && this._bg.h === ch && this._bg.key === key) return this._bg.tex;
    if (!this._bg || this._bg.w !== cw || this._bg.h !== ch) {
      this._dropBackground();
      const tex = this._texture2D(gl.RGBA8, cw, ch);
      this._bg = { tex, fb: this._framebuffer(tex), w: cw, h: ch, key: null };
    }
    const ds = this._ds;
    const pr = this._progs.background;
    gl.useProgram(pr.prog);
    this._bind(UNIT.overlay, gl.TEXTURE_2D, this._overlay);
    gl.uniform3f(pr.u.uView, scale, offsetX, offsetY);
    gl.uniform1f(pr.u.uCanvasH, ch);
    gl.uniform2i(pr.u.uSize, ds.width, ds.height);
    gl.uniform1i(pr.u.uOverlayColour, this.overlayColour ? 1 : 0);
    gl.enable(gl.SCISSOR_TEST);
    gl.scissor(x0, ch - y1, x1 - x0, y1 - y0);
    this._draw(this._bg.fb, 0, 0, cw, ch);
    gl.disable(gl.SCISSOR_TEST);
    this._bg.key = key;
    return this._bg.tex;
  }

  _uploadOverlay(source) {
    const gl = this.gl;
    this._delete('texture', this._overlay);
    this._overlay = null;
    if (this._bg) this._bg.key = null;  // a new image: the resampled copy is stale
    if (source) {
      const tex = this._track('texture', gl.createTexture());
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
      gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, source);
      // Mipmaps: the overlay is usually larger than the map on screen.
      gl.generateMipmap(gl.TEXTURE_2D);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR_MIPMAP_LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      this._overlay = tex;
    }
  }

  /** Opacity slider in [0, 1]: heat-map alpha = min(1, v + (1 - opacity)) over an overlay. */
  setOpacity(x) {
    const v = Math.min(1, Math.max(0, Number(x)));
    if (!Number.isFinite(v)) throw new Error(`renderer: bad opacity ${x}`);
    if (v === this.opacity) return;
    this.opacity = v;
    this._changed(false);
  }

  /** Overlay in colour (true) or greyscale (false, the default). */
  setOverlayColour(on) {
    if (!!on === this.overlayColour) return;
    this.overlayColour = !!on;
    this._changed(false);
  }

  // --------------------------------------------------------------------- view
  // All coordinates are canvas drawing-buffer pixels, origin top-left:
  // canvas = offset + scale * map. Convert CSS pixels with canvas.width / clientWidth.

  setView({ scale = this.view.scale, offsetX = this.view.offsetX, offsetY = this.view.offsetY } = {}) {
    if (!(scale > 0 && Number.isFinite(scale) && Number.isFinite(offsetX) && Number.isFinite(offsetY))) {
      throw new Error(`renderer: bad view ${scale}, ${offsetX}, ${offsetY}`);
    }
    const v = this.view;
    if (v.scale === scale && v.offsetX === offsetX && v.offsetY === offsetY) return;
    this.view = { scale, offsetX, offsetY };
    this._changed(true);
  }

  getView() { return { ...this.view }; }

  /** Fit the whole map into the canvas with `padding` pixels around it, centred. */
  fit(padding = 10) {
    const ds = this._requireDataset();
    const cw = this.canvas.width, ch = this.canvas.height;
    let scale = Math.min((cw - 2 * padding) / ds.width, (ch - 2 * padding) / ds.height);
    if (!(scale > 0)) scale = Math.min(cw / ds.width, ch / ds.height) || 1;
    this.setView({ scale, offsetX: (cw - scale * ds.width) / 2, offsetY: (ch - scale * ds.height) / 2 });
  }

  /** Zoom by `factor` keeping canvas point (cx, cy) fixed. */
  zoomAt(cx, cy, factor) {
    const { scale, offsetX, offsetY } = this.view;
    const s = scale * factor;
    this.setView({ scale: s, offsetX: cx - (cx - offsetX) * factor, offsetY: cy - (cy - offsetY) * factor });
  }

  panBy(dx, dy) {
    this.setView({ offsetX: this.view.offsetX + dx, offsetY: this.view.offsetY + dy });
  }

  /** Map pixel {x, y} under canvas point (cx, cy), or null outside the map. */
  canvasToPixel(cx, cy) {
    const ds = this._ds;
    if (!ds) return null;
    const { scale, offsetX, offsetY } = this.view;
    const x = Math.floor((cx - offsetX) / scale), y = Math.floor((cy - offsetY) / scale);
    return x >= 0 && y >= 0 && x < ds.width && y < ds.height ? { x, y } : null;
  }

  /** Canvas position of map pixel (x, y)'s top-left corner. */
  pixelToCanvas(x, y) {
    const { scale, offsetX, offsetY } = this.view;
    return { x: offsetX + x * scale, y: offsetY + y * scale };
  }

  // ---------------------------------------------------------------- rendering

  _resetFrameState() {
    this._dirty = true;
    this._interactive = false;
    this._refine = null;
    this._refKey = null;
    this._stretchKey = null;
    this._drawnSize = null;
  }

  /** Draw on the next animation frame if anything changed (at most one frame per animation frame). */
  requestRender() {
    if (this._raf || this._disposed) return;
    this._raf = requestAnimationFrame(() => this._animationFrame());
  }

  _animationFrame() {
    this._raf = 0;
    if (!this._ds || this._disposed || this.isContextLost()) return;
    // The GPU is still on an earlier frame: draw once it is done (see _poll), with the state
    // of then. Queued behind it, this frame would only be later, and the queue would grow
    // while the pointer moves faster than the GPU draws.
    if (this._framesInFlight()) { this._afterGpu = true; return; }
    const interactive = this._interactive;
    this._interactive = false;
    const size = `${this.canvas.width}x${this.canvas.height}`;
    if (size !== this._drawnSize) this._dirty = true;
    if (this._dirty) this._frame(interactive);
  }

  /**
   * Draw a frame now, synchronously (tests, export, benchmarks). Full resolution, or with
   * {preview: true} the frame a pointer move would get (preview if the policy allows one).
   */
  renderNow({ preview = false } = {}) {
    this._requireContext();
    this._requireDataset();
    this._frame(!!preview);
  }

  _frame(allowPreview) {
    this._dirty = false;
    // The next change that would draw at once waits for the next animation frame instead:
    // at most one frame per animation frame (refinements aside).
    if (!this._gate) this._gate = requestAnimationFrame(() => { this._gate = 0; });
    this._refine = null;  // a new frame supersedes any refinement in progress
    const kind = this._drawFrame(allowPreview);
    this._drawnSize = `${this.canvas.width}x${this.canvas.height}`;
    // A preview is refined once the GPU has drawn it, unless something newer came first.
    const token = kind === 'preview' ? this._planRefine() : null;
    this._refine = token;
    this._finishFrame(kind, token && (() => this._refineStep(token)), token);
  }

  _visibleRect() {
    const ds = this._ds;
    const { scale, offsetX, offsetY } = this.view;
    const x0 = Math.max(0, Math.floor(-offsetX / scale));
    const y0 = Math.max(0, Math.floor(-offsetY / scale));
    const x1 = Math.min(ds.width, Math.ceil((this.canvas.width - offsetX) / scale));
    const y1 = Math.min(ds.height, Math.ceil((this.canvas.height - offsetY) / scale));
    return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : null;
  }

  _mapKey() {
    const ds = this._ds;
    if (this.channel !== null) return `${ds.gen}:c${this.channel}`;
    return `${ds.gen}:${this._sourceGen}:${this.metric}:${this.reference.x},${this.reference.y}`;
  }

  _previewWorth(rect) {
    const p = this.options.preview;
    if (!this._ds.phased || this.channel !== null || this._mapSource) return false;
    if (p === true) return true;
    if (p !== 'auto') return false;
    return (rect.x1 - rect.x0) * (rect.y1 - rect.y0) * this._ds.features >= this.options.previewMinWork;
  }

  // The texels of phase plane `ph` of target t whose pixels cover map rectangle r. Plane
  // (0, 0) takes the s x s blocks that r touches (the preview shows each block's first
  // pixel); the other planes only the pixels inside r.
  static _phaseRect(t, ph, r) {
    const s = t.step, px = ph % s, py = Math.floor(ph / s);
    const lo = (v, p) => (p === 0 ? Math.floor(v / s) : Math.ceil((v - p) / s));
    const hi = (v, p) => Math.ceil((v - p) / s);
    const q = { x0: lo(r.x0, px), y0: lo(r.y0, py), x1: hi(r.x1, px), y1: hi(r.y1, py) };
    return q.x1 > q.x0 && q.y1 > q.y0 ? q : null;
  }

  static _phases(t, all) {
    return all ? Array.from({ length: t.step * t.step }, (_, i) => i) : [0];
  }

  // Whether plane `ph` of target t holds what map rectangle r needs of it (for t.key's map).
  static _planeHolds(t, ph, r) {
    const q = SimilarityRenderer._phaseRect(t, ph, r);
    const d = t.done[ph];
    return !q || Boolean(d && d.x0 <= q.x0 && d.y0 <= q.y0 && d.x1 >= q.x1 && d.y1 >= q.y1);
  }

  // Whether target t holds the current map for these phases over map rectangle r.
  _covered(t, key, r, phases) {
    return t.key === key && phases.every((ph) => SimilarityRenderer._planeHolds(t, ph, r));
  }

  // Bind the similarity (or channel) program for phase plane `ph` of target t.
  _useMapProgram(t, ph) {
    const gl = this.gl;
    const ds = this._ds;
    let pr;
    if (this.channel !== null) {
      const k = this.channel, P = ds.precision;
      const K = 128 / P, per = 32 / P; // channels per texel, per component
      const g = Math.floor(k / K);     // packed texel, in array g / perArray
      pr = this._progs.channel;
      this._bind(UNIT.data, gl.TEXTURE_2D_ARRAY, ds.data[Math.floor(g / ds.perArray)]);
      gl.useProgram(pr.prog);
      gl.uniform4i(pr.u.uSel, g % ds.perArray, Math.floor((k % K) / per), P * (k % per), 0);
      gl.uniform1ui(pr.u.uMask, P === 32 ? 0xFFFFFFFF : (2 ** P) - 1);
      gl.uniform1f(pr.u.uMax, 2 ** P - 1);
    } else {
      this._uploadReference();
      this._bindData(ds);
      pr = ds.simProg;
      this._bind(UNIT.norm, gl.TEXTURE_2D, ds.norm);
      gl.bindBufferBase(gl.UNIFORM_BUFFER, 0, ds.refUbo);
      gl.useProgram(pr.prog);
      gl.uniform1i(pr.u.uMetric, METRICS.indexOf(this.metric));
    }
    const px = ph % t.step, py = Math.floor(ph / t.step);
    gl.uniform2i(pr.u.uOrigin, px * t.pw, py * t.ph);
    gl.uniform2i(pr.u.uPhase, px, py);
    gl.uniform1i(pr.u.uShift, t.shift);
  }

  // Target texel rectangles of these phases' planes over map rectangle r, one per plane.
  static _phaseDraws(t, r, phases) {
    const rects = [];
    for (const ph of phases) {
      const q = SimilarityRenderer._phaseRect(t, ph, r);
      if (!q) continue;
      const ox = (ph % t.step) * t.pw, oy = Math.floor(ph / t.step) * t.ph;
      rects.push({ x0: ox + q.x0, y0: oy + q.y0, x1: ox + q.x1, y1: oy + q.y1, ph, q });
    }
    return rects;
  }

  // Make target t hold the current map for these phases over map rectangle r.
  _ensureMap(t, r, phases) {
    const key = this._mapKey();
    if (t.key !== key) {
      t.key = key;
      t.done.fill(null);
    }
    const missing = phases.filter((ph) => !SimilarityRenderer._planeHolds(t, ph, r));
    if (!missing.length) return;
    if (this._mapSource && this.channel === null && t.step === 1) {
      this._uploadSourceMap(t);
      return;
    }
    for (const d of SimilarityRenderer._phaseDraws(t, r, missing)) {
      this._useMapProgram(t, d.ph);
      this._draw(t.fb, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
      t.done[d.ph] = d.q;
    }
    t.gen++;
    this.gl.bindBufferBase(this.gl.UNIFORM_BUFFER, 0, null);
  }

  // The whole map from the map source, uploaded into plain target t (step 1).
  _uploadSourceMap(t) {
    const gl = this.gl;
    const ds = this._ds;
    const map = this._mapSource.map(this.reference.x, this.reference.y, this.metric);
    if (!(map instanceof Float32Array) || map.length !== ds.width * ds.height) {
      throw new Error(`renderer: the map source returned no ${ds.width}x${ds.height} Float32Array`);
    }
    gl.bindTexture(gl.TEXTURE_2D, t.tex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, ds.width, ds.height, gl.RED, gl.FLOAT, map);
    t.done[0] = { x0: 0, y0: 0, x1: ds.width, y1: ds.height };
    t.gen++;
  }

  // Reference vector: read on the GPU into a 1-row target, then copied into the
  // uniform buffer with readPixels into a PIXEL_PACK buffer. Nothing reaches the CPU.
  _uploadReference() {
    const ds = this._ds;
    const key = `${ds.gen}:${this.reference.x},${this.reference.y}`;
    if (this._refKey === key) return;
    const gl = this.gl;
    const pr = ds.refProg;
    gl.useProgram(pr.prog);
    gl.uniform2i(pr.u.uRef, this.reference.x, this.reference.y);
    this._bindData(ds);
    this._bind(UNIT.norm, gl.TEXTURE_2D, ds.norm);
    this._draw(ds.refFb, 0, 0, ds.L + 1, 1);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, ds.refUbo);
    gl.readPixels(0, 0, ds.L + 1, 1, gl.RGBA_INTEGER, gl.UNSIGNED_INT, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    this._refKey = key;
  }

  // ------------------------------------------------------------- refinement

  // The refinement of the preview just drawn: the other phase planes of the visible region,
  // as chunks of at most refineChunkWork pixels x channels (row bands of a plane, and
  // consecutive bands packed together: each chunk costs a fence and the wait to see it).
  _planRefine() {
    const ds = this._ds, t = ds.phased, r = this._frameRect;
    const limit = this.options.refineChunkWork;
    const phases = SimilarityRenderer._phases(t, true).slice(1);
    const chunks = [];
    let chunk = null;
    for (const d of SimilarityRenderer._phaseDraws(t, r, phases)) {
      const rowWork = (d.x1 - d.x0) * ds.features;
      const rows = Math.max(1, Math.floor(limit / rowWork));
      for (let y = d.y0; y < d.y1; y += rows) {
        const band = { d, y0: y, y1: Math.min(d.y1, y + rows) };
        const work = (band.y1 - band.y0) * rowWork;
        if (!chunk || chunk.work + work > limit) {
          chunk = { bands: [], work: 0 };
          chunks.push(chunk);
        }
        chunk.bands.push(band);
        chunk.work += work;
      }
    }
    return {
      key: this._mapKey(), rect: `${r.x0},${r.y0},${r.x1},${r.y1}`, size: this._drawnSize, ds, chunks, inflight: 0,
    };
  }

  // Still worth refining: nothing changed since the preview (a change makes its own frame).
  _refineCurrent(token) {
    if (this._refine !== token || this._dirty || this._ds !== token.ds || this.isContextLost()) return false;
    const r = this._visibleRect();
    return r && `${r.x0},${r.y0},${r.x1},${r.y1}` === token.rect && this._mapKey() === token.key
      && `${this.canvas.width}x${this.canvas.height}` === token.size;
  }

  // Issue the next chunks: two in flight at most (the GPU never idles between them, and a
  // new move waits for two at most); after the last one, the full frame.
  _refineStep(token) {
    if (!this._refineCurrent(token)) {
      if (this._refine === token) this._refine = null;
      return;
    }
    const t = token.ds.phased;
    const limit = this.options.sync ? Infinity : 2;
    while (token.chunks.length && token.inflight < limit) {
      for (const c of token.chunks.shift().bands) {
        this._useMapProgram(t, c.d.ph);
        this._draw(t.fb, c.d.x0, c.y0, c.d.x1 - c.d.x0, c.y1 - c.y0);
        t.gen++;
        if (c.y1 === c.d.y1) t.done[c.d.ph] = c.d.q;
      }
      this.gl.bindBufferBase(this.gl.UNIFORM_BUFFER, 0, null);
      if (!token.chunks.length || this.options.sync) continue;
      token.inflight++;
      this._pushFence(() => { token.inflight--; this._refineStep(token); });
    }
    if (!token.chunks.length) this._frame(false);  // everything is computed: colour it
  }

  // Min/max of the map's samples in the visible rectangle r, 4x4 -> 1 per pass, ending in
  // texel (0, 0) of one of the ping-pong textures. A preview's samples are plane (0, 0)'s
  // texels over r; a full map's are r's pixels. Skipped when nothing changed.
  _reduce(t, r, full) {
    const s = t.step;
    const mask = full ? s - 1 : 0;
    const key = `${t.name}:${t.gen}:${mask}:${r.x0},${r.y0},${r.x1},${r.y1}:${this._ds.gen}`;
    if (this._stretchKey === key) return;
    const gl = this.gl;
    const ds = this._ds;
    const pr = this._progs.reduce;
    gl.useProgram(pr.prog);
    const first = full
      ? { start: [r.x0, r.y0], stride: 1, count: [r.x1 - r.x0, r.y1 - r.y0] }
      : {
        start: [s * Math.floor(r.x0 / s), s * Math.floor(r.y0 / s)], stride: s,
        count: [Math.ceil(r.x1 / s) - Math.floor(r.x0 / s), Math.ceil(r.y1 / s) - Math.floor(r.y0 / s)],
      };
    gl.uniform2i(pr.u.uStart, ...first.start);
    gl.uniform1i(pr.u.uStride, first.stride);
    gl.uniform2i(pr.u.uPlane, t.pw, t.ph);
    gl.uniform2i(pr.u.uMask, mask, mask);
    gl.uniform1i(pr.u.uShift, t.shift);
    let src = t.tex, [w, h] = first.count, isFirst = 1, i = 0, dst;
    do {
      dst = ds.red[i];
      const dw = Math.ceil(w / 4), dh = Math.ceil(h / 4);
      this._bind(UNIT.sim, gl.TEXTURE_2D, src);
      gl.uniform2i(pr.u.uCount, w, h);
      gl.uniform1i(pr.u.uFirst, isFirst);
      this._draw(dst.fb, 0, 0, dw, dh);
      src = dst.tex; w = dw; h = dh; isFirst = 0; i ^= 1;
    } while (w > 1 || h > 1);
    ds.stretchAt = dst;
    this._stretchKey = key;
  }

  _drawFrame(allowPreview) {
    const gl = this.gl;
    const ds = this._ds;
    const rect = this._visibleRect();
    const cw = this.canvas.width, ch = this.canvas.height;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, cw, ch);
    this._frameRect = rect;
    if (!rect) {
      this._clearCanvasColour();
      gl.clear(gl.COLOR_BUFFER_BIT);
      return 'full';
    }
    // Large maps go through the phased target: a pointer move computes plane (0, 0) alone
    // (the preview), the refinement the other planes; small maps and the channel view are
    // computed whole.
    const key = this._mapKey();
    const phased = this._previewWorth(rect);
    const t = phased ? ds.phased : ds.full;
    const all = SimilarityRenderer._phases(t, true);
    const full = !(phased && allowPreview) || this._covered(t, key, rect, all);
    this._ensureMap(t, rect, full ? all : [0]);
    const kind = full ? 'full' : 'preview';
    const mask = full ? t.step - 1 : 0;
    const relative = this.stretchMode === 'relative';
    // Relative stretch: min/max of the visible part of the map, at the resolution shown.
    if (relative) this._reduce(t, rect, full);

    // The colour pass costs per canvas pixel (software rendering): shade only the
    // map's rectangle on the canvas and clear the margin around it.
    const { scale, offsetX, offsetY } = this.view;
    // Canvas pixels whose centre lies on the map: offset - 0.5 <= x < offset + size * scale - 0.5.
    const x0 = Math.max(0, Math.ceil(offsetX - 0.5)), x1 = Math.min(cw, Math.ceil(offsetX + ds.width * scale - 0.5));
    const y0 = Math.max(0, Math.ceil(offsetY - 0.5)), y1 = Math.min(ch, Math.ceil(offsetY + ds.height * scale - 0.5));
    const background = this._overlay && x1 > x0 && y1 > y0 ? this._background(x0, y0, x1, y1) : null;

    // Magnified (at least 3 canvas pixels per visible map pixel): colour at map resolution
    // first, then spread it over the canvas (HEAT_FS, BLIT_FS); otherwise in one pass.
    const mapPixels = (rect.x1 - rect.x0) * (rect.y1 - rect.y0);
    const steps = this.options.twoStepColour;
    const twoStep = steps === 'auto' ? (x1 - x0) * (y1 - y0) >= 3 * mapPixels : !!steps;
    const pr = twoStep ? this._progs.heat : this._progs[background ? 'colourOverlay' : 'colour'];
    gl.useProgram(pr.prog);
    this._bind(UNIT.sim, gl.TEXTURE_2D, t.tex);
    this._bind(UNIT.stretch, gl.TEXTURE_2D, ds.stretchAt.tex);
    this._bind(UNIT.lut, gl.TEXTURE_2D, this._lut);
    gl.uniform2i(pr.u.uPlane, t.pw, t.ph);
    gl.uniform2i(pr.u.uMask, mask, mask);
    gl.uniform1i(pr.u.uShift, t.shift);
    gl.uniform1i(pr.u.uRelative, relative ? 1 : 0);
    gl.uniform1i(pr.u.uHasOverlay, background ? 1 : 0);
    gl.uniform1f(pr.u.uOpacity, this.opacity);
    let blit = pr;
    if (twoStep) {
      this._draw(ds.heat.fb, rect.x0, rect.y0, rect.x1 - rect.x0, rect.y1 - rect.y0);
      blit = this._progs[background ? 'blitOverlay' : 'blit'];
      gl.useProgram(blit.prog);
      this._bind(UNIT.sim, gl.TEXTURE_2D, ds.heat.tex);
    }
    this._bind(UNIT.overlay, gl.TEXTURE_2D, background);
    gl.uniform3f(blit.u.uView, scale, offsetX, offsetY);
    gl.uniform1f(blit.u.uCanvasH, ch);
    gl.uniform4i(blit.u.uRect, rect.x0, rect.y0, rect.x1, rect.y1);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);  // the passes above left their own target bound
    gl.viewport(0, 0, cw, ch);
    this._clearCanvasColour();
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (x1 > x0 && y1 > y0) {
      gl.enable(gl.SCISSOR_TEST);
      gl.scissor(x0, ch - y1, x1 - x0, y1 - y0);  // GL's y axis points up
      this._draw(null, 0, 0, cw, ch);
      gl.disable(gl.SCISSOR_TEST);
    }
    return kind;
  }

  // Outside the map: transparent, or the opaque canvas's background colour.
  _clearCanvasColour() {
    const b = this.options.background;
    if (Array.isArray(b)) this.gl.clearColor(b[0] / 255, b[1] / 255, b[2] / 255, 1);
    else this.gl.clearColor(0, 0, 0, 0);
  }

  _frameInfo(kind) {
    return {
      kind,
      issued: performance.now(),
      t: 0,
      reference: this.reference && { ...this.reference },
      channel: this.channel,
      metric: this.metric,
      stretchMode: this.stretchMode,
      region: this._frameRect && { ...this._frameRect },
      stretch: null,
    };
  }

  _emit(info) {
    this.lastFrame = info;
    if (typeof this.onFrame === 'function') this.onFrame(info);
  }

  // `then` runs once the frame is drawn (after its onFrame): the refinement of a preview.
  _finishFrame(kind, then = null, refine = null) {
    const gl = this.gl;
    const info = this._frameInfo(kind);
    this.lastIssued = info;  // reported through onFrame once drawn
    const relative = this.stretchMode === 'relative' && this._frameRect;
    if (this.options.sync) {
      // A 1-pixel readback of the canvas returns only once every pass has run.
      const px = new Uint8Array(4);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      if (relative) this._stretch = this._readStretchTexel();
      else if (this.stretchMode === 'absolute') this._stretch = { min: 0, max: 1 };
      info.stretch = { ...this._stretch };
      info.t = performance.now();
      this._emit(info);
      if (then) setTimeout(then, 0);  // a task of its own, so that a move issued meanwhile wins
      return;
    }
    let pbo = null;
    if (relative) {
      pbo = this._pboPool.pop() ?? null;
      if (!pbo && this._pending.length < 4) {
        pbo = this._track('buffer', gl.createBuffer());
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pbo);
        gl.bufferData(gl.PIXEL_PACK_BUFFER, 16, gl.STREAM_READ);
      }
      if (pbo) {
        gl.bindFramebuffer(gl.FRAMEBUFFER, this._ds.stretchAt.fb);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pbo);
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, 0);
        gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
        gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      }
    } else if (this.stretchMode === 'absolute') {
      this._stretch = { min: 0, max: 1 };
    }
    this._pushFence(then, info, pbo, refine);
  }

  // A fence after the commands issued so far; the poll emits `info` (a frame) and runs `then`
  // once the GPU has passed it.
  _pushFence(then, info = null, pbo = null, refine = null) {
    const gl = this.gl;
    const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
    gl.flush();
    this._pending.push({ sync, pbo, info, then, refine });
    this._schedulePoll();
  }

  // Poll the fences about every millisecond. A timer set from a timer callback is clamped to
  // 4 ms after a few rounds (HTML's nesting rule), so each round hops through a message first.
  _schedulePoll() {
    if (this._pollTimer) return;
    this._pollTimer = -1;
    if (!this._pollChannel) {
      this._pollChannel = new MessageChannel();
      this._pollChannel.port1.onmessage = () => {
        if (this._pollTimer === -1) this._pollTimer = setTimeout(() => this._poll(), 1);
      };
    }
    this._pollChannel.port2.postMessage(null);
  }

  _poll() {
    this._pollTimer = 0;
    if (this.isContextLost()) { this._pending = []; return; }
    const gl = this.gl;
    while (this._pending.length) {
      const p = this._pending[0];
      if (gl.getSyncParameter(p.sync, gl.SYNC_STATUS) !== gl.SIGNALED) break;
      this._pending.shift();
      gl.deleteSync(p.sync);
      if (!p.info) {  // a refinement chunk
        p.then?.();
        continue;
      }
      p.info.t = performance.now();  // the frame is done: time it before any read-back
      if (p.pbo) {
        // getBufferSubData waits for every command queued so far, a newer frame's too:
        // read min/max only from the newest frame when nothing is queued behind it; an
        // older frame's numbers are superseded anyway, so its buffer goes back unread.
        // Nor when a refinement starts from this frame: the read-back is a round trip to the
        // GPU process (about 10 ms here) that would hold the refinement back, and the full
        // frame brings the numbers. (The copy into the buffer is still made: under ANGLE it
        // makes the GPU process run the frame at once; without it the first frame came later.)
        if (this._pending.length === 0 && !this._raf && !(p.refine && this._refineCurrent(p.refine))) {
          const buf = new Float32Array(4);
          gl.bindBuffer(gl.PIXEL_PACK_BUFFER, p.pbo);
          gl.getBufferSubData(gl.PIXEL_PACK_BUFFER, 0, buf);
          gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
          this._stretch = { min: buf[0], max: buf[1] };
          p.info.stretch = { ...this._stretch };
        }
        this._pboPool.push(p.pbo);
      } else if (p.info.stretchMode === 'absolute') {
        p.info.stretch = { min: 0, max: 1 };
      }
      this._emit(p.info);
      p.then?.();
    }
    if (this._pending.length) this._schedulePoll();
    if (this._afterGpu && !this._framesInFlight()) {
      this._afterGpu = false;
      if (this._dirty && !this._raf && !this._gate) this._animationFrame();  // at once, as from an event
      else if (this._dirty) this.requestRender();
    }
  }

  // Frames (not refinement chunks) issued and not yet seen done by the poll.
  _framesInFlight() {
    let n = 0;
    for (const p of this._pending) if (p.info) n++;
    return n >= this.options.maxFramesInFlight;
  }

  _dropPending() {
    if (this._pollTimer > 0) clearTimeout(this._pollTimer);
    this._pollTimer = 0;
    for (const p of this._pending) {
      this.gl.deleteSync(p.sync);
      if (p.pbo) this._pboPool.push(p.pbo);
    }
    this._pending = [];
  }

  _readStretchTexel() {
    const gl = this.gl;
    const out = new Float32Array(4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this._ds.stretchAt.fb);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, out);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return { min: out[0], max: out[1] };
  }

  // -------------------------------------------------------------- read-backs

  /** Latest known {min, max} of the colour scale (relative mode: may lag one frame unless sync). */
  getStretch() { return { ...this._stretch }; }

  /** {min, max} of the last drawn frame, read back now (blocks until the GPU is done). */
  readStretch() {
    this._requireContext();
    this._requireDataset();
    if (this.stretchMode === 'absolute') return { min: 0, max: 1 };
    if (this._dirty || !this._frameRect) this.renderNow();
    if (!this._frameRect) return { ...this._stretch };
    this._stretch = this._readStretchTexel();
    return { ...this._stretch };
  }

  /**
   * The current map (similarity, or channel k's values) over the whole dataset at
   * full resolution, as float32, row 0 = top. Computed now, independent of the view.
   */
  readSimilarity() {
    this._requireContext();
    const ds = this._requireDataset();
    const gl = this.gl;
    this._ensureMap(ds.full, { x0: 0, y0: 0, x1: ds.width, y1: ds.height }, [0]);
    const rgba = new Float32Array(ds.width * ds.height * 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, ds.full.fb);
    gl.readPixels(0, 0, ds.width, ds.height, gl.RGBA, gl.FLOAT, rgba);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const out = new Float32Array(ds.width * ds.height);
    for (let i = 0; i < out.length; i++) out[i] = rgba[4 * i];
    return out;
  }

  /** Draw a full frame now and return the canvas as RGBA bytes, row 0 = top. */
  readCanvas() {
    this.renderNow();  // throws while the context is lost
    const gl = this.gl;
    const w = this.canvas.width, h = this.canvas.height;
    const px = new Uint8Array(w * h * 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
    const out = new Uint8Array(px.length);
    for (let y = 0; y < h; y++) out.set(px.subarray((h - 1 - y) * w * 4, (h - y) * w * 4), y * w * 4);
    return out;
  }
}
