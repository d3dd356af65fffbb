// The one message protocol between the page and the Pyodide worker.
// Both sides import these names; nothing else may be posted. Every message is a
// plain object with a `type` field; request/response pairs carry the page's `id`.
//
// page → worker
//   DECODE   {type, id, files: [{name, buffer: ArrayBuffer}], options}   what the user opened (buffers
//            transferred): a dataset ZIP, an .npy, an .npz, or an ENVI .hdr with its data file (or
//            both in a ZIP), told apart by app/inputs.py. options: {ask: bool (answer CHOOSE before
//            converting anything that is not a dataset ZIP), precision: 8 | 16 | 32 (default 8),
//            layout: 'hwc' | 'chw' | null (null: the rule's, app/arrays.py), key: an .npz's array
//            or null}. The older form {type, id, name, buffer} is one file with no options.
//   ENCODE   {type, id, what, data, shape, meta}        an export's file from the page's typed array
//            (app/browser.py encode_for_worker: what = map-npy, map-png16, mask-png, mask-npy,
//            refs-csv, refs-npy), answered by ENCODED or ERROR
//   ENCODE_DATASET {type, id, info, layers, overlay}    "Save as dataset ZIP": DATASET's info and
//            layers (copied) and the overlay's bytes or null; answered by ENCODED (the ZIP's bytes,
//            app/writer.py) or ERROR
//   CRASH    {type, id, how: 'throw' | 'fatal'}          tests only: fail as a real crash would
//            ('throw': an uncaught error in the worker, seen by the page as an `error` event;
//            'fatal': a fatal WebAssembly error, answered like one met while decoding: an ERROR
//            for `id` with fatal: true, then the worker closes). The page starts a fresh worker.
//
// worker → page
//   BOOT     {type, stage, detail}                       boot step started: 'pyodide' | 'packages' | 'ifealid'
//   READY    {type, versions: {pyodide, python, numpy, pillow, ifealid}, bootMs,
//            colormaps: {name: Uint8Array(768) RGB}, default first (defined in app/colormaps.py),
//            stages: {pyodide, packages, import} (ms each, for benchmarks; READY comes before
//                    numpy is imported, which follows in the background),
//                    snapshot: 'created' | 'restored' | 'unavailable' (Python start-up snapshot)}
//   BOOT_FAILED {type, message}                          the runtime could not start; nothing will decode
//   PROGRESS {type, id, stage: 'decode' | 'range' | 'convert', done, total}  decode: PNGs of a
//            ZIP; range, convert: bytes of an array's data read in the conversion's two passes
//   CHOOSE   {type, id, source, files: [{name, buffer}]}  DECODE of a file to convert, asked with
//            `ask` or lacking a choice it needs: nothing was converted; the buffers come back
//            (transferred) for the DECODE that follows the user's choice. source (app/inputs.py
//            Source.describe): {kind: 'npy' | 'npz' | 'envi', name, files, text (one line),
//            required: ['key'] or [], precisions: [8, 16, 32]; npy/npz: key, arrays: [{key,
//            usable, problem, shape, dtype, layouts: [{id, label, shape: [H, W, C]}], layout,
//            ambiguous}]; envi: shape [H, W, C], envi: the header's keys, overlay: which bands}
//   DATASET  {type, id, info, layers, stats, overlay, overlaySize, decodeMs, notes, source, quick}
//            (app/browser.py open_for_worker returns these under the same names; quick: true when
//            a dataset ZIP was opened the quick way, its PNGs decoded by the decoder workers while
//            numpy was loading, pyworker/quick-open.js; false when Python decoded or converted it)
//            info: {name, width, height, features, precision, overlay, range, channel_axis,
//                  pngCount, layerCount}: metadata.json's fields (range: [lo, hi], the float
//                  range the values were quantised from, true value = lo + q/(2^P − 1)·(hi − lo);
//                  null when the file records none, as the original's; channel_axis: what the
//                  channels are, {name, unit?, values?, labels?, fwhm?}, absent when unknown) and
//                  the counts N = ceil(C·P/32) PNGs, L = ceil(C/4) layers; written by
//                  app/browser.py page_info, posted as it is
//            notes: sentences about the conversion (masked values, the layout read, the
//                   overlay's bands); source: CHOOSE's source for a converted file, null for a ZIP
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
//            decodeMs: the decoding's time: Python's, or on the quick way the ZIP's arrival in the
//                      worker to the decoders' last PNG (they start before Python is up)
//   ENCODED  {type, id, bytes: Uint8Array}               the file ENCODE or ENCODE_DATASET asked for
//   ERROR    {type, id, error: {message, rule, entry, fatal?}}  the dataset was refused (rule: a
//            stable id, see app/reader.py), Python ran out of memory ('out-of-memory') or decoding
//            failed ('internal'); the worker stays ready. With fatal: true (rule 'worker-crashed')
//            Python itself can no longer be used (a WebAssembly trap or abort, e.g. out of memory):
//            the worker closes and the page starts a fresh one.

export const MSG = Object.freeze({
  DECODE: 'decode',
  ENCODE: 'encode',
  ENCODED: 'encoded',
  ENCODE_DATASET: 'encode-dataset',
  CHOOSE: 'choose',
  CRASH: 'crash',
  BOOT: 'boot',
  READY: 'ready',
  BOOT_FAILED: 'boot-failed',
  PROGRESS: 'progress',
  DATASET: 'dataset',
  ERROR: 'error',
});
