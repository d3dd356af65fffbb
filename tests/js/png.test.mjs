// glue/data/png.js (the quick way's PNG decoder) and the ZIP reading of pyworker/quick-open.js.
// What the page decodes is compared with CPython's decode in tests/browser/test_worker.py; here
// each part against an independent writing of the PNG and ZIP rules.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateSync, deflateRawSync, crc32 as zlibCrc32 } from 'node:zlib';
import { PngError, channelSums, crc32, decodeLayer, decodePng, idatOf, inflate, unfilter, zipEntry } from '../../glue/data/png.js';
import { centralDirectory, entryStart, guessChecked, sameAsChecked } from '../../pyworker/quick-open.js';

// A small deterministic generator (no Math.random: failures must repeat).
function bytesOf(n, seed) {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; out[i] = s & 0xff; }
  return out;
}

// The PNG spec's filters, written forwards (the encoder's side), for bytes per pixel 4.
function filterRows(pixels, width, height, kinds) {
  const stride = width * 4, raw = new Uint8Array(height * (stride + 1));
  const at = (y, i) => (y < 0 || i < 0 ? 0 : pixels[y * stride + i]);
  for (let y = 0; y < height; y++) {
    const kind = kinds[y % kinds.length];
    raw[y * (stride + 1)] = kind;
    for (let i = 0; i < stride; i++) {
      const x = at(y, i), a = at(y, i - 4), b = at(y - 1, i), c = at(y - 1, i - 4);
      let pred = 0;
      if (kind === 1) pred = a;
      else if (kind === 2) pred = b;
      else if (kind === 3) pred = Math.floor((a + b) / 2);
      else if (kind === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  return raw;
}

function chunk(type, body) {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, zlibCrc32(out.subarray(4, 8 + body.length)));
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function pngOf(pixels, width, height, { kinds = [0, 1, 2, 3, 4], interlace = 0, extra = [], depth = 8, colour = 6 } = {}) {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([depth, colour, 0, 0, interlace], 8);
  const idat = deflateSync(filterRows(pixels, width, height, kinds));
  return concat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), ...extra,
    chunk('IDAT', idat.subarray(0, 7)), chunk('IDAT', idat.subarray(7)), chunk('IEND', new Uint8Array(0)));
}

test('crc32 is the CRC-32 of ZIP and PNG', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  for (const n of [0, 1, 3, 4, 5, 1000, 4099]) {
    const data = bytesOf(n, n + 7);
    assert.equal(crc32(data), zlibCrc32(data));
    assert.equal(crc32(data, 1, Math.max(1, n - 2)), zlibCrc32(data.subarray(1, Math.max(1, n - 2))));
  }
});

test('every filter type unfilters to the pixels, at every row position', async () => {
  for (const [width, height] of [[1, 1], [1, 7], [7, 1], [13, 9], [64, 33]]) {
    const pixels = bytesOf(width * height * 4, width * 31 + height);
    for (const kinds of [[0], [1], [2], [3], [4], [4, 3, 2, 1, 0], [2, 4, 1, 3]]) {
      const raw = filterRows(pixels, width, height, kinds);
      assert.deepEqual(unfilter(raw, width, height), pixels, `${width}×${height} filters ${kinds}`);
    }
    assert.deepEqual(await decodePng(pngOf(pixels, width, height), width, height), pixels);
  }
});

test('an unknown filter type is refused', () => {
  const raw = filterRows(bytesOf(16, 1), 2, 2, [0]);
  raw[3 * 2 + 1 + 4] = 5;  // the second row's filter byte (each row: 1 + 8 bytes)
  raw[9] = 5;
  assert.throws(() => unfilter(raw, 2, 2), PngError);
});

