// Exports, made in the page and saved as downloads (issue 13): the view as on screen, the map
// as a picture at dataset resolution, the map's values (.npy float32, 16-bit PNG with its range),
// the mask (PNG, .npy) and the reference vectors (CSV, .npy); the PCA view's colours (PNG) and
// scores (.npy) (issue 14). The numeric files are encoded by the
// worker's Python (app/exports.py, numpy and Pillow), the same functions `ifealid map` writes with.
import { mapRequest } from '../model/analysis.js';
import { transformOf, valuesAt, regionVector } from '../compute/values.js';
import { REFERENCE_COLOURS } from './marks.js';
import { pixelToCanvas } from '../render/camera.js';
import { pcaScores, shownPca } from '../compute/pca-job.js';

const LONG_SIDE = 1024;  // the dataset-resolution picture's long side, at least

/** A file name from the dataset's name and what the file holds, safe on every system. */
export function fileName(view, what, ext) {
  const base = (view.dataset.info.name || 'dataset').replace(/\.zip$/i, '');
  const r = mapRequest(view);
  const at = r.pointer?.kind === 'vector' ? { ...r.pointer.shape, pane: r.pointer.pane } : r.pointer;
  const ref = at ? `ref${at.pane ? `p${at.pane}_` : ''}${at.x}_${at.y}` : '';
  const extra = r.statics?.length ? `${r.statics.length}refs` : '';
  const shows = view.mode === 'channel' ? `channel${view.channel}`
    : view.mode === 'pca' || what.startsWith('pca') ? `${view.values}-pc${view.pca.components.join('_')}-${view.pca.scale}`
      : `${view.values}-${view.metric}`;
  const parts = [base, what, shows, view.mode === 'similarity' ? ref : '', view.mode === 'similarity' ? extra : ''];
  return `${parts.filter(Boolean).join('-').replace(/[^\w.-]+/g, '_').slice(0, 120)}.${ext}`;
}

function download(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// RGBA bytes (row 0 at the top) as a PNG, through a 2D canvas.
async function png(rgba, width, height, draw = null) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height), 0, 0);
  draw?.(ctx);
  return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
}

/** The reference vectors of a view (C × K, float64, channel-major) and their labels. */
export function referenceVectors(view) {
  const r = mapRequest(view);
  const refs = [...(r.pointer ? [r.pointer] : []), ...(r.statics ?? [])];
  const transform = transformOf(view.dataset, view.values, view.joint);
  const C = view.dataset.info.features;
  const out = new Float64Array(C * refs.length);
  const labels = [];
  const label = (r) => (r.kind === 'pixel' ? `${r.x},${r.y}` : `${r.x0},${r.y0},${r.x1},${r.y1}`);
  refs.forEach((ref, k) => {
    // (comparing datasets: another pane's reference is its vector, labelled "pane K:…")
    const v = ref.kind === 'vector' ? ref.vector : ref.kind === 'pixel' ? valuesAt(view.dataset, transform, ref.x, ref.y)
      : regionVector(view.dataset, transform, ref, view.metric);
    for (let c = 0; c < C; c++) out[c * refs.length + k] = v[c];
    labels.push(ref.kind === 'vector' ? `pane ${ref.pane}:${label(ref.shape)}` : label(ref));
  });
  return { vectors: out, shape: [C, refs.length], labels };
}

export class Exports {
  /** model: the view model; renderer; encode(what, typedArray, shape, meta) → Promise<bytes> (the worker). */
  /**
   * pane(): the pane exported when datasets are compared ({renderer, view}: its renderer and
   * state, model/panes.js); by default the one renderer and the model's state.
   */
  constructor(model, renderer, encode, { onError, pane = null }) {
    this.model = model;
    this.renderer = renderer;
    this.encode = encode;
    this.onError = onError;
    this.pane = pane ?? (() => ({ renderer: this.renderer, view: this.model.state }));
  }

  /** Make and save export `what` (the buttons' data-export names) of the pane `pane()` names. */
  async save(what) {
    const { renderer, view } = this.pane();
    if (!view.dataset) return;
    try {
      const [bytes, name, type] = await this.make(what, view, renderer);
      download(bytes, name, type);
    } catch (err) {
      this.onError(`The export could not be made: ${err.message}`);
    }
  }

