// The read-outs' text (glue/ui/readout.js) for a view state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readoutText, chartText } from '../../glue/ui/readout.js';
import { similarity } from '../../glue/compute/similarity.js';
import { VIEW_DEFAULTS } from '../../glue/model/view.js';

// 2 x 1 pixels, 5 channels at 8 bit: layer 0 holds channels 0-3, layer 1 channel 4.
const layers = new Uint8Array([10, 20, 30, 40, 0, 0, 0, 255, 50, 0, 0, 0, 0, 0, 0, 0]);
const dataset = { info: { width: 2, height: 1, features: 5, precision: 8 }, layers };
const view = (patch) => ({ ...VIEW_DEFAULTS, dataset, ...patch });

test('hover, similarity, pin and lock', () => {
  const s = similarity([0, 0, 0, 255, 0], [10, 20, 30, 40, 50]).toFixed(4);
  assert.equal(readoutText(view({ hover: { x: 1, y: 0 }, reference: { x: 0, y: 0 } })), `x 1, y 0 · similarity ${s}`);
  assert.equal(readoutText(view({ reference: { x: 0, y: 0 }, pinned: { x: 1, y: 0 }, locked: true })),
    `pinned 1, 0: ${s} · reference locked at 0, 0`);
  assert.equal(readoutText(view({ hover: { x: 0, y: 0 }, reference: { x: 0, y: 0 }, mode: 'channel', channel: 4 })),
    `x 0, y 0 · channel 4 = ${(50 / 255).toFixed(4)}`);
  assert.match(readoutText(view({}), { contextLost: true }), /graphics context was lost/);
  assert.equal(readoutText({ ...VIEW_DEFAULTS }), '');
});

test('the chart line', () => {
  assert.equal(chartText(view({})), '5 channels');
  assert.equal(chartText(view({ mode: 'channel', channel: 3, reference: { x: 0, y: 0 }, pinned: { x: 1, y: 0 } })),
    `channel 3: ${(40 / 255).toFixed(4)} · pinned 1.0000`);
  assert.equal(chartText({ ...VIEW_DEFAULTS }), '0 channels');
});