test('only the plain form of a dataset PNG is read; the rest is left to Python', async () => {
  const pixels = bytesOf(6 * 5 * 4, 3);
  const good = pngOf(pixels, 6, 5);
  const refusals = {
    'not a PNG': good.slice(1),
    'another size': good,
    '16-bit': pngOf(pixels, 6, 5, { depth: 16 }),
    'RGB': pngOf(pixels, 6, 5, { colour: 2 }),
    'interlaced': pngOf(pixels, 6, 5, { interlace: 1 }),
    'an ancillary chunk': pngOf(pixels, 6, 5, { extra: [chunk('tEXt', new TextEncoder().encode('a\0b'))] }),
    'data after IEND': concat(good, new Uint8Array([0])),
    'cut off': good.subarray(0, good.length - 5),
    'IHDR with a wrong CRC': (() => { const b = good.slice(); b[29] ^= 1; return b; })(),
  };
  for (const [why, png] of Object.entries(refusals)) {
    const [w, h] = why === 'another size' ? [5, 6] : [6, 5];
    await assert.rejects(async () => decodePng(png, w, h), PngError, why);
  }
  // An IDAT's CRC is not checked (Pillow does not check it either): the pixels decode.
  const idatCrc = good.slice();
  const at = good.length - 12 - 4;  // the last IDAT's CRC, before IEND's 12 bytes
  idatCrc[at] ^= 1;
  assert.deepEqual(await decodePng(idatCrc, 6, 5), pixels);
  assert.equal(idatOf(good, 6, 5).length, deflateSync(filterRows(pixels, 6, 5, [0, 1, 2, 3, 4])).length);
});

test('inflate stops at the expected length and refuses a damaged stream', async () => {
  const data = bytesOf(5000, 11);
  assert.deepEqual(await inflate(deflateSync(data), 'deflate', 5000), data);
  await assert.rejects(inflate(deflateSync(data), 'deflate', 4999), PngError);  // would inflate to more
  await assert.rejects(inflate(deflateSync(data), 'deflate', 5001), PngError);  // to fewer
  const bad = deflateSync(data).slice();
  bad[bad.length - 1] ^= 1;  // its Adler-32
  await assert.rejects(inflate(bad, 'deflate', 5000), PngError);
  // (Bytes after the stream's end: Chromium's DecompressionStream refuses them, Node's does not,
  // Pillow decodes such a PNG; a refusal only sends the ZIP to Python, which reads the same pixels.)
});

test('a ZIP entry is inflated and its CRC checked', async () => {
  const data = bytesOf(3000, 5), crc = zlibCrc32(data);
  assert.deepEqual(await zipEntry(data, { method: 0, crc, size: 3000 }), data);
  assert.deepEqual(await zipEntry(deflateRawSync(data), { method: 8, crc, size: 3000 }), data);
  await assert.rejects(zipEntry(data, { method: 0, crc: crc ^ 1, size: 3000 }), PngError);
  await assert.rejects(zipEntry(data, { method: 0, crc, size: 2999 }), PngError);
  await assert.rejects(zipEntry(data, { method: 12, crc, size: 3000 }), PngError);
});

test('channel sums are exact for 8, 16 and 32 bits', () => {
  for (const precision of [8, 16, 32]) {
    const pixels = 37, bytes = bytesOf(pixels * 4 * (precision / 8), precision);
    const values = precision === 8 ? bytes : precision === 16 ? new Uint16Array(bytes.buffer) : new Uint32Array(bytes.buffer);
    const sums = [0n, 0n, 0n, 0n], squares = [0n, 0n, 0n, 0n];
    for (let i = 0; i < values.length; i++) { sums[i % 4] += BigInt(values[i]); squares[i % 4] += BigInt(values[i]) ** 2n; }
    assert.deepEqual(channelSums(bytes, precision, pixels), { sums: sums.map(String), squares: squares.map(String) });
  }
  const top = new Uint32Array(8).fill(0xffffffff);  // q² near 2^64: exact only through the halves
  assert.deepEqual(channelSums(new Uint8Array(top.buffer), 32, 2).squares[0], String(2n * 0xffffffffn ** 2n));
});

test('a layer of 16-bit values takes its two PNGs into the byte slots of the format', async () => {
  const width = 3, height = 2, low = bytesOf(24, 1), high = bytesOf(24, 2);
  const png = (p) => pngOf(p, width, height);
  const entry = (p) => ({ stored: png(p).buffer, method: 0, crc: zlibCrc32(png(p)), size: png(p).length });
  const { layer } = await decodeLayer({ width, height, precision: 16, pngs: [{ slot: 0, ...entry(low) }, { slot: 1, ...entry(high) }] });
  for (let p = 0; p < width * height; p++) {
    assert.deepEqual([...layer.subarray(8 * p, 8 * p + 8)], [...low.subarray(4 * p, 4 * p + 4), ...high.subarray(4 * p, 4 * p + 4)]);
  }
  const half = await decodeLayer({ width, height, precision: 16, pngs: [{ slot: 0, ...entry(low) }] });
  assert.ok(half.layer.every((v, i) => (i % 8 < 4 ? v === low[4 * (i >> 3) + (i % 8)] : v === 0)));  // no PNG: zeros
});

