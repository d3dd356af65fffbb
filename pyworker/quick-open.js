// A dataset ZIP opened before numpy is imported (pyworker/worker.js): Python checks the ZIP by
// the reader's rules and says where each PNG lies (app/quickopen.py check_for_worker), a few
// decoder workers (glue/data/png-worker.js) decode the PNGs in parallel, texture layer by layer,
// and Python turns their exact sums into the channel statistics (stats_for_worker). Whatever the
// decoders refuse sends the caller back to decoding the ZIP with Python (app/browser.py), so
// every message about a damaged file is still Python's.
import { LAYER_ARRAY } from '../glue/model/layout.js';
import { zipEntry } from '../glue/data/png.js';

const DECODER_URL = new URL('../glue/data/png-worker.js', import.meta.url);
const IN_FLIGHT = 3;  // tasks sent to each decoder at once: it has work while this thread runs Python

/** A few decoder workers, started on first use and kept; tasks are made when they are sent. */
class DecoderPool {
  constructor(size) {
    this.size = size;
    this.decoders = [];
    this.queue = [];   // [{make, resolve, reject}]
    this.nextId = 1;
  }

  _decoder() {
    const worker = new Worker(DECODER_URL, { type: 'module' });
    const decoder = { worker, busy: new Map() };
    worker.onmessage = ({ data }) => {
      const task = decoder.busy.get(data.id);
      decoder.busy.delete(data.id);
      if (data.error) task?.reject(new Error(data.error)); else task?.resolve(data);
      this._pump();
    };
    worker.onerror = (event) => {  // the decoder itself failed (it could not start): its tasks fail
      event.preventDefault?.();
      for (const task of decoder.busy.values()) task.reject(new Error(event.message || 'a PNG decoder failed'));
      decoder.busy.clear();
      worker.terminate();
      this.decoders = this.decoders.filter((d) => d !== decoder);
      this._pump();
    };
    return decoder;
  }

  /** Resolves to the decoder's answer to make()'s {message, transfer}; make() runs when it is sent. */
  run(make) {
    return new Promise((resolve, reject) => {
      this.queue.push({ make, resolve, reject });
      this._pump();
    });
  }

  _pump() {
    while (this.queue.length) {
      if (this.decoders.length < this.size) this.decoders.push(this._decoder());
      const decoder = this.decoders.reduce((a, b) => (b.busy.size < a.busy.size ? b : a));
      if (decoder.busy.size >= IN_FLIGHT) return;
      const task = this.queue.shift();
      let made;
      try {
        made = task.make();
      } catch (err) {
        task.reject(err);
        continue;
      }
      if (!made) { task.resolve(null); continue; }  // its job was given up
      const id = this.nextId++;
      decoder.busy.set(id, task);
      decoder.worker.postMessage({ ...made.message, id }, made.transfer);
    }
  }
}

let pool = null;

/** Start the decoders now (the worker does so as it starts, long before a ZIP arrives). */
export function prepareDecoders() {
  pool ??= new DecoderPool(Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)));
  while (pool.decoders.length < pool.size) pool.decoders.push(pool._decoder());
}

const LOCAL_HEADER = 30;
const RAW_PER_TASK = 1 << 20;  // decoded bytes per message at least, where layers are small

/**
 * Where an entry's stored bytes start: after its local header, whose signature and name are
 * checked as Python's zipfile checks them when it opens the entry. `entry`: [offset of the
 * local header, stored length, …] from check_for_worker.
 */
export function entryStart(bytes, [offset, stored], name) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (offset + LOCAL_HEADER > bytes.length || view.getUint32(offset, true) !== 0x04034b50) {
    throw new Error(`${name}: no local header where the central directory says`);
  }
  const nameLength = view.getUint16(offset + 26, true), extraLength = view.getUint16(offset + 28, true);
  const local = bytes.subarray(offset + LOCAL_HEADER, offset + LOCAL_HEADER + nameLength);
  if (local.length !== name.length || [...local].some((b, i) => b !== name.charCodeAt(i))) {
    throw new Error(`${name}: the local header names another file`);
  }
  const start = offset + LOCAL_HEADER + nameLength + extraLength;
  if (start + stored > bytes.length) throw new Error(`${name}: its data run past the end of the ZIP`);
  return start;
}

/**
 * Decode the PNGs of a checked dataset ZIP (`bytes`: its Uint8Array; `checked`: check_for_worker's
 * info and pngs) into the layers array, with each channel's Σq and Σq² (decimal strings, C of
 * each) and when it finished (finishedAt, performance.now()). `progress(done, total)` counts PNGs.
 * Rejects on anything a decoder refuses.
 */
