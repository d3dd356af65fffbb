// A dataset's PNGs decoded in JavaScript, exactly: the ZIP entry inflated and its CRC-32
// checked, the PNG's zlib stream inflated by the browser's own zlib (DecompressionStream) and
// its rows unfiltered (PNG spec, section 9). The browser's image decoders cannot be used: they
// premultiply alpha or convert colours, and a dataset's alpha byte is a channel like the others.
//
// Only the plain form every writer of the format makes is accepted: 8-bit RGBA, not interlaced,
// IHDR, IDAT…, IEND and nothing else, every chunk but IDAT with its CRC right. Anything else
// throws PngError, and the worker then decodes the ZIP with Python (app/reader.py), whose
// message is the one the user sees: this decoder may refuse what Pillow takes, never the
// reverse. Python checks the ZIP by the reader's rules (app/quickopen.py); the page's tests
// compare what this decodes with CPython's decode for every precision.
export class PngError extends Error {}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

// CRC-32 tables for four bytes at a step ("slicing by 4"): table k is the CRC of a byte
// followed by k zero bytes.
const CRC_TABLES = (() => {
  const t = new Int32Array(1024);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 4; k++) t[256 * k + n] = t[t[256 * (k - 1) + n] & 0xff] ^ (t[256 * (k - 1) + n] >>> 8);
  }
  return t;
})();

/** The CRC-32 (ZIP's and PNG's) of bytes[start, end), as an unsigned number. */
export function crc32(bytes, start = 0, end = bytes.length) {
  const t = CRC_TABLES;
  let c = -1, i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * The stream of `bytes` decompressed ('gzip', 'deflate', 'deflate-raw') by the browser's zlib.
 * Written straight into the DecompressionStream: a Blob's stream, the usual way, is read through
 * the browser's own process in Chromium, several times slower.
 */
export function decompressed(bytes, format) {
  const stream = new DecompressionStream(format);
  const writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  return stream.readable;
}

/**
 * Inflate `bytes` ('deflate': a zlib stream, 'deflate-raw': a ZIP entry's) to exactly `expected`
 * bytes: more (read no further than that), fewer, a damaged stream or data after its end throw.
 */
export async function inflate(bytes, format, expected) {
  const reader = decompressed(bytes, format).getReader();
  const out = new Uint8Array(expected);
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (length + value.length > expected) throw new PngError(`inflates to more than ${expected} bytes`);
      out.set(value, length);
      length += value.length;
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err instanceof PngError ? err : new PngError(`cannot be inflated (${err.message})`);
  }
  if (length !== expected) throw new PngError(`inflates to ${length} bytes, not ${expected}`);
  return out;
}

/** A ZIP entry's bytes: `stored` (its data in the ZIP) inflated when method is 8, CRC checked. */
export async function zipEntry(stored, { method, crc, size }) {
  let data;
  if (method === 0) {
    if (stored.length !== size) throw new PngError(`stored entry of ${stored.length} bytes declares ${size}`);
    data = stored;
  } else if (method === 8) {
    data = await inflate(stored, 'deflate-raw', size);
  } else {
    throw new PngError(`ZIP compression method ${method}`);
  }
  if (crc32(data) !== crc) throw new PngError('the ZIP entry\'s CRC-32 does not match');
  return data;
}

const u32 = (b, i) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const typeOf = (b, i) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);

/** The IDAT chunks' bytes, joined, of a width × height 8-bit RGBA PNG (structure checked). */
export function idatOf(png, width, height) {
  if (png.length < 8 || SIGNATURE.some((v, i) => png[i] !== v)) throw new PngError('not a PNG');
  const parts = [];
  let pos = 8, seenIend = false, idatDone = false, first = true, total = 0;
  while (pos < png.length) {
    if (seenIend) throw new PngError('data after IEND');
    if (pos + 12 > png.length) throw new PngError('a chunk is cut off');
    const length = u32(png, pos), type = typeOf(png, pos + 4), data = pos + 8, end = data + length;
    if (length > 0x7fffffff || end + 4 > png.length) throw new PngError(`chunk ${type} is cut off`);
    if (type !== 'IDAT' && crc32(png, pos + 4, end) !== u32(png, end)) throw new PngError(`chunk ${type} has a wrong CRC`);
    if (first !== (type === 'IHDR')) throw new PngError('IHDR is not the first chunk');
    if (type === 'IHDR') {
      if (length !== 13) throw new PngError('IHDR is not 13 bytes');
      const w = u32(png, data), h = u32(png, data + 4);
      const [depth, colour, compression, filter, interlace] = png.subarray(data + 8, data + 13);
      if (w !== width || h !== height) throw new PngError(`the PNG is ${w}×${h}, not ${width}×${height}`);
      if (depth !== 8 || colour !== 6 || compression || filter || interlace) throw new PngError('not a plain 8-bit RGBA PNG');
    } else if (type === 'IDAT') {
      if (idatDone) throw new PngError('IDAT chunks are not consecutive');
      parts.push(png.subarray(data, end));
      total += length;
    } else if (type === 'IEND') {
      if (length !== 0) throw new PngError('IEND is not empty');
      seenIend = true;
    } else {
      throw new PngError(`chunk ${type} (only IHDR, IDAT and IEND are read here)`);
    }
    if (parts.length && type !== 'IDAT') idatDone = true;
    first = false;
    pos = end + 4;
  }
  if (!seenIend || !parts.length) throw new PngError(seenIend ? 'no IDAT chunk' : 'no IEND chunk');
  if (parts.length === 1) return parts[0];
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) { joined.set(part, at); at += part.length; }
  return joined;
}

