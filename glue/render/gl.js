// The WebGL 2 context and every object made in it: creation with the settings the renderer
// needs, tracked GL objects (for leak checks and context loss), programs from GLSL text,
// textures, render targets, and the loss/restore events. Knows nothing of maps or passes.
import { FULLSCREEN_VS } from './shaders.js';

export class GpuContext {
  /**
   * @param {HTMLCanvasElement|OffscreenCanvas} canvas
   * @param {{opaque: boolean, preserveDrawingBuffer: boolean, onLost: () => void, onRestored: () => void}} options
   *   opaque: a context without alpha (the canvas's own background colour shows nowhere).
   */
  constructor(canvas, { opaque = false, preserveDrawingBuffer = false, onLost, onRestored }) {
    const gl = canvas.getContext('webgl2', {
      alpha: !opaque, premultipliedAlpha: true, antialias: false, depth: false, stencil: false,
      preserveDrawingBuffer,
    });
    if (!gl) throw new Error('WebGL 2 is not available: canvas.getContext("webgl2") returned null');
    this.canvas = canvas;
    this.gl = gl;
    this.lost = false;
    this._live = { texture: new Set(), framebuffer: new Set(), buffer: new Set(), program: new Set() };
    this._vs = null;
    this.setUp();
    // A lost context (GPU reset, driver update, too many contexts, WEBGL_lose_context) is
    // restored by the browser only if the loss event is cancelled.
    this._onLost = (event) => {
      event.preventDefault();
      if (this.lost) return;
      this.lost = true;
      this._vs = null;
      for (const set of Object.values(this._live)) set.clear();  // every object died with it
      onLost();
    };
    this._onRestored = () => { this.setUp(); this.lost = false; onRestored(); };
    canvas.addEventListener?.('webglcontextlost', this._onLost);
    canvas.addEventListener?.('webglcontextrestored', this._onRestored);
  }

  // Per-context settings; a restored context needs them again (extensions are per context).
  setUp() {
    const gl = this.gl;
    if (!gl.getExtension('EXT_color_buffer_float') && !gl.isContextLost()) {
      throw new Error('WebGL 2 extension EXT_color_buffer_float is missing: the similarity map needs float render targets');
    }
    gl.disable(gl.DITHER);
    gl.disable(gl.BLEND);
    gl.disable(gl.DEPTH_TEST);
  }

  isLost() { return this.lost || this.gl.isContextLost(); }

  requireContext() {
    if (this.isLost()) throw new Error('renderer: the WebGL context is lost (the browser restores it; the map is drawn again then)');
  }

  /** Live GL objects, by kind (for leak checks). */
  stats() {
    return Object.fromEntries(Object.entries(this._live).map(([k, s]) => [k, s.size]));
  }

  track(kind, obj) { this._live[kind].add(obj); return obj; }

  delete(kind, obj) {
    if (!obj) return;
    const gl = this.gl;
    ({ texture: (o) => gl.deleteTexture(o), framebuffer: (o) => gl.deleteFramebuffer(o),
      buffer: (o) => gl.deleteBuffer(o), program: (o) => gl.deleteProgram(o) })[kind](obj);
    this._live[kind].delete(obj);
  }

  /**
   * Compile and link a program (the full-screen triangle unless `vsSource`): {prog, u (uniform
   * locations by name), name}. `samplers` fixes each sampler uniform's texture unit; a uniform
   * block named Ref is bound to binding 0.
   */
  program(fsSource, name, samplers = {}, vsSource = null) {
    const gl = this.gl;
    const compile = (type, src) => {
      const sh = gl.createShader(type);
      gl.shaderSource(sh, src);
      gl.compileShader(sh);
      if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) {
        this.requireContext();  // a lost context compiles nothing
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
      this.requireContext();
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
    return { prog: this.track('program', prog), u: uniforms, name };
  }

  texture2D(internalFormat, w, h, filter) {
    const gl = this.gl;
    const tex = this.track('texture', gl.createTexture());
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texStorage2D(gl.TEXTURE_2D, 1, internalFormat, w, h);
    const f = filter ?? gl.NEAREST;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, f);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, f);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return tex;
  }

  textureArray(internalFormat, w, h, depth) {
    const gl = this.gl;
    const tex = this.track('texture', gl.createTexture());
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, tex);
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, internalFormat, w, h, depth);
    // Integer textures are incomplete with linear filtering.
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    return tex;
  }

  framebuffer(tex, layer) {
    const gl = this.gl;
    const fb = this.track('framebuffer', gl.createFramebuffer());
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    if (layer === undefined) gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    else gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, tex, 0, layer);
    const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
    if (status !== gl.FRAMEBUFFER_COMPLETE) {
      throw new Error(`renderer: render target incomplete (status 0x${status.toString(16)})`);
    }
    return fb;
  }

  /** A texture with a framebuffer drawing into it: {tex, fb}. */
  target(internalFormat, w, h) {
    const tex = this.texture2D(internalFormat, w, h);
    return { tex, fb: this.framebuffer(tex) };
  }

  dropTarget(t) {
    if (!t) return;
    this.delete('framebuffer', t.fb);
    this.delete('texture', t.tex);
  }

  bind(unit, target, tex) {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(target, tex);
  }

  /** The full-screen triangle into framebuffer fb (null: the canvas), viewport (x, y, w, h). */
  draw(fb, x, y, w, h) {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.viewport(x, y, w, h);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  /** Stop listening to the canvas; free the shared vertex shader. Objects are freed by their owners. */
  dispose() {
    this.canvas.removeEventListener?.('webglcontextlost', this._onLost);
    this.canvas.removeEventListener?.('webglcontextrestored', this._onRestored);
    if (this._vs && !this.isLost()) this.gl.deleteShader(this._vs);
    this._vs = null;
  }
}
