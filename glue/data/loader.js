// Downloading a dataset from a link (?d=, the demo and example buttons): where the link
// points, the download with progress in bytes, a message of its own for each way it can fail,
// and a check that what came back is what the link's name says (a ZIP, an .npy, an ENVI
// header) before Python is asked to read it. An ENVI header's data file is looked for beside it.
import { formatBytes } from '../format.js';

export class LoadError extends Error {
  // rule: 'url' | 'scheme' | 'mixed-content' | 'http' | 'cors' | 'network' | 'offline' | 'not-zip'
  //       | 'not-npy' | 'envi-header' | 'envi-pair'
  constructor(message, rule, { status = null } = {}) {
    super(message);
    this.name = 'LoadError';
    this.rule = rule;
    this.status = status;
  }
}

const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * The dataset a ?d= value names: a relative value is a file in datasets/ beside the page
 * (the original app's links: ?d=000000015746.jpg.C1.npz.8.zip), an absolute one any
 * http(s) address. Other schemes are refused. Returns {url: URL, name}.
 */
export function resolveDatasetLink(value, pageUrl = location.href) {
  const d = String(value ?? '').trim();
  if (!d) throw new LoadError('the ?d= link names no dataset', 'url');
  let url;
  try {
    url = HAS_SCHEME.test(d) ? new URL(d) : new URL(`datasets/${d}`, pageUrl);
  } catch {
    throw new LoadError(`"${d}" is not a valid address`, 'url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LoadError(`?d= accepts only http and https addresses, not ${url.protocol} (${d})`, 'scheme');
  }
  const page = new URL(pageUrl);
  if (page.protocol === 'https:' && url.protocol === 'http:') {
    throw new LoadError(`this page is served over https and may not download from an http:// address (${url.href}); `
      + 'use the https:// address of the file', 'mixed-content');
  }
  let name = url.pathname.split('/').pop();
  try { name = decodeURIComponent(name); } catch { /* keep it encoded */ }
  return { url, name: name || url.host };
}

const REASONS = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout',
  410: 'Gone', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

function httpError(url, response) {
  const s = response.status;
  const text = response.statusText || REASONS[s] || '';
  const why = s === 404 || s === 410 ? 'there is no file at this address'
    : s === 401 || s === 403 ? 'the server refuses to hand out this file'
      : s === 429 ? 'the server is busy; try again later'
        : s >= 500 ? 'the server failed; try again later'
          : 'the server refused the request';
  return new LoadError(`could not download ${url}: HTTP ${s}${text ? ` ${text}` : ''} (${why})`, 'http', { status: s });
}

// fetch() rejects with the same bare TypeError when a cross-origin server refuses to be read
// (no CORS headers) and when it cannot be reached at all. A no-cors request to the same
// address tells them apart: it resolves (with a response the page cannot read) whenever the
// server answered, so an answered server means the read was refused by CORS.
async function fetchFailure(url, signal) {
  if (signal?.aborted) return signal.reason ?? new DOMException('aborted', 'AbortError');
  if (typeof navigator !== 'undefined' && navigator.onLine === false) {
    return new LoadError(`could not download ${url}: this computer is offline`, 'offline');
  }
  if (new URL(url).origin !== location.origin) {
    const probe = new AbortController();
    const stop = () => probe.abort();
    signal?.addEventListener('abort', stop);
    try {
      await fetch(url, { mode: 'no-cors', cache: 'no-store', credentials: 'omit', signal: probe.signal });
      return new LoadError(`could not read ${url}: the server ${new URL(url).host} answered but does not let `
        + 'other sites read the file. It must send CORS headers (Access-Control-Allow-Origin: * or this '
        + "page's origin) for ?d= links to work; or download the file and open it here.", 'cors');
    } catch {
      // not reachable either: a network failure
    } finally {
      probe.abort();
      signal?.removeEventListener('abort', stop);
    }
  }
  return new LoadError(`could not download ${url}: network error (the server cannot be reached: `
    + 'wrong address, server down or no connection)', 'network');
}

// ZIP signatures: a local file header at the start, or (an empty archive, or data before the
// archive) the end-of-central-directory record within the last 64 kB + 22 bytes.
export function looksLikeZip(bytes) {
  const at = (i) => bytes[i] === 0x50 && bytes[i + 1] === 0x4b;
  if (bytes.length >= 4 && at(0) && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6))) return true;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 65557); i--) {
    if (at(i) && bytes[i + 2] === 5 && bytes[i + 3] === 6) return true;
  }
  return false;
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];  // \x93NUMPY

function looksLikeHtml(bytes, contentType) {
  const head = new TextDecoder().decode(bytes.subarray(0, 1024)).trimStart().toLowerCase();
  return /html/i.test(contentType ?? '') || head.startsWith('<!doctype html') || head.startsWith('<html')
    || (head.startsWith('<') && head.includes('<body'));
}