test('the central directory and metadata of a real dataset ZIP are read as Python reads them', async () => {
  const bytes = new Uint8Array(readFileSync(new URL('../fixtures/original/000000015746.jpg.C1.npz.8.zip', import.meta.url)));
  const entries = centralDirectory(bytes);
  assert.equal(Object.keys(entries).length, 66);  // 64 PNGs, metadata.json, overlay.jpg
  const guess = await guessChecked(bytes);
  assert.deepEqual(guess.info, { width: 106, height: 160, features: 256, precision: 8, pngCount: 64, layerCount: 64 });
  const [offset, stored, method, crc, size] = entries['5.png'];
  const start = entryStart(bytes, entries['5.png'], '5.png');
  assert.equal(start, offset + 30 + '5.png'.length);
  assert.equal(method, 0);
  assert.equal(stored, size);
  assert.equal(zlibCrc32(bytes.subarray(start, start + stored)), crc);
  assert.throws(() => entryStart(bytes, entries['5.png'], '6.png'), /names another file/);
  assert.throws(() => entryStart(bytes, [offset + 1, stored], '5.png'), /no local header/);
  assert.ok(sameAsChecked(guess, { info: { ...guess.info }, pngs: guess.pngs.map((e) => [...e]) }));
  assert.ok(!sameAsChecked(guess, { info: { ...guess.info, width: 105 }, pngs: guess.pngs }));
  const moved = guess.pngs.map((e) => [...e]);
  moved[3][0] += 1;
  assert.ok(!sameAsChecked(guess, { info: guess.info, pngs: moved }));
  assert.equal(centralDirectory(bytes.subarray(0, bytes.length - 30)), null);  // no end record
});

// A ZIP of stored entries, written by hand (the format's local headers, central directory, end record).
function zipOf(entries) {
  const enc = new TextEncoder(), locals = [], centrals = [];
  let offset = 0;
  for (const [name, data] of Object.entries(entries)) {
    const n = enc.encode(name), crc = zlibCrc32(data);
    const local = new Uint8Array(30 + n.length), lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true); lv.setUint32(22, data.length, true); lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const central = new Uint8Array(46 + n.length), cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true); cv.setUint32(24, data.length, true); cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    central.set(n, 46);
    locals.push(local, data);
    centrals.push(central);
    offset += local.length + data.length;
  }
  const size = centrals.reduce((t, c) => t + c.length, 0);
  const end = new Uint8Array(22), ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, centrals.length, true); ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, size, true); ev.setUint32(16, offset, true);
  return concat(...locals, ...centrals, end);
}

test('a guess from the ZIP alone is made only within the budget Python would allow', async () => {
  const meta = (m) => new TextEncoder().encode(JSON.stringify({ name: 'g', precision: 8, ...m }));
  const small = zipOf({ 'metadata.json': meta({ width: 2, height: 3, features: 5 }), '0.png': new Uint8Array(4), '1.png': new Uint8Array(4) });
  const guess = await guessChecked(small);
  assert.deepEqual(guess.info, { width: 2, height: 3, features: 5, precision: 8, pngCount: 2, layerCount: 2 });
  assert.equal(guess.pngs.length, 2);
  // 16384 × 16384 × 4 channels at 8 bit is 1 GiB of layers: still guessed; twice that is not.
  const entries = (features) => ({ 'metadata.json': meta({ width: 16384, height: 16384, features }),
    ...Object.fromEntries(Array.from({ length: Math.ceil(features / 4) }, (_, k) => [`${k}.png`, new Uint8Array(1)])) });
  assert.notEqual(await guessChecked(zipOf(entries(4))), null);
  assert.equal(await guessChecked(zipOf(entries(8))), null);
  // A PNG the metadata needs and the ZIP lacks, or metadata that is not the format's: no guess.
  assert.equal(await guessChecked(zipOf({ 'metadata.json': meta({ width: 2, height: 3, features: 5 }), '0.png': new Uint8Array(4) })), null);
  assert.equal(await guessChecked(zipOf({ 'metadata.json': meta({ width: 2, height: 3, features: 5, precision: 12 }) })), null);
  assert.equal(await guessChecked(zipOf({ 'a.npy': new Uint8Array(4) })), null);
});
