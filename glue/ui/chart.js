// The side chart: one horizontal bar per channel (channel 0 at the top) for the
// hovered pixel, or a butterfly comparison (hovered to the left in white, pinned
// to the right in orange) when a pixel is pinned. Draws on its own 2D canvas.
// A channel axis runs down the left margin: the dataset's wavelengths (or band names) where its
// metadata has a channel_axis (model/channels.js), else channel numbers; the value axis's
// numbers run along the bottom.
import { axisNumber, axisSummary, channelAxis } from '../model/channels.js';

const HOVER_COLOUR = '#f2f2f2';
const TEXT_COLOUR = '#aaa';
const MARGIN_CSS = 46;      // the channel axis's labels
const TICK_SPACING_CSS = 26; // at least this far apart
const FONT_CSS = 10;
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
    this.info = null;       // the dataset's info (for its channel_axis), or null
    this.ticks = [];        // the channel axis as last drawn: [{k, text}] (read by tests)
    this.valueLabels = [];  // the value axis as last drawn: [text]
    this.label = canvas.getAttribute('aria-label') ?? '';
  }

  /** The channel count, or the dataset's info (its features and channel_axis). */
  setFeatures(countOrInfo) {
    const info = countOrInfo && typeof countOrInfo === 'object' ? countOrInfo : null;
    this.features = info ? info.features : countOrInfo;
    this.info = info;
    this.hover = this.pinned = null;
    this.highlight = null;
    this._describe();
    this.draw();
  }

  /** The dataset's info, for the channel axis (kept when it has the chart's channel count). */
  setAxis(info) {
    this.info = info && info.features === this.features ? info : null;
    this._describe();
    this.draw();
  }

  _describe() {
    const summary = axisSummary(this.info);
    this.canvas.setAttribute('aria-label', summary ? `${this.label}; channels: ${summary}` : this.label);
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

  // Up to `room` channels spread evenly (the first and the last among them), each with its text.
  _tickChannels(room) {
    const { features } = this;
    const axis = channelAxis(this.info);
    const count = Math.max(1, Math.min(features, room));
    const picked = new Set();
    for (let i = 0; i < count; i++) picked.add(count === 1 ? 0 : Math.round((i * (features - 1)) / (count - 1)));
    return [...picked].map((k, i) => {
      let text = String(k);
      if (axis?.values) text = axisNumber(axis.values[k]) + (i === 0 && axis.unit ? ` ${axis.unit}` : '');
      else if (axis?.labels) text = String(axis.labels[k]);
      return { k, text };
    });
  }

  draw() {
    this._resize();
    const { ctx, canvas, features, hover, pinned, highlight } = this;
    const W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    this.ticks = [];
    this.valueLabels = [];
    if (!features) return;
    const dpr = window.devicePixelRatio || 1;
    const M = Math.min(Math.round(MARGIN_CSS * dpr), Math.floor(W / 3));
    const P = W - M;  // the plot's width, right of the channel axis
    const barH = H / features;
    const gap = barH >= 4 ? 1 : 0;
    const [lo, hi] = this.domain ?? [0, 1];
    // Bars from the zero axis, `direction` +1 growing right, −1 left, in a half (or all) of the plot.
    const bars = (values, x0, direction, colour) => {
      ctx.fillStyle = colour;
      const span = pinned ? P / 2 : P;
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
      ctx.fillRect(M, highlight * barH, P, Math.max(barH, 2));
    }
    const mid = M + P / 2;
    if (pinned) {
      if (hover) bars(hover, mid, -1, HOVER_COLOUR);
      bars(pinned, mid, 1, this.pinColour ?? PIN_COLOUR);
      ctx.fillStyle = '#666';
      ctx.fillRect(Math.floor(mid), 0, 1, H);
    } else if (hover) {
      bars(hover, M, 1, HOVER_COLOUR);
    }
    this._axes({ M, P, W, H, dpr, barH, lo, hi, mid });
  }

  // The channel axis in the left margin, the value axis's numbers along the bottom.
  _axes({ M, P, W, H, dpr, barH, lo, hi, mid }) {
    const { ctx } = this;
    ctx.font = `${Math.round(FONT_CSS * dpr)}px system-ui, sans-serif`;
    ctx.fillStyle = '#444';
    ctx.fillRect(M - 1, 0, 1, H);
    ctx.fillStyle = TEXT_COLOUR;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const fontH = FONT_CSS * dpr;
    this.ticks = this._tickChannels(Math.floor(H / (TICK_SPACING_CSS * dpr)) + 1);
    for (const { k, text } of this.ticks) {
      const y = Math.min(Math.max((k + 0.5) * barH, fontH / 2), H - fontH / 2);
      ctx.fillRect(M - 4, Math.round(y), 3, 1);
      ctx.fillText(fitText(ctx, text, M - 6), M - 6, y);
    }
    // Where each number of the value axis lies: the outer ends hold hi (the butterfly's halves
    // are mirrored), the zero axis 0 where the domain is signed, lo at the start.
    const marks = [];
    if (this.pinned) {
      const zero = (-lo / (hi - lo)) * (P / 2);
      marks.push([M, hi, 'left'], [W, hi, 'right']);
      if (lo < 0) marks.push([mid - zero, 0, 'center'], [mid + zero, 0, 'center']);
      else marks.push([mid, lo, 'center']);
    } else {
      marks.push([M, lo, 'left'], [W, hi, 'right']);
      if (lo < 0 && hi > 0) marks.push([M + (-lo / (hi - lo)) * P, 0, 'center']);
    }
    ctx.textBaseline = 'bottom';
    for (const [x, value, align] of marks) {
      const text = axisNumber(value);
      const w = ctx.measureText(text).width + 4;
      const left = align === 'left' ? x : align === 'right' ? x - w : x - w / 2;
      ctx.fillStyle = 'rgba(20, 20, 24, 0.75)';
      ctx.fillRect(left, H - fontH - 3, w, fontH + 3);
      ctx.fillStyle = TEXT_COLOUR;
      ctx.textAlign = 'left';
      ctx.fillText(text, left + 2, H - 1);
      this.valueLabels.push(text);
    }
  }
}

// `text` cut with an ellipsis to fit `width` pixels.
function fitText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && ctx.measureText(`${cut}…`).width > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}
