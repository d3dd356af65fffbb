// Downloading a dataset from a link (?d=, the demo and example buttons): where the link
// points, the download with progress in bytes, a message of its own for each way it can fail,
// and a check that what came back is what the link's name says (a ZIP, an .npy, an ENVI
// header) before Python is asked to read it. An ENVI header's data file is looked for beside it.
// Links come from strangers, so a download cannot hurt: a file larger than the page can hold is
// refused from its declared length before a byte is read, one without a length is cut off at
// the same size, a server that stops sending is reported (the page offers to cancel), relative
// links stay inside datasets/, and what a message quotes of a link is shortened.
import { formatBytes } from '../format.js';
import { defaultMemoryBudget } from '../render/device.js';

export class LoadError extends Error {
  // rule: 'url' | 'outside-datasets' | 'scheme' | 'mixed-content' | 'http' | 'cors' | 'network'
  //       | 'offline' | 'too-large' | 'cancelled' | 'not-zip' | 'not-npy' | 'envi-header' | 'envi-pair'
  constructor(message, rule, { status = null } = {}) {
    super(message);
    this.name = 'LoadError';
    this.rule = rule;
    this.status = status;
  }
}

const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * `text` as a message may quote it: at most `max` characters, the middle cut out (the start
 * names the server, the end the file), so a 20,000-character link cannot bury the message.
 */
export function shortened(text, max = 160) {
  const s = String(text);
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.6);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - 1 - head))}`;
}

/**
 * How downloads are bounded: `maxBytes`, the most a file may have (the memory budget the
 * renderer allows itself, device.js defaultMemoryBudget: a file the page cannot hold is no use
 * downloading), and `stallMs`, how long a server may send nothing before the page says so.
 * An init script may lower them through globalThis.IFEALID_DOWNLOAD (the tests do, to stay fast).
 */
export function downloadLimits() {
  const given = globalThis.IFEALID_DOWNLOAD ?? {};
  return { maxBytes: given.maxBytes ?? defaultMemoryBudget(), stallMs: given.stallMs ?? 10_000 };
}

// size: the declared length, or null when the read was cut off at maxBytes.
function tooLarge(href, size, maxBytes) {
  const what = size !== null ? `is ${formatBytes(size)} (as the server declares), not downloaded`
    : `was cut off after ${formatBytes(maxBytes)} with more to come`;
  return new LoadError(`${shortened(href)} ${what}: the file is larger than the page can hold (at most `
    + `${formatBytes(maxBytes)} on this device). A crop, fewer channels or a lower precision (ifealid create) `
    + 'makes a smaller dataset.', 'too-large');
}

/**
 * The dataset a ?d= value names: a relative value is a file in datasets/ beside the page
 * (the original app's links: ?d=000000015746.jpg.C1.npz.8.zip), an absolute one any
 * http(s) address. Other schemes are refused. Returns {url: URL, name}.
 */
export function resolveDatasetLink(value, pageUrl = location.href) {
  const d = String(value ?? '').trim();
  if (!d) throw new LoadError('the ?d= link names no dataset', 'url');
  let url;
  const datasets = new URL('datasets/', pageUrl);
  try {
    url = HAS_SCHEME.test(d) ? new URL(d) : new URL(`datasets/${d}`, pageUrl);
  } catch {
    throw new LoadError(`"${shortened(d)}" is not a valid address`, 'url');
  }
  // A relative link names a file in datasets/: "../" (also as %2e%2e or with backslashes, which
  // the URL parser resolves alike) must not lead out of it to the rest of the site.
  if (!HAS_SCHEME.test(d) && (url.origin !== datasets.origin || !url.pathname.startsWith(datasets.pathname))) {
    throw new LoadError(`"${shortened(d)}" leads outside the datasets/ folder beside the page (to ${shortened(url.pathname)}); `
      + 'a relative ?d= link names a file in datasets/, an absolute one a full http(s) address', 'outside-datasets');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LoadError(`?d= accepts only http and https addresses, not ${shortened(url.protocol, 40)} (${shortened(d)})`, 'scheme');
  }
  const page = new URL(pageUrl);
  if (page.protocol === 'https:' && url.protocol === 'http:') {
    throw new LoadError(`this page is served over https and may not download from an http:// address (${shortened(url.href)}); `
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
  return new LoadError(`could not download ${shortened(url)}: HTTP ${s}${text ? ` ${text}` : ''} (${why})`, 'http', { status: s });
}

