// Offline copies of the datasets opened through links (?d=, the demo and example buttons),
// so that the same link opens them again without a network. They live in Cache Storage
// (the cache `ifealid-datasets-v1`, beside the service worker's caches), keyed by the
// dataset's URL, with a total size cap: the least recently opened go first.
//
// The index (url → size, saved, used) is an entry of the same cache, so clearing the site's
// data clears both together; entries the index does not know are removed when seen.
export const DATASET_CACHE = 'ifealid-datasets-v1';
export const DEFAULT_LIMIT_BYTES = 512 * 2 ** 20;
const INDEX_URL = new URL('/__ifealid__/dataset-index.json', location.origin).href;

export class DatasetCache {
  constructor({ name = DATASET_CACHE, limitBytes = DEFAULT_LIMIT_BYTES } = {}) {
    this.name = name;
    this.limitBytes = limitBytes;
    this._queue = Promise.resolve();  // one operation at a time: each rewrites the index
  }

  get available() {
    return typeof caches !== 'undefined' && globalThis.isSecureContext !== false;
  }

  _serial(fn) {
    const run = this._queue.then(fn, fn);
    this._queue = run.catch(() => {});
    return run;
  }

  async _open() {
    const cache = await caches.open(this.name);
    const response = await cache.match(INDEX_URL);
    let index = {};
    if (response) {
      try { index = await response.json(); } catch { index = {}; }
    }
    return { cache, index };
  }

  _save(cache, index) {
    return cache.put(INDEX_URL, new Response(JSON.stringify(index), { headers: { 'Content-Type': 'application/json' } }));
  }

  /** The saved copy of `url` as {buffer, saved} (and marks it used), or null. */
  get(url) {
    if (!this.available) return Promise.resolve(null);
    const key = String(url);
    return this._serial(async () => {
      const { cache, index } = await this._open();
      const response = await cache.match(key);
      if (!response || !index[key]) {
        if (response) await cache.delete(key);
        if (index[key]) { delete index[key]; await this._save(cache, index); }
        return null;
      }
      const buffer = await response.arrayBuffer();
      index[key].used = Date.now();
      await this._save(cache, index);
      return { buffer, saved: index[key].saved };
    }).catch((err) => { console.warn('dataset cache: cannot read', key, err); return null; });
  }

  /** Save `data` (a Blob or ArrayBuffer) as the copy of `url`, then evict down to the cap. */
  put(url, data) {
    if (!this.available) return Promise.resolve(false);
    const key = String(url);
    const blob = data instanceof Blob ? data : new Blob([data]);
    return this._serial(async () => {
      const { cache, index } = await this._open();
      if (blob.size > this.limitBytes) return false;
      delete index[key];
      await this._evict(cache, index, this.limitBytes - blob.size);
      await cache.put(key, new Response(blob, {
        headers: { 'Content-Type': 'application/zip', 'Content-Length': String(blob.size) },
      }));
      const now = Date.now();
      index[key] = { size: blob.size, saved: now, used: now };
      await this._save(cache, index);
      return true;
    }).catch((err) => { console.warn('dataset cache: cannot save', key, err); return false; });
  }

  // Remove the least recently used entries until the total is at most `budget`, and any
  // cached response the index does not list.
  async _evict(cache, index, budget) {
    const listed = new Set(Object.keys(index));
    for (const request of await cache.keys()) {
      if (request.url !== INDEX_URL && !listed.has(request.url)) await cache.delete(request);
    }
    const byAge = Object.entries(index).sort((a, b) => a[1].used - b[1].used);
    let total = byAge.reduce((sum, [, e]) => sum + e.size, 0);
    for (const [key, entry] of byAge) {
      if (total <= budget) break;
      await cache.delete(key);
      delete index[key];
      total -= entry.size;
    }
  }

  /** [{url, size, saved, used}], most recently used first. */
  entries() {
    if (!this.available) return Promise.resolve([]);
    return this._serial(async () => {
      const { index } = await this._open();
      return Object.entries(index).map(([url, e]) => ({ url, ...e })).sort((a, b) => b.used - a.used);
    });
  }

  delete(url) {
    if (!this.available) return Promise.resolve(false);
    return this._serial(async () => {
      const { cache, index } = await this._open();
      const had = await cache.delete(String(url));
      delete index[String(url)];
      await this._save(cache, index);
      return had;
    });
  }

  clear() {
    if (!this.available) return Promise.resolve(false);
    return this._serial(() => caches.delete(this.name));
  }
}
