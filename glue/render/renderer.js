// The similarity renderer: plain WebGL 2, no framework, knows nothing of the DOM but its canvas.
// It applies the view model's state (sync) and keeps none of its own: what it holds are GPU
// resources (a dataset's textures and targets, the colour map, the overlay), the frame
// scheduler's state and the numbers of the last frame. Design note: glue/RENDERER.md.
import { GpuContext } from './gl.js';
import { readLimits, planDataset, tileIndexAt, DeviceLimitError } from './device.js';
import { uploadDataset } from './upload.js';
import { makeTargets } from './targets.js';
import { GpuSimilaritySource, ChannelSource, CpuSimilaritySource, PcaSource } from './map-sources.js';
import { ColourPass } from './colour.js';
import { ReducePass } from './reduce.js';
import { FenceQueue } from './fences.js';
import { FrameScheduler } from './scheduler.js';
import { Frames } from './frame.js';
import { MaskLayer } from './mask-layer.js';
import { readStretch, readMap, readMask, readCanvas, renderPicture } from './readback.js';
import { CpuKernel, cpuSimilaritySupported, isSoftwareRenderer } from '../compute/cpu-kernel.js';
import { CpuAnalysis } from '../compute/cpu-analysis.js';
import { layoutOf, checkLayers } from '../model/layout.js';
import { VIEW_DEFAULTS } from '../model/view.js';
import { colourScale } from '../model/analysis.js';
import { shownPca } from '../compute/pca-job.js';

export { DeviceLimitError };

// View fields whose change changes the picture (the reference and the camera apart).
const MAP_FIELDS = ['metric', 'values', 'pins', 'regions', 'combine', 'pointer', 'mode', 'channel', 'stretch',
  'opacity', 'overlayColour', 'compute', 'threshold', 'connected', 'pcaResult', 'pcaBackground', 'joint', 'stretchRange'];

// Options (RENDERER.md has the measurements behind the defaults).
const DEFAULTS = {
  preview: 'auto',         // reduced-resolution frames on pointer moves: true, false, or 'auto' (large maps only)
  previewFactor: 2,        // the preview computes every n-th pixel in each axis (a power of two)
  previewMinWork: 6 << 20, // 'auto': only when visible pixels × channels reach this
  cpuPreviewFactor: 4,     // the same where the CPU computes the maps (software renderers), at least:
  cpuPreviewWork: 40 << 20, // ... doubled (up to 8) while its rows of the map take more multiply-adds
  cpuPixelWork: 256,       // ... counting each pixel's float64 metric as this many multiply-adds
  cpuPreviewMinWork: 48 << 20, // ... and its 'auto' threshold
  cpuRefineChunkWork: 32 << 20, // ... and its refinement's chunks: map rows × width × channels
  refineChunkWork: 1 << 23, // a refinement's GPU chunks: at most this many pixels × channels
  twoStepColour: 'auto',   // colour magnified views at map resolution first ('auto': 3+ canvas pixels per map pixel)
  autoRender: true,        // changes schedule their frame themselves
  maxFramesInFlight: 1,    // while this many frames are on the GPU, changes wait (scheduler.js)
  drawAtOnce: true,        // a reference change draws inside the caller's event when allowed (scheduler.js)
  sync: false,             // every frame ends in a blocking 1-pixel read-back (exact onFrame times, for benchmarks)
  onFrame: null,           // (frame) => {}: {kind, t, issued, stretch, reference, mode, channel, metric, region}
  preserveDrawingBuffer: false,
  background: null,        // [r, g, b] (0-255): an opaque canvas of this colour outside the map; null: transparent
  unrollLimit: 256,        // texel fetches fully unrolled in the similarity shader before a loop takes over
  maxArrayLayers: Infinity, // device limits, lowered for tests
  maxTileSize: Infinity,   // maps larger than this (or the largest texture) are drawn in tiles; tests force small ones
  memoryBudget: null,      // GPU bytes (default: device.js defaultMemoryBudget())
  onContextLost: null,     // () => {}: the context is lost (nothing is drawn until it is back)
  onContextRestored: null, // () => {}: it is back, the dataset uploaded again and the view redrawn
};

