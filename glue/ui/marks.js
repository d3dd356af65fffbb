// The references drawn on the map: a marker per pin (in its colour; a click removes it) and an
// outline per region, kept where their pixels are as the camera moves; and the rectangle a
// shift-drag draws while it makes a region.
import { pixelToCanvas } from '../render/camera.js';

import { byId } from './dom.js';

// One colour per pin and region, in order: distinct on the colour maps and the overlay.
export const REFERENCE_COLOURS = Object.freeze([
  '#fc6600', '#00c2ff', '#7cfc00', '#ff3fa4', '#ffd400', '#9d7bff', '#00e0a0', '#ff6b6b',
  '#3d7dff', '#c0ff3e', '#ff9ee0', '#00ffff', '#ffa64d', '#b0b0ff', '#6bff9e', '#ffffff',
]);

export class Marks {
  /** onRemovePin(index): a pin marker was clicked. */
  /**
   * onRemovePin(index): a pin marker was clicked; stateOf(view): the state of this marks' pane
   * (model/panes.js: its own dataset and camera; pins and regions of other panes are not drawn
   * here); layer, box: the pane's elements (pane 0: #marks, #drag-box).
   */
  constructor(model, canvas, { onRemovePin, root = document, stateOf = (v) => v, layer = null, box = null }) {
    this.$ = byId(root);
    this.model = model;
    this.canvas = canvas;
    this.stateOf = stateOf;
    this.layer = layer ?? this.$('marks');
    this.box = box ?? this.$('drag-box');
    this.onRemovePin = onRemovePin;
    this.matches = [];
    // Pins and regions are remade when they change; the best matches' rings, which follow every
    // pointer move, are kept and moved (a transform: no repaint of the rest).
    this.refsBox = document.createElement('div');
    this.ringsBox = document.createElement('div');
    this.layer.replaceChildren(this.refsBox, this.ringsBox);
    model.subscribe((view, changed) => {
      if (['dataset', 'others', 'pins', 'regions', 'camera', 'cameras'].some((k) => changed.has(k))) this.place();
    });
  }

  /** The best matches to mark ([{x, y, value}], nearest first). */
  showMatches(list) {
    const same = list.length === this.matches.length && list.every((m, i) => m.x === this.matches[i].x && m.y === this.matches[i].y);
    this.matches = list;
    if (!same) this._placeRings();
  }

  _placeRings() {
    const view = this.stateOf(this.model.state);
    const list = view.dataset && view.camera ? this.matches : [];
    const rings = this.ringsBox.children;
    while (rings.length > list.length) rings[rings.length - 1].remove();
    while (rings.length < list.length) {
      const ring = document.createElement('div');
      ring.className = 'match-mark';
      this.ringsBox.append(ring);
    }
    list.forEach((m, i) => {
      const ring = rings[i];
      ring.dataset.x = String(m.x);
      ring.dataset.y = String(m.y);
      ring.title = `Best match ${i + 1} at ${m.x}, ${m.y}`;
      ring.textContent = list.length > 1 ? String(i + 1) : '';
      const c = this._css(m.x + 0.5, m.y + 0.5);
      ring.style.transform = `translate(${c.x}px, ${c.y}px)`;
    });
  }

  get dpr() { return this.canvas.width / Math.max(1, this.canvas.clientWidth); }

  // CSS position of map point (x, y).
  _css(x, y) {
    const c = pixelToCanvas(this.stateOf(this.model.state).camera, x, y);
    return { x: c.x / this.dpr, y: c.y / this.dpr };
  }

  /** Put every marker and outline where its pixels are now. */
  place() {
    const view = this.stateOf(this.model.state);
    const { pins, regions, camera, dataset } = view;
    const here = view.pane ?? 0;
    const items = [];
    if (dataset && camera) {
      pins.forEach((p, i) => {
        if ((p.pane ?? 0) !== here) return;  // another pane's
        const marker = document.createElement('button');
        marker.type = 'button';
        marker.className = 'marker';
        marker.title = `Pin ${i + 1} at ${p.x}, ${p.y}: click to remove`;
        marker.setAttribute('aria-label', `Remove pin ${i + 1}`);
        marker.style.background = REFERENCE_COLOURS[i % REFERENCE_COLOURS.length];
        const c = this._css(p.x + 0.5, p.y + 0.5);
        marker.style.transform = `translate(${c.x}px, ${c.y}px)`;
        marker.addEventListener('click', () => this.onRemovePin(i));
        items.push(marker);
      });
      regions.forEach((r, i) => {
        if ((r.pane ?? 0) !== here) return;
        const box = document.createElement('div');
        box.className = 'region-mark';
        box.style.borderColor = REFERENCE_COLOURS[(pins.length + i) % REFERENCE_COLOURS.length];
        this._frame(box, r.x0, r.y0, r.x1 + 1, r.y1 + 1);
        items.push(box);
      });
    }
    this.refsBox.replaceChildren(...items);
    this._placeRings();
  }

  // An element framing map rectangle [x0, x1) × [y0, y1).
  _frame(el, x0, y0, x1, y1) {
    const a = this._css(x0, y0), b = this._css(x1, y1);
    el.style.transform = `translate(${a.x}px, ${a.y}px)`;
    el.style.width = `${Math.max(1, b.x - a.x)}px`;
    el.style.height = `${Math.max(1, b.y - a.y)}px`;
  }

  /** The rectangle of a region being dragged (inclusive map corners), or null to hide it. */
  showDrag(r) {
    this.box.hidden = !r;
    if (r) this._frame(this.box, Math.min(r.x0, r.x1), Math.min(r.y0, r.y1), Math.max(r.x0, r.x1) + 1, Math.max(r.y0, r.y1) + 1);
  }
}