export async function decodeLayers(bytes, { info, pngs }, progress = () => {}, signal = null) {
  prepareDecoders();
  const { width, height, precision, layerCount, features } = info;
  const B = precision / 8, size = width * height * 4;
  const Layers = LAYER_ARRAY[precision];
  const layers = new Layers(layerCount * size);
  const sums = new Array(layerCount * 4), squares = new Array(layerCount * 4);
  // Small layers go several to a message (a message costs about what decoding 64 KB does), but
  // never so many that a decoder would be left without work.
  const perTask = Math.max(1, Math.min(Math.ceil(RAW_PER_TASK / (size * B)), Math.ceil(layerCount / (2 * pool.size))));
  let failed = false, done = 0;
  const jobs = [];
  for (let first = 0; first < layerCount; first += perTask) {
    const indices = [];
    for (let l = first; l < Math.min(layerCount, first + perTask); l++) indices.push(l);
    jobs.push(pool.run(() => {
      if (failed || signal?.aborted) return null;
      // Each PNG's bytes are copied out of the ZIP only now, as a decoder is about to take them.
      const transfer = [];
      const task = indices.map((index) => {
        const list = [];
        for (let slot = 0; slot < B && index * B + slot < pngs.length; slot++) {
          const k = index * B + slot, [, stored, method, crc, length] = pngs[k];
          const start = entryStart(bytes, pngs[k], `${k}.png`);
          const copy = bytes.slice(start, start + stored).buffer;
          transfer.push(copy);
          list.push({ slot, stored: copy, method, crc, size: length });
        }
        return { index, pngs: list };
      });
      return { message: { width, height, precision, layers: task }, transfer };
    }).then((answer) => {
      if (!answer || signal?.aborted) return;
      for (const { index, layer, sums: s, squares: q } of answer.layers) {
        layers.set(new Layers(layer), index * size);
        for (let c = 0; c < 4; c++) { sums[4 * index + c] = s[c]; squares[4 * index + c] = q[c]; }
        done += Math.min(B, pngs.length - index * B);
      }
      progress(done, pngs.length);
    }, (err) => { failed = true; throw err; }));
  }
  const all = Promise.all(jobs);
  for (const job of jobs) job.catch(() => {});  // the first failure is all's; later ones are known
  await all;
  if (signal?.aborted) throw new Error('given up');
  return { layers, sums: sums.slice(0, features), squares: squares.slice(0, features), finishedAt: performance.now() };
}

// ----------------------------------------------------------------- decoding before Python is up
// A ZIP that arrives before Python can check it is read here just far enough to start the
// decoders on it: its central directory and metadata.json's sizes. What comes of it is used only
// if Python's check (check_for_worker) then finds the same sizes and the same entries; else it
// is dropped and the decoders start again from Python's answer.

const GUESS_BUDGET = 1024 ** 3;
const u16 = (v, i) => v.getUint16(i, true);
const u32 = (v, i) => v.getUint32(i, true);

/** {name: [offset of the local header, stored length, method, CRC-32, length]}, or null where
 * the ZIP is not the plain kind (ZIP64, a comment-less end record not found, odd offsets). */
export function centralDirectory(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (u32(view, i) === 0x06054b50) { end = i; break; }
  }
  if (end < 0) return null;
  const count = u16(view, end + 10), size = u32(view, end + 12), start = u32(view, end + 16);
  if (count === 0xffff || start === 0xffffffff || start + size > end) return null;
  const entries = {};
  for (let i = 0, at = start; i < count; i++) {
    if (at + 46 > end || u32(view, at) !== 0x02014b50) return null;
    const nameLength = u16(view, at + 28), extra = u16(view, at + 30), comment = u16(view, at + 32);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    entries[name] = [u32(view, at + 42), u32(view, at + 20), u16(view, at + 10), u32(view, at + 16), u32(view, at + 24)];
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

/** A guess at check_for_worker's answer from the bytes alone: {info, pngs} or null. */
export async function guessChecked(bytes) {
  const entries = centralDirectory(bytes);
  const meta = entries?.['metadata.json'];
  if (!meta || meta[4] > 65536) return null;
  const start = entryStart(bytes, meta, 'metadata.json');
  const text = new TextDecoder().decode(await zipEntry(bytes.subarray(start, start + meta[1]), { method: meta[2], crc: meta[3], size: meta[4] }));
  const { width, height, features, precision } = JSON.parse(text);
  if (![width, height, features].every((n) => Number.isSafeInteger(n) && n > 0) || ![8, 16, 32].includes(precision)) return null;
  const pngCount = Math.ceil((features * precision) / 32), layerCount = Math.ceil(features / 4);
  // Nothing is set aside before Python's check for more than its budget lets through
  // (app/quickopen.py BROWSER_MEMORY_BUDGET): a ZIP that declares more is left to the check.
  if (width * height * layerCount * 4 * (precision / 8) > GUESS_BUDGET) return null;
  const pngs = [];
  for (let k = 0; k < pngCount; k++) {
    if (!entries[`${k}.png`]) return null;
    pngs.push(entries[`${k}.png`]);
  }
  return { info: { width, height, features, precision, pngCount, layerCount }, pngs };
}

/** Whether a guess agrees with Python's check in everything the decoders used. */
export function sameAsChecked(guess, checked) {
  const keys = ['width', 'height', 'features', 'precision', 'pngCount', 'layerCount'];
  return Boolean(guess) && keys.every((k) => guess.info[k] === checked.info[k]) && guess.pngs.length === checked.pngs.length
    && guess.pngs.every((entry, k) => entry.every((v, i) => v === checked.pngs[k][i]));
}

/**
 * Start decoding a ZIP before Python has checked it (guessChecked). Returns {abort(), take(checked)}:
 * take resolves to {decoding} (decodeLayers' promise): the decoding begun on the guess when it
 * matches Python's check, else (the guess given up) one begun now from the check. abort() gives
 * up whichever is under way.
 */
export function decodeAhead(bytes, progress) {
  let controller = new AbortController();
  const start = (checked) => {
    const decoding = decodeLayers(bytes, checked, progress, controller.signal);
    decoding.catch(() => {});
    return { checked, decoding };
  };
  const ahead = guessChecked(bytes).catch(() => null).then((guess) => (guess && !controller.signal.aborted ? start(guess) : null));
  return {
    abort: () => controller.abort(),
    take: async (checked) => {
      const begun = await ahead;
      if (begun && sameAsChecked(begun.checked, checked)) return { decoding: begun.decoding };
      controller.abort();
      controller = new AbortController();
      return { decoding: start(checked).decoding };
    },
  };
}
