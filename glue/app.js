// Page wiring: start screen, loading, and the switch to the explorer. Talks to the worker
// only through WorkerBridge. What the page is doing lives in `state`; what the user sees of a
// dataset lives in the view model (model/view.js), which the explorer's parts subscribe to.
import { WorkerBridge, DatasetLoadError } from '../pyworker/bridge.js';
import { ViewModel } from './model/view.js';
import { Records } from './records.js';
import { Explorer } from './ui/explorer.js';
import { Address } from './ui/address.js';
import { Exports } from './ui/exports.js';
import { DeviceLimitError } from './render/device.js';
import { LoadError, resolveDatasetLink, download } from './data/loader.js';
import { DatasetCache } from './data/dataset-cache.js';
import { installDropzone } from './data/dropzone.js';
import { registerServiceWorker } from './data/offline.js';
import { formatBytes } from './format.js';

const $ = (id) => document.getElementById(id);

export const state = {
  boot: { stage: 'pyodide', ready: false, error: null, versions: null, bootMs: null },
  gpuError: null,         // why the explorer cannot run here (no WebGL 2, ...), or null
  loading: null,          // {name, stage, done, total, bytes} while a dataset is being read/decoded/uploaded
                          // (bytes: done/total count bytes of a download; total 0: unknown)
  error: null,            // {file, message, rule, entry} of the last refused dataset
  notice: null,           // something to know that is no error (what a link's view could not apply)
  screen: 'start',        // 'start' | 'explorer'
};

// What the user sees: the dataset on screen (the DATASET message), reference, pins, camera, ...
export const view = new ViewModel();
const records = new Records(view);

const BOOT_TEXT = {
  pyodide: 'Starting Python…',
  packages: 'Loading numpy and Pillow…',
  ifealid: 'Loading the IFeaLiD reader…',
};

export const shapeText = (info) => `${info.width}×${info.height}×${info.features} @ ${info.precision} bit`;

function render() {
  const { boot, loading, error } = state;
  const { dataset } = view.state;
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
    if (loading.bytes) {
      const { done, total } = loading;
      if (total) bar.value = done / total; else bar.removeAttribute('value');
      $('progress-text').textContent = `${loading.stage} ${loading.name}: ${formatBytes(done)}`
        + (total ? ` of ${formatBytes(total)} (${Math.floor((100 * done) / total)} %)` : '');
    } else if (loading.total) {
      bar.value = loading.done / loading.total;
      $('progress-text').textContent = `${loading.stage} ${loading.done} / ${loading.total}`;
    } else {
      bar.removeAttribute('value');  // indeterminate
      $('progress-text').textContent = loading.stage;
    }
  }

  $('notice').hidden = !state.notice;
  $('notice').textContent = state.notice ?? '';
  $('error').hidden = !error;
  $('error').textContent = error ? `${error.file ? `${error.file}: ` : ''}${error.message}` : '';

  const showing = state.screen === 'explorer';
  $('start').hidden = showing;
  $('explorer').hidden = !showing;
  $('open-button').hidden = !showing;
  $('dataset-title').textContent = dataset ? dataset.info.name : '';  // text, never HTML
  $('dataset-shape').textContent = dataset ? shapeText(dataset.info) : '';
  renderSummary();
}

function renderSummary() {
  const { dataset } = view.state;
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

const notify = (text) => { state.notice = text; render(); };

let explorer = null;
let address = null;
try {
  explorer = new Explorer(view, { onFrame: (frame) => records.frame(frame), onNotice: notify });
  address = new Address(view, explorer, { onProblems: (problems) => notify(problems.join('\n')) });
} catch (err) {
  state.gpuError = `This browser cannot show IFeaLiD's heat maps: ${err.message}`;
}

const bridge = new WorkerBridge({
  onBoot: ({ stage }) => { state.boot.stage = stage; render(); },
  // The worker crashed and a fresh one is starting: a file being decoded reports it through
  // openDataset; otherwise say it here. A dataset on screen stays (it no longer needs Python).
  onCrash: ({ message, pending }) => {
    if (!pending) { state.error = { file: null, message, rule: 'worker-crashed', entry: null }; render(); }
  },
});
bridge.ready.then(
  ({ versions, bootMs, colormaps }) => {
    Object.assign(state.boot, { ready: true, versions, bootMs });
    explorer?.setColormaps(colormaps);
  },
  (err) => { state.boot.error = err.message; },
).finally(render);

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));

