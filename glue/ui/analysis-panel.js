// The side panel's analysis controls (issue 13): which values, the metric, the references (the
// pointer's pixel, pins, regions: each with its colour, its value at the hovered pixel and a
// button that removes it), how they combine, and the threshold's mask. Input becomes view
// changes; the view's state shows in the controls.
import { absoluteRange, mapRequest } from '../model/analysis.js';
import { nearIsLarge } from '../compute/similarity.js';
import { compareAt, thresholdText } from './readout.js';
import { REFERENCE_COLOURS } from './marks.js';
import { formatValue as fmt } from '../format.js';

import { byId } from './dom.js';
const STEPS = 1000;  // the threshold slider's positions

export class AnalysisPanel {
  constructor(model, { root = document, stateOf = (v) => v } = {}) {
    this.$ = byId(root);
    this.stateOf = stateOf;  // the state of the pane described (model/panes.js)
    this.model = model;
    this.mapRange = null;  // [min, max] of the map shown last (the slider's span where the metric has none)
    this.mask = null;      // {count, total} of the last full frame's mask
    this.$('values').addEventListener('change', (e) => this.model.set({ values: e.target.value }));
    this.$('metric').addEventListener('change', (e) => this.setMetric(e.target.value));
    this.$('combine').addEventListener('change', (e) => this.model.set({ combine: e.target.value }));
    this.$('pointer').addEventListener('change', (e) => this.model.set({ pointer: e.target.checked }));
    this.$('threshold-on').addEventListener('change', (e) => this.toggleMask(e.target.checked));
    this.$('threshold').addEventListener('input', (e) => this.model.set({ threshold: this.valueAt(Number(e.target.value)) }));
    this.$('connected').addEventListener('change', (e) => this.model.set({ connected: e.target.checked }));
    model.subscribe((view, changed) => this._changed(view, changed));
  }

  _changed(view, changed) {
    if (['dataset', 'others', 'values', 'metric', 'combine', 'pointer', 'threshold', 'connected', 'mode'].some((k) => changed.has(k))) {
      this._controls(view);
    }
    const fields = ['dataset', 'others', 'pins', 'regions', 'pointer', 'reference', 'hover', 'values', 'metric', 'combine', 'mode'];
    if (!fields.some((k) => changed.has(k))) return;
    // A pointer move's values wait for the animation frame (after the renderer's commands).
    if ([...changed].every((k) => k === 'hover' || k === 'reference')) {
      this._frame ||= requestAnimationFrame(() => { this._frame = 0; this._references(this.model.state); });
    } else {
      this._references(view);
    }
  }

  /** A frame was drawn: the map's range (for the slider) and the mask's size. */
  frame(f) {
    if (f.mode === 'similarity' && f.stretch && f.scale.relative) this.mapRange = [f.stretch.min, f.stretch.max];
    if (f.kind === 'full') {
      this.mask = f.mask;
      this.$('mask-count').textContent = f.mask
        ? `${f.mask.count} px (${((100 * f.mask.count) / f.mask.total).toFixed(1)} %)` : '';
    }
  }

  /** The threshold slider's span: the metric's own range, else the map's. */
  span(view = this.model.state) {
    return absoluteRange(view.metric, view.values) ?? this.mapRange ?? [0, 1];
  }

  valueAt(position) {
    const [lo, hi] = this.span();
    return lo + ((hi - lo) * position) / STEPS;
  }

  setMetric(metric) {
    // A threshold in one metric's units means nothing in another's: it starts afresh.
    const view = this.model.state;
    this.model.set({ metric, threshold: view.threshold === null ? null : this._defaultThreshold({ ...view, metric }) });
  }

  toggleMask(on) {
    this.model.set({ threshold: on ? this._defaultThreshold(this.model.state) : null });
  }

  // Near a fifth of the span from the near end: a mask of what is most alike.
  _defaultThreshold(view) {
    const [lo, hi] = this.span(view);
    return Number((nearIsLarge(view.metric) ? lo + 0.8 * (hi - lo) : lo + 0.2 * (hi - lo)).toPrecision(4));
  }

  _controls(view) {
    // (comparing datasets: every one needs its range)
    const hasRange = [view.dataset, ...view.others].every((d) => Boolean(d?.info.range));
    const trueOption = this.$('values').querySelector('option[value="true"]');
    trueOption.disabled = !hasRange;
    trueOption.title = hasRange ? '' : 'This dataset records no range (made before ifealid wrote one), so its true values are unknown';
    this.$('values').value = view.values;
    this.$('metric').value = view.metric;
    this.$('combine').value = view.combine;
    this.$('pointer').checked = view.pointer;
    const on = view.threshold !== null;
    this.$('threshold-on').checked = on;
    this.$('threshold').disabled = !on;
    this.$('connected').disabled = !on;
    this.$('connected').checked = view.connected;
    if (on) {
      const [lo, hi] = this.span(view);
      this.$('threshold').value = String(hi > lo ? Math.round(((view.threshold - lo) / (hi - lo)) * STEPS) : 0);
    }
    this.$('threshold-text').textContent = on ? thresholdText(view.metric, view.threshold) : '';
    if (!on) this.$('mask-count').textContent = '';
  }

  // The references, each with its colour and its value at the hovered pixel.
  _references(model) {
    const view = this.stateOf(model);
    const list = this.$('references');
    if (!view.dataset || view.mode !== 'similarity') { list.replaceChildren(); return; }
    const request = mapRequest(view);
    const at = view.hover ?? view.reference;
    const values = at && request.count ? compareAt(view, at).each : [];
    const rows = [];
    let i = 0;
    const row = (colour, region, text, remove) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = `swatch${region ? ' region' : ''}`;
      swatch.style.background = colour;
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = `${text}${values.length ? ` · ${fmt(values[i])}` : ''}`;
      li.append(swatch, what);
      if (remove) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = '×';
        button.title = 'Remove';
        button.addEventListener('click', remove);
        li.append(button);
      }
      rows.push(li);
      i += 1;
    };
    const pane = (p) => (p.pane ? `pane ${p.pane}: ` : '');
    const pointer = request.pointer?.kind === 'vector' ? { ...request.pointer.shape, pane: request.pointer.pane } : request.pointer;
    if (pointer) row('#f2f2f2', false, `pointer ${pane(pointer)}${pointer.x}, ${pointer.y}`, null);
    view.pins.forEach((p, k) => row(REFERENCE_COLOURS[k % 16], false, `pin ${k + 1} · ${pane(p)}${p.x}, ${p.y}`,
      () => this.model.set({ pins: this.model.state.pins.filter((_, j) => j !== k) })));
    view.regions.forEach((r, k) => row(REFERENCE_COLOURS[(view.pins.length + k) % 16], true,
      `region ${k + 1} · ${pane(r)}${r.x0},${r.y0}–${r.x1},${r.y1}`,
      () => this.model.set({ regions: this.model.state.regions.filter((_, j) => j !== k) })));
    list.replaceChildren(...rows);
    this.$('references-count').textContent = request.count ? String(request.count) : '';
    this.$('combine-box').hidden = request.count < 2;
  }
}
