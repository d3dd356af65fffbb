// The view in the address's fragment (issue 13): a link that reproduces what one sees. Keys are
// order-free; unknown keys are ignored; an invalid value is reported and left out, the rest
// applies. The fragment comes from anyone's link, so it is hostile input: its length, every
// number, every list is bounded, and what a message quotes is shortened.
//   ref=X,Y | ref=none        a locked reference | the pointer takes no part
//   pins=X,Y;X,Y              pinned references          regions=x0,y0,x1,y1;…  (inclusive)
//   combine=max|mean          metric=…   values=…         cmap=…   stretch=relative|absolute
//   threshold=T  connected=1  view=similarity|channel:K   zoom=Z (CSS px per map pixel)
//   center=X,Y (map point at the canvas's centre)         overlay=grey|colour  opacity=A
//   view=pca                  the PCA view (issue 14), with
//     pc=1,2,3 | pc=K         its components (three as R, G, B; one through the colour map)
//     pcscale=robust|minmax|sigmoid                      pcbg=1 (the similarity over its colours)
//     pcfit=all | foreground[:T[:flip]] | region         (region: the regions key's rectangles)
//   comparing datasets (issue 16; ?d=a&d=b, pane K counted from 0 in ?d= order):
//     ref=K:X,Y  pins=K:X,Y;…  regions=K:x0,y0,x1,y1;…    a pixel or region of pane K (K: 0 if left out)
//     sync=1 (views move together)  scale=pane (a colour scale per pane)  matches=K  radius=R
import { METRICS, VALUES, COMBINE, STRETCHES, MAX_PINS, MAX_REGIONS, MAX_MATCHES, VIEW_DEFAULTS, PCA_SCALES, PCA_MAX_COMPONENT } from './view.js';

export const MAX_FRAGMENT = 4096;  // characters: 16 pins and 16 regions take well under 1000
const MAX_QUOTE = 40;
const INT = /^-?\d{1,9}$/;
const NUMBER = /^-?(\d{1,15}(\.\d{0,15})?|\.\d{1,15})(e[-+]?\d{1,3})?$/i;

