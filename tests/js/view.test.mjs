// The view model (glue/model/view.js): one state object, validated changes, change events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewModel, VIEW_DEFAULTS } from '../../glue/model/view.js';

const dataset = (width, height, features = 5) => ({ info: { width, height, features, precision: 8 }, layers: new Uint8Array(0) });

test('starts from the defaults, frozen', () => {
  const m = new ViewModel();
  assert.deepEqual(m.state, VIEW_DEFAULTS);
  assert.ok(Object.isFrozen(m.state));
  assert.throws(() => { m.state.metric = 'cosine'; }, TypeError);
});

test('a change makes a new state and tells every subscriber what changed', () => {
  const m = new ViewModel();
  const seen = [];
  m.subscribe((state, changed, meta) => seen.push({ state, changed: [...changed].sort(), meta }));
  const before = m.state;
  const changed = m.set({ metric: 'cosine', stretch: 'relative' }, { time: 12 });
  assert.deepEqual([...changed], ['metric']);  // stretch was already relative
  assert.notEqual(m.state, before);
  assert.equal(before.metric, 'angular');      // the old state is untouched
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0].changed, ['metric']);
  assert.equal(seen[0].meta.time, 12);
  assert.equal(seen[0].meta.previous, before);
  m.set({ metric: 'cosine' });                  // nothing changes: nobody is told
  assert.equal(seen.length, 1);
});

test('value objects compare by their fields and are copied', () => {
  const m = new ViewModel({ dataset: dataset(10, 8) });
  const p = { x: 3, y: 4 };
  m.set({ reference: p });
  const ref = m.state.reference;
  p.x = 9;                                       // the caller's object is not the state's
  assert.deepEqual(m.state.reference, { x: 3, y: 4 });
  assert.ok(Object.isFrozen(ref));
  assert.equal(m.set({ reference: { x: 3, y: 4 } }).size, 0);
  assert.equal(m.state.reference, ref);          // identity kept when equal: subscribers compare with ===
});

test('invalid values are refused with the field named, and nothing changes', () => {
  const m = new ViewModel({ dataset: dataset(10, 8, 5) });
  const before = m.state;
  const cases = [
    [{ metric: 'euclid' }, /metric/], [{ stretch: 'log' }, /stretch/], [{ opacity: 1.5 }, /opacity/],
    [{ opacity: NaN }, /opacity/], [{ reference: { x: 10, y: 0 } }, /reference/], [{ hover: { x: -1, y: 0 } }, /hover/],
    [{ pins: [{ x: 1.5, y: 0 }] }, /pins/], [{ pins: Array.from({ length: 17 }, () => ({ x: 0, y: 0 })) }, /pins/],
    [{ regions: [{ x0: 3, y0: 0, x1: 2, y1: 0 }] }, /regions/], [{ values: "raw" }, /values/], [{ threshold: Infinity }, /threshold/], [{ channel: 5 }, /channel/], [{ mode: 'pcs' }, /mode/],
    [{ pca: { components: [1, 2], scale: 'robust', fit: 'all', threshold: 0, flip: false } }, /pca/],
    [{ pca: { components: [1, 1, 2], scale: 'robust', fit: 'all', threshold: 0, flip: false } }, /pca/],
    [{ pca: { components: [1, 2, 6], scale: 'robust', fit: 'all', threshold: 0, flip: false } }, /pca/],  // 5 channels
    [{ pca: { components: [0], scale: 'robust', fit: 'all', threshold: 0, flip: false } }, /pca/],
    [{ pca: { components: [1], scale: 'log', fit: 'all', threshold: 0, flip: false } }, /pca/],
    [{ pca: { components: [1], scale: 'robust', fit: 'mask', threshold: 0, flip: false } }, /pca/],
    [{ pca: { components: [1], scale: 'robust', fit: 'all', threshold: NaN, flip: false } }, /pca/],
    [{ pcaResult: { key: 'x' } }, /pcaResult/], [{ pcaBackground: 1 }, /pcaBackground/],
    [{ camera: { scale: 0, offsetX: 0, offsetY: 0 } }, /camera/], [{ compute: 'tpu' }, /compute/],
    [{ locked: 'yes' }, /locked/], [{ zoom: 2 }, /no field "zoom"/],
    [{ metric: 'cosine', reference: { x: 99, y: 0 } }, /reference/],  // one bad field refuses the whole change
  ];
  for (const [patch, message] of cases) {
    assert.throws(() => m.set(patch), (err) => err instanceof RangeError && message.test(err.message), JSON.stringify(patch));
    assert.equal(m.state, before);
  }
});

test('PCA settings: nested values compare by their fields; a computed result by identity', () => {
  const m = new ViewModel({ dataset: dataset(10, 8, 5) });
  const pca = { components: [2, 3, 4], scale: 'sigmoid', fit: 'foreground', threshold: 0.5, flip: true };
  assert.deepEqual([...m.set({ pca, mode: 'pca' })].sort(), ['mode', 'pca']);
  assert.ok(Object.isFrozen(m.state.pca.components));
  assert.equal(m.set({ pca: { ...pca, components: [2, 3, 4] } }).size, 0);
  const result = { computed: true, key: 'k', scores: [new Float64Array(80)] };
  m.set({ pcaResult: result });
  assert.equal(m.state.pcaResult, result);  // kept, not copied
  assert.equal(m.set({ pcaResult: { ...result } }).size, 1);
  assert.throws(() => m.set({ dataset: dataset(10, 8, 3) }), /pca/);  // component 4 of 3 channels
});

test('a new dataset checks the pixels and the channel against its size', () => {
  const m = new ViewModel({ dataset: dataset(10, 8, 5) });
  m.set({ reference: { x: 9, y: 7 }, mode: 'channel', channel: 4 });
  assert.throws(() => m.set({ dataset: dataset(4, 4, 5) }), /reference/);
  assert.throws(() => m.set({ dataset: dataset(10, 8, 3), reference: { x: 1, y: 1 } }), /channel/);
  m.set({ dataset: dataset(4, 4, 5), reference: { x: 2, y: 2 } });
  assert.equal(m.state.dataset.info.width, 4);
});

test('unsubscribe stops the events', () => {
  const m = new ViewModel();
  let n = 0;
  const off = m.subscribe(() => { n += 1; });
  m.set({ opacity: 0.5 });
  off();
  m.set({ opacity: 0.4 });
  assert.equal(n, 1);
});

test('true values only for a dataset that records its range', () => {
  const m = new ViewModel({ dataset: dataset(4, 4) });
  assert.throws(() => m.set({ values: 'true' }), /values/);
  const ranged = { info: { width: 4, height: 4, features: 5, precision: 8, range: [-1, 1] }, layers: new Uint8Array(0) };
  m.set({ dataset: ranged, values: 'true' });
  assert.throws(() => m.set({ dataset: dataset(4, 4) }), /values/);  // switching to one without: refused
  m.set({ dataset: dataset(4, 4), values: 'stored' });
});
