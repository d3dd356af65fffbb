// The Pyodide worker: boots Python with numpy and Pillow from the local runtime,
// installs the `ifealid` package from the same app/*.py files the CLI uses (the modules
// ifealid.browser needs, as runtime/ifealid-manifest.json lists them), and answers
// DECODE, ENCODE and ENCODE_DATASET messages. All dataset logic is Python (app/browser.py).
//
// READY comes before numpy is imported (a second of Python's start in the browser): what a
// dataset ZIP needs first is checked by Python without numpy (app/quickopen.py) while decoder
// workers decode its PNGs (pyworker/quick-open.js); numpy, Pillow and the rest of the reader are
// imported next, and whatever needs them (other files, exports, a ZIP the quick way refuses)
// waits for that.
import { loadPyodide } from '../runtime/pyodide.mjs';
import { MSG } from './protocol.js';
import { LAYER_ARRAY } from '../glue/model/layout.js';
import { decodeAhead, prepareDecoders } from './quick-open.js';
import { decompressed } from '../glue/data/png.js';

const RUNTIME_URL = new URL('../runtime/', import.meta.url).href;
const APP_URL = new URL('../app/', import.meta.url).href;
const PACKAGE_DIR = '/home/pyodide/pkgs/ifealid';

let openFn = null;
let encodeFn = null;
let encodeDatasetFn = null;
let checkFn = null;
let overlayFn = null;
let statsFn = null;
let pyodide = null;
const started = performance.now();
// Started before Python, which they do not need; awaited (and their errors seen) in boot(),
// then dropped (the bundle is tens of MB once unpacked).
let bundle = fetchBundle();
prepareDecoders();  // the PNG decoders start with the worker, so that they are up when a ZIP arrives
let sources = fetchAppSources();
let snapshot = fetchSnapshot();
bundle.catch(() => {});
sources.catch(() => {});
snapshot.catch(() => {});

// The bytes of a runtime file, gunzipped when the build gzipped it (unless a server already did).
async function gunzipped(bytes) {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  return new Uint8Array(await new Response(decompressed(bytes, 'gzip')).arrayBuffer());
}

// The package's browser-facing sources (scripts/build_runtime.py decides which), fetched as
// soon as the worker starts (in parallel with Python's start).
async function fetchAppSources() {
  const manifest = await (await fetch(new URL('ifealid-manifest.json', RUNTIME_URL), { cache: 'no-cache' })).json();
  return Promise.all(manifest.files.map(async ({ path }) => {
    const response = await fetch(new URL(path, APP_URL), { cache: 'no-cache' });
    if (!response.ok) throw new Error(`app/${path}: HTTP ${response.status}`);
    return [path, await response.text()];
  }));
}

// numpy and Pillow, pre-extracted by scripts/build_runtime.py (its docstring has the layout):
// fetched and unpacked while Python starts, then written into site-packages. Their extension
// modules are compiled when Python imports them (synchronous compilation is allowed in a
// worker), so the unused ones cost nothing, unlike pyodide.loadPackage, which unzips the
// wheels in Python and instantiates every .so in them.
async function fetchBundle() {
  const response = await fetch(new URL('site-packages.bin', RUNTIME_URL));
  if (!response.ok) throw new Error(`runtime/site-packages.bin: HTTP ${response.status}`);
  const bytes = await gunzipped(new Uint8Array(await response.arrayBuffer()));
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  const index = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  return { index, data: bytes.subarray(4 + length) };
}

function writeTree(FS, root, files) {
  const made = new Set();
  for (const [path, bytes] of files) {
    const dir = `${root}/${path}`.replace(/\/[^/]*$/, '');
    if (!made.has(dir)) { FS.mkdirTree(dir); made.add(dir); }
    FS.writeFile(`${root}/${path}`, bytes);
  }
}

