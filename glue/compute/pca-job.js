// The PCA view's computation (issue 14), run for the view model: whenever the view shows PCA
// colours (the PCA mode, or the similarity over them) and its settings have no result yet, the
// components are computed here in slices between which the page keeps running, then put into
// the view as `pcaResult`. A newer request cancels an older one; fits, scores and scaled
// colours are kept per dataset and setting, so going back to a setting costs nothing.
//
// The steps (compute/pca.js has the arithmetic, app/pca.py the float64 reference):
//   fit      the fit set's pixels (all; the foreground: PC1 of all of them, whitened and signed,
//            above the threshold; the union of the regions), sampled to at most PCA_SAMPLE,
//            their covariance under the values setting and its top eigenpairs
//   scores   every pixel's (t − m)·v for the components shown
//   colours  each component scaled to [0, 1]; three make the RGB picture
import { transformOf } from './values.js';
import { PCA_SAMPLE, sampleOf, gramOf, covarianceOf, topEigen, scoresOf, scaleScores, pictureOf } from './pca.js';
import { JointPcaComputer } from './pca-joint.js';
import { jointOf, datasetsOf } from '../model/panes.js';

/** A request the data cannot answer (too few pixels, constant values): the message says why. */
export class PcaError extends Error {}

class Cancelled extends Error {}

const SLICE_MS = 12;  // the longest stretch of work between two chances for the page to run

// A task of its own (a message, not a timer: timers are clamped to 4 ms once nested).
const yieldTask = () => new Promise((resolve) => {
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = () => { port1.close(); resolve(); };
  port2.postMessage(null);
});

/** Which pixels and values a fit uses: the part of a result's key the components depend on. */
export function fitKey(view) {
  const { values, pca, regions } = view;
  // (comparing datasets: one joint fit over every pane, issue 16)
  const panes = view.others?.length ? `|panes:${jointOf(view).key}` : '';
  if (pca.fit === 'foreground') return `${values}${panes}|foreground:${pca.threshold}:${pca.flip ? 'flip' : ''}`;
  if (pca.fit === 'region') return `${values}${panes}|region:${regions.map((r) => `${r.pane ?? 0}:${r.x0},${r.y0},${r.x1},${r.y1}`).join(';')}`;
  return `${values}${panes}|all`;
}

/** The identity of the result a view asks for. */
export const resultKey = (view) => `${fitKey(view)}|${view.pca.components.join(',')}|${view.pca.scale}`;

/**
 * The view's PCA components when there are some for the dataset on screen (not a refusal, not
 * another dataset's), else null.
 */
export const shownPca = (view) => {
  const r = view.pcaResult;
  return r && !r.error && r.dataset === view.dataset ? r : null;
};

/** Whether a view shows PCA colours (and so needs a result). */
export const wantsPca = (view) => Boolean(view.dataset)
  && (view.mode === 'pca' || (view.pcaBackground && view.mode === 'similarity'));

/**
 * The pixels of the union of rectangles (inclusive corners), ascending: Int32Array.
 */
export function regionPixels(regions, W, H) {
  const inside = new Uint8Array(W * H);
  for (const r of regions) for (let y = r.y0; y <= r.y1; y++) inside.fill(1, y * W + r.x0, y * W + r.x1 + 1);
  const out = [];
  for (let p = 0; p < inside.length; p++) if (inside[p]) out.push(p);
  return Int32Array.from(out);
}

/** A result's scores as float32 (H, W, k), the components interleaved (readMap, the .npy). */
export function pcaScores(result) {
  const k = result.scores.length, N = result.width * result.height;
  const out = new Float32Array(N * k);
  result.scores.forEach((s, i) => { for (let p = 0; p < N; p++) out[p * k + i] = s[p]; });
  return out;
}

/** One dataset's fits and scores, computed when first asked and kept. */
export class PcaComputer {
  constructor(dataset) {
    this.dataset = dataset;
    this.fits = new Map();    // fitKey → fit
    this.scaled = new Map();  // `${fitKey}|${component}|${scale}` → {v, lo, hi}
  }

