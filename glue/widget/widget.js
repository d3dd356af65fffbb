// The notebook widget's front end (anywidget, issue 18): the page's explorer and renderer in a
// notebook output, fed by the kernel instead of the Pyodide worker. scripts/build_widget.mjs
// bundles this module and everything it imports into app/widget/widget.js, which ifealid.Viewer
// (app/viewer.py) ships as its `_esm`; nothing is fetched at run time.
//
// Kernel → front end (custom messages; app/viewer.py and app/notebook.py are the other side):
//   begin   {type, info, overlaySize, bytes, chunks, colormaps: [names], notes}: buffers [mean,
//           std (float64, the exact channel stats), overlay (when overlaySize), ...colour tables
//           (768 RGB bytes each, in the names' order)]
//   chunk   {type, index, offset}: buffers [bytes]: the (L, H, W, 4) layers at `offset`, in order
//   request {type, id, what: 'map' | 'mask' | 'png', state: the traits as Python has them}
//   encoded {type, id, ok, error}: buffers [bytes]: an export's file (the kernel's encoder)
// Front end → kernel:
//   load    {type}: send the dataset (each view asks once it is on screen)
//   state   {type, traits}: the traits the user changed (glue/widget/traits.js), applied in Python
//           as the widget's own state updates are
//   reply   {type, id, ok, error, shape, dtype}: buffers [values] (none for "no mask")
//   encode  {type, id, what, shape, meta, arrayType}: buffers [array]: an export's file, made by
//           app/browser.py encode_for_worker, as the page's worker makes it
import { ViewModel } from '../model/view.js';
import { Explorer } from '../ui/explorer.js';
import { Exports } from '../ui/exports.js';
import { readMapOf, readMaskOf } from '../readback.js';
import { formatBytes } from '../format.js';
import { EXPLORER_HTML, STYLE } from 'ifealid:page';
import { stateFromTraits, traitsFromState, TRAITS } from './traits.js';

const REFERENCE_SYNC_MS = 100;  // a hovered reference reaches Python at most this often

const bytesOf = (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

// The dataset as the kernel sends it: `begin`, then the chunks in order. Each view assembles its
// own (anywidget hands each view a model object of its own, so nothing is keyed on it); a
// `begin` that another view asked for restarts one still receiving, and one done ignores it.
function receiver(onProgress) {
  let resolve;
  const promise = new Promise((a) => { resolve = a; });
  let head = null, layers = null, got = 0, done = false;
  const onMessage = (msg, buffers) => {
    if (done) return;
    if (msg.type === 'begin') {
      head = msg;
      layers = new Uint8Array(msg.bytes);
      got = 0;
      const [mean, std, ...rest] = buffers.map((b) => bytesOf(b).slice());
      head.stats = { mean: new Float64Array(mean.buffer), std: new Float64Array(std.buffer) };
      head.overlay = msg.overlaySize ? rest.shift() : null;
      head.tables = Object.fromEntries(msg.colormaps.map((name, i) => [name, rest[i]]));
      onProgress(0, msg.bytes);
    } else if (msg.type === 'chunk' && head) {
      const b = bytesOf(buffers[0]);
      layers.set(b, msg.offset);
      got += b.byteLength;
      onProgress(got, head.bytes);
      if (got === head.bytes) {
        done = true;
        const { info } = head;
        const Typed = { 8: Uint8Array, 16: Uint16Array, 32: Uint32Array }[info.precision];
        resolve({
          dataset: {
            info, layers: new Typed(layers.buffer), stats: head.stats, overlay: head.overlay,
            overlaySize: head.overlaySize, decodeMs: 0,
          },
          colormaps: head.tables, notes: head.notes ?? [],
        });
      }
    }
  };
  return { promise, onMessage };
}

// The kernel's answers to encode requests, by id.
const pending = new Map();
let nextId = 1;

// An export's file made by the kernel (app/browser.py encode_for_worker), as the worker makes it.
function encodeInKernel(model, what, array, shape, meta) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    model.send({ type: 'encode', id, what, shape, meta: meta ?? null, arrayType: array.constructor.name }, undefined, [bytesOf(array)]);
  });
}

