// The one message protocol between the page and the Pyodide worker.
// Both sides import these names; nothing else may be posted. Every message is a
// plain object with a `type` field; request/response pairs carry the page's `id`.
//
// page → worker
//   DECODE   {type, id, name, buffer: ArrayBuffer}      a dataset ZIP (buffer transferred)
//   CRASH    {type, id, how: 'throw' | 'fatal'}          tests only: fail as a real crash would
//            ('throw': an uncaught error in the worker, seen by the page as an `error` event;
//            'fatal': a fatal WebAssembly error, answered like one met while decoding: an ERROR
//            for `id` with fatal: true, then the worker closes). The page starts a fresh worker.
//
// worker → page
//   BOOT     {type, stage, detail}                       boot step started: 'pyodide' | 'packages' | 'ifealid'
//   READY    {type, versions: {pyodide, python, numpy, pillow, ifealid}, bootMs,
//            colormaps: {name: Uint8Array(768) RGB}, default first (defined in app/colormaps.py),
//            stages: {pyodide, packages, import} (ms each, for benchmarks),
//                    snapshot: 'created' | 'restored' | 'unavailable' (Python start-up snapshot)}
//   BOOT_FAILED {type, message}                          the runtime could not start; nothing will decode
//   PROGRESS {type, id, stage: 'read' | 'decode', done, total}
//   DATASET  {type, id, info, layers, stats, overlay, overlaySize, decodeMs}
//            (app/browser.py decode_for_worker returns these under the same names)
//            info: {name, width, height, features, precision, overlay, range, pngCount, layerCount}:
//                  metadata.json's fields (range: [lo, hi], the float range the values were
//                  quantised from, true value = lo + q/(2^P − 1)·(hi − lo); null when the file
//                  records none, as the original's) and the counts N = ceil(C·P/32) PNGs,
//                  L = ceil(C/4) layers; written by app/browser.py page_info, posted as it is
//            layers: Uint8Array | Uint16Array | Uint32Array by precision, shape (L, H, W, 4),
//                    layer-major, RGBA = channels 4l..4l+3, row 0 at the top (buffer transferred)
//            stats: {mean: Float64Array(C), std: Float64Array(C)}: each channel's mean and
//                   population standard deviation (ddof 0) of the STORED integers q over all
//                   H·W pixels, exact (from integer sums: mean = Σq/n, var = (n·Σq² − (Σq)²)/n²,
//                   each the correctly rounded float64; app/analysis.py channel_stats). With
//                   T = 2^P − 1: stored values' mean and std are these / T; true values' are
//                   lo + (mean / T)·(hi − lo) and (std / T)·(hi − lo)
//            overlay: Uint8Array of the image file's bytes, or null (buffer transferred)
//            overlaySize: [width, height] or null
//   ERROR    {type, id, error: {message, rule, entry, fatal?}}  the dataset was refused (rule: a
//            stable id, see app/reader.py), Python ran out of memory ('out-of-memory') or decoding
//            failed ('internal'); the worker stays ready. With fatal: true (rule 'worker-crashed')
//            Python itself can no longer be used (a WebAssembly trap or abort, e.g. out of memory):
//            the worker closes and the page starts a fresh one.

export const MSG = Object.freeze({
  DECODE: 'decode',
  ENCODE: 'encode',
  ENCODED: 'encoded',
  CRASH: 'crash',
  BOOT: 'boot',
  READY: 'ready',
  BOOT_FAILED: 'boot-failed',
  PROGRESS: 'progress',
  DATASET: 'dataset',
  ERROR: 'error',
});
