// The threshold's mask (issue 13) on the GPU side: computed on the CPU from the whole map
// (compute/mask.js: the connected rule is a flood fill), uploaded as an R8 texture per tile
// (with a 1-pixel border of its neighbours, for the outline along a tile's edge) that the
// colour pass draws over the map. The map's CPU copy is kept per map, so dragging the
// threshold costs the mask and a colour pass, not a new map.
import { thresholdMask } from '../compute/mask.js';
import { referenceShapes } from '../model/analysis.js';

export class MaskLayer {
  constructor(gpu) {
    this.gpu = gpu;
    this.textures = new Map();  // per tile ('x0,y0,w,h'): {tex, key (the mask it holds)}
    this.map = null;     // {key, values: Float32Array} the map the mask was made from
    this.state = null;   // {key, mask: Uint8Array (0/1), count, total}
  }

  /**
   * Make the mask for `view` (false without a threshold): `mapOf(key)` gives the whole map as a
   * Float32Array (W × H, row 0 = top) when the kept copy is not that map's.
   */
  update(view, key, W, H, mapOf) {
    if (view.mode !== 'similarity' || view.threshold === null) return false;
    if (this.map?.key !== key) this.map = { key, values: Float32Array.from(mapOf()) };
    const maskKey = `${key}|${view.threshold}|${view.connected}`;
    if (this.state?.key !== maskKey) {
      const { mask, count } = thresholdMask(this.map.values, W, H, view.metric, view.threshold, {
        connected: view.connected, references: referenceShapes(view),
      });
      this.state = { key: maskKey, mask, count, total: W * H, W, H };
    }
    return true;
  }

  /** The current mask's texture for the tile at (x0, y0) of w × h pixels (after update). */
  textureFor({ x0, y0, w, h }) {
    const gl = this.gpu.gl;
    const { mask, key, W, H } = this.state;
    const at = `${x0},${y0},${w},${h}`;
    let entry = this.textures.get(at);
    if (!entry) {
      entry = { tex: this.gpu.texture2D(gl.R8, w + 2, h + 2), key: null };
      this.textures.set(at, entry);
    }
    if (entry.key !== key) {
      // The tile's pixels and one around them (0 beyond the map's edge).
      const bytes = new Uint8Array((w + 2) * (h + 2));
      for (let j = 0; j < h + 2; j++) {
        const y = y0 - 1 + j;
        if (y < 0 || y >= H) continue;
        for (let i = Math.max(0, 1 - x0), x = x0 - 1 + i; i < w + 2 && x < W; i++, x++) {
          if (mask[y * W + x]) bytes[j * (w + 2) + i] = 255;
        }
      }
      gl.bindTexture(gl.TEXTURE_2D, entry.tex);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w + 2, h + 2, gl.RED, gl.UNSIGNED_BYTE, bytes);
      entry.key = key;
    }
    return entry.tex;
  }

  /** Forget the dataset's maps and masks (a new dataset, a lost context). */
  reset() {
    this.map = null;
    this.state = null;
    for (const e of this.textures.values()) this.gpu.delete('texture', e.tex);
    this.textures.clear();
  }

  dispose() { this.reset(); }
}