// Only the newest open may show: an older one still downloading is aborted, one still
// decoding is dropped when it is done.
let openCount = 0;
let openAbort = null;

// Open a dataset from `read({signal, progress})`, which resolves to the ZIP's bytes (a File,
// a download); `progress({done, total})` reports bytes. `onShown` runs once it is on screen.
// May be called at any time: before Python is up (the worker queues the request), or with
// a dataset on screen (the explorer replaces it and frees its GPU memory).
export async function openDataset(name, read, { onShown = null } = {}) {
  const token = ++openCount;
  openAbort?.abort();
  const abort = new AbortController();
  openAbort = abort;
  const current = () => token === openCount;
  state.error = null;
  state.notice = null;
  state.loading = { name, stage: 'Reading', done: 0, total: 0, bytes: false };
  render();
  try {
    const buffer = await read({
      signal: abort.signal,
      progress: ({ done, total, stage = 'Downloading' }) => {
        if (!current()) return;
        Object.assign(state.loading, { stage, done, total, bytes: true });
        render();
      },
    });
    if (!current()) return;
    Object.assign(state.loading, { stage: bridge.versions ? 'Decoding' : 'Waiting for Python', done: 0, total: 0, bytes: false });
    render();
    const dataset = await bridge.decode(buffer, {
      name,
      onProgress: ({ done, total }) => {
        if (current()) { Object.assign(state.loading, { stage: 'Decoding', done, total, bytes: false }); render(); }
      },
    });
    if (!current()) return;
    if (state.gpuError) throw new Error(state.gpuError);
    explorer.check(dataset.info);  // what this GPU can hold (DeviceLimitError): refused before the screen changes
    Object.assign(state.loading, { stage: 'Uploading to the GPU', done: 0, total: 0, bytes: false });
    render();
    await nextFrame();  // let the progress bar paint before the upload blocks the thread
    if (!current()) return;
    state.screen = 'explorer';  // laid out before the explorer sizes its canvas
    render();
    await explorer.show(dataset);
    onShown?.(dataset);
  } catch (err) {
    if (!current()) return;
    const known = err instanceof DatasetLoadError || err instanceof LoadError || err instanceof DeviceLimitError;
    state.error = { file: name, message: err.message, rule: known ? err.rule : 'internal', entry: known ? err.entry ?? null : null };
    // The GPU refused it after all: back to what the explorer still shows (or the start screen).
    state.screen = view.state.dataset ? 'explorer' : 'start';
    if (err instanceof LoadError && err.status) state.error.status = err.status;
  } finally {
    if (current()) {
      state.loading = null;
      openAbort = null;
      render();
      whenIdle();
    }
  }
}