async function installPackages(pyodide, bundle, sources) {
  const { index, data } = await bundle;
  // (Pyodide's own name for it, or Python's where a later Pyodide lacks that.)
  const sitePackages = pyodide._api?.sitepackages ?? pyodide.runPython('import site; site.getsitepackages()[0]');
  writeTree(pyodide.FS, sitePackages, index.files.map(([path, offset, size]) => [path, data.subarray(offset, offset + size)]));
  writeTree(pyodide.FS, PACKAGE_DIR, await sources);
  // Forget the (empty) listing Python may hold of these folders. Not importlib.invalidate_caches():
  // in Python 3.12 that imports importlib.metadata, a third of a second here.
  const dirs = JSON.stringify([sitePackages, PACKAGE_DIR.replace(/\/[^/]*$/, '')]);
  pyodide.runPython(`import sys\nfor d in ${dirs}: sys.path_importer_cache.pop(d, None)\nsys.path.insert(0, ${dirs}[1])`);
}

// Python's own start-up (about half of the boot) is skipped, on the first visit too: the runtime
// ships a snapshot of the freshly started interpreter's memory (runtime/python-snapshot.bin, made
// by scripts/build_runtime.py with this very core under Node.js; cached for offline use like the
// rest of the runtime), fetched as soon as the worker starts, and restored. Pyodide refuses a
// snapshot of another build (the build id is in it); then, or when it is missing or damaged,
// Python starts the ordinary way: a bad snapshot costs the time it saves, no more.
async function fetchSnapshot() {
  const response = await fetch(new URL('python-snapshot.bin', RUNTIME_URL)).catch(() => null);
  if (!response?.ok) return null;  // missing (a runtime built without one, or no network)
  return gunzipped(new Uint8Array(await response.arrayBuffer()));  // rejects when damaged
}

// {pyodide, snapshot: 'restored' | 'refused' (damaged, or of another build) | 'missing'}
async function startPython() {
  let bytes = null;
  try {
    bytes = await snapshot;
  } catch (err) {
    console.warn('IFeaLiD: the Python snapshot is damaged; starting Python afresh', err);
    return { pyodide: await loadPyodide({ indexURL: RUNTIME_URL }), snapshot: 'refused' };
  } finally {
    snapshot = null;
  }
  if (bytes) {
    try {
      return { pyodide: await loadPyodide({ indexURL: RUNTIME_URL, _loadSnapshot: bytes }), snapshot: 'restored' };
    } catch (err) {
      console.warn('IFeaLiD: the Python snapshot was refused; starting Python afresh', err);
      return { pyodide: await loadPyodide({ indexURL: RUNTIME_URL }), snapshot: 'refused' };
    }
  }
  return { pyodide: await loadPyodide({ indexURL: RUNTIME_URL }), snapshot: 'missing' };
}

// Earlier versions kept a snapshot made at the first visit in this cache; the runtime's own
// replaces it, so the old one's 20 MB go.
const OLD_SNAPSHOT_CACHE = 'ifealid-python-snapshot';

async function boot() {
  const stages = {};
  let mark = performance.now();
  const lap = (name) => { const now = performance.now(); stages[name] = now - mark; mark = now; };
  postMessage({ type: MSG.BOOT, stage: 'pyodide' });
  const python = await startPython();
  pyodide = python.pyodide;
  stages.snapshot = python.snapshot;
  self.caches?.delete(OLD_SNAPSHOT_CACHE).catch(() => {});
  self.ifealid = { pyodide };  // a handle for the browser tests' memory checks (Playwright's worker.evaluate)
  lap('pyodide');
  postMessage({ type: MSG.BOOT, stage: 'packages', detail: 'numpy, Pillow' });
  await installPackages(pyodide, bundle, sources);
  bundle = sources = null;
  // Pillow's extension module, compiled off this thread while the reader is imported: checking
  // a dataset's overlay (its first use of Pillow) then does not wait for it. Emscripten's async
  // load; awaited before anything imports Pillow.
  imagingLoaded = pyodide._api.loadDynlib(`${pyodide._api.sitepackages}/PIL/${IMAGING_SO}`, false).catch((err) => {
    console.warn('IFeaLiD: Pillow is loaded when first imported instead', err);
  });
  lap('packages');
  postMessage({ type: MSG.BOOT, stage: 'ifealid' });
  const quick = pyodide.pyimport('ifealid.quickopen');
  checkFn = quick.check_for_worker;
  overlayFn = quick.overlay_for_worker;
  statsFn = quick.stats_for_worker;
  const versions = quick.runtime_versions().toJs({ dict_converter: Object.fromEntries });
  versions.pyodide = pyodide.version;
  const tables = quick.colormaps();
  const colormaps = Object.fromEntries([...tables.keys()].map((name) => [name, tables.get(name).toJs()]));
  tables.destroy();
  lap('import');
  postMessage({ type: MSG.READY, versions, colormaps, bootMs: performance.now() - started, stages });
}