function greyLut() {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut.fill(i, 3 * i, 3 * i + 3);
  return lut;
}

function rgbaOf(lut) {
  const src = lut instanceof Uint8Array ? lut : Uint8Array.from(lut ?? []);
  if (src.length !== 768) throw new Error(`renderer: colour map must be 256x3 bytes, got ${src.length}`);
  const rgba = new Uint8Array(1024);
  for (let i = 0; i < 256; i++) rgba.set([src[3 * i], src[3 * i + 1], src[3 * i + 2], 255], 4 * i);
  return rgba;
}

// A PCA picture as an image the overlay texture can take: scaled down to the largest texture
// where the map is larger (tiled maps; the overlay image is scaled the same way by the page).
function pictureImage({ picture, width, height }, max) {
  const image = new ImageData(picture, width, height);
  const s = Math.min(1, max / Math.max(width, height));
  if (s === 1) return image;
  const whole = new OffscreenCanvas(width, height);
  whole.getContext('2d').putImageData(image, 0, 0);
  const small = new OffscreenCanvas(Math.max(1, Math.floor(width * s)), Math.max(1, Math.floor(height * s)));
  small.getContext('2d').drawImage(whole, 0, 0, small.width, small.height);
  return small;
}

export class Renderer {
  /**
   * @param {HTMLCanvasElement|OffscreenCanvas} canvas
   * @param {object} [options] see DEFAULTS
   */
  constructor(canvas, options = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.gpu = new GpuContext(canvas, {
      opaque: Array.isArray(this.options.background),
      preserveDrawingBuffer: Boolean(this.options.preserveDrawingBuffer),
      onLost: () => this._contextLost(),
      onRestored: () => this._contextRestored(),
    });
    this.canvas = canvas;
    this.gl = this.gpu.gl;
    this.onFrame = this.options.onFrame;
    // Software WebGL (no GPU): its shaders run on the CPU at a fraction of what SIMD code does.
    this.softwareRenderer = isSoftwareRenderer(this.gl);
    this.view = VIEW_DEFAULTS; // the last view state applied: the model's own object, not a copy
    this.ds = null;            // the dataset's GPU side: {layout, plan, tiles, sources, stretch}
    this._dataset = null;      // the owner's dataset object (re-uploaded from after a context loss)
    this._colormaps = {};
    this._overlaySource = null; // kept, not copied: a restored context gets it again
    this._background = null;    // what the colour pass has under the map (the overlay, or a PCA result)
    this.fences = new FenceQueue(this.gpu, { onPolled: () => this.scheduler.gpuDone() });
    this.frames = new Frames(this);
    this.scheduler = new FrameScheduler({
      draw: (allowPreview) => this.frames.draw(allowPreview),
      canDraw: () => this._canDraw(),
      busy: () => this.fences.framesInFlight >= this.options.maxFramesInFlight,
      stale: () => `${canvas.width}x${canvas.height}` !== this.frames.drawnSize,
    }, this.options);
    this._setUpContext();
  }

  // Everything the context holds apart from a dataset: limits, passes, colour map, overlay.
  _setUpContext() {
    this.limits = readLimits(this.gl, this.options);
    this.colour = new ColourPass(this.gpu);
    this.reduce = new ReducePass(this.gpu);
    this.maskLayer = new MaskLayer(this.gpu);
    this.colour.setLut(rgbaOf(this._colormaps[this.view.colormap] ?? greyLut()));
    this._background = null;
    this._applyBackground();
  }

  /** [r, g, b, a] (0–1) of the canvas outside the map. */
  get clearColour() {
    const b = this.options.background;
    return Array.isArray(b) ? [b[0] / 255, b[1] / 255, b[2] / 255, 1] : [0, 0, 0, 0];
  }

