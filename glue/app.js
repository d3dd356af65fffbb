// Page wiring: start screen, loading, and the switch to the explorer. Talks to the worker
// only through WorkerBridge. What the page is doing lives in `state`; what the user sees of a
// dataset lives in the view model (model/view.js), which the explorer's parts subscribe to.
import { WorkerBridge, DatasetLoadError } from '../pyworker/bridge.js';
import { takeEarlyWorker } from '../pyworker/early.js';
import { MSG } from '../pyworker/protocol.js';
import { ViewModel } from './model/view.js';
import { Records } from './records.js';
import { Explorer } from './ui/explorer.js';
import { Address } from './ui/address.js';
import { Exports } from './ui/exports.js';
import { DeviceLimitError } from './render/device.js';
import { LoadError, resolveDatasetLink, download, linkKind, enviDataCandidates, shortened } from './data/loader.js';
import { axisSummary } from './model/channels.js';
import { DatasetCache } from './data/dataset-cache.js';
import { installDropzone } from './data/dropzone.js';
import { registerServiceWorker } from './data/offline.js';
import { formatBytes } from './format.js';
import { readMapOf, readMaskOf } from './readback.js';

const $ = (id) => document.getElementById(id);

export const state = {
  boot: { stage: 'pyodide', ready: false, error: null, versions: null, bootMs: null },
  gpuError: null,         // why the explorer cannot run here (no WebGL 2, ...), or null
  loading: null,          // {name, stage, done, total, bytes, stalledMs} while a dataset is being read/decoded/uploaded
                          // (bytes: done/total count bytes of a download; total 0: unknown; stalledMs > 0:
                          // the server has sent nothing for that long, and Cancel is offered)
  error: null,            // {file, message, rule, entry} of the last refused dataset
  notice: null,           // something to know that is no error (what a link's view could not apply)
  source: null,           // what the dataset on screen was converted from (DATASET's source), or null for a ZIP
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
      $('progress-text').textContent = `${loading.stage} ${shortened(loading.name, 80)}: ${formatBytes(done)}`
        + (total ? ` of ${formatBytes(total)} (${Math.floor((100 * done) / total)} %)` : '')
        + (loading.stalledMs ? ` (the server has sent nothing for ${Math.round(loading.stalledMs / 1000)} s)` : '');
    } else if (loading.stage === CHOOSING) {
      bar.removeAttribute('value');
      $('progress-text').textContent = `${loading.name}: choose how to convert it`;
    } else if (loading.total) {
      bar.value = loading.done / loading.total;
      $('progress-text').textContent = `${loading.stage} ${loading.done} / ${loading.total}`;
    } else {
      bar.removeAttribute('value');  // indeterminate
      $('progress-text').textContent = loading.stage;
    }
  }
  $('progress-cancel').hidden = !loading?.stalledMs;

  $('notice').hidden = !state.notice;
  $('notice').textContent = state.notice ?? '';
  $('error').hidden = !error;
  // (Messages about a file that is not a ZIP name it first themselves: an ENVI header of two files
  // opened together, "cube.hdr + cube.img", is named alone.)
  const named = error?.file && `${error.file} + `.split(' + ').some((n) => n && error.message.startsWith(n));
  const prefix = error?.file && !named ? `${shortened(error.file, 80)}: ` : '';
  $('error').textContent = error ? `${prefix}${error.message}` : '';

  const showing = state.screen === 'explorer';
  $('start').hidden = showing;
  $('explorer').hidden = !showing;
  $('open-button').hidden = !showing;
  $('save-zip').hidden = !(showing && dataset && state.source);
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
    ['Channels', `${info.features} in ${info.pngCount} PNGs, ${info.layerCount} texture layers`
      + (axisSummary(info) ? `; ${axisSummary(info)}` : '')],
    ...(state.source ? [['Converted from', state.source.text]] : []),
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
  early: takeEarlyWorker(new URL('../pyworker/worker.js', import.meta.url)),
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

const CHOOSING = 'Choosing';  // loading.stage while the conversion dialog waits for the user
// The worker's progress stages (pyworker/protocol.js PROGRESS): PNGs decoded, or bytes of an
// array read in the conversion's two passes.
const STAGES = { decode: 'Decoding', range: 'Reading the values of', convert: 'Converting' };

