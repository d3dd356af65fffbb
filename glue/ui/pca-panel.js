// The side panel's PCA controls (issue 14): the view on or off, which components, their scaling,
// the fit set, the similarity over PCA colours; and what the computation reports: its progress,
// the legend (which component is which colour, with its explained variance), how many pixels it
// was fitted on, or why it could not be. Input becomes view changes; the view shows here.
import { PCA_MAX_COMPONENT } from '../model/view.js';
import { PcaJobs, shownPca } from '../compute/pca-job.js';

import { byId } from './dom.js';
const CHANNEL_COLOURS = ['#ff4d4d', '#4dff66', '#4d8dff'];
const FIT_TEXT = { all: 'all pixels', foreground: 'the foreground', region: 'the regions' };
const PROGRESS_AFTER_MS = 250;  // a computation shows its progress once it has run this long
const PROGRESS_EVERY_MS = 150;

/**
 * "2,3,4" or "2 3 4" or "5" → [2, 3, 4] / [5]; throws an Error saying what is wrong (for a
 * dataset of C channels).
 */
export function parseComponents(text, C) {
  const parts = String(text).trim().split(/[\s,;]+/).filter(Boolean);
  if (parts.length !== 1 && parts.length !== 3) throw new Error('give three components (R, G, B) or one, e.g. 1,2,3 or 2');
  const ks = parts.map((s) => (/^\d{1,3}$/.test(s) ? Number(s) : NaN));
  const top = Math.min(C, PCA_MAX_COMPONENT);
  if (ks.some((k) => !(k >= 1 && k <= top))) throw new Error(`components are numbered 1 to ${top} here`);
  if (new Set(ks).size !== ks.length) throw new Error('the three components must differ');
  return ks;
}

const percent = (r) => `${(100 * r).toFixed(r < 0.1 ? 2 : 1)} %`;

export class PcaPanel {
  constructor(model, { root = document } = {}) {
    this.$ = byId(root);
    this.model = model;
    this.jobs = new PcaJobs(model, { onStatus: (s) => this._status(s) });
    const setPca = (patch) => this.model.set({ pca: { ...this.model.state.pca, ...patch } });
    this.$('pca-on').addEventListener('change', (e) => this.show(e.target.checked));
    this.$('pca-components').addEventListener('change', (e) => this.setComponents(e.target.value));
    this.$('pca-scale').addEventListener('change', (e) => setPca({ scale: e.target.value }));
    this.$('pca-fit').addEventListener('change', (e) => setPca({ fit: e.target.value }));
    this.$('pca-threshold').addEventListener('change', (e) => {
      const t = Number(e.target.value);
      if (e.target.value !== '' && Number.isFinite(t)) setPca({ threshold: t });
      else this._controls(this.model.state);
    });
    this.$('pca-flip').addEventListener('change', (e) => setPca({ flip: e.target.checked }));
    this.$('pca-background').addEventListener('change', (e) => this.model.set({ pcaBackground: e.target.checked }));
    model.subscribe((view, changed) => {
      if (['dataset', 'mode', 'pca', 'pcaBackground', 'pcaResult'].some((k) => changed.has(k))) this._controls(view);
      // Whichever way the PCA colours come on (key, link), their panel opens.
      if ((changed.has('mode') || changed.has('pcaBackground')) && (view.mode === 'pca' || view.pcaBackground)) this.$('pca-box').open = true;
    });
  }

  /** The PCA view on (true) or off (back to the similarity). */
  show(on) {
    if (!this.model.state.dataset) return;
    this.model.set({ mode: on ? 'pca' : 'similarity' });
  }

  toggle() { this.show(this.model.state.mode !== 'pca'); }

  toggleBackground() { if (this.model.state.dataset) this.model.set({ pcaBackground: !this.model.state.pcaBackground }); }

