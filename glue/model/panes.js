// Comparing datasets side by side (issue 16): what each pane sees of the one view model.
// The model holds pane 0's dataset and camera as `dataset` and `camera`, the others' in
// `others` and `cameras`; pixels and regions of pane k > 0 carry `pane: k`. A pane's state is
// the model's state as a single-dataset view would have it — its own dataset, camera and
// hover, the references of every pane (those of other panes as vectors, `foreign`) and the
// comparison's one transform (`joint`) — so the renderer, the map sources and the panels work
// on it unchanged. States are memoised per pane: a field that did not change keeps its
// identity, which is what the renderer compares.
import { jointStats } from '../compute/values.js';
import { fitCamera } from '../render/camera.js';

/** The pane a pixel or region belongs to (0 when it carries none). */
export const paneOf = (p) => p?.pane ?? 0;

/** Every pane's dataset, pane 0 first. */
export const datasetsOf = (view) => (view.dataset ? [view.dataset, ...view.others] : []);

/** A pixel or region of pane k ({..., pane: k}, none for pane 0). */
export function inPane(p, k) {
  const { pane, ...rest } = p;
  return k ? { ...rest, pane: k } : rest;
}

/** Pane k's camera in the model's terms (null: not set yet). */
export const cameraOf = (view, k) => (k === 0 ? view.camera : view.cameras[k - 1] ?? null);

/** A patch that sets pane k's camera. */
export function cameraPatch(view, k, camera) {
  if (k === 0) return { camera };
  const cameras = view.others.map((_, i) => view.cameras[i] ?? null);
  cameras[k - 1] = camera;
  return { cameras };
}

/**
 * The cameras of every pane that follow pane k's (synchronised views): the same part of each
 * map, as a fraction of its size, at the same place on each canvas (panes of one size).
 */
export function syncedCameras(view, k, camera) {
  const sizes = datasetsOf(view).map((d) => [d.info.width, d.info.height]);
  const [w, h] = sizes[k];
  const out = sizes.map(([W, H]) => {
    // A map of another size is scaled so that its width spans what pane k's does.
    const s = camera.scale * (w / W);
    return { scale: s, offsetX: camera.offsetX, offsetY: camera.offsetY + (camera.scale * h - s * H) / 2 };
  });
  out[k] = camera;
  return { camera: out[0], cameras: out.slice(1) };
}

/** Every pane's camera fitted to a canvas of (width × height) device pixels. */
export function fittedCameras(view, width, height, padding) {
  const all = datasetsOf(view).map((d) => fitCamera(d.info.width, d.info.height, width, height, padding));
  return { camera: all[0] ?? null, cameras: all.slice(1) };
}

// The pooled statistics of a set of panes, once per set (identity of the datasets' list).
const jointCache = new WeakMap();
/** The comparison's pooled statistics (compute/values.js jointStats), null for one dataset. */
export function jointOf(view) {
  if (!view.others?.length) return null;
  let joint = jointCache.get(view.others);
  if (!joint || joint.dataset !== view.dataset) {
    joint = { dataset: view.dataset, stats: jointStats(datasetsOf(view)) };
    jointCache.set(view.others, joint);
  }
  return joint.stats;
}

/**
 * Whether the panes compare their stored values for want of a range somewhere (true values,
 * and centred/z-scored ones based on them, need every dataset's range).
 */
export const comparesStored = (view) => view.others.length > 0 && datasetsOf(view).some((d) => !d.info.range);

export class PaneStates {
  constructor() {
    this._memo = [];  // per pane: {inputs, state}
  }

  /** Pane k's state for a model state `view` (the model's own object for a single pane). */
  of(view, k = 0) {
    if (!view.others.length && k === 0) return view;
    const own = (p) => (p && paneOf(p) === k ? inPane(p, 0) : null);
    const last = this._memo[k];
    const keep = (name, value, same) => (last && same(last.state[name], value) ? last.state[name] : value);
    const pixelSame = (a, b) => a === b || (a && b && a.x === b.x && a.y === b.y && paneOf(a) === paneOf(b));
    const dataset = datasetsOf(view)[k] ?? null;
    const state = {
      ...view,
      dataset,
      pane: k,
      panes: datasetsOf(view),
      camera: cameraOf(view, k),
      hover: keep('hover', own(view.hover), pixelSame),
      // The pointer's reference in pane k's own terms when it lies there; else a vector of
      // another pane (model/analysis.js mapRequest reads `foreignReference`).
      reference: keep('reference', own(view.reference), pixelSame),
      foreignReference: keep('foreignReference', view.reference && paneOf(view.reference) !== k ? view.reference : null, pixelSame),
      joint: jointOf(view),
      // The joint PCA's picture of this pane (compute/pca-joint.js)
      pcaResult: view.pcaResult?.panes ? view.pcaResult.panes[k] ?? null : k === 0 ? view.pcaResult : null,
    };
    if (last && last.view === view) return last.state;
    const frozen = Object.freeze(state);
    this._memo[k] = { view, state: frozen };
    return frozen;
  }
}