// Open a dataset from `read({signal, progress})`, which resolves to the ZIP's bytes (a File,
// a download) or to several files [{name, buffer}] (an ENVI header with its data file);
// `progress({done, total, stage?, name?})` reports bytes. What is not a dataset ZIP is
// converted by the worker (an .npy, .npz, ENVI cube); with `ask` the conversion dialog comes
// first (files from disk), else the defaults apply (links) unless a choice is needed (an .npz
// with several arrays). `onShown` runs once it is on screen. May be called at any time: before
// Python is up (the worker queues the request), or with a dataset on screen (the explorer
// replaces it and frees its GPU memory).
export async function openDataset(name, read, { onShown = null, ask = false, add = false } = {}) {
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
    const got = await read({
      signal: abort.signal,
      progress: ({ done, total, stage = 'Downloading', name: part = null, stalledMs = 0 }) => {
        if (!current()) return;
        Object.assign(state.loading, { stage, done, total, bytes: true, stalledMs }, part ? { name: part } : {});
        render();
      },
    });
    if (!current()) return;
    let files = got instanceof ArrayBuffer ? [{ name, buffer: got }] : got;
    state.loading.name = name;
    let options = { ask };
    let dataset = null;
    for (;;) {
      Object.assign(state.loading, { stage: bridge.versions ? 'Decoding' : 'Waiting for Python', done: 0, total: 0, bytes: false, stalledMs: 0 });
      render();
      const reply = await bridge.open(files, options, {
        onProgress: ({ stage, done, total }) => {
          if (!current()) return;
          Object.assign(state.loading, { stage: STAGES[stage] ?? 'Decoding', done, total, bytes: stage !== 'decode' });
          render();
        },
      });
      if (!current()) return;
      if (reply.type !== MSG.CHOOSE) { dataset = reply; break; }
      files = reply.files;  // the worker hands the buffers back for the next request
      Object.assign(state.loading, { stage: CHOOSING, done: 0, total: 0, bytes: false });
      render();
      const choice = await conversion.ask(reply.source, abort.signal);
      if (!current()) return;
      if (!choice) return;  // cancelled: the page stays as it was
      options = { ...choice, ask: false };
    }
    if (state.gpuError) throw new Error(state.gpuError);
    explorer.check(dataset.info);  // what this GPU can hold (DeviceLimitError): refused before the screen changes
    Object.assign(state.loading, { stage: 'Uploading to the GPU', done: 0, total: 0, bytes: false });
    render();
    await nextFrame();  // let the progress bar paint before the upload blocks the thread
    if (!current()) return;
    state.screen = 'explorer';  // laid out before the explorer sizes its canvas
    state.source = dataset.source ?? null;
    render();
    // `add`: beside the datasets on screen (comparing them, issue 16), else in their place.
    if (add && view.state.dataset) await explorer.addPane(dataset); else await explorer.show(dataset);
    state.notice = dataset.notes?.length ? dataset.notes.join('\n') : null;
    onShown?.(dataset);
  } catch (err) {
    if (!current()) return;
    if (err instanceof LoadError && err.rule === 'cancelled') {  // the user's choice: no error, the picker stays
      state.notice = err.message;
      state.screen = view.state.dataset ? 'explorer' : 'start';
      return;
    }
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

// Cancel (offered while a server sends nothing): the open ends, and the page is ready for the next.
export function cancelLoading() {
  openAbort?.abort(new LoadError(`the download of ${shortened(state.loading?.name ?? 'the file', 80)} was cancelled`, 'cancelled'));
}
$('progress-cancel').addEventListener('click', cancelLoading);

// The address bar follows what is open: a link's ?d= value (so that reloading or sharing the
// address opens it again), nothing for a local file; the fragment then holds that dataset's view
// (ui/address.js), the previous one's is dropped.
function showLinkInAddress(d) {
  showLinksInAddress(d === null ? [] : [d]);
}

function showLinksInAddress(ds) {
  const url = new URL(location.href);
  url.searchParams.delete('d');
  for (const d of ds) url.searchParams.append('d', d);
  url.hash = '';
  if (url.href !== location.href) history.replaceState(history.state, '', url.href.replace(/#$/, ''));
}

// Files from the picker or a drop: one dataset (a ZIP, .npy, .npz), or an ENVI header with its
// data file. What needs converting asks first (the conversion dialog).
// Several dataset ZIPs chosen or dropped together are compared side by side (issue 16);
// `add`: beside those on screen.
export const openFiles = async (files, { add = false } = {}) => {
  const list = Array.from(files);
  if (!list.length) return;
  showLinkInAddress(null);
  if (list.length > 1 && list.every((f) => /\.zip$/i.test(f.name))) {
    for (const [i, f] of list.entries()) {
      await openDataset(f.name, () => f.arrayBuffer(), { add: add || i > 0 });
      if (state.error) return;  // a refused one says why; those before it stay
    }
    return;
  }
  const name = list.map((f) => f.name).join(' + ');
  await openDataset(name, async () => (list.length === 1 ? list[0].arrayBuffer()
    : Promise.all(list.map(async (f) => ({ name: f.name, buffer: await f.arrayBuffer() })))), { ask: true, add });
};
export const openFile = (file) => openFiles([file]);

// Datasets opened by link are kept for offline use (glue/data/dataset-cache.js).
const datasetCache = new DatasetCache();

// A file of a link: downloaded (from the network; from the offline copy when the network fails),
// kept in `copies` to be cached once the dataset has opened.
async function fetchKept(href, { signal, progress, kind, copies, name }) {
  try {
    const buffer = await download(href, { signal, kind, onProgress: (p) => progress({ ...p, name }) });
    copies.push([href, new Blob([buffer])]);  // the buffer itself goes to the worker
    return buffer;
  } catch (err) {
    if (!(err instanceof LoadError) || !['network', 'offline'].includes(err.rule)) throw err;
    const saved = await datasetCache.get(href);
    if (!saved) {
      throw new LoadError(`${err.message}; no offline copy of it is kept here (a link is kept once it has opened)`, err.rule);
    }
    progress({ stage: 'Offline copy of', name, done: saved.buffer.byteLength, total: saved.buffer.byteLength });
    return saved.buffer;
  }
}

// An ENVI header's data file beside it: the first of its candidate names (loader.js
// enviDataCandidates) that the server has; a missing one (404) is passed over.
async function fetchEnviData(headerHref, headerName, options) {
  const tried = [];
  let offline = null;
  for (const candidate of enviDataCandidates(headerName)) {
    const href = new URL(encodeURIComponent(candidate).replace(/%2F/g, '/'), headerHref).href;
    tried.push(candidate);
    try {
      return { name: candidate, buffer: await fetchKept(href, { ...options, kind: 'any', name: candidate }) };
    } catch (err) {
      if (err instanceof LoadError && err.rule === 'http' && [404, 410].includes(err.status)) continue;
      if (err instanceof LoadError && ['network', 'offline'].includes(err.rule)) { offline = err; continue; }
      throw err;
    }
  }
  if (offline) throw offline;
  throw new LoadError(`${headerName}: the data file is missing: none of ${tried.join(', ')} is beside the header `
    + `(${new URL('.', headerHref).href})`, 'envi-pair');
}

// Download a dataset (a ZIP, an .npy, an .npz, an ENVI header and its data file beside it),
// decode or convert it with the defaults, and keep a copy once it has opened.
export function openUrl(url, name = url.split('/').pop(), { fragment = '', add = false } = {}) {
  const href = String(url);
  const copies = [];
  const kind = linkKind(new URL(href).pathname);
  const read = async ({ signal, progress }) => {
    const buffer = await fetchKept(href, { signal, progress, kind, copies, name });
    if (kind !== 'envi-header') return buffer;
    const data = await fetchEnviData(href, name, { signal, progress, copies });
    return [{ name, buffer }, data];
  };
  return openDataset(name, read, {
    add,
    onShown: () => {
      for (const [key, blob] of copies) datasetCache.put(key, blob);
      if (fragment) address?.apply(fragment);  // the view the link describes
    },
  });
}

// ?d=name.zip loads datasets/name.zip beside the page, as the original's links do;
// ?d=https://… loads that URL. The download starts now, in parallel with Python's start-up.
// `fragment`: the view to show it in (model/fragment.js).
export function openLink(d, { fragment = '' } = {}) {
  return openLinks([d], { fragment });
}

// ?d=a.zip&d=b.zip: the datasets side by side (issue 16), in that order (pane 0 first); the
// fragment applies once all are open. A refused one says why; those before it stay.
export async function openLinks(ds, { fragment = '' } = {}) {
  const links = [];
  for (const d of ds) {
    try {
      links.push(resolveDatasetLink(d));
    } catch (err) {
      state.error = { file: d, message: err.message, rule: err.rule, entry: null };
      render();
      return;
    }
  }
  showLinksInAddress(ds);
  for (const [i, link] of links.entries()) {
    const last = i === links.length - 1;
    await openUrl(link.url.href, link.name, { fragment: last ? fragment : '', add: i > 0 });
    if (state.error) return;
  }
}

// The conversion dialog (index.html #convert-dialog): what a file that is not a dataset ZIP is,
// and the choices for converting it: the .npz's array, the layout of its axes, the precision.
const conversion = {
  /** Resolves to {precision, layout, key}, or null when cancelled (or `signal` aborts). */
  ask(source, signal) {
    const dialog = $('convert-dialog');
    const arrays = source.arrays ?? [];
    const usable = arrays.filter((a) => a.usable);
    $('convert-title').textContent = `Open ${source.name}`;
    $('convert-text').textContent = source.kind === 'envi' ? `${source.text}. ${source.overlay}.` : source.text;
    const keySelect = $('convert-key');
    $('convert-key-box').hidden = source.kind !== 'npz';
    keySelect.replaceChildren(...arrays.map((a) => {
      const option = new Option(a.usable ? `${a.key}: ${a.dtype} (${a.shape.join(', ')})` : `${a.key}: ${a.problem}`, a.key);
      option.disabled = !a.usable;
      return option;
    }));
    keySelect.value = source.key ?? usable[0]?.key ?? '';
    const layoutSelect = $('convert-layout');
    const showLayouts = () => {
      const array = source.kind === 'npy' ? arrays[0] : arrays.find((a) => a.key === keySelect.value);
      $('convert-layout-box').hidden = !array?.layouts;
      if (!array?.layouts) return;
      layoutSelect.replaceChildren(...array.layouts.map((l) => new Option(
        `${l.label}: ${l.shape[0]}×${l.shape[1]} pixels, ${l.shape[2]} channels`, l.id)));
      layoutSelect.value = array.layout;
      $('convert-layout-note').hidden = !array.ambiguous;
    };
    keySelect.onchange = showLayouts;
    showLayouts();
    $('convert-precision').value = '8';
    return new Promise((resolve) => {
      const finish = (choice) => {
        signal.removeEventListener('abort', onAbort);
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(choice);
      };
      const onAbort = () => finish(null);
      signal.addEventListener('abort', onAbort);
      dialog.onclose = () => finish(null);  // Esc
      $('convert-cancel').onclick = () => finish(null);
      $('convert-open').onclick = () => finish({
        precision: Number($('convert-precision').value),
        layout: $('convert-layout-box').hidden ? null : layoutSelect.value,
        key: source.kind === 'npz' ? keySelect.value : null,
      });
      dialog.showModal();
      $('convert-open').focus();
    });
  },
};

// "Save as dataset ZIP": what was converted, as a ZIP (the worker's Python writes it), so the
// next open is instant and the original app opens it too.
export async function saveDatasetZip() {
  const { dataset } = view.state;
  const bytes = await bridge.encodeDataset(dataset);
  const name = `${dataset.info.name.replace(/[\\/:*?"<>|\x00-\x1f]/g, '_')}.${dataset.info.precision}.zip`;
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/zip' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return bytes;
}
$('save-zip').addEventListener('click', () => saveDatasetZip().catch((err) => {
  notify(`The dataset ZIP could not be saved: ${err.message}`);
}));

function openFromQuery() {
  const ds = new URLSearchParams(location.search).getAll('d');
  if (ds.length) openLinks(ds, { fragment: location.hash });
}

// Buttons with data-link open the built-in datasets the way a ?d= link does (in the view of
// their data-view fragment).
for (const button of document.querySelectorAll('button[data-link]')) {
  button.addEventListener('click', () => openLink(button.dataset.link, { fragment: button.dataset.view ?? '' }));
}

$('file-input').addEventListener('change', (event) => {
  const files = Array.from(event.target.files);
  event.target.value = '';  // choosing the same file again must fire `change` again
  if (files.length) openFiles(files);
});
for (const label of document.querySelectorAll('label[for="file-input"], label[for="add-input"]')) {
  label.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $(label.htmlFor).click(); }
  });
}
installDropzone({ overlay: $('drop-target'), onFiles: openFiles });
// "Add…" in the explorer: datasets beside those on screen.
$('add-input').addEventListener('change', (event) => {
  const files = Array.from(event.target.files);
  event.target.value = '';
  if (files.length) openFiles(files, { add: true });
});

// Exports: the buttons, and their keys on the map (S: the view, Shift+S: the map's picture,
// N: the map's values). The worker's Python encodes the numeric files.
// Comparing datasets, the exports are of the pane holding the reference (or under the pointer).
const exports = explorer && new Exports(view, explorer.renderer,
  (what, array, shape, meta) => bridge.encode(what, array, shape, meta), {
    onError: notify,
    pane: () => {
      const k = explorer.focusPane(view.state);
      return { renderer: explorer.panes[k].renderer, view: explorer.states.of(view.state, k) };
    },
  });
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
  openFile, openFiles, openDataset, openUrl, openLink, openLinks, cancelLoading, datasetCache, offline, saveDatasetZip,
  /** What the view shows before colouring (glue/readback.js readMapOf). */
  readMap: (pane = 0) => readMapOf(view, explorer.panes[pane]?.renderer ?? explorer.renderer, pane),
  /** The PCA view's computation (compute/pca-job.js): `pca.jobs.update()` is its promise. */
  get pca() { return explorer?.pca ?? null; },
  /** The threshold's mask: Uint8Array (1 inside, row 0 at the top), or null without a threshold. */
  readMask: () => readMaskOf(explorer.renderer),
};
render();
openFromQuery();
