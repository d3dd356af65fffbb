// The PCA view of datasets compared side by side (issue 16): one fit over all of them, so a
// colour means the same vector in every pane (app/pca.py's joint PCA, with the comparison's one
// transform of app/compare.py). The fit set is the concatenation of each pane's (all its pixels,
// its own regions, or its foreground by the joint PC1), sampled over that concatenation as one
// dataset's is; its moments come from each dataset's exact integer Gram matrix (pca.js) turned
// into the values' units with that dataset's transform; robust and min–max scaling take their
// bounds over every pane's scores together.
import { transformOf } from './values.js';
import { PCA_SAMPLE, sampleOf, gramOf, topEigen, scoresOf, scaleScores, pictureOf } from './pca.js';
import { regionPixels, PcaError, resultKey, fitKey } from './pca-job.js';

export class JointPcaComputer {
  /** datasets: every pane's, pane 0 first; joint: their pooled statistics (compute/values.js). */
  constructor(datasets, joint) {
    this.datasets = datasets;
    this.joint = joint;
    this.fits = new Map();
    this.timings = { gram: 0, eigen: 0, scores: 0, colours: 0 };
  }

  /** The result for pane 0 (as PcaComputer's), with `panes`: every pane's, sharing the fit. */
  async compute(view, tick = async () => {}) {
    const { components, scale } = view.pca;
    const K = Math.max(...components);
    const transforms = this.datasets.map((d) => transformOf(d, view.values, this.joint));
    const fit = await this._fit(view, K, transforms, (f) => tick(0.6 * f));
    let t = performance.now();
    const vectors = components.map((k) => fit.vectors[k - 1]);
    const scores = [];
    for (const [i, d] of this.datasets.entries()) {
      scores.push(await scoresOf(d, transforms[i].a, meanInQ(fit.mean, transforms[i]), vectors,
        (f) => tick(0.6 + (0.35 * (i + f)) / this.datasets.length)));
    }
    this.timings.scores = performance.now() - t;
    t = performance.now();
    // Each component scaled over all panes' scores together, then split again.
    const sizes = this.datasets.map((d) => d.info.width * d.info.height);
    const ranges = [];
    const scaled = components.map((k, c) => {
      const all = new Float64Array(sizes.reduce((a, b) => a + b, 0));
      let at = 0;
      for (const s of scores) { all.set(s[c], at); at += s[c].length; }
      const { v, lo, hi } = scaleScores(all, scale, fit.values[k - 1]);
      ranges.push({ lo, hi });
      at = 0;
      return sizes.map((n) => { const part = v.subarray(at, at + n); at += n; return part; });
    });
    await tick(1);
    const total = fit.totalVariance;
    const common = {
      computed: true, key: resultKey(view), fitKey: fitKey(view), values: view.values,
      fit: { how: view.pca.fit, threshold: view.pca.threshold, flip: view.pca.flip },
      components: [...components], scale,
      eigenvalues: components.map((k) => fit.values[k - 1]),
      explained: components.map((k) => Math.max(0, fit.values[k - 1]) / total),
      vectors, ranges, count: fit.count, pool: fit.pool, sampled: fit.count < fit.pool, totalVariance: total,
      joint: this.datasets.length,
    };
    const panes = this.datasets.map((d, i) => {
      const { width: W, height: H } = d.info;
      const colours = scaled.map((parts) => parts[i]);
      return { ...common, scores: scores[i], colours, picture: pictureOf(colours, W * H), map: colours.length === 1 ? colours[0] : null, dataset: d, width: W, height: H };
    });
    this.timings.colours = performance.now() - t;
    return { ...panes[0], panes, timings: { ...this.timings } };
  }

  async _fit(view, K, transforms, tick) {
    const fk = fitKey(view);
    const known = this.fits.get(fk);
    if (known && known.vectors.length >= K) return known;
    let pools = this.datasets.map(() => null);  // null: every pixel
    let what = 'the joint fit set';
    if (view.pca.fit === 'region') {
      pools = this.datasets.map((d, i) => regionPixels(view.regions.filter((r) => (r.pane ?? 0) === i), d.info.width, d.info.height));
      if (!pools.some((p) => p.length)) throw new PcaError('fitting on a region needs one: draw it with shift-drag on a map');
      what = 'the regions\' joint fit set';
    } else if (view.pca.fit === 'foreground') {
      const first = await this._moments(pools, 2, transforms, 'the joint fit set (the foreground\'s first fit)', (f) => tick(0.4 * f));
      const flip = view.pca.flip ? -1 : 1, root = Math.sqrt(first.values[0]), T = view.pca.threshold;
      pools = [];
      for (const [i, d] of this.datasets.entries()) {
        const [s1] = await scoresOf(d, transforms[i].a, meanInQ(first.mean, transforms[i]), [first.vectors[0]]);
        const picked = [];
        for (let p = 0; p < s1.length; p++) if ((flip * s1[p]) / root > T) picked.push(p);
        pools.push(Int32Array.from(picked));
      }
      what = `the foreground (standardised PC1 score ${flip < 0 ? '−' : ''}z > ${T})`;
      tick = ((outer) => (f) => outer(0.5 + 0.5 * f))(tick);
    }
    const fit = await this._moments(pools, K + 1, transforms, what, tick);
    this.fits.set(fk, fit);
    return fit;
  }

