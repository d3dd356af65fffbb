// Comparing datasets (issue 16): the view model's panes, each pane's state, pooled statistics,
// best matches and the links' pane-prefixed references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewModel } from '../../glue/model/view.js';
import { PaneStates, syncedCameras, paneOf } from '../../glue/model/panes.js';
import { mapRequest } from '../../glue/model/analysis.js';
import { jointStats, transformOf, valuesAt } from '../../glue/compute/values.js';
import { bestMatches } from '../../glue/compute/matches.js';
import { parseFragment, fragmentOf } from '../../glue/model/fragment.js';

// A dataset of W×H pixels, C = 4 channels (one layer), 8 bit, with q = f(x, y, c).
function dataset(W, H, f, range = [-1, 3], precision = 8) {
  const layers = new (precision === 8 ? Uint8Array : Uint16Array)(W * H * 4);
  const sum = [0, 0, 0, 0], sq = [0, 0, 0, 0];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 4; c++) {
        const q = f(x, y, c);
        layers[(y * W + x) * 4 + c] = q;
        sum[c] += q; sq[c] += q * q;
      }
    }
  }
  const n = W * H;
  const mean = Float64Array.from(sum, (s) => s / n);
  const std = Float64Array.from(sq, (s2, c) => Math.sqrt((n * s2 - sum[c] * sum[c]) / (n * n)));
  return { info: { width: W, height: H, features: 4, precision, range }, layers, stats: { mean, std } };
}

const a = dataset(5, 4, (x, y, c) => (x * 7 + y * 3 + c * 11) % 256);
const b = dataset(3, 6, (x, y, c) => (x * 13 + y * 5 + c * 2 + 40) % 256, [0, 2]);
const norange = dataset(3, 6, (x, y, c) => (x + y + c) % 256, null);

test('panes are validated: channel counts agree, pixels lie on their pane', () => {
  const m = new ViewModel({ dataset: a });
  m.set({ others: [b] });
  m.set({ reference: { x: 2, y: 5, pane: 1 }, pins: [{ x: 4, y: 3 }, { x: 0, y: 0, pane: 1 }] });
  assert.throws(() => m.set({ reference: { x: 4, y: 0, pane: 1 } }), /invalid reference/);  // b is 3 wide
  assert.throws(() => m.set({ pins: [{ x: 0, y: 0, pane: 2 }] }), /invalid pins/);          // no pane 2
  assert.throws(() => m.set({ others: [{ ...b, info: { ...b.info, features: 5 } }] }), /invalid others/);
  assert.throws(() => m.set({ values: 'true', others: [norange] }), /invalid/);
  assert.equal(paneOf(m.state.reference), 1);
});

test('a pane sees its own pixels and every other pane\'s references as vectors', () => {
  const m = new ViewModel({ dataset: a, others: [b] });
  m.set({ values: 'centred', reference: { x: 1, y: 2, pane: 1 }, pins: [{ x: 3, y: 1 }], regions: [{ x0: 0, y0: 0, x1: 1, y1: 1, pane: 1 }] });
  const states = new PaneStates();
  const p0 = states.of(m.state, 0), p1 = states.of(m.state, 1);
  assert.equal(p0.dataset, a);
  assert.equal(p1.dataset, b);
  assert.equal(p0.reference, null);
  assert.deepEqual(p1.reference, { x: 1, y: 2 });
  const r0 = mapRequest(p0), r1 = mapRequest(p1);
  assert.equal(r0.pointer.kind, 'vector');
  assert.deepEqual(r1.pointer, { kind: 'pixel', x: 1, y: 2 });
  assert.deepEqual(r0.statics.map((s) => s.kind), ['pixel', 'vector']);
  assert.deepEqual(r1.statics.map((s) => s.kind), ['vector', 'region']);
  // The vector is pane 1's pixel under the comparison's one transform.
  const joint = jointStats([a, b]);
  const expected = valuesAt(b, transformOf(b, 'centred', joint), 1, 2);
  assert.deepEqual([...r0.pointer.vector], [...expected]);
  // A hover elsewhere keeps a pane's state fields that did not change (the renderer compares them).
  m.set({ hover: { x: 0, y: 0 } });
  assert.equal(states.of(m.state, 1).reference, p1.reference);
  assert.equal(states.of(m.state, 1).hover, null);
  // One pane: the model's own state.
  const single = new ViewModel({ dataset: a });
  assert.equal(states.of(single.state, 0), single.state);
});