// The address bar follows what is open: a link's ?d= value (so that reloading or sharing the
// address opens it again), nothing for a local file; the fragment then holds that dataset's view
// (ui/address.js), the previous one's is dropped.
function showLinkInAddress(d) {
  const url = new URL(location.href);
  if (d === null) url.searchParams.delete('d'); else url.searchParams.set('d', d);
  url.hash = '';
  if (url.href !== location.href) history.replaceState(history.state, '', url.href.replace(/#$/, ''));
}

export const openFile = (file) => {
  showLinkInAddress(null);
  return openDataset(file.name, () => file.arrayBuffer());
};

// Datasets opened by link are kept for offline use (glue/data/dataset-cache.js).
const datasetCache = new DatasetCache();

// Download a dataset ZIP (from the network; from the offline copy when the network fails),
// decode it, and keep a copy once it has opened.
export function openUrl(url, name = url.split('/').pop(), { fragment = '' } = {}) {
  const href = String(url);
  let copy = null;
  const read = async ({ signal, progress }) => {
    try {
      const buffer = await download(href, { signal, onProgress: progress });
      copy = new Blob([buffer]);  // the buffer itself goes to the worker
      return buffer;
    } catch (err) {
      if (!(err instanceof LoadError) || !['network', 'offline'].includes(err.rule)) throw err;
      const saved = await datasetCache.get(href);
      if (!saved) {
        throw new LoadError(`${err.message}; no offline copy of it is kept here (a link is kept once it has opened)`, err.rule);
      }
      progress({ stage: 'Offline copy of', done: saved.buffer.byteLength, total: saved.buffer.byteLength });
      return saved.buffer;
    }
  };
  return openDataset(name, read, {
    onShown: () => {
      if (copy) datasetCache.put(href, copy);
      if (fragment) address?.apply(fragment);  // the view the link describes
    },
  });
}

// ?d=name.zip loads datasets/name.zip beside the page, as the original's links do;
// ?d=https://… loads that URL. The download starts now, in parallel with Python's start-up.
// `fragment`: the view to show it in (model/fragment.js).
export function openLink(d, { fragment = '' } = {}) {
  let link;
  try {
    link = resolveDatasetLink(d);
  } catch (err) {
    state.error = { file: d, message: err.message, rule: err.rule, entry: null };
    render();
    return Promise.resolve();
  }
  showLinkInAddress(d);
  return openUrl(link.url.href, link.name, { fragment });
}

function openFromQuery() {
  const d = new URLSearchParams(location.search).get('d');
  if (d !== null) openLink(d, { fragment: location.hash });
}

// Buttons with data-link open the built-in datasets the way a ?d= link does (in the view of
// their data-view fragment).
for (const button of document.querySelectorAll('button[data-link]')) {
  button.addEventListener('click', () => openLink(button.dataset.link, { fragment: button.dataset.view ?? '' }));
}

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
installDropzone({ overlay: $('drop-target'), onFile: openFile });

// Exports: the buttons, and their keys on the map (S: the view, Shift+S: the map's picture,
// N: the map's values). The worker's Python encodes the numeric files.
const exports = explorer && new Exports(view, explorer.renderer,
  (what, array, shape, meta) => bridge.encode(what, array, shape, meta), { onError: notify });
if (exports) {
  for (const button of document.querySelectorAll('button[data-export]')) {
    button.addEventListener('click', () => exports.save(button.dataset.export));
  }
  Object.assign(explorer.shortcuts, {
    s: () => exports.save('view-png'), S: () => exports.save('view-png-large'), n: () => exports.save('map-npy'),
  });
}

// The service worker is registered once Python is up and nothing is loading (glue/data/offline.js).
let offline = null;
function whenIdle() {
  if (offline || !state.boot.ready || state.loading) return;
  offline = registerServiceWorker();
  window.ifealid.offline = offline;
}
bridge.ready.then(whenIdle, () => {});

// A handle for automation and the browser tests. readMap() and readMask() are the stable
// scripting interface (README, "Scripting the page"); the rest may change.
window.ifealid = {
  state, view, records, bridge, explorer, renderer: explorer?.renderer ?? null, address, exports,
  openFile, openDataset, openUrl, openLink, datasetCache, offline,
  /** What the view shows before colouring: {width, height, channels, values: Float32Array, row 0 at the top}. */
  readMap() {
    const { info } = view.state.dataset;
    return { width: info.width, height: info.height, channels: 1, values: explorer.renderer.readMap() };
  },
  /** The threshold's mask: Uint8Array (1 inside, row 0 at the top), or null without a threshold. */
  readMask: () => explorer.renderer.readMask(),
};
render();
openFromQuery();