// numpy, Pillow and the rest of the reader (app/browser.py): imported once the worker has
// nothing quicker to do (no dataset ZIP being opened the quick way), or at once when a request
// needs them.
let imagingLoaded = Promise.resolve();
const IMAGING_SO = '_imaging.cpython-312-wasm32-emscripten.so';
let importing = null;
let quickOpens = 0;
const AFTER_QUICK_OPEN_MS = 2000;
function importAll() {
  importing ??= ready.then(async () => {
    await imagingLoaded;
    const browser = pyodide.pyimport('ifealid.browser');
    openFn = browser.open_for_worker;
    encodeFn = browser.encode_for_worker;
    encodeDatasetFn = browser.encode_dataset_for_worker;
  });
  return importing;
}

const ready = boot().catch((err) => {
  postMessage({ type: MSG.BOOT_FAILED, message: `Python runtime failed to start: ${err.message || err}` });
  throw err;
});
// Once Python is up: unless a quick open is under way (it imports them when done), numpy next.
ready.then(() => setTimeout(() => { if (!quickOpens) importAll().catch(() => {}); }), () => {});

// DECODE of one dataset ZIP, the quick way (pyworker/quick-open.js): true when it was answered
// (DATASET, or the ERROR Python's check gives), false when the full way must answer it.
async function quickOpen({ id, files }, started, ahead) {
  const bytes = new Uint8Array(files[0].buffer);
  const python = (fn) => {  // a Python call's result as plain JavaScript
    const result = fn(bytes);
    try { return result.toJs({ dict_converter: Object.fromEntries }); } finally { result.destroy(); }
  };
  let checked;
  try {
    checked = python((data) => checkFn(String(files[0].name ?? ''), data));
  } catch (err) {
    if (isFatal(err)) { crash(id, err); return true; }
    return false;
  }
  if (checked.other) return false;  // not a dataset ZIP: app/browser.py tells what it is
  if (checked.error) {
    ahead.abort();
    postMessage({ type: MSG.ERROR, id, error: checked.error });
    return true;
  }
  const { decoding } = await ahead.take(checked);
  // The overlay is checked (read_dataset's next step, with Pillow) while the decoders work.
  let overlay;
  await imagingLoaded;
  try {
    overlay = python(overlayFn);
  } catch (err) {
    if (isFatal(err)) { crash(id, err); return true; }
    return false;
  }
  if (overlay.error) {
    ahead.abort();
    postMessage({ type: MSG.ERROR, id, error: overlay.error });
    return true;
  }
  let decoded;
  try {
    decoded = await decoding;
  } catch (err) {
    console.info(`IFeaLiD: ${files[0].name}: decoding it with Python (${err.message})`);
    return false;
  }
  const { info } = checked;
  const pyStats = statsFn(info.width * info.height, decoded.sums, decoded.squares);
  const stats = { mean: Float64Array.from(pyStats.get('mean').toJs()), std: Float64Array.from(pyStats.get('std').toJs()) };
  pyStats.destroy();
  const picture = overlay.overlay ?? null;
  const transfer = [decoded.layers.buffer, stats.mean.buffer, stats.std.buffer];
  if (picture) transfer.push(picture.buffer);
  postMessage({
    type: MSG.DATASET, id, info, layers: decoded.layers, overlay: picture, overlaySize: overlay.overlaySize ?? null, stats,
    // "Decoded in": from the ZIP's arrival to the decoders' last PNG (not the wait for Python).
    decodeMs: decoded.finishedAt - started, notes: [], source: null, quick: true,
  }, transfer);
  return true;
}

// A DECODE the quick way can answer: one file that starts as a ZIP does (PK\3\4).
function quickCandidate(message) {
  const { files } = message;
  if (files.length !== 1 || !(files[0].buffer instanceof ArrayBuffer)) return false;
  const head = new Uint8Array(files[0].buffer, 0, Math.min(4, files[0].buffer.byteLength));
  return head.length === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
}

