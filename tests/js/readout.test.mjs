// The read-outs' text (glue/ui/readout.js) for a view state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readoutText, chartText, compareAt, thresholdText } from '../../glue/ui/readout.js';
import { similarity } from '../../glue/compute/similarity.js';
import { VIEW_DEFAULTS } from '../../glue/model/view.js';

// 2 x 1 pixels, 5 channels at 8 bit: layer 0 holds channels 0-3, layer 1 channel 4.
const layers = new Uint8Array([10, 20, 30, 40, 0, 0, 0, 255, 50, 0, 0, 0, 0, 0, 0, 0]);
const dataset = { info: { width: 2, height: 1, features: 5, precision: 8 }, layers };
const view = (patch) => ({ ...VIEW_DEFAULTS, dataset, ...patch });

test('hover, the map value in the metric\'s words, the lock', () => {
  const s = similarity([0, 0, 0, 255, 0], [10, 20, 30, 40, 50]).toFixed(4);
  assert.equal(readoutText(view({ hover: { x: 1, y: 0 }, reference: { x: 0, y: 0 } })), `x 1, y 0 · angular ${s}`);
  assert.equal(readoutText(view({ hover: { x: 0, y: 0 }, reference: { x: 0, y: 0 }, locked: true, metric: 'euclidean' })),
    'x 0, y 0 · distance 0.0000 · reference locked at 0, 0');
  assert.equal(readoutText(view({ hover: { x: 0, y: 0 }, reference: { x: 0, y: 0 }, mode: 'channel', channel: 4 })),
    `x 0, y 0 · channel 4 = ${(50 / 255).toFixed(4)}`);
  assert.match(readoutText(view({}), { contextLost: true }), /graphics context was lost/);
  assert.equal(readoutText({ ...VIEW_DEFAULTS }), '');
  // The pointer taking no part and nothing pinned: no value to show.
  assert.equal(readoutText(view({ hover: { x: 1, y: 0 }, reference: { x: 0, y: 0 }, pointer: false })), 'x 1, y 0');
});

test('a pixel compared with every reference, combined as the map combines them', () => {
  const v = view({ reference: { x: 0, y: 0 }, pins: [{ x: 1, y: 0 }], metric: 'cosine' });
  const a = similarity([0, 0, 0, 1, 0], [10, 20, 30, 40, 50], 'cosine');
  const out = compareAt(v, { x: 1, y: 0 });
  assert.equal(out.each.length, 2);
  assert.ok(Math.abs(out.each[0] - a) < 1e-15 && out.each[1] === 1);
  assert.equal(out.combined, 1);
  assert.ok(Math.abs(compareAt({ ...v, combine: "mean" }, { x: 1, y: 0 }).combined - (a + 1) / 2) < 1e-15);
});

test('the chart line and the threshold\'s words', () => {
  assert.equal(chartText(view({})), '5 channels, stored values');
  assert.equal(chartText(view({ values: 'centred', dataset: { ...dataset, stats: { mean: [0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1] } } })), '5 channels, centred values');
  assert.equal(chartText(view({ mode: 'channel', channel: 3, reference: { x: 0, y: 0 }, pins: [{ x: 1, y: 0 }] })),
    `channel 3: ${(40 / 255).toFixed(4)} · pin 1 1.0000`);
  assert.equal(chartText({ ...VIEW_DEFAULTS }), '0 channels');
  assert.equal(thresholdText('angular', 0.8), 'angular ≥ 0.8000 (angle ≤ 18.0°)');
  assert.equal(thresholdText('euclidean', 2), 'distance ≤ 2.0000');
  assert.equal(thresholdText('cosine', 0.5), 'cosine ≥ 0.5000 (angle ≤ 60.0°)');
});

test('a channel with an axis is named by it; the PCA view shows the pixel\'s scores', () => {
  const info = { ...dataset.info, channel_axis: { name: 'wavelength', unit: 'nm', values: [400, 450, 500, 550, 600.25] } };
  const ds = { ...dataset, info };
  assert.equal(readoutText({ ...VIEW_DEFAULTS, dataset: ds, hover: { x: 0, y: 0 }, mode: 'channel', channel: 4 }),
    `x 0, y 0 · band 4 · 600.25 nm = ${(50 / 255).toFixed(4)}`);
  assert.match(chartText({ ...VIEW_DEFAULTS, dataset: ds, mode: 'channel', channel: 1, reference: { x: 1, y: 0 } }), /^band 1 · 450 nm: /);
  const result = { computed: true, key: 'k', dataset, components: [2, 3, 4], width: 2, scores: [[1, -0.5], [2, 0.25], [3, 0.125]] };
  assert.equal(readoutText(view({ hover: { x: 1, y: 0 }, mode: 'pca', pcaResult: result })),
    'x 1, y 0 · PC2 -0.5000 · PC3 0.2500 · PC4 0.1250');
  // Another dataset's result, or a refusal: no scores.
  assert.equal(readoutText(view({ hover: { x: 1, y: 0 }, mode: 'pca', pcaResult: { ...result, dataset: ds } })), 'x 1, y 0');
  assert.equal(readoutText(view({ hover: { x: 1, y: 0 }, mode: 'pca', pcaResult: { ...result, error: 'no' } })), 'x 1, y 0');
});
