// Registers the service worker (sw.js at the site root; its comment has the caching policy).
// The page calls this once Python is up and no dataset is loading, so the first visit's
// download of the runtime into the cache never competes with showing the first heat map.
export const SERVICE_WORKER_URL = new URL('../../sw.js', import.meta.url);

//
// Resolves, once the service worker is active and has cached what this page loaded, to
// {registration, kept} (kept: files it had to add), or to null where there is none.
export async function registerServiceWorker(url = SERVICE_WORKER_URL) {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return null;
  try {
    // updateViaCache 'none': the browser checks sw.js itself on the server at every load.
    const registration = await navigator.serviceWorker.register(url, { scope: new URL('./', url).href, updateViaCache: 'none' });
    const { active } = await navigator.serviceWorker.ready;
    const urls = [location.href, ...performance.getEntriesByType('resource').map((entry) => entry.name)];
    const { kept } = await new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => resolve(event.data);
      active.postMessage({ type: 'keep', urls }, [channel.port2]);
    });
    return { registration, kept };
  } catch (err) {
    console.warn('IFeaLiD works, but not offline: the service worker could not be registered', err);
    return null;
  }
}
