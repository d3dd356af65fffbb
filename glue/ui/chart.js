// The side chart: one horizontal bar per channel (channel 0 at the top) for the
// hovered pixel, or a butterfly comparison (hovered to the left in white, pinned
// to the right in orange) when a pixel is pinned. Draws on its own 2D canvas.
const HOVER_COLOUR = '#f2f2f2';
const PIN_COLOUR = '#fc6600';
const HIGHLIGHT = 'rgba(120, 180, 255, 0.45)';

export class FeatureChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.features = 0;
    this.hover = null;      // Float64Array of [0, 1] values, or null
    this.pinned = null;
    this.highlight = null;  // channel index, or null
  }

  setFeatures(count) {
    this.features = count;
    this.hover = this.pinned = null;
    this.highlight = null;
    this.draw();
  }

  /**
   * hover, pinned: the vectors (in the values setting's units); domain: [lo, hi] of the value
   * axis, lo ≤ 0 ≤ hi (bars grow from 0: outwards for positive values, inwards for negative).
   */
  update({ hover = this.hover, pinned = this.pinned, highlight = this.highlight, pinColour = this.pinColour,
    domain = this.domain } = {}) {
    Object.assign(this, { hover, pinned, highlight, pinColour, domain });
    this.draw();
  }

  _resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
  }

  /** Channel under a CSS y offset within the canvas, or null. */
  channelAt(offsetY) {
    const h = this.canvas.clientHeight;
    if (!this.features || offsetY < 0 || offsetY >= h) return null;
    return Math.min(this.features - 1, Math.floor((offsetY / h) * this.features));
  }

  draw() {
    this._resize();
    const { ctx, canvas, features, hover, pinned, highlight } = this;
    const W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    if (!features) return;
    const barH = H / features;
    const gap = barH >= 4 ? 1 : 0;
    const [lo, hi] = this.domain ?? [0, 1];
    // Bars from the zero axis, `direction` +1 growing right, −1 left, in a half (or all) of the width.
    const bars = (values, x0, direction, colour) => {
      ctx.fillStyle = colour;
      const span = pinned ? W / 2 : W;
      const axis = x0 + direction * span * (-lo / (hi - lo));
      for (let k = 0; k < features; k++) {
        const len = direction * (values[k] / (hi - lo)) * span;
        if (!len) continue;
        ctx.fillRect(Math.min(axis, axis + len), k * barH, Math.abs(len), Math.max(barH - gap, 0.75));
      }
      if (lo < 0) {  // the zero axis
        ctx.fillStyle = '#888';
        ctx.fillRect(Math.floor(axis), 0, 1, H);
      }
    };
    if (highlight !== null) {
      ctx.fillStyle = HIGHLIGHT;
      ctx.fillRect(0, highlight * barH, W, Math.max(barH, 2));
    }
    if (pinned) {
      if (hover) bars(hover, W / 2, -1, HOVER_COLOUR);
      bars(pinned, W / 2, 1, this.pinColour ?? PIN_COLOUR);
      ctx.fillStyle = '#666';
      ctx.fillRect(Math.floor(W / 2), 0, 1, H);
    } else if (hover) {
      bars(hover, 0, 1, HOVER_COLOUR);
    }
  }
}
