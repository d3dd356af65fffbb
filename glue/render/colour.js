// The colour pass: a map target's values stretched, looked up in the colour map and blended
// over the overlay, straight into the canvas (RENDERER.md, "Passes per frame", step 4). Owns
// the colour-map texture, the overlay texture, and the overlay resampled for the current view.
import {
  COLOUR_VS, COLOUR_FS, HEAT_FS, BLIT_FS, BACKGROUND_FS, withDefine,
} from './shaders.js';
import { UNIT } from './device.js';
import { mapOnCanvas } from './camera.js';

// Each shader's source, vertex shader and samplers; built per variant (overlay, mask) when first used.
const SAMPLERS = {
  uSim: UNIT.sim, uHeat: UNIT.sim, uStretch: UNIT.stretch, uLut: UNIT.lut, uOverlay: UNIT.overlay, uMaskMap: UNIT.mask,
};
const KINDS = {
  colour: [COLOUR_FS, COLOUR_VS],
  heat: [HEAT_FS, COLOUR_VS],
  blit: [BLIT_FS, null],
  background: [BACKGROUND_FS, null],
};

export class ColourPass {
  constructor(gpu) {
    this.gpu = gpu;
    this.progs = {};
    // The variants every plain frame needs, compiled now rather than on the first move; and the
    // PCA picture's (compiling under software WebGL takes tens of ms: here it overlaps Python's
    // start in the worker, on a PCA click it would add to the wait).
    for (const kind of ['colour', 'heat', 'blit', 'background']) this._prog(kind);
    for (const overlay of [false, true]) this._prog('blit', { overlay, picture: true });
    this.lut = gpu.texture2D(gpu.gl.RGBA8, 256, 1);
    this.overlay = null;  // the overlay image's texture (with mipmaps), or null
    this.overlayIsPicture = false;
    this._bg = null;      // the overlay resampled for the view: {tex, fb, w, h, what}
    this._heat = null;    // the two-step colour's heat map of the visible rectangle: {tex, fb, w, h}
  }

  // A heat target of at least w × h (grown, never shrunk: magnified views show few map pixels).
  _heatFor(w, h) {
    const heat = this._heat;
    if (heat && heat.w >= w && heat.h >= h) return heat;
    const gl = this.gpu.gl;
    const size = { w: Math.max(w, heat?.w ?? 0), h: Math.max(h, heat?.h ?? 0) };
    this.gpu.dropTarget(heat);
    this._heat = null;
    this._heat = { ...this.gpu.target(gl.RGBA32F, size.w, size.h), ...size };
    return this._heat;
  }