  /**
   * The result for a view's settings: {computed: true, key, fitKey, values, fit, components, scale,
   * eigenvalues, explained, vectors, scores, ranges ({lo, hi} of each scaling), colours (each
   * component's position 0..1, Float64Array), count, pool, sampled, totalVariance, picture
   * (RGBA bytes, row 0 at the top: three components as R, G, B; one as grey), map (one component:
   * its colours' positions 0..1, else null), dataset, width, height}.
   * `tick(fraction)` is awaited between slices of work (it may throw to cancel).
   */
  async compute(view, tick = async () => {}) {
    const { info } = this.dataset;
    const { width: W, height: H } = info;
    const { components, scale } = view.pca;
    const K = Math.max(...components);
    const fk = fitKey(view);
    // Where the time goes (ms, the yields to the page included): the benchmark reports it.
    this.timings = { gram: 0, eigen: 0, scores: 0, colours: 0 };
    const fit = await this._fit(view, K, (f) => tick(0.6 * f));
    let t = performance.now();
    const scores = await this._scores(fit, components, (f) => tick(0.6 + 0.35 * f));
    this.timings.scores += performance.now() - t;
    t = performance.now();
    const ranges = [];
    const scaled = components.map((k, i) => {
      const key = `${fk}|${k}|${scale}`;
      if (!this.scaled.has(key)) this.scaled.set(key, scaleScores(scores[i], scale, fit.values[k - 1]));
      const s = this.scaled.get(key);
      ranges.push({ lo: s.lo, hi: s.hi });
      return s.v;
    });
    await tick(1);
    const picture = pictureOf(scaled, W * H);
    const total = fit.totalVariance;
    return {
      computed: true,
      key: resultKey(view),
      fitKey: fk,
      values: view.values,
      fit: { how: view.pca.fit, threshold: view.pca.threshold, flip: view.pca.flip },
      components: [...components],
      scale,
      eigenvalues: components.map((k) => fit.values[k - 1]),
      explained: components.map((k) => Math.max(0, fit.values[k - 1]) / total),
      vectors: components.map((k) => fit.vectors[k - 1]),
      scores,
      ranges,
      count: fit.count,
      pool: fit.pool,
      sampled: fit.count < fit.pool,
      totalVariance: total,
      colours: scaled,
      picture,
      map: components.length === 1 ? scaled[0] : null,
      timings: { ...this.timings, colours: performance.now() - t },
      dataset: this.dataset,
      width: W,
      height: H,
    };
  }

  // The fit for a view's fit settings with at least K components (more are computed when asked).
  async _fit(view, K, tick) {
    const fk = fitKey(view);
    const known = this.fits.get(fk);
    if (known && known.vectors.length >= K) return known;
    const { info } = this.dataset;
    const transform = transformOf(this.dataset, view.values);
    const { gram, count, pool, what } = known ?? await this._gram(view, K, tick);
    const { cov, meanQ } = covarianceOf(gram, transform.a);
    let trace = 0;
    for (let c = 0; c < info.features; c++) trace += cov[c * info.features + c];
    if (!(trace > 0)) {
      throw new PcaError(`${what} is constant (all its vectors are equal after the values setting): it has no principal components`);
    }
    await tick(0.9);
    const t = performance.now();
    const eig = topEigen(cov, info.features, Math.min(info.features, Math.max(K, 3)));
    this.timings.eigen += performance.now() - t;
    // A component of no variance (what rounding leaves of a zero eigenvalue, numpy's
    // matrix_rank tolerance) has no direction to show.
    for (let k = 2; k <= K; k++) {
      if (!(eig.values[k - 1] > eig.values[0] * info.features * 2 ** -52)) {
        throw new PcaError(`component ${k} has no variance on the fit set (λ_${k} = ${eig.values[k - 1].toPrecision(3)}, `
          + `λ_1 = ${eig.values[0].toPrecision(6)}): the fit set's vectors span fewer than ${k} directions`);
      }
    }
    const fit = {
      key: fk, gram, a: transform.a, meanQ, values: eig.values, vectors: eig.vectors,
      totalVariance: trace, count, pool, what, scores: new Map(),
    };
    this.fits.set(fk, fit);
    return fit;
  }

  // The fit set's Gram matrix: {gram, count (pixels in it), pool (pixels it was sampled from)}.
  async _gram(view, K, tick) {
    const { info } = this.dataset;
    const N = info.width * info.height;
    let pool = null;
    let what = view.first ? 'the dataset (the foreground\'s first fit)' : 'the dataset';
    if (view.pca.fit === 'foreground') {
      // PC1 of every pixel, standardised and signed: the foreground is what lies above the
      // threshold (z = flip · s_1 / √λ_1, in that order, as app/pca.py rounds it).
      const all = await this._fit({ ...view, first: true, pca: { ...view.pca, fit: 'all' } }, 1, (f) => tick(0.5 * f));
      const [s1] = await this._scores(all, [1], (f) => tick(0.5 + 0.1 * f));
      const flip = view.pca.flip ? -1 : 1, root = Math.sqrt(all.values[0]), T = view.pca.threshold;
      const picked = [];
      for (let p = 0; p < N; p++) if ((flip * s1[p]) / root > T) picked.push(p);
      pool = Int32Array.from(picked);
      what = `the foreground (standardised PC1 score ${flip < 0 ? '−' : ''}z > ${T})`;
      tick = ((outer) => (f) => outer(0.6 + 0.4 * f))(tick);
    } else if (view.pca.fit === 'region') {
      if (!view.regions.length) throw new PcaError('fitting on a region needs one: draw it with shift-drag on the map');
      pool = regionPixels(view.regions, info.width, info.height);
      what = 'the region\'s fit set';
    }
    const poolSize = pool ? pool.length : N;
    const picks = sampleOf(N, pool, PCA_SAMPLE);
    const least = Math.max(K, 1) + 1;
    if (picks.length < least) {
      throw new PcaError(`${what} has ${picks.length} pixel${picks.length === 1 ? '' : 's'}, and PC${least - 1} needs at least ${least} `
        + '(n pixels span at most n − 1 directions)');
    }
    const t = performance.now();
    const gram = await gramOf(this.dataset, picks, (f) => tick(0.9 * f));
    this.timings.gram += performance.now() - t;
    return { gram, count: picks.length, pool: poolSize, what };
  }

