// Downloads that cannot hurt (glue/data/loader.js): links kept inside datasets/, quoted links
// shortened, a declared length over the limit refused before the body is read, a body without
// a length cut off at the limit, a silent server reported while it is silent. fetch is a stub.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { download, downloadLimits, resolveDatasetLink, shortened, LoadError } from '../../glue/data/loader.js';
import { defaultMemoryBudget } from '../../glue/render/device.js';

const PAGE = 'http://127.0.0.1:8000/app/index.html';
const ZIP_EOCD = new Uint8Array([0x50, 0x4b, 5, 6, ...new Array(18).fill(0)]);

test('relative links stay inside datasets/', () => {
  assert.equal(resolveDatasetLink('a.zip', PAGE).url.href, 'http://127.0.0.1:8000/app/datasets/a.zip');
  assert.equal(resolveDatasetLink('sub/../b.zip', PAGE).url.href, 'http://127.0.0.1:8000/app/datasets/b.zip');
  for (const d of ['../../etc/passwd', '../index.html', '%2e%2e/index.html', '..\\..\\etc\\passwd',
    '../datasets-private/x.zip', 'sub/../../x.zip', '.%2E/.%2e/etc/passwd']) {
    assert.throws(() => resolveDatasetLink(d, PAGE), (err) => err instanceof LoadError && err.rule === 'outside-datasets'
      && /outside the datasets\/ folder/.test(err.message), d);
  }
  // Absolute addresses are not relative links: any http(s) address is allowed.
  assert.equal(resolveDatasetLink('http://example.com/../x.zip', PAGE).url.href, 'http://example.com/x.zip');
});

test('what a message quotes of a link is shortened, keeping its start and end', () => {
  assert.equal(shortened('short'), 'short');
  const long = `http://example.com/${'a'.repeat(20000)}.zip`;
  const s = shortened(long);
  assert.equal(s.length, 160);
  assert.ok(s.startsWith('http://example.com/aaa') && s.endsWith('aaa.zip') && s.includes('…'));
  assert.throws(() => resolveDatasetLink(`ftp://${'x'.repeat(20000)}`, PAGE),
    (err) => err.rule === 'scheme' && err.message.length < 400);
  assert.throws(() => resolveDatasetLink(`${'../'.repeat(7000)}x`, PAGE),
    (err) => err.rule === 'outside-datasets' && err.message.length < 600);
});

test('the download limit is the memory budget the renderer uses, lowered by IFEALID_DOWNLOAD', () => {
  assert.deepEqual(downloadLimits(), { maxBytes: defaultMemoryBudget(), stallMs: 10_000 });
  globalThis.IFEALID_DOWNLOAD = { maxBytes: 5, stallMs: 7 };
  try {
    assert.deepEqual(downloadLimits(), { maxBytes: 5, stallMs: 7 });
  } finally {
    delete globalThis.IFEALID_DOWNLOAD;
  }
});

// A stub fetch answering with `headers` and the body that `pull` makes; records how often the
// body was read. An abort errors the body, as a real fetch does.
function stubFetch(t, headers, pull) {
  const seen = { pulls: 0, cancelled: false };
  t.mock.method(globalThis, 'fetch', async (url, { signal } = {}) => new Response(new ReadableStream({
    start(controller) { signal?.addEventListener('abort', () => controller.error(signal.reason)); },
    async pull(controller) { seen.pulls += 1; await pull(controller, seen.pulls); },
    cancel() { seen.cancelled = true; },
  }, { highWaterMark: 0 }), { status: 200, headers }));
  return seen;
}

test('a declared length over the limit is refused before the body is read', async (t) => {
  const seen = stubFetch(t, { 'Content-Length': String(20e9) }, (c) => c.enqueue(new Uint8Array(4)));
  await assert.rejects(download('http://h/big.zip', { maxBytes: 1e6 }), (err) => err.rule === 'too-large'
    && /20\.00 GB \(as the server declares\), not downloaded: the file is larger than the page can hold \(at most 1\.00 MB/.test(err.message));
  assert.equal(seen.pulls, 0);
});

test('a body without a length is cut off at the limit', async (t) => {
  const seen = stubFetch(t, {}, (c) => c.enqueue(new Uint8Array(1000)));
  await assert.rejects(download('http://h/endless.zip', { maxBytes: 10_000 }), (err) => err.rule === 'too-large'
    && /cut off after 10 kB with more to come: the file is larger than the page can hold/.test(err.message));
  assert.ok(seen.pulls <= 12, seen.pulls);  // read up to the limit (and the chunk in flight), no further
  assert.ok(seen.cancelled);
});

test('a body longer than its declared length is cut off at the limit too', async (t) => {
  stubFetch(t, { 'Content-Length': '100' }, (c) => c.enqueue(new Uint8Array(1000)));
  await assert.rejects(download('http://h/liar.zip', { maxBytes: 10_000 }), (err) => err.rule === 'too-large');
});

test('a silent server is reported while it is silent, and the next bytes end it', async (t) => {
  let resume;
  const gate = new Promise((resolve) => { resume = resolve; });
  stubFetch(t, { 'Content-Length': String(4 + ZIP_EOCD.length) }, async (c, n) => {
    if (n === 1) c.enqueue(new Uint8Array(4));
    else if (n === 2) { await gate; c.enqueue(ZIP_EOCD); } else c.close();
  });
  const reports = [];
  const got = download('http://h/stall.zip', {
    stallMs: 20,
    onProgress: (p) => {
      reports.push(p);
      if (p.stalledMs && reports.filter((r) => r.stalledMs).length === 2) resume();
    },
  });
  const buffer = await got;
  assert.equal(buffer.byteLength, 4 + ZIP_EOCD.length);
  const firstStall = reports.findIndex((r) => r.stalledMs > 0);
  assert.ok(firstStall > 0 && reports[firstStall].done === 4 && reports[firstStall].stalledMs >= 20, reports);
  assert.equal(reports.at(-1).stalledMs, 0);
});

test('a cancel during a stall rejects with the reason the page gave', async (t) => {
  stubFetch(t, { 'Content-Length': '100' }, async (c, n) => {
    if (n === 1) c.enqueue(new Uint8Array(4)); else await new Promise(() => {});
  });
  const abort = new AbortController();
  const reason = new LoadError('cancelled', 'cancelled');
  const got = download('http://h/stall.zip', {
    signal: abort.signal, stallMs: 10, onProgress: (p) => { if (p.stalledMs) abort.abort(reason); },
  });
  await assert.rejects(got, (err) => err === reason);
});