  /** 256 RGBA entries (1024 bytes). */
  setLut(rgba) {
    const gl = this.gpu.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.lut);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, 256, 1, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
  }

  /**
   * The image under the map (ImageBitmap, image, canvas, ImageData), or null. A `picture` (the
   * PCA colours, at map resolution) is shown in colour whatever the overlay setting, and its
   * pixels stay sharp when magnified.
   */
  setOverlay(source, { picture = false } = {}) {
    this.overlayIsPicture = Boolean(source) && picture;
    const gl = this.gpu.gl;
    this.gpu.delete('texture', this.overlay);
    this.overlay = null;
    if (this._bg) this._bg.what = null;  // a new image: the resampled copy is stale
    if (!source) return;
    const tex = this.gpu.track('texture', gl.createTexture());
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, source);
    // Mipmaps: the overlay is usually larger than the map on screen.
    gl.generateMipmap(gl.TEXTURE_2D);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR_MIPMAP_LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, picture ? gl.NEAREST : gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    this.overlay = tex;
  }

  // A program of `kind` in the variant with or without the overlay and the mask (a uniform
  // test would not spare their fetches: software rendering evaluates both sides of a select).
  _prog(kind, { overlay = false, mask = false, picture = false } = {}) {
    const name = `${kind}${overlay ? '+overlay' : ''}${mask ? '+mask' : ''}${picture ? '+picture' : ''}`;
    if (!this.progs[name]) {
      let [fs, vs] = KINDS[kind];
      if (overlay) fs = withDefine(fs, 'OVERLAY');
      if (mask) fs = withDefine(fs, 'MASK');
      if (picture) fs = withDefine(fs, 'PICTURE');
      this.progs[name] = this.gpu.program(fs, kind, SAMPLERS, vs);
    }
    return this.progs[name];
  }

  /**
   * Colour tile `tile` (its targets: width, height, ox, oy) of a `map` ({width, height})
   * into the canvas: t is the tile's map target, `rect` the tile's computed rectangle (tile
   * pixels), `full` false for the preview's plane alone; `stretch` the texture whose texel
   * (0, 0) holds the relative scale's (min, max); scale: {relative (else `absolute`, [lo, hi]),
   * reverse: near is small (distances)}; mask: the tile's mask texture or null; picture: a
   * texture of the tile's own colours (RGBA8: the PCA view) to draw instead of t's values, or
   * null. `clear` ([r, g, b, a] outside the map) clears first: the first tile of a frame.
   */
  draw({
    tile, map, t, rect, full, view, clear, twoStep, scale, stretch, mask = null, into = null, camera = view.camera,
    picture = null,
  }) {
    const gpu = this.gpu, gl = gpu.gl;
    // `into`: {fb, width, height} of an offscreen picture instead of the canvas, seen by `camera`.
    const cw = into ? into.width : gl.canvas.width, ch = into ? into.height : gl.canvas.height;
    // The colour pass costs per canvas pixel (software rendering): shade only the tile's
    // rectangle on the canvas (tiles side by side share their edges exactly) and clear the
    // margin around the map.
    const whole = mapOnCanvas(camera, 0, 0, map.width, map.height, cw, ch);
    const { x0, y0, x1, y1 } = mapOnCanvas(camera, tile.ox, tile.oy, tile.ox + tile.width, tile.oy + tile.height, cw, ch);
    const background = this.overlay && whole.x1 > whole.x0 && whole.y1 > whole.y0
      ? this._background(map, view, camera, cw, ch, whole) : null;
    // Magnified (at least 3 canvas pixels per visible map pixel): colour at map resolution
    // first, then spread it over the canvas (HEAT_FS, BLIT_FS); otherwise in one pass.
    const mapPixels = (rect.x1 - rect.x0) * (rect.y1 - rect.y0);
    const steps = twoStep === 'auto' ? (x1 - x0) * (y1 - y0) >= 3 * mapPixels : !!twoStep;
    const planes = full ? t.step - 1 : 0;
    const variant = { overlay: Boolean(background), mask: Boolean(mask) };
    const last = { background, mask, tile, map, camera, rect, clear, into, cw, ch, box: [x0, y0, x1, y1] };
    if (picture) {
      const pr = this._prog('blit', { ...variant, picture: true });
      gl.useProgram(pr.prog);
      gpu.bind(UNIT.sim, gl.TEXTURE_2D, picture);
      gl.uniform1f(pr.u.uOpacity, background ? view.opacity : 1);
      gl.uniform2i(pr.u.uHeatAt, 0, 0);
      this._toCanvas(pr, last);
      return;
    }
    // (Made before the units are bound: making a texture binds it to the active unit.)
    const heat = steps ? this._heatFor(rect.x1 - rect.x0, rect.y1 - rect.y0) : null;
    const pr = steps ? this._prog('heat') : this._prog('colour', variant);
    gl.useProgram(pr.prog);
    gpu.bind(UNIT.sim, gl.TEXTURE_2D, t.tex);
    gpu.bind(UNIT.stretch, gl.TEXTURE_2D, stretch);
    gpu.bind(UNIT.lut, gl.TEXTURE_2D, this.lut);
    gl.uniform2i(pr.u.uPlane, t.pw, t.ph);
    gl.uniform2i(pr.u.uMask, planes, planes);
    gl.uniform1i(pr.u.uShift, t.shift);
    gl.uniform1i(pr.u.uRelative, scale.relative ? 1 : 0);
    gl.uniform2f(pr.u.uAbsolute, ...(scale.absolute ?? [0, 1]));
    gl.uniform1i(pr.u.uReverse, scale.reverse ? 1 : 0);
    gl.uniform1i(pr.u.uHasOverlay, background ? 1 : 0);
    gl.uniform1f(pr.u.uOpacity, view.opacity);
    let blit = pr;
    if (steps) {
      gl.uniform2i(pr.u.uHeatAt, rect.x0, rect.y0);
      gpu.draw(heat.fb, 0, 0, rect.x1 - rect.x0, rect.y1 - rect.y0);
      blit = this._prog('blit', variant);
      gl.useProgram(blit.prog);
      gl.uniform2i(blit.u.uHeatAt, rect.x0, rect.y0);
      gpu.bind(UNIT.sim, gl.TEXTURE_2D, heat.tex);
    }
    this._toCanvas(blit, last);
  }

  // The last step of a draw: program `pr` (in use) over the tile's box on the canvas.
  _toCanvas(pr, { background, mask, tile, map, camera, rect, clear, into, cw, ch, box: [x0, y0, x1, y1] }) {
    const gpu = this.gpu, gl = gpu.gl;
    gpu.bind(UNIT.overlay, gl.TEXTURE_2D, background);
    if (mask) {
      gpu.bind(UNIT.mask, gl.TEXTURE_2D, mask);
      gl.uniform2i(pr.u.uMapSize, map.width, map.height);
    }
    gl.uniform3f(pr.u.uView, camera.scale, camera.offsetX, camera.offsetY);
    gl.uniform1f(pr.u.uCanvasH, ch);
    gl.uniform4i(pr.u.uRect, rect.x0, rect.y0, rect.x1, rect.y1);
    gl.uniform2i(pr.u.uTile, tile.ox, tile.oy);
    if (clear) this.clearCanvas(clear, into);
    if (x1 > x0 && y1 > y0) {
      gl.enable(gl.SCISSOR_TEST);
      gl.scissor(x0, ch - y1, x1 - x0, y1 - y0);  // GL's y axis points up
      gpu.draw(into ? into.fb : null, 0, 0, cw, ch);
      gl.disable(gl.SCISSOR_TEST);
    }
  }

  /** The whole canvas (or picture `into`) in colour `clear` ([r, g, b, a], 0–1). */
  clearCanvas(clear, into = null) {
    const gl = this.gpu.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, into ? into.fb : null);  // the passes before left their own target bound
    gl.viewport(0, 0, into ? into.width : gl.canvas.width, into ? into.height : gl.canvas.height);
    gl.clearColor(...clear);
    gl.clear(gl.COLOR_BUFFER_BIT);
  }

  // The overlay under the map for this camera and canvas size, drawn only when those change.
  _background(map, view, camera, cw, ch, { x0, y0, x1, y1 }) {
    const gpu = this.gpu, gl = gpu.gl;
    const { scale, offsetX, offsetY } = camera;
    const inColour = view.overlayColour || this.overlayIsPicture;
    const what = [map.width, map.height, scale, offsetX, offsetY, inColour, x0, y0, x1, y1].join();
    if (this._bg && this._bg.w === cw && this._bg.h === ch && this._bg.what === what) return this._bg.tex;
    if (!this._bg || this._bg.w !== cw || this._bg.h !== ch) {
      this.dropBackground();
      this._bg = { ...gpu.target(gl.RGBA8, cw, ch), w: cw, h: ch, what: null };
    }
    const pr = this._prog('background');
    gl.useProgram(pr.prog);
    gpu.bind(UNIT.overlay, gl.TEXTURE_2D, this.overlay);
    gl.uniform3f(pr.u.uView, scale, offsetX, offsetY);
    gl.uniform1f(pr.u.uCanvasH, ch);
    gl.uniform2i(pr.u.uSize, map.width, map.height);
    gl.uniform1i(pr.u.uOverlayColour, inColour ? 1 : 0);
    gl.enable(gl.SCISSOR_TEST);
    gl.scissor(x0, ch - y1, x1 - x0, y1 - y0);
    gpu.draw(this._bg.fb, 0, 0, cw, ch);
    gl.disable(gl.SCISSOR_TEST);
    this._bg.what = what;
    return this._bg.tex;
  }

  dropBackground() {
    this.gpu.dropTarget(this._bg);
    this._bg = null;
  }

  dispose() {
    this.dropBackground();
    this.gpu.dropTarget(this._heat);
    this._heat = null;
    for (const p of Object.values(this.progs)) this.gpu.delete('program', p.prog);
    this.gpu.delete('texture', this.lut);
    this.gpu.delete('texture', this.overlay);
    this.overlay = null;
  }
}