  isContextLost() { return this.gpu.isLost(); }

  /** Live GL objects this renderer owns, by kind (for leak checks). */
  stats() { return this.gpu.stats(); }

  // -------------------------------------------------------------- the dataset

  /**
   * How a dataset of this shape ({width, height, features, precision}) would sit on this device
   * (device.js planDataset): when it does not fit, `message` says why and what would.
   */
  plan({ width, height, features, precision }) {
    // The page asks before it leaves the current screen, and setDataset again: plan once.
    const key = JSON.stringify([width, height, features, precision, this.limits]);
    if (this._plan?.key !== key) {
      this._plan = { key, plan: planDataset({ width, height, features, precision }, this.limits, this.options.previewFactor) };
    }
    return this._plan.plan;
  }

  /**
   * Upload a dataset {info: {width, height, features, precision}, layers} (model/layout.js).
   * Its array is referenced, not copied (after a context loss it is uploaded again). Throws a
   * DeviceLimitError, before anything changes, when the device cannot hold it. It is drawn
   * once the view's `dataset` is this object.
   */
  setDataset(dataset) {
    this.gpu.requireContext();
    const layout = layoutOf(dataset.info);
    checkLayers(layout, dataset.layers);
    const plan = this.plan(dataset.info);
    if (!plan.fits) throw new DeviceLimitError(plan.message, plan);
    this._releaseDataset();
    const sources = {};
    // A map larger than the largest texture is drawn in tiles (device.js tileGrid), each with
    // render targets (and, on the GPU path, layers) of its own; usually there is one.
    const tiles = [];
    const stretch = { gather: null, red: null, stretchAt: null };  // the tiles' (min, max) together
    const gl = this.gl;
    try {
      for (const g of plan.tiles) {
        const tileLayout = layoutOf({ width: g.w, height: g.h, features: layout.C, precision: layout.P });
        tiles.push({ ...g, layout: tileLayout, targets: makeTargets(this.gpu, g.w, g.h, g.x0, g.y0), data: null, sources: {} });
      }
      if (tiles.length > 1) {
        stretch.gather = this.gpu.target(gl.RG32F, tiles.length, 1);
        stretch.red = [0, 1].map(() => this.gpu.target(gl.RG32F, Math.ceil(tiles.length / 4), 1));
      }
      sources.pca = new PcaSource(this.gpu, layout);
    } catch (err) {
      for (const s of Object.values(sources)) s.dispose();
      for (const t of tiles) t.targets.release();
      for (const t of [stretch.gather, ...(stretch.red ?? [])]) this.gpu.dropTarget(t);
      throw err;
    }
    // The layers' textures and the shaders that read them are made when a view first needs
    // them (gpuSide): where the CPU computes the maps (software renderers), never, which spares
    // the upload's time and the GPU process a copy of the data.
    this.ds = { layout, plan, tiles, sources, stretch, arrays: plan.arrays };
    this._dataset = dataset;
    this.maskLayer.reset();
    this.frames.reset();
    this.scheduler.reset();
    this.scheduler.change({ interactive: true });  // on a large map the first paint is a preview
  }

  _releaseDataset() {
    this.fences.drop();
    this.scheduler.reset();
    this.frames.reset();
    const ds = this.ds;
    if (!ds) return;
    this.colour.dropBackground();
    for (const s of Object.values(ds.sources)) s?.dispose();
    for (const tile of ds.tiles) {
      for (const s of Object.values(tile.sources)) s.dispose();
      tile.targets.release();
      tile.data?.release();
    }
    for (const t of [ds.stretch.gather, ...(ds.stretch.red ?? [])]) this.gpu.dropTarget(t);
    this.ds = null;
  }

  /** Whether the dataset's layers are on the GPU (gpuSide made them). */
  get uploaded() { return Boolean(this.ds?.tiles.every((tile) => tile.data)); }

