// The comparison's controls (issue 16): how many datasets are side by side, whether their
// views move together and share one colour scale, how many best matches are marked, and the
// note when their values are compared as stored for want of a range.
import { byId } from './dom.js';
import { comparesStored, datasetsOf } from '../model/panes.js';
import { MAX_MATCHES } from '../model/view.js';

export class ComparePanel {
  constructor(model, { root = document } = {}) {
    this.$ = byId(root);
    this.model = model;
    this.$('sync-cameras').addEventListener('change', (e) => model.set({ syncCameras: e.target.checked }));
    this.$('joint-stretch').addEventListener('change', (e) => model.set({ jointStretch: e.target.checked }));
    this.$('matches').addEventListener('change', (e) => {
      const k = Math.round(Number(e.target.value));
      if (Number.isFinite(k)) model.set({ matches: Math.max(0, Math.min(MAX_MATCHES, k)) });
      else this._show(model.state);
    });
    this.$('match-radius').addEventListener('change', (e) => {
      const r = Number(e.target.value);
      if (Number.isFinite(r)) model.set({ matchRadius: Math.max(0, Math.min(1e4, r)) });
      else this._show(model.state);
    });
    model.subscribe((view, changed) => {
      if (['dataset', 'others', 'values', 'syncCameras', 'jointStretch', 'matches', 'matchRadius'].some((k) => changed.has(k))) this._show(view);
    });
  }

  _show(view) {
    const n = datasetsOf(view).length;
    this.$('compare-box').hidden = n < 2;  // its controls matter once datasets are compared
    this.$('compare-count').textContent = n > 1 ? String(n) : '';
    this.$('sync-cameras').checked = view.syncCameras;
    this.$('joint-stretch').checked = view.jointStretch;
    this.$('matches').value = String(view.matches);
    this.$('match-radius').value = String(view.matchRadius);
    const note = this.$('compare-note');
    const missing = datasetsOf(view).filter((d) => !d.info.range).map((d) => d.info.name);
    note.hidden = !comparesStored(view);
    note.textContent = note.hidden ? '' : `Compared on stored values (q / (2^P − 1)): ${missing.join(', ')} `
      + `record${missing.length === 1 ? 's' : ''} no range, so true values cannot be compared`
      + (view.values === 'centred' || view.values === 'zscore' ? '; centred on the stored values pooled over all.' : '.');
  }
}
