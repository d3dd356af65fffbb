// Reading back what the renderer computed and drew, for tests, exports and the scripting
// interface: the colour scale's range, the map, the mask, the canvas, and an offscreen picture
// of the whole map. Each draws what it needs first; each blocks until the GPU is done.
import { ensureMap } from './targets.js';
import { paintTiles } from './frame.js';
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
  const { W } = r.ds.layout;
  const key = r.source().key(r.view);
  const out = new Float32Array(W * r.ds.layout.H);
  for (const tile of r.ds.tiles) {  // each tile's plain map, read into its place
    const t = tile.targets.full, { w, h } = tile;
    ensureMap(t, r.source(tile), key, { x0: 0, y0: 0, x1: w, y1: h }, [0], r.view);
    const rgba = new Float32Array(w * h * 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, t.fb);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.FLOAT, rgba);
    for (let y = 0; y < h; y++) {
      const row = (tile.y0 + y) * W + tile.x0;
      for (let x = 0; x < w; x++) out[row + x] = rgba[4 * (y * w + x)];
    }
  }
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
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
 * overlay and mask as the view has them, the stretch over the whole map. Drawn in pieces of
 * at most the tile size on a side (a picture may be larger than the largest texture).
 */
export function renderPicture(r, k) {
  r.gpu.requireContext();
  r._requireView();
  const gl = r.gl, ds = r.ds;
  const { W, H } = ds.layout;
  const w = W * k, h = H * k;
  const out = new Uint8Array(w * h * 4);
  const size = ds.plan.tileSize;
  const rect = { x0: 0, y0: 0, x1: W, y1: H };
  let into = null;
  try {
    for (let py = 0; py < h; py += size) {
      for (let px = 0; px < w; px += size) {
        const pw = Math.min(size, w - px), ph = Math.min(size, h - py);
        if (into?.width !== pw || into?.height !== ph) {
          r.gpu.dropTarget(into);
          into = null;
          into = { ...r.gpu.target(gl.RGBA8, pw, ph), width: pw, height: ph };
        }
        paintTiles(r, rect, { into, camera: { scale: k, offsetX: -px, offsetY: -py }, twoStep: false });
        const px4 = new Uint8Array(pw * ph * 4);
        gl.bindFramebuffer(gl.FRAMEBUFFER, into.fb);
        gl.readPixels(0, 0, pw, ph, gl.RGBA, gl.UNSIGNED_BYTE, px4);
        const piece = flipRows(px4, pw, ph);
        for (let y = 0; y < ph; y++) out.set(piece.subarray(y * pw * 4, (y + 1) * pw * 4), ((py + y) * w + px) * 4);
      }
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return out;
  } finally {
    r.gpu.dropTarget(into);
    r.scheduler.change();  // the canvas's stretch and overlay background were replaced meanwhile
  }
}
