// The Pyodide worker: boots Python with numpy and Pillow from the local runtime,
// installs the `ifealid` package from the same app/*.py files the CLI uses, and
// answers DECODE messages. All dataset logic is Python (app/browser.py).
import { loadPyodide } from '../runtime/pyodide.mjs';
import { MSG, LAYER_ARRAY } from '../glue/protocol.js';

const RUNTIME_URL = new URL('../runtime/', import.meta.url).href;
const APP_URL = new URL('../app/', import.meta.url).href;
const PACKAGE_DIR = '/home/pyodide/pkgs/ifealid';

let decodeFn = null;
const started = performance.now();

async function installPackage(pyodide) {
  const manifest = await (await fetch(new URL('ifealid-manifest.json', RUNTIME_URL), { cache: 'no-cache' })).json();
  const files = await Promise.all(manifest.files.map(async ({ path }) => {
    const response = await fetch(new URL(path, APP_URL), { cache: 'no-cache' });
    if (!response.ok) throw new Error(`app/${path}: HTTP ${response.status}`);
    return [path, await response.text()];
  }));
  pyodide.FS.mkdirTree(PACKAGE_DIR);
  for (const [path, text] of files) pyodide.FS.writeFile(`${PACKAGE_DIR}/${path}`, text);
  pyodide.runPython(`import sys; sys.path.insert(0, '/home/pyodide/pkgs')`);
}

// Python's own start-up (about half of the boot) is skipped on later visits: the first
// boot saves a snapshot of the freshly initialised interpreter's memory (Pyodide's
// _makeSnapshot, taken before any package is loaded) in Cache Storage, and later boots
// restore it. Pyodide refuses a snapshot from another build; any failure falls back to
// a normal start and drops the snapshot, so a bad one costs one slow boot at most.
const SNAPSHOT_CACHE = 'ifealid-python-snapshot';
const SNAPSHOT_KEY = new URL('python-snapshot.bin', RUNTIME_URL).href;

async function startPython() {
  let cache = null;
  try {
    cache = await caches.open(SNAPSHOT_CACHE);
    const hit = await cache.match(SNAPSHOT_KEY);
    if (hit) {
      try {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        return { pyodide: await loadPyodide({ indexURL: RUNTIME_URL, _loadSnapshot: bytes }), snapshot: 'restored' };
      } catch (err) {
        console.warn('IFeaLiD: the saved Python snapshot did not load; starting afresh', err);
        await cache.delete(SNAPSHOT_KEY);
      }
    }
  } catch {
    cache = null;  // no Cache Storage here (e.g. an insecure origin): plain start-up
  }
  const pyodide = await loadPyodide({ indexURL: RUNTIME_URL, _makeSnapshot: Boolean(cache) });
  if (!cache) return { pyodide, snapshot: 'unavailable' };
  try {
    await cache.put(SNAPSHOT_KEY, new Response(pyodide.makeMemorySnapshot()));
    return { pyodide, snapshot: 'created' };
  } catch {
    return { pyodide, snapshot: 'unavailable' };
  }
}

async function boot() {
  const stages = {};
  let mark = performance.now();
  const lap = (name) => { const now = performance.now(); stages[name] = now - mark; mark = now; };
  postMessage({ type: MSG.BOOT, stage: 'pyodide' });
  const { pyodide, snapshot } = await startPython();
  stages.snapshot = snapshot;
  self.ifealid = { pyodide };  // a handle for the browser tests' memory checks (Playwright's worker.evaluate)
  lap('pyodide');
  postMessage({ type: MSG.BOOT, stage: 'packages', detail: 'numpy, Pillow' });
  await Promise.all([pyodide.loadPackage(['numpy', 'pillow'], { messageCallback: () => {} }), installPackage(pyodide)]);
  lap('packages');
  postMessage({ type: MSG.BOOT, stage: 'ifealid' });
  const browser = pyodide.pyimport('ifealid.browser');
  decodeFn = browser.decode_for_worker;
  const versions = browser.runtime_versions().toJs({ dict_converter: Object.fromEntries });
  versions.pyodide = pyodide.version;
  const tables = browser.colormaps();
  const colormaps = Object.fromEntries([...tables.keys()].map((name) => [name, tables.get(name).toJs()]));
  tables.destroy();
  lap('import');
  postMessage({ type: MSG.READY, versions, colormaps, bootMs: performance.now() - started, stages });
}

const ready = boot().catch((err) => {
  postMessage({ type: MSG.BOOT_FAILED, message: `Python runtime failed to start: ${err.message || err}` });
  throw err;
});

function decode({ id, buffer }) {
  let lastPost = 0;
  const progress = (done, total) => {
    const now = performance.now();
    if (done === total || now - lastPost > 50) {  // throttled: a message per PNG would flood the page
      lastPost = now;
      postMessage({ type: MSG.PROGRESS, id, stage: 'decode', done, total });
    }
  };
  let result = null;
  try {
    result = decodeFn(new Uint8Array(buffer), progress);
    const error = result.get('error');
    if (error !== undefined) {
      postMessage({ type: MSG.ERROR, id, error: error.toJs({ dict_converter: Object.fromEntries }) });
      error.destroy?.();
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
    const overlaySize = result.get('overlay_size')?.toJs() ?? null;
    const transfer = [layers.buffer];
    if (overlay) transfer.push(overlay.buffer);
    postMessage({
      type: MSG.DATASET,
      id,
      info: {
        name: info.name, width: info.width, height: info.height, features: info.features,
        precision: info.precision, overlay: info.overlay, pngCount: info.png_count, layerCount: info.layer_count,
      },
      layers, overlay, overlaySize, decodeMs: result.get('decode_ms'),
    }, transfer);
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

// Pyodide marks the errors after which it can no longer be used (a WebAssembly trap or abort,
// such as running out of memory in the heap); a Python exception is not one of them.
const isFatal = (err) => Boolean(err?.pyodide_fatal_error) || err instanceof WebAssembly.RuntimeError
  || /fatally failed|can no longer be used|^Aborted\(/.test(String(err?.message ?? ''));

// Python is unusable: say so (glue/protocol.js, ERROR with fatal) and close; the page starts a fresh worker.
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
  if (message.type === MSG.CRASH) {  // tests only (glue/protocol.js)
    if (message.how === 'fatal') {
      const err = new WebAssembly.RuntimeError('simulated: memory access out of bounds');
      err.pyodide_fatal_error = true;
      crash(message.id, err);
    } else {
      setTimeout(() => { throw new Error('simulated crash'); });
    }
    return;
  }
  if (message.type !== MSG.DECODE) return;
  try {
    await ready;
  } catch {
    postMessage({ type: MSG.ERROR, id: message.id, error: { message: 'The Python runtime is not running.', rule: 'internal', entry: null } });
    return;
  }
  decode(message);
};
