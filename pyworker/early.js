// The first script the page runs (index.html lists it before glue/app.js): it starts the Python
// worker at once, before the page's sixty-odd modules are evaluated and its WebGL context is
// made, since Python's boot is the longest part of a load. The page's WorkerBridge adopts the
// worker (takeEarlyWorker) with the events that arrived before it did, in their order.
const WORKER_URL = new URL('./worker.js', import.meta.url).href;

let early = null;
if (typeof Worker !== 'undefined') {
  const worker = new Worker(WORKER_URL, { type: 'module' });
  const held = [];
  worker.onmessage = (event) => held.push(['message', event]);
  worker.onerror = (event) => { event.preventDefault?.(); held.push(['error', event]); };
  early = { worker, held };
}

/** The early worker and its held events [kind, event] for a bridge of `url`, once; else null. */
export function takeEarlyWorker(url) {
  if (!early || String(url) !== WORKER_URL) return null;
  const taken = early;
  early = null;
  return taken;
}