  /** Components from what the user typed; a mistake is shown beside the field and changes nothing. */
  setComponents(text) {
    const view = this.model.state;
    if (!view.dataset) return;
    const field = this.$('pca-components');
    try {
      const components = parseComponents(text, view.dataset.info.features);
      field.setAttribute('aria-invalid', 'false');
      this.model.set({ pca: { ...view.pca, components } });
    } catch (err) {
      field.setAttribute('aria-invalid', 'true');
      this._status({ state: 'error', message: `Components "${String(text).slice(0, 20)}": ${err.message}` });
    }
  }

  _controls(view) {
    const { pca } = view;
    this.$('pca-on').checked = view.mode === 'pca';
    const field = this.$('pca-components');
    if (field.getRootNode().activeElement !== field) {  // (the page's document, or a widget's shadow root)
      field.value = pca.components.join(',');
      field.setAttribute('aria-invalid', 'false');
    }
    this.$('pca-scale').value = pca.scale;
    this.$('pca-fit').value = pca.fit;
    this.$('pca-foreground').hidden = pca.fit !== 'foreground';
    if (this.$('pca-threshold').getRootNode().activeElement !== this.$('pca-threshold')) this.$('pca-threshold').value = String(pca.threshold);
    this.$('pca-flip').checked = pca.flip;
    this.$('pca-background').checked = view.pcaBackground;
    this._legend(view);
  }

  // Which component is which colour, and how much of the variance it explains.
  _legend(view) {
    const r = shownPca(view);
    const rows = [];
    if (r) {
      r.components.forEach((k, i) => {
        const li = document.createElement('li');
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = r.components.length === 3 ? CHANNEL_COLOURS[i] : 'linear-gradient(90deg, #000, #fff)';
        const what = document.createElement('span');
        what.className = 'what';
        const colour = r.components.length === 3 ? `${'RGB'[i]} = ` : '';
        what.textContent = `${colour}PC${k} · ${percent(r.explained[i])} of the variance`;
        li.append(swatch, what);
        rows.push(li);
      });
    }
    this.$('pca-legend').replaceChildren(...rows);
    this.$('pca-count').textContent = r ? r.components.map((k) => `PC${k}`).join(' ') : '';
    if (r && this.jobs.last?.state !== 'error' && this.jobs.last?.state !== 'running') this._status(this.jobs.last ?? { state: 'done' });
  }

  // What the computation says: progress, where the result comes from, or why there is none.
  // The progress shows only for a computation that takes a while, and changes a few times a
  // second: every change repaints the page, which under software rendering takes the CPU time
  // the computation needs.
  _status(s) {
    const bar = this.$('pca-progress'), text = this.$('pca-status');
    const now = performance.now();
    if (s.state === 'running') {
      this._since ??= now;
      if (now - this._since < PROGRESS_AFTER_MS || now - (this._shown ?? 0) < PROGRESS_EVERY_MS) return;
      this._shown = now;
      bar.hidden = false;
      if (Number.isFinite(s.progress)) bar.value = s.progress; else bar.removeAttribute('value');
    } else {
      this._since = null;
      bar.hidden = true;
    }
    text.classList.toggle('error', s.state === 'error');
    const view = this.model.state;
    const r = shownPca(view);
    if (s.state === 'running') text.textContent = 'Computing the principal components…';
    else if (s.state === 'error') text.textContent = s.message;
    else if (r) {
      const fitted = r.sampled ? `a fixed sample of ${r.count.toLocaleString('en')} of ${r.pool.toLocaleString('en')} pixels`
        : `${r.count.toLocaleString('en')} pixels`;
      const fg = r.fit.how === 'foreground' ? ` (standardised PC1 ${r.fit.flip ? '−' : ''}z > ${r.fit.threshold})` : '';
      text.textContent = `Fitted on ${FIT_TEXT[r.fit.how]}${fg}: ${fitted}, ${r.values} values.`
        + (Number.isFinite(r.ms) ? ` ${Math.round(r.ms)} ms.` : '');
    } else text.textContent = '';
  }
}
