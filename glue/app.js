// Page wiring: start screen, loading, and the switch to the explorer. Talks to the
// worker only through WorkerBridge; everything the page knows lives in `state`.
import { WorkerBridge, DatasetLoadError } from './worker-bridge.js';
import { Explorer } from './explorer.js';

const $ = (id) => document.getElementById(id);

export const state = {
  boot: { stage: 'pyodide', ready: false, error: null, versions: null, bootMs: null },
  gpuError: null,         // why the explorer cannot run here (no WebGL 2, ...), or null
  loading: null,          // {name, stage, done, total} while a dataset is being read/decoded/uploaded
  dataset: null,          // the DATASET message on screen: {info, layers, overlay, overlaySize, decodeMs}
  error: null,            // {file, message, rule, entry} of the last refused dataset
  view: {                 // the explorer's state
    hover: null, reference: null, pinned: null, locked: false, channel: null,
    metric: 'angular', stretch: 'relative', colormap: 'fire', opacity: 0.9, overlayColour: false,
  },
  lastMove: null,         // {x, y, t}: the last pointer move that changed the reference
  frames: [],             // recent frames {kind, t, reference, channel} (newest last), for benchmarks
  shownAt: null,          // performance.now() when the current dataset's first full frame was drawn
};

const BOOT_TEXT = {
  pyodide: 'Starting Python…',
  packages: 'Loading numpy and Pillow…',
  ifealid: 'Loading the IFeaLiD reader…',
};

export const shapeText = (info) => `${info.width}×${info.height}×${info.features} @ ${info.precision} bit`;

function render() {
  const { boot, loading, dataset, error } = state;
  $('boot-status').textContent = state.gpuError
    ? state.gpuError
    : boot.error
      ? boot.error
      : boot.ready
        ? `Ready (Python ${boot.versions.python}, numpy ${boot.versions.numpy}, Pillow ${boot.versions.pillow}).`
        : BOOT_TEXT[boot.stage] ?? 'Starting…';

  $('progress').hidden = !loading;
  if (loading) {
    const bar = $('progress-bar');
    if (loading.total) {
      bar.value = loading.done / loading.total;
      $('progress-text').textContent = `${loading.stage} ${loading.done} / ${loading.total}`;
    } else {
      bar.removeAttribute('value');  // indeterminate
      $('progress-text').textContent = loading.stage;
    }
  }

  $('error').hidden = !error;
  $('error').textContent = error ? `${error.file ? `${error.file}: ` : ''}${error.message}` : '';

  const showing = Boolean(dataset);
  $('start').hidden = showing;
  $('explorer').hidden = !showing;
  $('open-button').hidden = !showing;
  $('dataset-title').textContent = dataset ? dataset.info.name : '';  // text, never HTML
  $('dataset-shape').textContent = dataset ? shapeText(dataset.info) : '';
  renderSummary();
}

function renderSummary() {
  const { dataset } = state;
  const summary = $('summary');
  summary.hidden = !dataset;
  summary.replaceChildren();
  if (!dataset) return;
  const { info } = dataset;
  const rows = [
    ['Name', info.name],
    ['Size', shapeText(info)],
    ['Channels', `${info.features} in ${info.pngCount} PNGs, ${info.layerCount} texture layers`],
    ['Overlay', dataset.overlaySize ? `${dataset.overlaySize[0]}×${dataset.overlaySize[1]} image` : 'none'],
    ['Decoded in', `${dataset.decodeMs.toFixed(0)} ms`],
  ];
  for (const [term, value] of rows) {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = value;
    summary.append(dt, dd);
  }
}

let explorer = null;
try {
  explorer = new Explorer(state, {
    onFrame: (frame) => {
      state.frames.push({ kind: frame.kind, t: frame.t, reference: frame.reference, channel: frame.channel });
      if (state.frames.length > 500) state.frames.splice(0, state.frames.length - 500);
      if (frame.kind === 'full' && state.shownAt === null && state.dataset) state.shownAt = frame.t;
    },
  });
} catch (err) {
  state.gpuError = `This browser cannot show IFeaLiD's heat maps: ${err.message}`;
}

const bridge = new WorkerBridge({
  onBoot: ({ stage }) => { state.boot.stage = stage; render(); },
});
bridge.ready.then(
  ({ versions, bootMs, colormaps }) => {
    Object.assign(state.boot, { ready: true, versions, bootMs });
    explorer?.setColormaps(colormaps);
  },
  (err) => { state.boot.error = err.message; },
).finally(render);

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));

// Open a dataset from `read()`, which resolves to the ZIP's bytes (a File, a fetch).
export async function openDataset(name, read) {
  state.error = null;
  state.loading = { name, stage: 'Reading', done: 0, total: 0 };
  render();
  try {
    const buffer = await read();
    if (!bridge.versions) {
      state.loading.stage = 'Waiting for Python';
      render();
    }
    const dataset = await bridge.decode(buffer, {
      name,
      onProgress: ({ done, total }) => { Object.assign(state.loading, { stage: 'Decoding', done, total }); render(); },
    });
    if (state.gpuError) throw new Error(state.gpuError);
    Object.assign(state.loading, { stage: 'Uploading to the GPU', done: 0, total: 0 });
    render();
    await nextFrame();  // let the progress bar paint before the upload blocks the thread
    state.shownAt = null;
    state.dataset = dataset;
    render();
    await explorer.show(dataset);
  } catch (err) {
    const known = err instanceof DatasetLoadError;
    state.error = { file: name, message: err.message, rule: known ? err.rule : 'internal', entry: known ? err.entry : null };
  } finally {
    state.loading = null;
    render();
  }
}

export const openFile = (file) => openDataset(file.name, () => file.arrayBuffer());

async function fetchBytes(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`could not download ${url}: ${err.message}`);
  }
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status} ${response.statusText}`);
  return response.arrayBuffer();
}

// ?d=name.zip loads datasets/name.zip beside the page, as the original's links do;
// ?d=https://… loads that URL. The download starts now, in parallel with Python's start-up.
function openFromQuery() {
  const d = new URLSearchParams(location.search).get('d');
  if (!d) return;
  let url;
  try {
    url = /^[a-z][a-z0-9+.-]*:/i.test(d) ? new URL(d) : new URL(`datasets/${d}`, location.href);
  } catch {
    state.error = { file: d, message: 'the ?d= value is not a valid address', rule: 'url', entry: null };
    return;
  }
  if (!['http:', 'https:'].includes(url.protocol)) {
    state.error = { file: d, message: `?d= accepts only http and https addresses, not ${url.protocol}`, rule: 'url', entry: null };
    return;
  }
  const name = decodeURIComponent(url.pathname.split('/').pop() || d);
  const bytes = fetchBytes(url.href);
  bytes.catch(() => {});  // reported by openDataset
  openDataset(name, () => bytes);
}

const EXAMPLE_URL = new URL('../datasets/000000015746.jpg.C1.npz.8.zip', import.meta.url);
$('example-button').addEventListener('click', () => openDataset('the example', () => fetchBytes(EXAMPLE_URL)));

$('file-input').addEventListener('change', (event) => {
  const [file] = event.target.files;
  event.target.value = '';  // choosing the same file again must fire `change` again
  if (file) openFile(file);
});
for (const label of document.querySelectorAll('label[for="file-input"]')) {
  label.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('file-input').click(); }
  });
}

render();
openFromQuery();
// A handle for automation and the browser tests; the page itself never reads it.
window.ifealid = { state, bridge, explorer, openFile, openDataset };