// PROGRESS messages of one request, at most one per 50 ms and the last (a message per PNG would
// flood the page).
function progressOf(id) {
  let lastPost = 0;
  return (stage, done, total) => {
    const now = performance.now();
    if (done === total || now - lastPost > 50) {
      lastPost = now;
      postMessage({ type: MSG.PROGRESS, id, stage, done, total });
    }
  };
}

// DECODE: what the user opened, told apart and decoded or converted by Python (app/browser.py
// open_for_worker). Python reads the buffers through views (app/quickopen.py JsFile), copying
// only what it reads into its heap. (The older form of DECODE, one buffer, is made `files` on
// arrival.)
function decode({ id, files, options }) {
  const progress = progressOf(id);
  let result = null;
  try {
    const views = files.map((f) => new Uint8Array(f.buffer));
    result = openFn(files.map((f) => String(f.name ?? '')), views, pyodide.toPy(options ?? {}), progress);
    const error = result.get('error');
    if (error !== undefined) {
      postMessage({ type: MSG.ERROR, id, error: error.toJs({ dict_converter: Object.fromEntries }) });
      error.destroy?.();
      return;
    }
    const choose = result.get('choose');
    if (choose !== undefined) {  // nothing converted: the files go back for the DECODE after the choice
      const source = choose.toJs({ dict_converter: Object.fromEntries });
      choose.destroy?.();
      postMessage({ type: MSG.CHOOSE, id, source, files }, files.map((f) => f.buffer));
      return;
    }
    const info = result.get('info').toJs({ dict_converter: Object.fromEntries });
    const pyLayers = result.get('layers');
    const view = pyLayers.getBuffer();
    // Copy out of the wasm heap once, into the typed array the renderer uploads.
    const layers = new LAYER_ARRAY[info.precision](view.data.length);
    layers.set(view.data);
    view.release();
    pyLayers.destroy();
    const pyOverlay = result.get('overlay');
    const overlay = pyOverlay ? pyOverlay.toJs() : null;
    pyOverlay?.destroy?.();
    const overlaySize = result.get('overlaySize')?.toJs() ?? null;
    const pyStats = result.get('stats');
    const stats = { mean: float64Of(pyStats.get('mean')), std: float64Of(pyStats.get('std')) };
    pyStats.destroy();
    const notes = result.get('notes')?.toJs() ?? [];
    const pySource = result.get('source');
    const source = pySource ? pySource.toJs({ dict_converter: Object.fromEntries }) : null;
    pySource?.destroy?.();
    const transfer = [layers.buffer, stats.mean.buffer, stats.std.buffer];
    if (overlay) transfer.push(overlay.buffer);
    // info is posted as Python wrote it (app/browser.py page_info): its names are the page's.
    postMessage({ type: MSG.DATASET, id, info, layers, overlay, overlaySize, stats, decodeMs: result.get('decodeMs'), notes, source, quick: false }, transfer);
  } catch (err) {
    if (isFatal(err)) {
      crash(id, err);
    } else if (err instanceof RangeError) {  // a JavaScript allocation (the copy out of the heap) failed
      postMessage({ type: MSG.ERROR, id, error: { message: `the decoded dataset does not fit in the browser's memory (${err.message})`, rule: 'out-of-memory', entry: null } });
    } else {
      postMessage({ type: MSG.ERROR, id, error: { message: `Decoding failed: ${err.message || err}`, rule: 'internal', entry: null } });
    }
  } finally {
    try { result?.destroy(); } catch { /* Python is gone */ }
  }
}

// "Save as dataset ZIP": the dataset's ZIP from what the page holds (app/browser.py
// encode_dataset_for_worker, which writes with app/writer.py).
function encodeDataset({ id, info, layers, overlay }) {
  let result = null;
  try {
    const bytes = new Uint8Array(layers.buffer, layers.byteOffset, layers.byteLength);
    result = encodeDatasetFn(pyodide.toPy(info), bytes, overlay ?? null);
    const out = result.toJs();
    postMessage({ type: MSG.ENCODED, id, bytes: out }, [out.buffer]);
  } catch (err) {
    if (isFatal(err)) crash(id, err);
    else postMessage({ type: MSG.ERROR, id, error: { message: `The dataset ZIP could not be written: ${String(err.message || err).split('\n').slice(-2).join(' ')}`, rule: 'internal', entry: null } });
  } finally {
    try { result?.destroy?.(); } catch { /* Python is gone */ }
  }
}