  /** The dataset's GPU side with every tile's layers uploaded and their sources made (on first use). */
  gpuSide() {
    const ds = this.ds, W = ds.layout.W, H = ds.layout.H;
    if (this.uploaded) return ds;  // (asked on every frame of the GPU path)
    // A pointer's vector is read from the tile that holds its pixel.
    const locate = (x, y) => {
      const tile = this.tileAt(x, y);
      return { data: tile.data, x: x - tile.x0, y: y - tile.y0 };
    };
    for (const tile of ds.tiles) {
      if (tile.data) continue;
      const data = uploadDataset(this.gpu, tile.layout, ds.plan, this._dataset.layers, { ox: tile.x0, oy: tile.y0, W, H });
      try {
        tile.sources.gpu = new GpuSimilaritySource(this.gpu, data, this._dataset, this.options, locate);
        tile.sources.channel = new ChannelSource(this.gpu, data);
      } catch (err) {
        tile.sources.gpu?.dispose();
        tile.sources = {};
        data.release();
        throw err;
      }
      tile.data = data;
    }
    return ds;
  }

  /** The tile holding map pixel (x, y). */
  tileAt(x, y) {
    const { tiles, plan, layout } = this.ds;
    return tiles[tileIndexAt(layout.W, plan.tileSize, x, y)];
  }

  /** The loaded dataset's shape and split ({width, height, features, precision, arrays}), or null. */
  get dataset() {
    const ds = this.ds;
    return ds && { width: ds.layout.W, height: ds.layout.H, features: ds.layout.C, precision: ds.layout.P, arrays: ds.arrays };
  }

  /** The overlay image (ImageBitmap, image, canvas, ImageData), stretched over the map; or null. */
  setOverlay(source) {
    this._overlaySource = source || null;
    this._applyBackground();
    this.scheduler.change();
  }

  // What lies under the heat map: the overlay, or (the similarity over PCA colours) the PCA
  // picture of the view's result.
  _applyBackground() {
    const v = this.view;
    const pca = v.pcaBackground && v.mode === 'similarity' && shownPca(v);
    const want = pca || this._overlaySource;
    if (this._background === want || this.isContextLost()) return;
    this.colour.setOverlay(pca ? pictureImage(pca, this.limits.maxTextureSize) : want, { picture: Boolean(pca) });
    this._background = want;
    this.scheduler.change();
  }


  /** The colour tables the view's `colormap` names: {name: 256 RGB entries (768 bytes)}. */
  setColormaps(tables) {
    this._colormaps = { ...tables };
    for (const lut of Object.values(this._colormaps)) rgbaOf(lut);  // each checked now
    this._applyColormap();
  }

  _applyColormap() {
    if (!this.isContextLost()) this.colour.setLut(rgbaOf(this._colormaps[this.view.colormap] ?? greyLut()));
    this.scheduler.change();
  }

  // ----------------------------------------------------------------- the view

  /**
   * Apply a view state (model/view.js): whatever changed since the last one is drawn, a
   * reference change at once where the scheduler allows, a camera or reference change as a
   * preview on large maps.
   */
  sync(view) {
    const prev = this.view;
    this.view = view;
    if (view.colormap !== prev.colormap) this._applyColormap();
    const scale = colourScale(view);
    if (!scale.relative) this.frames.stretch = { min: scale.absolute[0], max: scale.absolute[1] };
    if (view.dataset !== prev.dataset) { this.scheduler.change({ interactive: true }); return; }
    if (['pcaBackground', 'pcaResult', 'mode'].some((k) => view[k] !== prev[k])) this._applyBackground();
    // The pointer's reference matters only while it takes part in the map.
    // (comparing datasets: or another pane's, model/panes.js)
    const moved = (view.reference !== prev.reference || view.foreignReference !== prev.foreignReference)
      && view.pointer && view.mode === 'similarity';
    // A PCA result answers a click (its computation took a while already): drawn at once.
    const pca = view.pcaResult !== prev.pcaResult && view.pcaResult && view.mode === 'pca';
    const panned = view.camera !== prev.camera;
    // One change for all that changed: a frame drawn at once already shows every field (a
    // second change would draw the same frame again at the next animation frame).
    if (moved || pca || panned || MAP_FIELDS.some((k) => view[k] !== prev[k])) {
      this.scheduler.change({ interactive: moved || panned, atOnce: moved || pca });
    }
  }

