// IFeaLiD's service worker: after one visit the page starts, and reads local files, offline.
//
// What it caches, and how (README "Offline"):
//
// * runtime/ (the Pyodide core, numpy/Pillow pre-extracted, site-packages.bin, and the started
//   Python's snapshot, python-snapshot.bin; 26 MB): cache-first, from the cache
//   `ifealid-runtime-<version>`. The build (scripts/build_runtime.py) checks these files against
//   pyodide-lock.json and writes runtime/offline-manifest.json with their sha256 and a version
//   derived from the hashes. Every navigation reads that manifest from the network (in parallel
//   with the page itself, before the page can ask for runtime files); a new version gets a new
//   cache, filled in the background, and the old one is deleted once it is full.
// * The app shell (the page, glue/, pyworker/, the browser-facing app/*.py, the manifests, icons): network-first.
//   While the server answers, every request goes to it (the edits a developer makes always
//   show; the server's own caching rules apply); the copy in `ifealid-shell-v1` is used only
//   when the network fails. The copy is refreshed once the page is up (its 'keep' message,
//   below), not on the way: writing some 60 modules into Cache Storage during the load made a
//   repeat visit slower than a first one (docs/benchmarks.md, "Load path").
// * Anything else (datasets/, the ?d= address, other origins) is not touched: the page keeps
//   its own copies of datasets opened by link (glue/data/dataset-cache.js, `ifealid-datasets-v1`).
//
// On install everything in offline-manifest.json is cached; on activation every other
// `ifealid-shell-*` and `ifealid-runtime-*` cache is removed (a new SCHEMA below, or a new
// runtime version, leaves nothing of the old one behind). Caches the page owns stay: the
// datasets (the worker itself deletes the Python snapshot cache of earlier versions).
const SCHEMA = 'v1';
const SHELL_CACHE = `ifealid-shell-${SCHEMA}`;
const RUNTIME_PREFIX = 'ifealid-runtime-';
const OFFLINE_MANIFEST = 'runtime/offline-manifest.json';
const VERSION_KEY = '__ifealid__/runtime-version';  // the runtime version in use, in the shell cache

const scopeUrl = (path) => new URL(path, self.registration.scope).href;
let runtimeVersion = null;  // memo of VERSION_KEY

function classify(request) {
  if (request.method !== 'GET') return null;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return null;
  if (request.mode === 'navigate') return 'page';
  const path = url.pathname.slice(scope.pathname.length);
  if (path === OFFLINE_MANIFEST || path === 'runtime/ifealid-manifest.json') return 'shell';
  if (path.startsWith('runtime/')) return 'runtime';
  if (path === '' || path === 'index.html' || path === 'manifest.webmanifest'
      || /^(glue|pyworker|app)\//.test(path)) return 'shell';
  return null;
}

// The shell cache's key: the address without query or fragment (?d= links share one page).
const shellKey = (url) => { const u = new URL(url); u.search = ''; u.hash = ''; return u.href; };

const cacheable = (response) => response && response.ok && response.type === 'basic' && !response.redirected;

async function currentVersion() {
  if (runtimeVersion === null) {
    const saved = await (await caches.open(SHELL_CACHE)).match(scopeUrl(VERSION_KEY));
    runtimeVersion = saved ? await saved.text() : '';
  }
  return runtimeVersion;
}

async function fetchManifest() {
  const response = await fetch(scopeUrl(OFFLINE_MANIFEST), { cache: 'no-cache' });
  if (!response.ok) throw new Error(`${OFFLINE_MANIFEST}: HTTP ${response.status}`);
  return response.json();
}

async function setVersion(version) {
  runtimeVersion = version;
  await (await caches.open(SHELL_CACHE)).put(scopeUrl(VERSION_KEY), new Response(version));
}

// Put every listed file that the caches lack into them (with `strict`, as on install: every
// shell file afresh, and any failure fails). True when nothing is missing.
async function fill(manifest, { strict = false } = {}) {
  const shell = await caches.open(SHELL_CACHE);
  const runtime = await caches.open(RUNTIME_PREFIX + manifest.version);
  const jobs = [
    ...manifest.shell.map((path) => [shell, scopeUrl(path)]),
    ...manifest.runtime.map(({ path }) => [runtime, scopeUrl(path)]),
  ];
  const results = await Promise.allSettled(jobs.map(async ([cache, url]) => {
    const key = cache === shell ? shellKey(url) : url;
    if (!(strict && cache === shell) && await cache.match(key)) return;
    const response = await fetch(url, { cache: 'no-cache' });
    if (!cacheable(response)) throw new Error(`${url}: HTTP ${response.status}`);
    await cache.put(key, response);
  }));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && strict) throw failed.reason;
  return !failed;
}