// An export's file from the page's array (app/browser.py encode_for_worker: numpy and Pillow).
function encode({ id, what, data, shape, meta }) {
  let result = null;
  try {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    result = encodeFn(what, bytes, data.constructor.name, shape, pyodide.toPy(meta));
    const out = result.toJs();
    postMessage({ type: MSG.ENCODED, id, bytes: out }, [out.buffer]);
  } catch (err) {
    if (isFatal(err)) crash(id, err);
    else postMessage({ type: MSG.ERROR, id, error: { message: `The export could not be encoded: ${String(err.message || err).split('\n').slice(-2).join(' ')}`, rule: 'internal', entry: null } });
  } finally {
    try { result?.destroy?.(); } catch { /* Python is gone */ }
  }
}

// A numpy float64 array, copied out of the WebAssembly heap (the proxy is destroyed).
function float64Of(pyArray) {
  const view = pyArray.getBuffer('f64');
  const out = Float64Array.from(view.data);
  view.release();
  pyArray.destroy();
  return out;
}

// Pyodide marks the errors after which it can no longer be used (a WebAssembly trap or abort,
// such as running out of memory in the heap); a Python exception is not one of them.
const isFatal = (err) => Boolean(err?.pyodide_fatal_error) || err instanceof WebAssembly.RuntimeError
  || /fatally failed|can no longer be used|^Aborted\(/.test(String(err?.message ?? ''));

// Python is unusable: say so (pyworker/protocol.js, ERROR with fatal) and close; the page starts a fresh worker.
function crash(id, err) {
  const why = String(err?.message || err).split('\n')[0];
  const oom = /out of memory|OOM|enlarge memory|allocation failed/i.test(why);
  postMessage({ type: MSG.ERROR, id, error: {
    message: `The Python worker crashed${oom ? ', out of memory' : ''} (${why}); a fresh one has been started: `
      + 'open the file again' + (oom ? ', or a smaller dataset' : ''),
    rule: 'worker-crashed', entry: null, fatal: true,
  } });
  self.close();
}

self.onmessage = async (event) => {
  const message = event.data;
  if (message.type === MSG.CRASH) {  // tests only (pyworker/protocol.js)
    if (message.how === 'fatal') {
      const err = new WebAssembly.RuntimeError('simulated: memory access out of bounds');
      err.pyodide_fatal_error = true;
      crash(message.id, err);
    } else {
      setTimeout(() => { throw new Error('simulated crash'); });
    }
    return;
  }
  if (![MSG.DECODE, MSG.ENCODE, MSG.ENCODE_DATASET].includes(message.type)) return;
  const started = performance.now();
  if (message.type === MSG.DECODE && !message.files) message.files = [{ name: message.name, buffer: message.buffer }];  // the older form
  const quick = message.type === MSG.DECODE && quickCandidate(message);
  let ahead = null;
  if (quick) {
    quickOpens += 1;
    // The decoders start on the ZIP at once, while Python may still be starting.
    const progress = progressOf(message.id);
    ahead = decodeAhead(new Uint8Array(message.files[0].buffer), (done, total) => progress('decode', done, total));
  }
  try {
    await ready;
  } catch {
    ahead?.abort();
    postMessage({ type: MSG.ERROR, id: message.id, error: { message: 'The Python runtime is not running.', rule: 'internal', entry: null } });
    return;
  }
  try {
    if (quick) {
      const answered = await quickOpen(message, started, ahead).finally(() => { quickOpens -= 1; });
      if (!answered) ahead.abort();
      // numpy's import (a second of this thread) waits a little, while the page uploads the
      // layers and draws the first heat map; a request that needs it earlier starts it then.
      if (!quickOpens) setTimeout(() => { if (!quickOpens) importAll().catch(() => {}); }, AFTER_QUICK_OPEN_MS);
      if (answered) return;
    }
    await importAll();
  } catch (err) {
    if (isFatal(err)) crash(message.id, err);
    else postMessage({ type: MSG.ERROR, id: message.id, error: { message: `Python could not be used: ${err.message || err}`, rule: 'internal', entry: null } });
    return;
  }
  if (message.type === MSG.DECODE) decode(message);
  else if (message.type === MSG.ENCODE_DATASET) encodeDataset(message);
  else encode(message);
};