  // Every pixel's scores on these components (1-based) of a fit, each computed once.
  async _scores(fit, components, tick) {
    const missing = components.filter((k) => !fit.scores.has(k));
    if (missing.length) {
      const got = await scoresOf(this.dataset, fit.a, fit.meanQ, missing.map((k) => fit.vectors[k - 1]), tick);
      missing.forEach((k, i) => fit.scores.set(k, got[i]));
    }
    return components.map((k) => fit.scores.get(k));
  }
}

/**
 * Keeps the view's `pcaResult` current: computes what the view asks for when it shows PCA
 * colours, with `onStatus({state: 'running' | 'done' | 'error' | 'idle', progress, message, ms})`
 * for the panel.
 */
export class PcaJobs {
  constructor(model, { onStatus = () => {} } = {}) {
    this.model = model;
    this.onStatus = onStatus;
    this.computer = computerOf(model.state);
    this.running = null;  // {key, token, promise}
    this._token = 0;
    this.last = null;     // the last status
    model.subscribe((view, changed) => this._changed(view, changed));
  }

  _status(status) {
    this.last = status;
    this.onStatus(status);
  }

  _changed(view, changed) {
    if (changed.has('dataset') || changed.has('others')) {
      this.computer = computerOf(view);
      this._cancel();
      // Another dataset's result (the explorer clears it with the dataset; anyone else, here,
      // after the listeners of this change have run).
      if (view.pcaResult && view.pcaResult.dataset !== view.dataset) {
        queueMicrotask(() => {
          const now = this.model.state;
          if (now.pcaResult && now.pcaResult.dataset !== now.dataset) this.model.set({ pcaResult: null });
        });
        return;
      }
    }
    if (!['dataset', 'others', 'mode', 'pca', 'values', 'regions', 'pcaBackground', 'pcaResult'].some((k) => changed.has(k))) return;
    this.update(view);
  }

  _cancel() {
    this._token += 1;
    this.running = null;
  }

  /** Start what the view needs, if anything (a running computation of another key is cancelled). */
  update(view = this.model.state) {
    if (!wantsPca(view) || !this.computer) {
      if (this.running) { this._cancel(); this._status({ state: 'idle' }); }
      return null;
    }
    const key = resultKey(view);
    if (view.pcaResult?.key === key) return null;
    if (this.running?.key === key) return this.running.promise;
    this._cancel();
    const token = this._token;
    const started = performance.now();
    let slice = performance.now();
    const tick = async (fraction) => {
      if (token !== this._token) throw new Cancelled();
      if (performance.now() - slice < SLICE_MS) return;
      this._status({ state: 'running', progress: fraction ?? null });
      await yieldTask();
      if (token !== this._token) throw new Cancelled();
      slice = performance.now();
    };
    const computer = this.computer;
    const promise = (async () => {
      this._status({ state: 'running', progress: 0 });
      await yieldTask();  // the change that asked first shows (the panel, the progress)
      try {
        const result = await computer.compute(view, tick);
        if (token !== this._token) return;
        this.running = null;
        result.ms = performance.now() - started;
        this._status({ state: 'done', ms: result.ms });
        this.model.set({ pcaResult: result });
      } catch (err) {
        if (err instanceof Cancelled || token !== this._token) return;
        this.running = null;
        const message = err instanceof PcaError ? err.message : `the principal components could not be computed: ${err.message}`;
        this._status({ state: 'error', message });
        // A refusal is this setting's result too: the map shows none, and asking again is useless.
        const refusal = (dataset) => ({ computed: true, key, error: message, dataset });
        const datasets = computer.datasets ?? [computer.dataset];
        this.model.set({ pcaResult: { ...refusal(datasets[0]), panes: datasets.map(refusal) } });
      }
    })();
    this.running = { key, token, promise };
    return promise;
  }
}

// One dataset's computer, or the joint one of datasets compared side by side.
function computerOf(view) {
  if (!view.dataset) return null;
  return view.others.length ? new JointPcaComputer(datasetsOf(view), jointOf(view)) : new PcaComputer(view.dataset);
}