const quote = (text) => JSON.stringify(text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE)}…` : text);

/**
 * Parse a fragment (with or without '#') for a dataset's info ({width, height, features, range})
 * and the colour-map names. Returns {patch (view fields), zoom, center, problems: [text]}.
 */
export function parseFragment(hash, info, colormaps = [], others = []) {
  const out = { patch: {}, zoom: null, center: null, problems: [] };
  let text = String(hash ?? '');
  if (text.startsWith('#')) text = text.slice(1);
  if (!text) return out;
  if (text.length > MAX_FRAGMENT) {
    out.problems.push(`the view in the address is ${text.length} characters long, more than the ${MAX_FRAGMENT} it may be: it was ignored`);
    return out;
  }
  const W = info.width, H = info.height;
  const panes = [info, ...others];
  const where = panes.length > 1 ? 'of a pane on screen' : `on this ${W}×${H} map`;
  const bad = (key, value, why) => { out.problems.push(`${key}=${quote(value)} in the address: ${why}; left out`); };
  const int = (s, lo, hi) => (INT.test(s) && Number(s) >= lo && Number(s) <= hi ? Number(s) : null);
  // "K:rest" names pane K (K < the panes on screen); without "K:", pane 0.
  const inPane = (s, parse) => {
    const m = /^(\d{1,2}):(.*)$/.exec(s);
    const k = m ? int(m[1], 0, panes.length - 1) : 0;
    if (k === null) return null;
    const p = parse(m ? m[2] : s, panes[k]);
    return p && (k ? { ...p, pane: k } : p);
  };
  const pixel = (s) => inPane(s, (text, { width, height }) => {
    const [x, y, ...rest] = text.split(',');
    const p = { x: int(x ?? '', 0, width - 1), y: int(y ?? '', 0, height - 1) };
    return rest.length || p.x === null || p.y === null ? null : p;
  });
  const list = (key, value, max, item, what) => {
    const parts = value.split(';').filter((s) => s !== '');
    if (parts.length > max) return bad(key, value, `at most ${max} ${what}`), null;
    const items = parts.map(item);
    if (items.some((v) => v === null)) return bad(key, value, `not ${what} ${where}`), null;
    return items;
  };
  const pca = {};  // the PCA settings the link names (the rest: a fresh view's)
  for (const pair of text.split('&')) {
    const at = pair.indexOf('=');
    let key = at < 0 ? pair : pair.slice(0, at), value = at < 0 ? '' : pair.slice(at + 1);
    try { key = decodeURIComponent(key); value = decodeURIComponent(value); } catch { /* keep as written */ }
    const oneOf = (options) => (options.includes(value) ? value : bad(key, value, `not one of ${options.join(', ')}`));
    const number = (lo, hi) => (NUMBER.test(value) && Number(value) >= lo && Number(value) <= hi ? Number(value)
      : bad(key, value, `not a number from ${lo} to ${hi}`));
    const set = (field, v) => { if (v !== undefined && v !== null) out.patch[field] = v; };
    switch (key) {
      case 'ref': {
        if (value === 'none') { set('pointer', false); break; }
        const p = pixel(value);
        if (p) Object.assign(out.patch, { reference: p, locked: true, pointer: true });
        else bad(key, value, `not a pixel X,Y ${where} (or none)`);
        break;
      }
      case 'pins': set('pins', list(key, value, MAX_PINS, pixel, 'pixels X,Y')); break;
      case 'regions': set('regions', list(key, value, MAX_REGIONS, (s) => inPane(s, (t, d) => region(t, int, d.width, d.height)), 'rectangles x0,y0,x1,y1')); break;
      case 'sync': set('syncCameras', { 1: true, 0: false }[value] ?? bad(key, value, 'not 1 or 0')); break;
      case 'scale': set('jointStretch', { pane: false, joint: true }[value] ?? bad(key, value, 'not pane or joint')); break;
      case 'matches': set('matches', int(value, 0, MAX_MATCHES) ?? bad(key, value, `not a count from 0 to ${MAX_MATCHES}`)); break;
      case 'radius': set('matchRadius', number(0, 1e4)); break;
      case 'combine': set('combine', oneOf(COMBINE)); break;
      case 'metric': set('metric', oneOf(METRICS)); break;
      case 'values':
        if (value === 'true' && !panes.every((d) => d.range)) bad(key, value, 'a dataset on screen records no range, so it has no true values');
        else set('values', oneOf(VALUES));
        break;
      case 'cmap': set('colormap', colormaps.length ? oneOf(colormaps) : value); break;
      case 'stretch': set('stretch', oneOf(STRETCHES)); break;
      case 'threshold': set('threshold', number(-1e30, 1e30)); break;
      case 'connected': set('connected', { 1: true, 0: false }[value] ?? bad(key, value, 'not 1 or 0')); break;
      case 'view': {
        const channel = /^channel:(\d{1,9})$/.exec(value);
        if (value === 'similarity' || value === 'pca') set('mode', value);
        else if (channel && Number(channel[1]) < info.features) Object.assign(out.patch, { mode: 'channel', channel: Number(channel[1]) });
        else bad(key, value, `not similarity, pca or channel:K with K below ${info.features}`);
        break;
      }
      case 'pc': {
        const ks = value.split(',').map((v) => int(v, 1, Math.min(info.features, PCA_MAX_COMPONENT)));
        if ((ks.length === 1 || ks.length === 3) && !ks.includes(null) && new Set(ks).size === ks.length) pca.components = ks;
        else bad(key, value, `not one or three different components from 1 to ${Math.min(info.features, PCA_MAX_COMPONENT)}`);
        break;
      }
      case 'pcscale': { const v = oneOf(PCA_SCALES); if (v) pca.scale = v; break; }
      case 'pcfit': {
        const m = /^(all|region|foreground)(?::([^:]*))?(?::(flip))?$/.exec(value);
        const T = m?.[2] === undefined ? 0 : (NUMBER.test(m[2]) && Math.abs(Number(m[2])) <= 1e6 ? Number(m[2]) : null);
        if (m && T !== null && (m[1] === 'foreground' || (m[2] === undefined && !m[3]))) {
          Object.assign(pca, { fit: m[1], threshold: T, flip: Boolean(m[3]) });
        } else bad(key, value, 'not all, region or foreground[:T[:flip]]');
        break;
      }
      case 'pcbg': set('pcaBackground', { 1: true, 0: false }[value] ?? bad(key, value, 'not 1 or 0')); break;
      case 'overlay': set('overlayColour', { grey: false, colour: true }[value] ?? bad(key, value, 'not grey or colour')); break;
      case 'opacity': set('opacity', number(0, 1)); break;
      case 'zoom': out.zoom = number(1e-4, 1e4) ?? null; break;
      case 'center': {
        const [x, y, ...rest] = value.split(',');
        const ok = !rest.length && [x, y].every((v) => NUMBER.test(v ?? '') && Math.abs(Number(v)) <= 1e7);
        if (ok) out.center = { x: Number(x), y: Number(y) }; else bad(key, value, 'not a map point X,Y');
        break;
      }
      default: break;  // unknown keys: ignored (a newer page's, or someone else's)
    }
  }
  if (Object.keys(pca).length) out.patch.pca = { ...VIEW_DEFAULTS.pca, ...pca };
  return out;
}

function region(s, int, W, H) {
  const v = s.split(',');
  if (v.length !== 4) return null;
  const [x0, y0, x1, y1] = [int(v[0], 0, W - 1), int(v[1], 0, H - 1), int(v[2], 0, W - 1), int(v[3], 0, H - 1)];
  if ([x0, y0, x1, y1].includes(null)) return null;
  return { x0: Math.min(x0, x1), y0: Math.min(y0, y1), x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
}

const round = (v, digits) => String(Number(v.toFixed(digits)));

/**
 * The fragment (without '#') for a view: only what differs from a fresh view, so a plain view
 * has none. `camera`: {zoom, center} to write, or null when the map is as fitted.
 */
export function fragmentOf(view, { camera = null } = {}) {
  const keys = [];
  const add = (k, v) => keys.push(`${k}=${v}`);
  const pane = (p) => (p.pane ? `${p.pane}:` : '');
  if (!view.pointer) add('ref', 'none');
  else if (view.locked && view.reference) add('ref', `${pane(view.reference)}${view.reference.x},${view.reference.y}`);
  if (view.pins.length) add('pins', view.pins.map((p) => `${pane(p)}${p.x},${p.y}`).join(';'));
  if (view.regions.length) add('regions', view.regions.map((r) => `${pane(r)}${r.x0},${r.y0},${r.x1},${r.y1}`).join(';'));
  if (view.syncCameras) add('sync', '1');
  if (!view.jointStretch) add('scale', 'pane');
  if (view.matches !== 1) add('matches', String(view.matches));
  if (view.matchRadius) add('radius', round(view.matchRadius, 3));
  if (view.combine !== 'max') add('combine', view.combine);
  if (view.values !== 'stored') add('values', view.values);
  if (view.metric !== 'angular') add('metric', view.metric);
  if (view.colormap !== 'fire') add('cmap', encodeURIComponent(view.colormap));
  if (view.stretch !== 'relative') add('stretch', view.stretch);
  if (view.threshold !== null) add('threshold', String(view.threshold));
  if (view.connected) add('connected', '1');
  if (view.mode === 'channel') add('view', `channel:${view.channel}`);
  if (view.mode === 'pca') add('view', 'pca');
  const { pca } = view, fresh = VIEW_DEFAULTS.pca;
  if (pca.components.join() !== fresh.components.join()) add('pc', pca.components.join(','));
  if (pca.scale !== fresh.scale) add('pcscale', pca.scale);
  if (pca.fit === 'foreground') add('pcfit', `foreground:${pca.threshold}${pca.flip ? ':flip' : ''}`);
  else if (pca.fit !== fresh.fit) add('pcfit', pca.fit);
  if (view.pcaBackground) add('pcbg', '1');
  if (view.overlayColour) add('overlay', 'colour');
  if (view.dataset?.overlay && view.opacity !== 0.9) add('opacity', round(view.opacity, 3));
  if (camera) {
    add('zoom', round(camera.zoom, 4));
    add('center', `${round(camera.center.x, 2)},${round(camera.center.y, 2)}`);
  }
  return keys.join('&');
}