  _canDraw() {
    const v = this.view;
    return Boolean(this.ds) && !this.isContextLost() && v.dataset === this._dataset && Boolean(v.camera)
      && (v.mode !== 'channel' || v.channel !== null)
      // The PCA view draws once its setting has a result (components or a refusal): until
      // then the picture on screen stays, and the computation has the CPU to itself.
      && (v.mode !== 'pca' || Boolean(v.pcaResult && v.pcaResult.dataset === v.dataset));
  }

  /**
   * The map source for the current view (map-sources.js) that fills `tile`'s targets (the
   * first tile's unless said; every tile's source gives the same key).
   */
  source(tile = this.ds.tiles[0]) {
    if (this.view.mode === 'pca') return this.ds.sources.pca;
    if (this.view.mode === 'similarity' && this.computeOn === 'cpu') return this.ds.sources.cpu;
    this.gpuSide();
    return this.view.mode === 'channel' ? tile.sources.channel : tile.sources.gpu;
  }

  /**
   * 'cpu' or 'gpu': where the current view's similarity maps are computed. The CPU for 8- and
   * 16-bit data under a software renderer ('auto') or when asked ('cpu'); 32-bit data (their dot
   * products do not fit float64 exactly) and browsers without WebAssembly SIMD stay on the GPU.
   */
  get computeOn() {
    const ds = this.ds, mode = this.view.compute;
    const wanted = mode === 'cpu' || (mode === 'auto' && this.softwareRenderer);
    if (!ds || !wanted || ds.layout.P === 32 || !cpuSimilaritySupported()) return 'gpu';
    if (ds.sources.cpu === undefined) {
      try {
        const kernel = new CpuKernel({ ...this._dataset.info, layers: this._dataset.layers });
        // The dataset's layers become a view of the kernel's copy: the same values, held once
        // (readers take dataset.layers when they run; the old array goes with the last of them).
        const shared = kernel.layersView();
        if (shared) this._dataset.layers = shared;
        ds.sources.cpu = new CpuSimilaritySource(this.gpu, ds.layout, new CpuAnalysis(kernel, this._dataset));
      } catch (err) {
        console.warn(`similarity stays on the GPU: ${err.message}`);
        ds.sources.cpu = null;
      }
    }
    return ds.sources.cpu ? 'cpu' : 'gpu';
  }

  /** The preview factor of `source`'s compute path (targets.js phasedAt makes its target). */
  previewFactorOf(source) {
    return source === this.ds.sources.cpu ? this._cpuPreviewFactor() : this.options.previewFactor;
  }

  // The CPU's preview computes every factor-th row of the map: a coarser one on larger maps,
  // so that it stays about one pass of cpuPreviewWork (phases.js caps the step at 8). A pass
  // costs its multiply-adds and, per pixel, the metric in float64 (atan2, sqrt: about 45 ns a
  // pixel against 0.13 ns a multiply-add here), which on maps of many pixels costs the most.
  _cpuPreviewFactor() {
    const { W, H, C } = this.ds.layout, { cpuPreviewWork, cpuPixelWork } = this.options;
    let factor = this.options.cpuPreviewFactor;
    while (factor < 8 && Math.ceil(H / factor) * W * (C + cpuPixelWork) > cpuPreviewWork) factor *= 2;
    return factor;
  }

  // ---------------------------------------------------------------- frames

  /** Draw on the next animation frame if anything changed (at most one frame per animation frame). */
  requestRender() { this.scheduler.requestRender(); }

