// Reading back what the renderer computed and drew, for tests, exports and the scripting
// interface: the colour scale's range, the map, the mask, the canvas, and an offscreen picture
// of the whole map. Each draws what it needs first; each blocks until the GPU is done.
import { ensureMap } from './targets.js';
import { colourScale } from '../model/analysis.js';
import { pcaScores, shownPca } from '../compute/pca-job.js';

// GL's rows run bottom-up; the page's run top-down.
export function flipRows(px, w, h) {
  const out = new Uint8Array(px.length);
  for (let y = 0; y < h; y++) out.set(px.subarray((h - 1 - y) * w * 4, (h - y) * w * 4), y * w * 4);
  return out;
}

/** {min, max} of the last drawn frame's colour scale. */
export function readStretch(r) {
  r.gpu.requireContext();
  r._requireView();
  const scale = colourScale(r.view);
  if (!scale.relative) return { min: scale.absolute[0], max: scale.absolute[1] };
  if (r.scheduler.dirty || !r.frames.rect) r.renderNow();
  if (!r.frames.rect) return r.getStretch();
  r.frames.stretch = r.frames.readStretchTexel();
  return r.getStretch();
}

/**
 * The view's map over the whole dataset at full resolution: Float32Array, row 0 = top. The PCA
 * view's is its scores, computed on the CPU: the shown components' interleaved (H, W, k).
 */
export function readMap(r) {
  r.gpu.requireContext();
  r._requireView();
  if (r.view.mode === 'pca') {
    const result = shownPca(r.view);
    if (!result) throw new Error(r.view.pcaResult?.error ?? 'the PCA view has no components yet (they are being computed)');
    return pcaScores(result);
  }
  const gl = r.gl;
  const { W, H } = r.ds.layout;
  const t = r.ds.targets.full, source = r.source();
  ensureMap(t, source, source.key(r.view), { x0: 0, y0: 0, x1: W, y1: H }, [0], r.view);
  const rgba = new Float32Array(W * H * 4);
  gl.bindFramebuffer(gl.FRAMEBUFFER, t.fb);
  gl.readPixels(0, 0, W, H, gl.RGBA, gl.FLOAT, rgba);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  const out = new Float32Array(W * H);
  for (let i = 0; i < out.length; i++) out[i] = rgba[4 * i];
  return out;
}

/** The threshold's mask (Uint8Array, 1 inside), or null without a threshold. */
export function readMask(r) {
  if (r.view.threshold === null || r.view.mode !== 'similarity') return null;
  if (r.scheduler.dirty || !r.maskLayer.state || r.frames.last?.kind !== 'full') r.renderNow();
  return r.maskLayer.state ? Uint8Array.from(r.maskLayer.state.mask) : null;
}

/** A full frame drawn now, the canvas read back as RGBA bytes. */
export function readCanvas(r) {
  r.renderNow();
  const gl = r.gl;
  const w = r.canvas.width, h = r.canvas.height;
  const px = new Uint8Array(w * h * 4);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
  return flipRows(px, w, h);
}

/**
 * The whole map as a picture at dataset resolution × k (nearest-neighbour pixels): colours,
 * overlay and mask as the view has them, the stretch over the whole map.
 */
export function renderPicture(r, k) {
  r.gpu.requireContext();
  r._requireView();
  const gl = r.gl, ds = r.ds, view = r.view;
  const { W, H } = ds.layout;
  const w = W * k, h = H * k;
  if (w > r.limits.maxTextureSize || h > r.limits.maxTextureSize) {
    throw new Error(`a ${w}×${h} picture is larger than this GPU's largest texture (${r.limits.maxTextureSize})`);
  }
  const into = { ...r.gpu.target(gl.RGBA8, w, h), width: w, height: h };
  try {
    const t = ds.targets.full, source = r.source(), key = source.key(view);
    const rect = { x0: 0, y0: 0, x1: W, y1: H };
    ensureMap(t, source, key, rect, [0], view);
    const scale = colourScale(view);
    if (scale.relative) r.reduce.run(ds.targets, t, rect, true);
    const mask = r.maskLayer.update(view, key, W, H, () => r.mapValues());
    r.colour.draw({
      targets: ds.targets, t, rect, full: true, view, scale, mask, clear: r.clearColour, twoStep: false,
      into, camera: { scale: k, offsetX: 0, offsetY: 0 }, picture: source.picture?.(view) ?? null,
    });
    const px = new Uint8Array(w * h * 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, into.fb);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return flipRows(px, w, h);
  } finally {
    r.gpu.dropTarget(into);
    r.scheduler.change();  // the canvas's stretch and overlay background were replaced meanwhile
  }
}
