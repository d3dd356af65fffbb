// The page's side of the worker protocol (pyworker/protocol.js): starts the Pyodide
// worker, tracks its boot, and turns DECODE and ENCODE requests into promises. A worker that
// crashes once it was ready (an uncaught error, a fatal WebAssembly error such as
// running out of memory) is reported and replaced by a fresh one, so the next file opens.
import { MSG } from './protocol.js';

export class DatasetLoadError extends Error {
  constructor({ message, rule, entry }) {
    super(message);
    this.name = 'DatasetLoadError';
    this.rule = rule;
    this.entry = entry ?? null;
  }
}

const CRASH_RULE = 'worker-crashed';

export class WorkerBridge {
  /**
   * @param {object} [options]
   * @param {URL|string} [options.url] the worker module
   * @param {(message) => void} [options.onBoot] BOOT messages (of every worker started)
   * @param {(info: {message, pending}) => void} [options.onCrash] a worker crashed and a fresh one is
   *   starting; `pending` counts the requests that failed with it (they are rejected with rule
   *   'worker-crashed' and the same message)
   * @param {{worker: Worker, held: Array}} [options.early] a worker started already (pyworker/early.js
   *   takeEarlyWorker) and the events [kind, event] it sent before this bridge took it
   */
  constructor({ url = new URL('./worker.js', import.meta.url), onBoot = () => {}, onCrash = () => {}, early = null } = {}) {
    this.url = url;
    this.onBoot = onBoot;
    this.onCrash = onCrash;
    this.pending = new Map();
    this.nextId = 1;
    this.versions = null;
    this.bootMs = null;
    this.restarts = 0;
    this.worker = null;
    this._start(early);
    this.ready.catch(() => {});  // the page reports boot failures through its own handler
  }

  _start(early = null) {
    const worker = early?.worker ?? new Worker(this.url, { type: 'module' });
    this.worker = worker;
    this._booted = false;
    this.ready = new Promise((resolve, reject) => {
      this._resolveReady = resolve;
      this._rejectReady = reject;
    });
    // Messages and errors of a worker that has been replaced are ignored.
    worker.onmessage = (event) => { if (worker === this.worker) this._receive(event.data); };
    worker.onerror = (event) => {
      event.preventDefault?.();
      if (worker !== this.worker) return;
      const why = event.message || 'it could not be started';
      if (this._booted) this._crashed(`The Python worker crashed (${why})`);
      else this._fail(`The Python worker stopped: ${why}`);
    };
    for (const [kind, event] of early?.held ?? []) {
      if (kind === 'message') worker.onmessage(event); else worker.onerror(event);
    }
  }

  _receive(message) {
    switch (message.type) {
      case MSG.BOOT:
        this.onBoot(message);
        break;
      case MSG.READY:
        this._booted = true;
        this.versions = message.versions;
        this.bootMs = message.bootMs;
        this.bootStages = message.stages;
        this.colormaps = message.colormaps;
        this._resolveReady(message);
        break;
      case MSG.BOOT_FAILED:
        this._fail(message.message);
        break;
      case MSG.PROGRESS:
        this.pending.get(message.id)?.onProgress(message);
        break;
      case MSG.DATASET:
      case MSG.CHOOSE:
      case MSG.ENCODED:
      case MSG.ERROR: {
        const request = this.pending.get(message.id);
        if (request) {
          this.pending.delete(message.id);
          if (message.type === MSG.DATASET || message.type === MSG.CHOOSE) request.resolve(message);
          else if (message.type === MSG.ENCODED) request.resolve(message.bytes);
          else request.reject(new DatasetLoadError(message.error));
        }
        // The worker's Python can no longer be used (it said so, and closes itself).
        if (message.type === MSG.ERROR && message.error?.fatal) this._crashed(message.error.message, { reported: true });
        break;
      }
      default:
        console.warn('unknown message from the worker', message.type);
    }
  }

  // The worker is gone or unusable: fail what waits on it, start a fresh one, tell the page.
  _crashed(text, { reported = false } = {}) {
    const message = reported ? text : `${text}; a fresh Python worker has been started: open the file again`;
    const pending = this.pending.size;
    for (const request of this.pending.values()) {
      request.reject(new DatasetLoadError({ message, rule: CRASH_RULE }));
    }
    this.pending.clear();
    this.worker.terminate();
    this.restarts += 1;
    this._start();
    this.ready.catch(() => {});
    this.onCrash({ message, pending });
  }

  _fail(text) {
    this._rejectReady(new Error(text));
    for (const request of this.pending.values()) {
      request.reject(new DatasetLoadError({ message: text, rule: 'internal' }));
    }
    this.pending.clear();
  }

  // Decode a dataset ZIP. `buffer` is transferred (the caller loses it).
  decode(buffer, { name = '', onProgress = () => {} } = {}) {
    return this.open([{ name, buffer }], {}, { onProgress });
  }

  /**
   * Open what the user gave: `files` [{name, buffer: ArrayBuffer}] (buffers transferred), a
   * dataset ZIP, an .npy, an .npz or an ENVI header with its data file. `options` (DECODE's):
   * {ask, precision, layout, key}. Resolves to the DATASET message, or to CHOOSE ({source,
   * files}: the buffers back) when the worker asks for the user's choice first.
   */
  open(files, options = {}, { onProgress = () => {} } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ type: MSG.DECODE, id, files, options }, files.map((f) => f.buffer));
    });
  }

  /**
   * "Save as dataset ZIP": the dataset on screen (DATASET's info, layers and overlay) written as
   * a dataset ZIP by the worker's Python (app/writer.py). The layers are copied, not
   * transferred. Resolves to the ZIP's bytes (Uint8Array).
   */
  async encodeDataset({ info, layers, overlay = null }) {
    await this.ready;
    const id = this.nextId++;
    const copy = layers.slice();
    const picture = overlay ? overlay.slice() : null;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress: () => {} });
      this.worker.postMessage({ type: MSG.ENCODE_DATASET, id, info, layers: copy, overlay: picture },
        picture ? [copy.buffer, picture.buffer] : [copy.buffer]);
    });
  }

  /**
   * Encode an export with the worker's Python (app/exports.py): `what` (map-npy, map-png16,
   * mask-png, mask-npy, refs-csv, refs-npy), a typed array (copied, not transferred: the page
   * keeps its own), its shape and what the file says of itself (`meta`). Resolves to the file's
   * bytes (Uint8Array).
   */
  async encode(what, array, shape, meta = {}) {
    await this.ready;
    const id = this.nextId++;
    const data = array.slice();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress: () => {} });
      this.worker.postMessage({ type: MSG.ENCODE, id, what, data, shape, meta }, [data.buffer]);
    });
  }

  // For tests: make the worker fail the way a real crash would ('throw': an uncaught error;
  // 'fatal': a fatal WebAssembly error while decoding, as when Python runs out of memory).
  // Resolves once a fresh worker has been started in its place.
  simulateCrash(how = 'throw') {
    const before = this.restarts;
    return new Promise((resolve) => {
      const poll = () => (this.restarts > before ? resolve(this.restarts) : setTimeout(poll, 20));
      this.worker.postMessage({ type: MSG.CRASH, id: this.nextId++, how });
      poll();
    });
  }

  terminate() {
    this.worker.terminate();
    this._fail('The Python worker was stopped.');
  }
}
