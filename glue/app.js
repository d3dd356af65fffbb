// Page wiring: the start screen. Talks to the worker only through WorkerBridge;
// everything the page knows lives in `state`.
import { WorkerBridge, DatasetLoadError } from './worker-bridge.js';

const $ = (id) => document.getElementById(id);

export const state = {
  boot: { stage: 'pyodide', ready: false, error: null, versions: null, bootMs: null },
  loading: null,          // {name, stage, done, total} while a file is being decoded
  dataset: null,          // the last DATASET message: {info, layers, overlay, overlaySize, decodeMs}
  error: null,            // {message, rule, entry} of the last refused file
};

const BOOT_TEXT = {
  pyodide: 'Starting Python…',
  packages: 'Loading numpy and Pillow…',
  ifealid: 'Loading the IFeaLiD reader…',
};

function render() {
  const { boot, loading, dataset, error } = state;
  $('boot-status').textContent = boot.error
    ? boot.error
    : boot.ready
      ? `Ready (Python ${boot.versions.python}, numpy ${boot.versions.numpy}, Pillow ${boot.versions.pillow}).`
      : BOOT_TEXT[boot.stage] ?? 'Starting…';
  $('boot-status').classList.toggle('failed', Boolean(boot.error));

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

  const summary = $('summary');
  summary.hidden = !dataset;
  summary.replaceChildren();
  $('dataset-title').textContent = dataset ? dataset.info.name : '';
  $('dataset-shape').textContent = dataset ? shapeText(dataset.info) : '';
  if (dataset) {
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
      dd.textContent = value;  // dataset strings are text, never HTML
      summary.append(dt, dd);
    }
  }
}

export const shapeText = (info) => `${info.width}×${info.height}×${info.features} @ ${info.precision} bit`;

const bridge = new WorkerBridge({
  onBoot: ({ stage }) => { state.boot.stage = stage; render(); },
});
bridge.ready.then(
  ({ versions, bootMs }) => Object.assign(state.boot, { ready: true, versions, bootMs }),
  (err) => { state.boot.error = err.message; },
).finally(render);

const EXAMPLE_URL = new URL('../datasets/000000015746.jpg.C1.npz.8.zip', import.meta.url);

// Open a dataset from `read()`, which resolves to the ZIP's bytes (a File, a fetch).
export async function openDataset(name, read) {
  state.error = null;
  state.loading = { name, stage: 'Reading', done: 0, total: 0 };
  render();
  try {
    const buffer = await read();
    state.loading.stage = 'Waiting for Python';
    render();
    const dataset = await bridge.decode(buffer, {
      name,
      onProgress: ({ done, total }) => { Object.assign(state.loading, { stage: 'Decoding', done, total }); render(); },
    });
    state.dataset = dataset;
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
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText} for ${url}`);
  return response.arrayBuffer();
}

$('example-button').addEventListener('click', () => openDataset('the example', () => fetchBytes(EXAMPLE_URL)));

$('file-input').addEventListener('change', (event) => {
  const [file] = event.target.files;
  event.target.value = '';  // choosing the same file again must fire `change` again
  if (file) openFile(file);
});

render();
// A handle for automation and the browser tests; the page itself never reads it.
window.ifealid = { state, bridge, openFile, openDataset };
