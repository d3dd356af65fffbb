// Everything on the explorer screen that shows the view state, apart from the map and the
// analysis controls (analysis-panel.js): the read-outs, the chart, the colour scale, the lock,
// and the controls' values.
// Subscribes to the view model; hover-driven updates wait for the animation frame, after the
// renderer's commands (RENDERER.md, "Latency notes"), and several moves in one frame draw once.
import { FeatureChart } from './chart.js';
import { readoutText, chartText } from './readout.js';
import { transformOf, valuesAt } from '../compute/values.js';
import { foreignVector } from '../model/analysis.js';
import { REFERENCE_COLOURS } from './marks.js';
import { formatValue } from '../format.js';
import { shownPca } from '../compute/pca-job.js';

import { byId } from './dom.js';

// The chart's value axis in the values setting's units: stored values 0 to 1; true values their
// range (with 0); centred and z-scored ones ± the largest magnitude shown.
function chartDomain(view, vectors) {
  if (view.values === 'stored') return [0, 1];
  if (view.values === 'true') {
    const [lo, hi] = view.dataset.info.range;
    return [Math.min(lo, 0), Math.max(hi, 0, lo + 1e-12)];
  }
  let m = 1e-12;
  for (const v of vectors) if (v) for (let k = 0; k < v.length; k++) m = Math.max(m, Math.abs(v[k]));
  return [-m, m];
}

// Fields whose change the read-outs and the chart show.
const HOVER_FIELDS = ['dataset', 'hover', 'reference', 'pins', 'regions', 'pointer', 'locked', 'mode', 'channel',
  'metric', 'values', 'combine', 'pcaResult'];

export class Panels {
  /** model: the view model; renderer: for the marker's position and the context state. */
  constructor(model, renderer, canvas, { root = document, stateOf = (v) => v } = {}) {
    this.$ = byId(root);
    this.stateOf = stateOf;  // the state of the pane described (model/panes.js)
    this.model = model;
    this.renderer = renderer;
    this.canvas = canvas;
    this.chart = new FeatureChart(this.$('chart'));
    this.colormaps = {};
    this._frame = 0;
    model.subscribe((view, changed) => this._changed(view, changed));
  }

  /** The colour tables ({name: 768 RGB bytes}) for the select and the scale. */
  setColormaps(tables) {
    this.colormaps = tables;
    this.$('colormap').replaceChildren(...Object.keys(tables).map((name) => new Option(name, name)));
    this._controls(this.model.state);
  }

  _changed(view, changed) {
    if (changed.has('dataset')) {
      this.chart.setFeatures(view.dataset ? view.dataset.info.features : 0);
      this.chart.setAxis(view.dataset?.info ?? null);  // wavelengths, band names (model/channels.js)
      this.$('colour-toggle').hidden = !view.dataset?.overlay;
    }
    if (['dataset', 'mode', 'pcaBackground'].some((k) => changed.has(k))) {
      // Opacity: of the heat map over the overlay or over the PCA colours, of the PCA colours
      // over the overlay.
      const under = view.mode === 'similarity' && view.pcaBackground;
      this.$('opacity-box').hidden = !(view.dataset?.overlay || under);
    }
    if (['mode', 'pcaResult'].some((k) => changed.has(k))) this._pcaScale(view);
    if (['dataset', 'locked', 'stretch', 'colormap', 'opacity', 'overlayColour'].some((k) => changed.has(k))) {
      this._controls(view);
    }
    if (changed.has('mode') || changed.has('channel')) this.chart.update({ highlight: view.mode === 'channel' ? view.channel : null });
    if (changed.has('stretch') && view.stretch === 'absolute') this.showStretch({ min: 0, max: 1 });
    // A pointer move waits for the animation frame; any other change shows at once.
    if (HOVER_FIELDS.some((k) => changed.has(k))) {
      this.updateHover({ now: [...changed].some((k) => k !== 'hover' && k !== 'reference') });
    }
  }

  /** Read-outs and chart at the next animation frame (at once: now). */
  updateHover({ now = false } = {}) {
    if (now) {
      cancelAnimationFrame(this._frame);
      this._frame = 0;
      this._hoverPanels();
      return;
    }
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this._hoverPanels();
    });
  }

  _hoverPanels() {
    const view = this.stateOf(this.model.state);
    this.$('readout').textContent = readoutText(view, { contextLost: this.renderer.isContextLost() });
    this.$('chart-readout').textContent = chartText(view);
    const ds = view.dataset;
    if (!ds) return;
    const at = view.hover ?? view.reference;
    const pin = view.pins.at(-1);  // the chart sets the hovered pixel beside the newest pin
    const transform = transformOf(ds, view.values, view.joint);
    const hover = at ? valuesAt(ds, transform, at.x, at.y) : null;
    const pinned = !pin ? null : (pin.pane ?? 0) === (view.pane ?? 0) ? valuesAt(ds, transform, pin.x, pin.y)
      : foreignVector(view, pin.pane ?? 0, { kind: 'pixel', x: pin.x, y: pin.y }).vector;
    this.chart.update({
      hover, pinned, domain: chartDomain(view, [hover, pinned]),
      pinColour: REFERENCE_COLOURS[(view.pins.length - 1) % REFERENCE_COLOURS.length],
    });
  }

  // The controls show the view's values: lock, selects, opacity, colour toggle, scale gradient.
  _controls(view) {
    this.$('lock').setAttribute('aria-pressed', String(view.locked));
    this.$('lock').textContent = view.locked ? 'Unlock (L)' : 'Lock (L)';
    this.$('locked-badge').hidden = !view.locked;
    this.$('stage').classList.toggle('locked', view.locked);
    this.$('stretch').value = view.stretch;
    if (view.colormap in this.colormaps) this.$('colormap').value = view.colormap;
    this.$('opacity').value = String(view.opacity);
    this.$('colour-toggle').setAttribute('aria-pressed', String(view.overlayColour));
    this._drawScale(this.colormaps[view.colormap]);
  }

  _drawScale(lut) {
    if (!lut) return;
    const ctx = this.$('scale').getContext('2d');
    const image = ctx.createImageData(256, 1);
    for (let i = 0; i < 256; i++) image.data.set([lut[3 * i], lut[3 * i + 1], lut[3 * i + 2], 255], 4 * i);
    ctx.putImageData(image, 0, 0);
  }

  // The PCA view's scale: none for three components (the legend says what the colours are);
  // for one, the scores at its ends (a sigmoid's run from −∞ to ∞).
  _pcaScale(view) {
    const r = view.mode === 'pca' ? shownPca(view) : null;
    this.$('scale-box').hidden = Boolean(r && r.components.length === 3);
    if (!r || r.components.length !== 1) return;
    const { lo, hi } = r.ranges[0];
    this.$('scale-min').textContent = lo === null ? `PC${r.components[0]} −∞` : `PC${r.components[0]} ${formatValue(lo)}`;
    this.$('scale-max').textContent = hi === null ? '∞' : formatValue(hi);
  }

  /** The colour scale's numbers, from a drawn frame's stretch. */
  showStretch({ min, max }) {
    this.$('scale-min').textContent = formatValue(min);
    this.$('scale-max').textContent = formatValue(max);
  }
}