/** Undo the rows' filters (bytes per pixel 4) of `raw` (height rows of 1 + 4·width bytes) into `out`. */
export function unfilter(raw, width, height, out = new Uint8Array(width * height * 4)) {
  const stride = width * 4;
  // (Stores into a Uint8Array keep the low 8 bits: the sums need no "& 255".)
  for (let y = 0; y < height; y++) {
    const kind = raw[y * (stride + 1)];
    const s = y * (stride + 1) + 1, r = y * stride, u = r - stride;
    if (kind === 0 || (kind === 2 && y === 0)) {
      out.set(raw.subarray(s, s + stride), r);
    } else if (kind === 1) {
      for (let i = 0; i < 4; i++) out[r + i] = raw[s + i];
      for (let i = 4; i < stride; i++) out[r + i] = raw[s + i] + out[r + i - 4];
    } else if (kind === 2) {
      for (let i = 0; i < stride; i++) out[r + i] = raw[s + i] + out[u + i];
    } else if (kind === 3) {
      if (y === 0) {
        for (let i = 0; i < 4; i++) out[r + i] = raw[s + i];
        for (let i = 4; i < stride; i++) out[r + i] = raw[s + i] + (out[r + i - 4] >>> 1);
      } else {
        for (let i = 0; i < 4; i++) out[r + i] = raw[s + i] + (out[u + i] >>> 1);
        for (let i = 4; i < stride; i++) out[r + i] = raw[s + i] + ((out[r + i - 4] + out[u + i]) >>> 1);
      }
    } else if (kind === 4) {
      if (y === 0) {  // above is 0: the predictor is the left neighbour (as Sub)
        for (let i = 0; i < 4; i++) out[r + i] = raw[s + i];
        for (let i = 4; i < stride; i++) out[r + i] = raw[s + i] + out[r + i - 4];
      } else {
        for (let i = 0; i < 4; i++) out[r + i] = raw[s + i] + out[u + i];  // left and corner are 0
        for (let i = 4; i < stride; i++) {
          const a = out[r + i - 4], b = out[u + i], c = out[u + i - 4];
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          out[r + i] = raw[s + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
      }
    } else {
      throw new PngError(`row ${y} has filter type ${kind}`);
    }
  }
  return out;
}

/** The width × height × 4 bytes of a dataset PNG (its bytes as stored in the ZIP, inflated). */
export async function decodePng(png, width, height, out) {
  const raw = await inflate(idatOf(png, width, height), 'deflate', height * (width * 4 + 1));
  return unfilter(raw, width, height, out);
}

/**
 * One texture layer (the format's layout, app/format.py png_slot): its PNGs [{slot, stored,
 * method, crc, size}] (slot: k mod B, B = precision / 8 bytes per value) decoded into the
 * layer's width·height·4·B bytes, slots without a PNG left 0, and each of its four channels'
 * exact Σq and Σq² (decimal strings), as app/analysis.py channel_stats sums them.
 */
export async function decodeLayer({ width, height, precision, pngs }) {
  const B = precision / 8, pixels = width * height;
  const layer = new Uint8Array(pixels * 4 * B);
  const scratch = B === 1 ? layer : new Uint8Array(pixels * 4);
  for (const { slot, stored, method, crc, size } of pngs) {
    const png = await zipEntry(new Uint8Array(stored), { method, crc, size });
    await decodePng(png, width, height, scratch);
    if (B > 1) {
      for (let p = 0, o = slot * 4; p < pixels * 4; p += 4, o += 4 * B) {
        layer[o] = scratch[p]; layer[o + 1] = scratch[p + 1]; layer[o + 2] = scratch[p + 2]; layer[o + 3] = scratch[p + 3];
      }
    }
  }
  return { layer, ...channelSums(layer, precision, pixels) };
}

// Blocks of pixels small enough that a block's sums of q (or of 16-bit halves' products) stay
// exact in a double: 2^20 · (2^16 - 1)^2 < 2^53.
const BLOCK = 1 << 20;

/** Σq and Σq² of each of a layer's four channels, exact (BigInt), as decimal strings. */
export function channelSums(bytes, precision, pixels) {
  const sums = [0n, 0n, 0n, 0n], squares = [0n, 0n, 0n, 0n];
  const values = precision === 8 ? bytes : precision === 16
    ? new Uint16Array(bytes.buffer, bytes.byteOffset, pixels * 4) : new Uint32Array(bytes.buffer, bytes.byteOffset, pixels * 4);
  for (let start = 0; start < pixels; start += BLOCK) {
    const end = Math.min(pixels, start + BLOCK);
    if (precision < 32) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
      for (let p = start * 4; p < end * 4; p += 4) {
        const a = values[p], b = values[p + 1], c = values[p + 2], d = values[p + 3];
        s0 += a; s1 += b; s2 += c; s3 += d;
        q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d;
      }
      [s0, s1, s2, s3].forEach((v, c) => { sums[c] += BigInt(v); });
      [q0, q1, q2, q3].forEach((v, c) => { squares[c] += BigInt(v); });
    } else {
      for (let c = 0; c < 4; c++) {
        // q = h·2^16 + l: Σq² = Σh²·2^32 + Σhl·2^17 + Σl², each sum exact in a block.
        let sh = 0, sl = 0, hh = 0, hl = 0, ll = 0;
        for (let p = start * 4 + c; p < end * 4; p += 4) {
          const q = values[p], h = q >>> 16, l = q & 0xffff;
          sh += h; sl += l; hh += h * h; hl += h * l; ll += l * l;
        }
        sums[c] += (BigInt(sh) << 16n) + BigInt(sl);
        squares[c] += (BigInt(hh) << 32n) + (BigInt(hl) << 17n) + BigInt(ll);
      }
    }
  }
  return { sums: sums.map(String), squares: squares.map(String) };
}