  // Mean, covariance and top eigenpairs of the values over the concatenated (sampled) pools.
  async _moments(pools, least, transforms, what, tick) {
    const C = this.datasets[0].info.features;
    const sizes = this.datasets.map((d, i) => pools[i]?.length ?? d.info.width * d.info.height);
    const total = sizes.reduce((a, b) => a + b, 0);
    const positions = sampleOf(total, null, PCA_SAMPLE);
    if (positions.length < least) {
      throw new PcaError(`${what} has ${positions.length} pixel${positions.length === 1 ? '' : 's'}, and PC${least - 1} needs at least ${least} `
        + '(n pixels span at most n − 1 directions)');
    }
    // Each dataset's picks: the sampled positions that fall in its part of the concatenation.
    const picks = [];
    let start = 0, at = 0;
    for (const [i, n] of sizes.entries()) {
      const mine = [];
      while (at < positions.length && positions[at] < start + n) mine.push(positions[at++] - start);
      picks.push(Int32Array.from(mine, (j) => (pools[i] ? pools[i][j] : j)));
      start += n;
    }
    // Σt and Σtᵀt over every dataset, shifted by a first estimate of the mean (less cancellation).
    let t = performance.now();
    const grams = [];
    for (const [i, d] of this.datasets.entries()) {
      grams.push(picks[i].length ? await gramOf(d, picks[i], (f) => tick((0.9 * (i + f)) / this.datasets.length)) : null);
    }
    this.timings.gram = performance.now() - t;
    const shift = new Float64Array(C);
    const firstIdx = grams.findIndex(Boolean);
    { const { sums, count } = grams[firstIdx], { a, b } = transforms[firstIdx];
      for (let c = 0; c < C; c++) shift[c] = a[c] * (sums[c] / count) + b[c]; }
    const S = new Float64Array(C), M2 = new Float64Array(C * C);
    let n = 0;
    grams.forEach((g, i) => {
      if (!g) return;
      const { a, b } = transforms[i];
      const e = b.map((bc, c) => bc - shift[c]);  // t − shift = a·q + e
      const { gram, sums, count } = g;
      n += count;
      for (let c = 0; c < C; c++) S[c] += a[c] * sums[c] + count * e[c];
      for (let r = 0; r < C; r++) {
        for (let c = r; c < C; c++) {
          M2[r * C + c] += a[r] * a[c] * gram[r * C + c] + a[r] * sums[r] * e[c] + e[r] * a[c] * sums[c] + count * e[r] * e[c];
        }
      }
    });
    const mean = new Float64Array(C), cov = new Float64Array(C * C);
    for (let c = 0; c < C; c++) mean[c] = S[c] / n;
    let trace = 0;
    for (let r = 0; r < C; r++) {
      for (let c = r; c < C; c++) {
        const v = M2[r * C + c] / n - mean[r] * mean[c];
        cov[r * C + c] = v;
        cov[c * C + r] = v;
      }
      trace += cov[r * C + r];
    }
    for (let c = 0; c < C; c++) mean[c] += shift[c];
    if (!(trace > 0)) throw new PcaError(`${what} is constant (all its vectors are equal after the values setting): it has no principal components`);
    await tick(0.95);
    t = performance.now();
    const K = Math.min(C, Math.max(least - 1, 3));
    const eig = topEigen(cov, C, K);
    this.timings.eigen = performance.now() - t;
    for (let k = 2; k < least; k++) {
      if (!(eig.values[k - 1] > eig.values[0] * C * 2 ** -52)) {
        throw new PcaError(`component ${k} has no variance on the fit set (λ_${k} = ${eig.values[k - 1].toPrecision(3)}, `
          + `λ_1 = ${eig.values[0].toPrecision(6)}): the fit set's vectors span fewer than ${k} directions`);
      }
    }
    return { mean, values: eig.values, vectors: eig.vectors, totalVariance: trace, count: n, pool: sizes.reduce((x, y) => x + y, 0) };
  }
}

// The mean m (values' units) as the integers' "mean" that scoresOf subtracts: (t − m)·v with
// t = a·q + b is Σ a_c·(q_c − (m_c − b_c)/a_c)·v_c (a channel with a = 0 contributes nothing).
function meanInQ(mean, { a, b }) {
  return mean.map((m, c) => (a[c] !== 0 ? (m - b[c]) / a[c] : 0));
}
