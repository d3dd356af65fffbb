// The threshold's mask (issue 13) on the GPU side: computed on the CPU from the whole map
// (compute/mask.js: the connected rule is a flood fill), uploaded as an R8 texture that the
// colour pass draws over the map. The map's CPU copy is kept per map, so dragging the
// threshold costs the mask and a colour pass, not a new map.
import { thresholdMask } from '../compute/mask.js';
import { referenceShapes } from '../model/analysis.js';

export class MaskLayer {
  constructor(gpu) {
    this.gpu = gpu;
    this.tex = null;
    this.map = null;     // {key, values: Float32Array} the map the mask was made from
    this.state = null;   // {key, mask: Uint8Array (0/1), count, total}
  }

  /**
   * The mask texture for `view` (null without a threshold): `mapOf(key)` gives the whole map as a
   * Float32Array (W × H, row 0 = top) when the kept copy is not that map's.
   */
  update(view, key, W, H, mapOf) {
    if (view.mode !== 'similarity' || view.threshold === null) return null;
    if (this.map?.key !== key) this.map = { key, values: Float32Array.from(mapOf()) };
    const maskKey = `${key}|${view.threshold}|${view.connected}`;
    if (this.state?.key !== maskKey) {
      const { mask, count } = thresholdMask(this.map.values, W, H, view.metric, view.threshold, {
        connected: view.connected, references: referenceShapes(view),
      });
      this._upload(mask, W, H);
      this.state = { key: maskKey, mask, count, total: W * H };
    }
    return this.tex;
  }

  _upload(mask, W, H) {
    const gl = this.gpu.gl;
    if (!this.tex || this._size !== `${W}x${H}`) {
      this.gpu.delete('texture', this.tex);
      this.tex = this.gpu.texture2D(gl.R8, W, H);
      this._size = `${W}x${H}`;
    }
    const bytes = new Uint8Array(mask.length);
    for (let i = 0; i < mask.length; i++) bytes[i] = mask[i] ? 255 : 0;
    gl.bindTexture(gl.TEXTURE_2D, this.tex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, W, H, gl.RED, gl.UNSIGNED_BYTE, bytes);
  }

  /** Forget the dataset's maps and masks (a new dataset, a lost context). */
  reset() { this.map = null; this.state = null; }

  dispose() {
    this.gpu.delete('texture', this.tex);
    this.tex = null;
    this.reset();
  }
}