  /** [bytes, file name, MIME type] of export `what` for `view`. */
  async make(what, view, r = this.renderer) {
    const { width: W, height: H } = view.dataset.info;
    const npy = 'application/octet-stream';
    switch (what) {
      case 'view-png': {
        const { width, height } = r.canvas;
        return [await png(r.readCanvas(), width, height, (ctx) => this._drawMarks(ctx, view, view.camera)),
          fileName(view, 'view', 'png'), 'image/png'];
      }
      case 'view-png-large': {
        const k = Math.max(1, Math.ceil(LONG_SIDE / Math.max(W, H)));
        const rgba = r.renderPicture(k);
        return [await png(rgba, W * k, H * k, (ctx) => this._drawMarks(ctx, view, { scale: k, offsetX: 0, offsetY: 0 })),
          fileName(view, `picture-x${k}`, 'png'), 'image/png'];
      }
      case 'map-npy':
        if (view.mode === 'pca') return this.make('pca-npy', view, r);
        return [await this.encode('map-npy', r.readMap(), [H, W]), fileName(view, 'map', 'npy'), npy];
      case 'pca-npy':
      case 'pca-png': {
        const result = shownPca(view);
        if (!result || (view.mode !== 'pca' && !view.pcaBackground)) {
          throw new Error('there are no PCA colours: show them first (PCA colours, or P)');
        }
        const k = result.components.length;
        if (what === 'pca-npy') return [await this.encode('pca-npy', pcaScores(result), [H, W, k]), fileName(view, 'pca-scores', 'npy'), npy];
        // The colours as the page computed them, made into bytes by the CLI's encoder.
        const colours = new Float64Array(W * H * k);
        result.colours.forEach((c, i) => { for (let p = 0; p < W * H; p++) colours[p * k + i] = c[p]; });
        const fit = result.fit.how === 'foreground' ? `foreground:${result.fit.threshold}${result.fit.flip ? ':flip' : ''}` : result.fit.how;
        const meta = {
          components: result.components, values: result.values, fit, scale: result.scale,
          explained: result.explained, cmap: k === 1 ? view.colormap : null,
        };
        return [await this.encode('pca-png', colours, k === 1 ? [H, W] : [H, W, 3], meta), fileName(view, 'pca', 'png'), 'image/png'];
      }
      case 'map-png16':
        if (view.mode === 'pca') throw new Error('the PCA view\'s map is its components\' colours: export the PCA PNG or the scores (.npy)');
        return [await this.encode('map-png16', r.readMap(), [H, W], { metric: view.mode === 'channel' ? `channel ${view.channel}` : view.metric, values: view.values }),
          fileName(view, 'map16', 'png'), 'image/png'];
      case 'mask-png':
      case 'mask-npy': {
        const mask = r.readMask();
        if (!mask) throw new Error('there is no mask: set a threshold first (Mask, or M)');
        const ext = what === 'mask-png' ? 'png' : 'npy';
        return [await this.encode(what, mask, [H, W]), fileName(view, 'mask', ext), ext === 'png' ? 'image/png' : npy];
      }
      case 'refs-csv':
      case 'refs-npy': {
        const { vectors, shape, labels } = referenceVectors(view);
        if (!shape[1]) throw new Error('there is no reference: the pointer takes no part and nothing is pinned');
        const ext = what === 'refs-csv' ? 'csv' : 'npy';
        return [await this.encode(what, vectors, shape, { labels }), fileName(view, 'references', ext), ext === 'csv' ? 'text/csv' : npy];
      }
      default: throw new Error(`unknown export ${what}`);
    }
  }

  // The pins and regions as the page draws them over the map (marks.js), in canvas pixels.
  _drawMarks(ctx, view, camera) {
    const k = camera.scale;
    const here = (p) => (p.pane ?? 0) === (view.pane ?? 0);  // another pane's are not on this map
    view.pins.forEach((p, i) => {
      if (!here(p)) return;
      const c = pixelToCanvas(camera, p.x + 0.5, p.y + 0.5);
      ctx.beginPath();
      ctx.arc(c.x, c.y, Math.max(4, Math.min(8, k)), 0, 2 * Math.PI);
      ctx.fillStyle = REFERENCE_COLOURS[i % 16];
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    });
    view.regions.forEach((reg, i) => {
      if (!here(reg)) return;
      const a = pixelToCanvas(camera, reg.x0, reg.y0), b = pixelToCanvas(camera, reg.x1 + 1, reg.y1 + 1);
      ctx.lineWidth = 2;
      ctx.strokeStyle = REFERENCE_COLOURS[(view.pins.length + i) % 16];
      ctx.strokeRect(a.x + 1, a.y + 1, b.x - a.x - 2, b.y - a.y - 2);
    });
  }
}