export function checkZip(bytes, contentType, url) {
  if (looksLikeZip(bytes)) return;
  if (bytes.length === 0) throw new LoadError(`${url} is empty, not a dataset ZIP`, 'not-zip');
  if (looksLikeHtml(bytes, contentType)) {
    throw new LoadError(`${url} is a web page (HTML), not a dataset ZIP: the link probably leads to a page `
      + 'about the file rather than to the file itself', 'not-zip');
  }
  throw new LoadError(`${url} is not a ZIP archive${contentType ? ` (the server calls it ${contentType})` : ''}, `
    + 'so it cannot be a dataset', 'not-zip');
}

/**
 * What a link's file must be, by its name: 'npy' (.npy), 'envi-header' (.hdr), 'zip' (a
 * dataset ZIP, an .npz, anything else: the original's links name ZIPs).
 */
export function linkKind(name) {
  const lower = String(name).toLowerCase();
  if (lower.endsWith('.npy')) return 'npy';
  if (lower.endsWith('.hdr')) return 'envi-header';
  return 'zip';
}

/** Refuse what came back when it is not `kind` (linkKind's, or 'any': anything but a web page). */
export function checkKind(bytes, contentType, url, kind = 'zip') {
  if (kind === 'zip') return checkZip(bytes, contentType, url);
  const what = { npy: 'an .npy file', 'envi-header': 'an ENVI header', any: 'a data file' }[kind];
  const rule = kind === 'npy' ? 'not-npy' : kind === 'envi-header' ? 'envi-header' : 'not-zip';
  const fits = kind === 'npy' ? NPY_MAGIC.every((b, i) => bytes[i] === b)
    : kind === 'envi-header' ? /^\s*(\ufeff)?ENVI/.test(new TextDecoder().decode(bytes.subarray(0, 64)))
      : !looksLikeHtml(bytes, contentType);
  if (fits) return;
  if (bytes.length === 0) throw new LoadError(`${url} is empty, not ${what}`, rule);
  if (looksLikeHtml(bytes, contentType)) {
    throw new LoadError(`${url} is a web page (HTML), not ${what}: the link probably leads to a page about the `
      + 'file rather than to the file itself', rule);
  }
  throw new LoadError(`${url} is not ${what}${contentType ? ` (the server calls it ${contentType})` : ''}`, rule);
}

/**
 * The names an ENVI header's data file may have beside it, most likely first (the rule of
 * app/envi.py data_candidates): cube.img for cube.img.hdr; cube.img, cube.dat, cube.raw,
 * cube.bin, cube.bsq, cube.bil, cube.bip, cube for cube.hdr.
 */
export function enviDataCandidates(headerName) {
  const base = headerName.replace(/\.hdr$/i, '');
  const names = base.split('/').pop().includes('.') ? [base] : [];
  for (const ext of ['img', 'dat', 'raw', 'bin', 'bsq', 'bil', 'bip']) names.push(`${base}.${ext}`);
  if (!names.includes(base)) names.push(base);
  return names;
}

/**
 * Download a file of `kind` (checkKind's: 'zip' by default). onProgress({done, total}) in bytes;
 * total is 0 when the server does not say (an indeterminate bar). Resolves to an ArrayBuffer of
 * exactly the file's bytes; rejects with a LoadError (or the signal's AbortError).
 */
export async function download(url, { onProgress = () => {}, signal, kind = 'zip' } = {}) {
  const href = String(url);
  let response;
  try {
    response = await fetch(href, { signal });
  } catch {
    throw await fetchFailure(href, signal);
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    throw httpError(href, response);
  }
  // Content-Length counts the encoded body; a compressed response overruns it and the bar
  // turns indeterminate.
  let total = Number(response.headers.get('Content-Length')) || 0;
  const contentType = response.headers.get('Content-Type') || '';
  let bytes;
  if (!response.body) {
    bytes = new Uint8Array(await response.arrayBuffer());
    onProgress({ done: bytes.length, total: bytes.length });
  } else {
    const reader = response.body.getReader();
    let buffer = total ? new Uint8Array(total) : null;
    const chunks = [];
    let done = 0;
    let lastReport = 0;
    onProgress({ done: 0, total });
    for (;;) {
      let part;
      try {
        part = await reader.read();
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        throw new LoadError(`the download of ${href} broke off after ${formatBytes(done)}: ${err.message}`, 'network');
      }
      if (part.done) break;
      const chunk = part.value;
      if (buffer && done + chunk.length <= buffer.length) {
        buffer.set(chunk, done);
      } else {
        if (buffer) { chunks.push(buffer.subarray(0, done)); buffer = null; total = 0; }
        chunks.push(chunk);
      }
      done += chunk.length;
      const now = performance.now();
      if (now - lastReport > 50) { lastReport = now; onProgress({ done, total }); }
    }
    onProgress({ done, total: total || done });
    if (buffer) {
      bytes = done === buffer.length ? buffer : buffer.slice(0, done);
    } else {
      bytes = new Uint8Array(done);
      let offset = 0;
      for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
    }
  }
  checkKind(bytes, contentType, href, kind);
  return bytes.buffer;
}