  /**
   * Draw a frame now, synchronously (tests, export, benchmarks). Full resolution, or with
   * {preview: true} the frame a pointer move would get (a preview if the policy allows one).
   */
  renderNow({ preview = false } = {}) {
    this.gpu.requireContext();
    this._requireView();
    this.scheduler.drawNow(Boolean(preview));
  }

  /** True when nothing is left to draw or refine and every frame issued has been reported. */
  get idle() { return this.scheduler.settled && !this.frames.refine && this.fences.length === 0; }

  get lastFrame() { return this.frames.last; }

  get lastIssued() { return this.frames.issued; }

  _requireView() {
    if (!this.ds) throw new Error('renderer: no dataset loaded');
    if (!this._canDraw()) throw new Error('renderer: the view shows no map of the loaded dataset');
  }

  // -------------------------------------------------------------- read-backs (readback.js)

  /** Latest known {min, max} of the colour scale (relative: may lag a frame unless sync). */
  getStretch() { return { ...this.frames.stretch }; }

  /** {min, max} of the last drawn frame, read back now (blocks until the GPU is done). */
  readStretch() { return readStretch(this); }

  /**
   * What the view shows before colouring (the combined similarity in the metric's units, or
   * channel k's values) over the whole map at full resolution, as float32, row 0 = top.
   * Computed now, whatever the camera.
   */
  readMap() { return readMap(this); }

  /** The map the view shows as the CPU has it, else read back (Float32Array; may be reused). */
  mapValues() {
    const source = this.source();
    return source.mapOf ? source.mapOf(this.view) : this.readMap();
  }

  /**
   * The similarity map a view state (of this renderer's dataset) asks for, where the CPU
   * computes it (kept for the frame that draws it), else null: the GPU's is on the GPU.
   */
  cpuMap(view) {
    if (!this.ds || view.dataset !== this._dataset || view.mode !== 'similarity' || this.computeOn !== 'cpu') return null;
    return this.ds.sources.cpu.mapOf(view);
  }

  /** The threshold's mask of the last full frame (Uint8Array, 1 inside, row 0 = top), or null. */
  readMask() { return readMask(this); }

  /** The whole map as a picture at dataset resolution × k: RGBA bytes, row 0 = top. */
  renderPicture(k) { return renderPicture(this, k); }

  /** Draw a full frame now and return the canvas as RGBA bytes, row 0 = top. */
  readCanvas() { return readCanvas(this); }

  // ---------------------------------------------------------- context loss

  // Every GL object died with the context: forget them; the view and the dataset stay known.
  _contextLost() {
    this.scheduler.cancel();
    this.fences.forget();
    this.frames.reset();
    this._hadGpuSide = this.uploaded;
    this.ds = null;
    this.colour = null;
    this.reduce = null;
    this.maskLayer = null;
    this.options.onContextLost?.();
  }

  // Passes, colour map and overlay again, then the dataset from the owner's array, and a frame.
  _contextRestored() {
    if (this._disposed) return;
    try {
      this._setUpContext();
      if (this._dataset) {
        this.setDataset(this._dataset);
        if (this._hadGpuSide) this.gpuSide();  // the layers were on the GPU: they are again
      }
    } catch (err) {  // lost again while rebuilding: the next restore tries again
      console.warn('renderer: the restored WebGL context could not be set up', err);
      return;
    }
    this.options.onContextRestored?.();
  }

  /** Free every GL object; the renderer is unusable afterwards. */
  dispose() {
    this.scheduler.dispose();
    this._disposed = true;
    this._overlaySource = null;
    if (this.isContextLost()) {  // the context took every object with it
      this.ds = null;
      this.gpu.dispose();
      return;
    }
    this._releaseDataset();
    this.fences.dispose();
    this.colour.dispose();
    this.reduce.dispose();
    this.maskLayer.dispose();
    this.gpu.dispose();
  }
}
