// The address bar holds the view (model/fragment.js): kept current as the view changes (the
// history entry replaced, not pushed, at most every THROTTLE_MS), and applied when a page opens
// a link with a fragment or the fragment is edited in place.
import { parseFragment, fragmentOf } from '../model/fragment.js';
import { fitCamera, zoomCenterOf, cameraAt } from '../render/camera.js';
import { syncedCameras } from '../model/panes.js';

const THROTTLE_MS = 250;
const FIT_PADDING = 10;

export class Address {
  /** onProblems([text]): what in a fragment could not be applied. */
  constructor(model, explorer, { onProblems = () => {} } = {}) {
    this.model = model;
    this.explorer = explorer;
    this.onProblems = onProblems;
    this._timer = 0;
    this._writing = '';
    model.subscribe((view, changed) => {
      if (!view.dataset) return;
      if ([...changed].some((k) => k !== 'hover' && !(k === 'reference' && !view.locked))) this._schedule();
    });
    window.addEventListener('hashchange', () => {
      if (location.hash.slice(1) !== this._writing && this.model.state.dataset) this.apply(location.hash);
    });
  }

  _schedule() {
    if (this._timer) return;
    this._timer = setTimeout(() => { this._timer = 0; this.write(); }, THROTTLE_MS);
  }

  // The camera as the link writes it, or null while the map is as fitted.
  _camera(view) {
    const { canvas, dpr } = this.explorer;
    const { info } = view.dataset;
    const fitted = fitCamera(info.width, info.height, canvas.width, canvas.height, FIT_PADDING * dpr);
    const c = view.camera;
    if (!c || (Math.abs(c.scale - fitted.scale) < 1e-9 && Math.abs(c.offsetX - fitted.offsetX) < 1e-6
      && Math.abs(c.offsetY - fitted.offsetY) < 1e-6)) return null;
    return zoomCenterOf(c, canvas.width, canvas.height, dpr);
  }

  /** Write the current view into the address (replacing the history entry). */
  write() {
    const view = this.model.state;
    if (!view.dataset) return;
    const fragment = fragmentOf(view, { camera: this._camera(view) });
    this._writing = fragment;
    const url = new URL(location.href);
    url.hash = fragment;
    if (url.href !== location.href) history.replaceState(history.state, '', fragment ? url : url.href.replace(/#$/, ''));
  }

  /** Apply a fragment to the dataset on screen; what cannot apply is reported, the rest does. */
  apply(hash) {
    const view = this.model.state;
    if (!view.dataset) return;
    const { patch, zoom, center, problems } = parseFragment(hash, view.dataset.info, Object.keys(this.explorer.panels.colormaps ?? {}),
      view.others.map((d) => d.info));
    if (zoom !== null || center !== null) {
      const { canvas, dpr } = this.explorer;
      const now = zoomCenterOf(view.camera, canvas.width, canvas.height, dpr);
      patch.camera = cameraAt(zoom ?? now.zoom, center ?? now.center, canvas.width, canvas.height, dpr);
      // Synchronised views: every pane shows the same part of its map (model/panes.js).
      if ((patch.syncCameras ?? view.syncCameras) && view.others.length) Object.assign(patch, syncedCameras(view, 0, patch.camera));
    }
    try {
      this.model.set(patch);
    } catch (err) {  // parseFragment checks every field; a combination could still be refused
      problems.push(`the view in the address could not be applied: ${err.message}`);
    }
    if (problems.length) this.onProblems(problems);
  }
}
