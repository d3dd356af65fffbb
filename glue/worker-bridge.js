// The page's side of the worker protocol (glue/protocol.js): starts the Pyodide
// worker, tracks its boot, and turns DECODE requests into promises.
import { MSG } from './protocol.js';

export class DatasetLoadError extends Error {
  constructor({ message, rule, entry }) {
    super(message);
    this.name = 'DatasetLoadError';
    this.rule = rule;
    this.entry = entry ?? null;
  }
}

export class WorkerBridge {
  constructor({ url = new URL('../pyworker/worker.js', import.meta.url), onBoot = () => {} } = {}) {
    this.pending = new Map();
    this.nextId = 1;
    this.versions = null;
    this.bootMs = null;
    this.worker = new Worker(url, { type: 'module' });
    this.ready = new Promise((resolve, reject) => {
      this._resolveReady = resolve;
      this._rejectReady = reject;
    });
    this.ready.catch(() => {});  // the page reports boot failures through its own handler
    this.worker.onmessage = (event) => this._receive(event.data, onBoot);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      this._fail(`The Python worker stopped: ${event.message || 'it could not be started'}`);
    };
  }

  _receive(message, onBoot) {
    switch (message.type) {
      case MSG.BOOT:
        onBoot(message);
        break;
      case MSG.READY:
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
      case MSG.ERROR: {
        const request = this.pending.get(message.id);
        if (!request) return;
        this.pending.delete(message.id);
        if (message.type === MSG.DATASET) request.resolve(message);
        else request.reject(new DatasetLoadError(message.error));
        break;
      }
      default:
        console.warn('unknown message from the worker', message.type);
    }
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
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ type: MSG.DECODE, id, name, buffer }, [buffer]);
    });
  }

  terminate() {
    this.worker.terminate();
    this._fail('The Python worker was stopped.');
  }
}