// fetch() rejects with the same bare TypeError when a cross-origin server refuses to be read
// (no CORS headers) and when it cannot be reached at all. A no-cors request to the same
// address tells them apart: it resolves (with a response the page cannot read) whenever the
// server answered, so an answered server means the read was refused by CORS.
async function fetchFailure(url, signal) {
  if (signal?.aborted) return signal.reason ?? new DOMException('aborted', 'AbortError');
  if (typeof navigator !== 'undefined' && navigator.onLine === false) {
    return new LoadError(`could not download ${shortened(url)}: this computer is offline`, 'offline');
  }
  if (new URL(url).origin !== location.origin) {
    const probe = new AbortController();
    const stop = () => probe.abort();
    signal?.addEventListener('abort', stop);
    try {
      await fetch(url, { mode: 'no-cors', cache: 'no-store', credentials: 'omit', signal: probe.signal });
      return new LoadError(`could not read ${shortened(url)}: the server ${shortened(new URL(url).host, 80)} answered but does not let `
        + 'other sites read the file. It must send CORS headers (Access-Control-Allow-Origin: * or this '
        + "page's origin) for ?d= links to work; or download the file and open it here.", 'cors');
    } catch {
      // not reachable either: a network failure
    } finally {
      probe.abort();
      signal?.removeEventListener('abort', stop);
    }
  }
  return new LoadError(`could not download ${shortened(url)}: network error (the server cannot be reached: `
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

export function checkZip(bytes, contentType, href) {
  if (looksLikeZip(bytes)) return;
  const url = shortened(href);
  if (bytes.length === 0) throw new LoadError(`${url} is empty, not a dataset ZIP`, 'not-zip');
  if (looksLikeHtml(bytes, contentType)) {
    throw new LoadError(`${url} is a web page (HTML), not a dataset ZIP: the link probably leads to a page `
      + 'about the file rather than to the file itself', 'not-zip');
  }
  throw new LoadError(`${url} is not a ZIP archive${contentType ? ` (the server calls it ${shortened(contentType, 80)})` : ''}, `
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
export function checkKind(bytes, contentType, href, kind = 'zip') {
  if (kind === 'zip') return checkZip(bytes, contentType, href);
  const url = shortened(href);
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
  throw new LoadError(`${url} is not ${what}${contentType ? ` (the server calls it ${shortened(contentType, 80)})` : ''}`, rule);
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
 * Download a file of `kind` (checkKind's: 'zip' by default). onProgress({done, total, stalledMs})
 * in bytes; total is 0 when the server does not say (an indeterminate bar); stalledMs, while the
 * server has sent nothing for `stallMs` or longer (before its answer or between two parts), is
 * how long that has lasted, else 0. A file over `maxBytes` (declared or as read) is refused.
 * The limits default to downloadLimits()'s. Resolves to an ArrayBuffer of exactly the file's
 * bytes; rejects with a LoadError (or the signal's reason: the page's cancel).
 */
export async function download(url, { onProgress = () => {}, signal, kind = 'zip', maxBytes, stallMs } = {}) {
  const limits = downloadLimits();
  maxBytes ??= limits.maxBytes;
  stallMs ??= limits.stallMs;
  const href = String(url);
  let done = 0;
  let total = 0;
  let lastData = performance.now();
  let stalled = false;
  // The watchdog: a server's silence is reported while it lasts (so the page can say so and
  // offer to cancel); the next byte ends it.
  const watchdog = setInterval(() => {
    const quiet = performance.now() - lastData;
    if (quiet >= stallMs) { stalled = true; onProgress({ done, total, stalledMs: quiet }); }
  }, Math.max(10, Math.min(1000, stallMs / 2)));
  try {
    let response;
    try {
      response = await fetch(href, { signal });
    } catch {
      throw await fetchFailure(href, signal);
    }
    lastData = performance.now();
    if (!response.ok) {
      response.body?.cancel().catch(() => {});
      throw httpError(href, response);
    }
    // Content-Length counts the encoded body; a compressed response overruns it and the bar
    // turns indeterminate. A declared length over the limit is refused before the body is read.
    total = Number(response.headers.get('Content-Length')) || 0;
    if (total > maxBytes) {
      response.body?.cancel().catch(() => {});
      throw tooLarge(href, total, maxBytes);
    }
    const contentType = response.headers.get('Content-Type') || '';
    const allocate = (n) => {
      try {
        return new Uint8Array(n);
      } catch {
        throw new LoadError(`the browser could not set aside ${formatBytes(n)} of memory for ${shortened(href)}`, 'too-large');
      }
    };
    let bytes;
    if (!response.body) {
      bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length > maxBytes) throw tooLarge(href, null, maxBytes);
      onProgress({ done: bytes.length, total: bytes.length, stalledMs: 0 });
    } else {
      const reader = response.body.getReader();
      let buffer = total ? allocate(total) : null;
      const chunks = [];
      let lastReport = 0;
      onProgress({ done: 0, total, stalledMs: 0 });
      for (;;) {
        let part;
        try {
          part = await reader.read();
        } catch (err) {
          if (signal?.aborted) throw signal.reason ?? err;
          throw new LoadError(`the download of ${shortened(href)} broke off after ${formatBytes(done)}: ${err.message}`, 'network');
        }
        if (part.done) break;
        const chunk = part.value;
        lastData = performance.now();
        // Without a length (or past the declared one) what is read is capped at the same limit.
        if (done + chunk.length > maxBytes) {
          reader.cancel().catch(() => {});
          throw tooLarge(href, null, maxBytes);
        }
        if (buffer && done + chunk.length <= buffer.length) {
          buffer.set(chunk, done);
        } else {
          if (buffer) { chunks.push(buffer.subarray(0, done)); buffer = null; total = 0; }
          chunks.push(chunk);
        }
        done += chunk.length;
        if (stalled || lastData - lastReport > 50) {
          stalled = false;
          lastReport = lastData;
          onProgress({ done, total, stalledMs: 0 });
        }
      }
      onProgress({ done, total: total || done, stalledMs: 0 });
      if (buffer) {
        bytes = done === buffer.length ? buffer : buffer.slice(0, done);
      } else {
        bytes = allocate(done);
        let offset = 0;
        for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
      }
    }
    checkKind(bytes, contentType, href, kind);
    return bytes.buffer;
  } finally {
    clearInterval(watchdog);
  }
}
