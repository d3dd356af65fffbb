// The min/max reduction (relative stretch): the map's samples in the visible rectangle, 4×4 → 1
// per pass, ending in texel (0, 0) of one of the ping-pong targets. A preview's samples are
// plane (0, 0)'s texels over the rectangle; a full map's are the rectangle's pixels. Skipped
// when the same texels of the same rectangle were reduced last (a colour-map change, say).
// A map drawn in tiles reduces each tile's part, then the tiles' (min, max) pairs together.
import { REDUCE_FS } from './shaders.js';
import { UNIT } from './device.js';

export class ReducePass {
  constructor(gpu) {
    this.gpu = gpu;
    this.prog = gpu.program(REDUCE_FS, 'reduce', { uSrc: UNIT.sim });
  }

  /** Reduce target t of `targets` over map rectangle r (full: every plane; else the preview's). */
  run(targets, t, r, full) {
    const s = t.step;
    const mask = full ? s - 1 : 0;
    const what = { t: t.name, gen: t.gen, mask, x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1 };
    const last = targets.reduced;
    if (last && Object.keys(what).every((k) => last[k] === what[k])) return;
    const gl = this.gpu.gl;
    const pr = this.prog;
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
    targets.stretchAt = this._passes(targets.red, t.tex, first.count, 1);
    targets.reduced = what;
  }

  /**
   * The (min, max) of several tiles' reductions (their `stretchAt` targets) into `into`
   * ({gather: an n × 1 RG32F target, red: [a, b] of ⌈n/4⌉ × 1}); its `stretchAt` holds them.
   */
  combine(into, parts) {
    if (parts.length === 1) {
      into.stretchAt = parts[0];
      return;
    }
    const gl = this.gpu.gl;
    gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, into.gather.fb);
    parts.forEach((p, i) => {
      gl.bindFramebuffer(gl.READ_FRAMEBUFFER, p.fb);
      gl.blitFramebuffer(0, 0, 1, 1, i, 0, i + 1, 1, gl.COLOR_BUFFER_BIT, gl.NEAREST);
    });
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, null);
    gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, null);
    gl.useProgram(this.prog.prog);
    into.stretchAt = this._passes(into.red, into.gather.tex, [parts.length, 1], 0);
  }

  // 4 × 4 → 1 passes from `src` (count w × h samples) through the ping-pong pair; the last target.
  _passes(red, src, [w, h], isFirst) {
    const gl = this.gpu.gl, pr = this.prog;
    let i = 0, dst;
    do {
      dst = red[i];
      const dw = Math.ceil(w / 4), dh = Math.ceil(h / 4);
      this.gpu.bind(UNIT.sim, gl.TEXTURE_2D, src);
      gl.uniform2i(pr.u.uCount, w, h);
      gl.uniform1i(pr.u.uFirst, isFirst);
      this.gpu.draw(dst.fb, 0, 0, dw, dh);
      src = dst.tex; w = dw; h = dh; isFirst = 0; i ^= 1;
    } while (w > 1 || h > 1);
    return dst;
  }

  dispose() { this.gpu.delete('program', this.prog.prog); }
}