function onEncoded(msg, buffers) {
  const p = pending.get(msg.id);
  pending.delete(msg.id);
  if (msg.ok) p?.resolve(bytesOf(buffers[0]).slice());
  else p?.reject(new Error(msg.error));
}

function render({ model, el }) {
  el.classList.add('ifealid-host');
  // Lumino (JupyterLab) leaves keys pressed inside this element to the explorer (L, M, P, ...).
  el.setAttribute('data-lm-suppress-shortcuts', 'true');
  // A shadow root: the explorer's ids and the page's styles stay inside, so several viewers can
  // share a notebook and the notebook's styles do not reach in.
  const root = el.shadowRoot ?? el.attachShadow({ mode: 'open' });
  // The markup is the bundle's own (index.html's explorer section), parsed inert: no script in
  // it runs, and the page's policy forbids innerHTML.
  const markup = new DOMParser().parseFromString(`<div class="ifealid-widget">
    <div class="widget-status"><div id="progress" class="progress" hidden><progress id="progress-bar" max="1" value="0"></progress><span id="progress-text"></span></div>
    <div id="error" class="alert" role="alert" hidden></div><div id="notice" class="notice" role="status" hidden></div></div>
    ${EXPLORER_HTML}</div>`, 'text/html');
  const style = document.createElement('style');
  style.textContent = STYLE;
  root.replaceChildren(style, ...[...markup.body.childNodes].map((n) => document.importNode(n, true)));
  const $ = (id) => root.querySelector(`#${id}`);
  root.querySelector('.ifealid-widget').style.height = `${model.get('height')}px`;
  $('explorer').hidden = false;
  const say = (id, text) => { $(id).hidden = !text; $(id).textContent = text ?? ''; };

  const view = new ViewModel();
  // For automation and the tests: where the viewer is ('loading', 'shown', 'error'), and its parts.
  el.setAttribute('data-ifealid', 'loading');
  let explorer;
  try {
    explorer = new Explorer(view, { root, onNotice: (text) => say('notice', text) });
  } catch (err) {
    say('error', `This browser cannot show IFeaLiD's heat maps: ${err.message}`);
    el.setAttribute('data-ifealid', 'error');
    return () => {};
  }
  el.ifealidViewer = { view, explorer };
  const exports = new Exports(view, explorer.renderer, (what, array, shape, meta) => encodeInKernel(model, what, array, shape, meta),
    { onError: (text) => say('notice', text) });
  for (const button of root.querySelectorAll('button[data-export]')) {
    button.addEventListener('click', () => exports.save(button.dataset.export));
  }
  Object.assign(explorer.shortcuts, {
    s: () => exports.save('view-png'), S: () => exports.save('view-png-large'), n: () => exports.save('map-npy'),
  });

  // ---------------------------------------------------------------- state both ways
  let shown = false;
  const apply = (traits) => {
    if (!shown) return;
    try {
      const patch = stateFromTraits(traits, view.state);
      if (Object.keys(patch).length) view.set(patch);
    } catch (err) {
      say('notice', err.message);
    }
  };
  const fromModel = () => Object.fromEntries(TRAITS.map((k) => [k, model.get(k)]));
  const onTrait = Object.fromEntries(TRAITS.map((k) => [k, () => apply({ [k]: model.get(k) })]));
  for (const k of TRAITS) model.on(`change:${k}`, onTrait[k]);
  let timer = null;
  // The user's changes go to Python as a custom message, not through save_changes(): ipywidgets
  // holds a state sync back until the kernel reports idle after the previous one, and ipykernel
  // reports nothing for a comm message it handles beside an awaiting cell (`await viewer.map()`),
  // so after one such every later change would stay here. The model is set too (not saved), so
  // that it compares with what Python has.
  const publish = () => {
    clearTimeout(timer);
    timer = null;
    const changed = {};
    for (const [k, v] of Object.entries(traitsFromState(view.state))) {
      if (JSON.stringify(model.get(k)) !== JSON.stringify(v)) { changed[k] = v; model.set(k, v); }
    }
    if (Object.keys(changed).length) model.send({ type: 'state', traits: changed });
  };
  view.subscribe((state, changed) => {
    if (!shown) return;
    // The pointer's reference moves with every hover: sent at most every REFERENCE_SYNC_MS.
    if ([...changed].every((k) => k === 'reference' || k === 'hover')) {
      if (changed.has('reference') && timer === null) timer = setTimeout(publish, REFERENCE_SYNC_MS);
      return;
    }
    publish();
  });

  // ---------------------------------------------------------------- requests from Python
  const answer = async (msg) => {
    try {
      if (!shown) throw new Error('the dataset has not arrived in the viewer yet');
      apply(msg.state ?? {});  // the state Python sees, whatever its trait messages still carry
      let values, shape;
      if (msg.what === 'map') {
        const m = readMapOf(view, explorer.renderer);
        values = m.values;
        shape = m.channels > 1 ? [m.height, m.width, m.channels] : [m.height, m.width];
      } else if (msg.what === 'mask') {
        values = readMaskOf(explorer.renderer);
        shape = values ? [view.state.dataset.info.height, view.state.dataset.info.width] : null;
      } else if (msg.what === 'png') {
        [values] = await exports.make('view-png', view.state);
        shape = [values.length];
      } else {
        throw new Error(`unknown request ${msg.what}`);
      }
      model.send({ type: 'reply', id: msg.id, ok: true, error: null, shape }, undefined, values ? [bytesOf(values)] : []);
    } catch (err) {
      model.send({ type: 'reply', id: msg.id, ok: false, error: err.message });
    }
  };

  // ---------------------------------------------------------------- the dataset
  const progress = (done, total) => {
    $('progress').hidden = total > 0 && done >= total;
    $('progress-bar').value = total ? done / total : 0;
    $('progress-text').textContent = `Receiving the features from Python: ${formatBytes(done)}`
      + (total ? ` of ${formatBytes(total)} (${Math.floor((100 * done) / total)} %)` : '');
  };
  const incoming = receiver(progress);
  const onCustom = (msg, buffers) => {
    try {
      if (msg.type === 'request') answer(msg);
      else if (msg.type === 'encoded') onEncoded(msg, buffers);
      else incoming.onMessage(msg, buffers);
    } catch (err) {
      say('error', `The viewer failed: ${err.message}`);
    }
  };
  model.on('msg:custom', onCustom);
  progress(0, 0);
  model.send({ type: 'load' });
  let alive = true;
  incoming.promise.then(async ({ dataset, colormaps, notes }) => {
    if (!alive) return;
    $('progress').hidden = true;
    explorer.setColormaps(colormaps);
    explorer.check(dataset.info);
    await explorer.show(dataset);
    shown = true;
    say('notice', notes.join('\n'));
    // What Python set before the viewer was on screen; a reference not set yet (None) leaves
    // the explorer's own (the centre) rather than turning the pointer's pixel off.
    const initial = fromModel();
    if (initial.reference === null) delete initial.reference;
    apply(initial);
    publish();
    el.setAttribute('data-ifealid', 'shown');
  }).catch((err) => {
    say('error', err.message);
    $('progress').hidden = true;
    el.setAttribute('data-ifealid', 'error');
  });

  return () => {
    alive = false;
    clearTimeout(timer);
    model.off('msg:custom', onCustom);
    for (const k of TRAITS) model.off(`change:${k}`, onTrait[k]);
    explorer.renderer.dispose();
  };
}

export default { render };
