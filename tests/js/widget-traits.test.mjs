// The notebook widget's traits ↔ the view model's state (glue/widget/traits.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewModel } from '../../glue/model/view.js';
import { stateFromTraits, traitsFromState, TRAITS } from '../../glue/widget/traits.js';

const dataset = { info: { width: 10, height: 6, features: 5, precision: 8, range: [0, 1] }, layers: new Uint8Array(0) };
const shown = () => new ViewModel({ dataset, reference: { x: 5, y: 3 } });

test('the state as traits: every trait, in JSON terms', () => {
  const m = shown();
  m.set({ pins: [{ x: 1, y: 2 }], metric: 'cosine', threshold: 0.5, mode: 'channel', channel: 3 });
  assert.deepEqual(traitsFromState(m.state), {
    reference: [5, 3], locked: false, pins: [[1, 2]], metric: 'cosine', values: 'stored', view: 'channel:3', threshold: 0.5,
  });
  assert.deepEqual(Object.keys(traitsFromState(m.state)).sort(), [...TRAITS].sort());
  m.set({ pointer: false, mode: 'pca' });
  assert.equal(traitsFromState(m.state).reference, null);
  assert.equal(traitsFromState(m.state).view, 'pca');
});

test('the state\'s own traits change nothing (no echo)', () => {
  const m = shown();
  m.set({ pins: [{ x: 0, y: 0 }], values: 'centred' });
  assert.deepEqual(stateFromTraits(traitsFromState(m.state), m.state), {});
});

test('a reference from Python is locked there; null turns the pointer\'s pixel off', () => {
  const m = shown();
  const patch = stateFromTraits({ reference: [2, 4] }, m.state);
  assert.deepEqual(patch, { reference: { x: 2, y: 4 }, locked: true, pointer: true });
  m.set(patch);
  assert.deepEqual(stateFromTraits({ reference: null }, m.state), { pointer: false });
  m.set({ pointer: false });
  // Set again while the pointer takes no part: it takes part again, at that pixel.
  assert.deepEqual(stateFromTraits({ reference: [2, 4] }, m.state), { reference: { x: 2, y: 4 }, locked: true, pointer: true });
});

test('unlocking from Python lets the reference follow the pointer from where it is', () => {
  const m = shown();
  m.set({ locked: true, hover: { x: 7, y: 1 } });
  assert.deepEqual(stateFromTraits({ locked: false }, m.state), { locked: false, reference: { x: 7, y: 1 } });
});

test('pins, metric, values, threshold and the view as view fields', () => {
  const m = shown();
  const patch = stateFromTraits({ pins: [[1, 1], [3, 2]], metric: 'euclidean', values: 'zscore', threshold: null, view: 'channel:4' }, m.state);
  assert.deepEqual(patch, { pins: [{ x: 1, y: 1 }, { x: 3, y: 2 }], metric: 'euclidean', values: 'zscore', mode: 'channel', channel: 4 });
  m.set(patch);  // the view model accepts it as it is
  assert.deepEqual(stateFromTraits({ view: 'similarity' }, m.state), { mode: 'similarity' });
});

test('a view the widget cannot read is refused by name; the view model refuses what is off the map', () => {
  const m = shown();
  assert.throws(() => stateFromTraits({ view: 'pcb' }, m.state), /view/);
  assert.throws(() => stateFromTraits({ reference: [1] }, m.state), /reference/);
  assert.throws(() => m.set(stateFromTraits({ pins: [[10, 0]] }, m.state)), /pins/);
});