// Old shell and runtime caches go; others (the datasets) belong to the page and stay.
async function removeOldCaches() {
  const keep = new Set([SHELL_CACHE, RUNTIME_PREFIX + await currentVersion()]);
  for (const name of await caches.keys()) {
    const ours = name.startsWith('ifealid-shell-') || name.startsWith(RUNTIME_PREFIX);
    if (ours && !keep.has(name)) await caches.delete(name);
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const manifest = await fetchManifest();
    await fill(manifest, { strict: true });
    await setVersion(manifest.version);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    await removeOldCaches();
    await self.clients.claim();
  })());
});

// A navigation: the page from the network, and, at the same time, the runtime's version.
// A changed version switches the runtime to network-and-cache (a new, empty cache) before
// the page is returned, so the runtime files of a rebuilt runtime are never the old ones.
async function page(event) {
  const manifestCheck = fetchManifest().then(async (manifest) => {
    if (manifest.version !== await currentVersion()) {
      await setVersion(manifest.version);  // requests from now on: the new cache, or the network
      event.waitUntil(fill(manifest).then((complete) => complete && removeOldCaches()).catch(() => {}));
    }
  }).catch(() => {});
  let response = null;
  try {
    response = await fetch(event.request);
  } catch {
    response = null;
  }
  await manifestCheck;
  if (response) {
    if (cacheable(response)) {
      const copy = response.clone();
      event.waitUntil(caches.open(SHELL_CACHE).then((c) => c.put(shellKey(event.request.url), copy)));
    }
    return response;
  }
  const cache = await caches.open(SHELL_CACHE);
  return (await cache.match(shellKey(event.request.url))) || (await cache.match(scopeUrl('index.html')))
    || Response.error();
}

async function shell(event) {
  try {
    return await fetch(event.request);
  } catch (err) {
    const hit = await (await caches.open(SHELL_CACHE)).match(shellKey(event.request.url));
    if (hit) return hit;
    throw err;
  }
}

async function runtime(event) {
  const version = await currentVersion();
  if (!version) return fetch(event.request);
  const cache = await caches.open(RUNTIME_PREFIX + version);
  const key = new URL(event.request.url);
  key.search = '';
  const hit = await cache.match(key.href);
  if (hit) return hit;
  const response = await fetch(event.request);
  if (cacheable(response)) {
    const copy = response.clone();
    event.waitUntil(cache.put(key.href, copy));
  }
  return response;
}

// What tells two answers for one address apart without reading them.
const validator = (response) => response.headers.get('ETag') || response.headers.get('Last-Modified');

// The page reports what it loaded (its resource timing entries, once it is up and idle): the
// shell's copies are refreshed where the server's answer changed (a revalidation, mostly 304s
// from the HTTP cache), and whatever of the shell or the runtime is not cached yet is cached
// now. This covers what the first visit loaded before the service worker was there and that
// the build's list may lack (a module added since the last build). Answers {kept} (files
// written) on the message's port.
self.addEventListener('message', (event) => {
  if (event.data?.type !== 'keep' || !Array.isArray(event.data.urls)) return;
  event.waitUntil((async () => {
    let kept = 0;
    const version = await currentVersion();
    for (const href of new Set(event.data.urls)) {
      let kind;
      try { kind = classify(new Request(href)); } catch { kind = null; }
      if (kind === 'page') kind = 'shell';
      if (kind !== 'shell' && !(kind === 'runtime' && version)) continue;
      const cache = await caches.open(kind === 'shell' ? SHELL_CACHE : RUNTIME_PREFIX + version);
      const key = kind === 'shell' ? shellKey(href) : href.split(/[?#]/)[0];
      const hit = await cache.match(key);
      if (hit && kind === 'runtime') continue;  // runtime files change only with the version
      try {
        const response = await fetch(key, { cache: 'no-cache' });
        if (!cacheable(response) || (hit && validator(hit) && validator(hit) === validator(response))) continue;
        await cache.put(key, response);
        kept += 1;
      } catch { /* offline again: the next visit tries once more */ }
    }
    event.ports[0]?.postMessage({ kept });
  })());
});

self.addEventListener('fetch', (event) => {
  const kind = classify(event.request);
  if (kind === 'page') event.respondWith(page(event));
  else if (kind === 'shell') event.respondWith(shell(event));
  else if (kind === 'runtime') event.respondWith(runtime(event));
  // anything else: not handled here, the browser fetches it as if there were no service worker
});