test('pooled statistics are those of every pixel of every dataset together', () => {
  const joint = jointStats([a, b]);
  const rows = [];
  for (const d of [a, b]) {
    const t = transformOf(d, 'true');
    for (let y = 0; y < d.info.height; y++) for (let x = 0; x < d.info.width; x++) rows.push(valuesAt(d, t, x, y));
  }
  for (let c = 0; c < 4; c++) {
    const m = rows.reduce((s, r) => s + r[c], 0) / rows.length;
    const v = rows.reduce((s, r) => s + (r[c] - m) ** 2, 0) / rows.length;
    assert.ok(Math.abs(joint.mean[c] - m) < 1e-12, `mean ${c}`);
    assert.ok(Math.abs(joint.std[c] - Math.sqrt(v)) < 1e-12, `std ${c}`);
  }
  // centred values: true values minus the pooled mean; zscore: divided by the pooled std
  const t = transformOf(b, 'zscore', joint), trueB = valuesAt(b, transformOf(b, 'true'), 2, 3);
  valuesAt(b, t, 2, 3).forEach((v, c) => assert.ok(Math.abs(v - (trueB[c] - joint.mean[c]) / joint.std[c]) < 1e-12));
  // Without every range the stored values are pooled.
  assert.equal(jointStats([a, norange]).stored, true);
  assert.equal(jointStats([a]), null);
});

test('best matches: nearest first, ties to the first, none within the radius', () => {
  const W = 6;
  const map = new Float32Array(30);
  map[1 * W + 1] = 0.9; map[1 * W + 2] = 0.95; map[4 * W + 5] = 0.8; map[0 * W + 5] = 0.95; map[3 * W + 2] = NaN;
  const at = (list) => list.map(({ x, y }) => [x, y]);
  assert.deepEqual(at(bestMatches(map, W, 'angular')), [[5, 0]]);
  assert.deepEqual(at(bestMatches(map, W, 'angular', 3)), [[5, 0], [2, 1], [1, 1]]);
  assert.deepEqual(at(bestMatches(map, W, 'angular', 3, 1)), [[5, 0], [2, 1], [5, 4]]);
  assert.deepEqual(at(bestMatches(map.map((v) => 1 - v), W, 'euclidean', 2)), [[5, 0], [2, 1]]);
});

test('synchronised cameras show the same part of maps of different sizes', () => {
  const m = new ViewModel({ dataset: a, others: [b] });
  const camera = { scale: 10, offsetX: 5, offsetY: 7 };
  const { camera: c0, cameras: [c1] } = syncedCameras(m.state, 0, camera);
  assert.deepEqual(c0, camera);
  // b is 3 wide (a 5): its width spans what a's does, centred vertically alike
  assert.equal(c1.scale, 10 * 5 / 3);
  assert.equal(c1.offsetX, 5);
  assert.ok(Math.abs((c1.offsetY + c1.scale * 6 / 2) - (7 + 10 * 4 / 2)) < 1e-12);
});

test('links name pixels and regions of any pane, and the comparison settings', () => {
  const m = new ViewModel({ dataset: a, others: [b] });
  m.set({
    locked: true, reference: { x: 2, y: 5, pane: 1 }, pins: [{ x: 4, y: 3 }, { x: 0, y: 0, pane: 1 }],
    regions: [{ x0: 0, y0: 1, x1: 2, y1: 4, pane: 1 }], syncCameras: true, jointStretch: false, matches: 3, matchRadius: 2.5,
  });
  const text = fragmentOf(m.state);
  assert.match(text, /ref=1:2,5/);
  assert.match(text, /pins=4,3;1:0,0/);
  const parsed = parseFragment(text, a.info, [], [b.info]);
  assert.deepEqual(parsed.problems, []);
  for (const k of ['reference', 'pins', 'regions', 'syncCameras', 'jointStretch', 'matches', 'matchRadius']) {
    assert.deepEqual(parsed.patch[k], m.state[k], k);
  }
  // A pane not on screen, or a pixel off its pane: reported, left out.
  const bad = parseFragment('ref=2:0,0&pins=1:4,0&matches=99', a.info, [], [b.info]);
  assert.equal(bad.problems.length, 3);
  assert.equal(bad.patch.reference, undefined);
  // Hostile values: each named and left out, the rest applies.
  const hostile = parseFragment('radius=-1&matches=abc&sync=2&scale=%3Cb%3E&ref=01:1,1&regions=1:0,0,9,9&pins=-1:0,0&metric=cosine',
    a.info, [], [b.info]);
  assert.equal(hostile.problems.length, 6, hostile.problems.join('\n'));
  assert.deepEqual(hostile.patch.reference, { x: 1, y: 1, pane: 1 });  // "01" is pane 1
  assert.equal(hostile.patch.metric, 'cosine');
  // One dataset: a pane prefix other than 0 names nothing on screen.
  assert.equal(parseFragment('ref=1:0,0', a.info).problems.length, 1);
  assert.deepEqual(parseFragment('ref=0:2,3', a.info).patch.reference, { x: 2, y: 3 });
});
