// Map-target geometry (glue/render/phases.js): a preview plane and the planes that refine it
// cover every pixel of a rectangle exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  previewStep, targetGeometry, phasesOf, phaseRect, phaseDraws, holdMap, missingPhases, covers, refineChunks, refineRowChunks,
} from '../../glue/render/phases.js';

test('the preview step is a power of two from 1 to 8', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 8, 9, 100, 'x'].map(previewStep), [1, 1, 2, 2, 4, 4, 8, 8, 8, 1]);
});

// The map pixels a plane's texel rectangle stands for, clipped to the map.
function pixelsOf(t, ph, q, W, H) {
  const s = t.step, px = ph % s, py = Math.floor(ph / s), out = [];
  for (let j = q.y0; j < q.y1; j++) for (let i = q.x0; i < q.x1; i++) {
    const x = s * i + px, y = s * j + py;
    if (x < W && y < H) out.push(`${x},${y}`);
  }
  return out;
}

test('the refining planes hold exactly the pixels of a rectangle the preview skipped', () => {
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (const step of [2, 4, 8]) {
    for (let k = 0; k < 40; k++) {
      const W = 1 + rand(40), H = 1 + rand(30);
      const t = targetGeometry(W, H, step);
      const x0 = rand(W), y0 = rand(H), r = { x0, y0, x1: x0 + 1 + rand(W - x0), y1: y0 + 1 + rand(H - y0) };
      const seen = new Map();
      for (const ph of phasesOf(t, true).slice(1)) {
        const q = phaseRect(t, ph, r);
        if (q) for (const p of pixelsOf(t, ph, q, W, H)) seen.set(p, (seen.get(p) ?? 0) + 1);
      }
      const preview = phaseRect(t, 0, r);
      for (const p of pixelsOf(t, 0, preview, W, H)) seen.set(p, (seen.get(p) ?? 0) + 1);
      for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) {
        assert.equal(seen.get(`${x},${y}`), 1, `step ${step} ${W}x${H} ${JSON.stringify(r)} pixel ${x},${y}`);
      }
      // Outside the rectangle: only pixels of the step × step blocks it touches, once.
      const block = (v, lo, hi) => Math.floor(v / step) >= Math.floor(lo / step) && Math.floor(v / step) < Math.ceil(hi / step);
      for (const [p, n] of seen) {
        const [x, y] = p.split(',').map(Number);
        assert.ok(n === 1 && block(x, r.x0, r.x1) && block(y, r.y0, r.y1), p);
      }
    }
  }
});

test('draws lie in their plane of the target, and a held map needs nothing more', () => {
  const t = targetGeometry(23, 19, 2);
  const r = { x0: 2, y0: 1, x1: 20, y1: 16 };
  const draws = phaseDraws(t, r, phasesOf(t, true));
  assert.equal(draws.length, 4);
  for (const d of draws) {
    const ox = (d.ph % 2) * t.pw, oy = Math.floor(d.ph / 2) * t.ph;
    assert.ok(d.x0 >= ox && d.x1 <= ox + t.pw && d.y0 >= oy && d.y1 <= oy + t.ph);
  }
  holdMap(t, 'a');
  assert.deepEqual(missingPhases(t, r, [0, 1, 2, 3]), [0, 1, 2, 3]);
  for (const d of draws) t.done[d.ph] = d.q;
  assert.ok(covers(t, 'a', r, [0, 1, 2, 3]));
  assert.ok(covers(t, 'a', { x0: 4, y0: 4, x1: 10, y1: 10 }, [0, 1, 2, 3]));  // a pan inside what was computed
  assert.ok(!covers(t, 'a', { x0: 0, y0: 0, x1: 23, y1: 19 }, [0, 1, 2, 3]));
  holdMap(t, 'b');                                                           // another map: nothing held
  assert.ok(!covers(t, 'b', r, [0]));
});

test('refinement chunks stay under the work limit and cover the other planes once', () => {
  const t = targetGeometry(48, 40, 2);
  const r = { x0: 0, y0: 0, x1: 48, y1: 40 };
  const chunks = refineChunks(t, r, 13, 24 * 13);  // a plane row per chunk
  assert.equal(chunks.length, 3 * 20);
  const rows = new Set();
  for (const c of chunks) {
    assert.ok(c.work <= 24 * 13);
    for (const b of c.bands) for (let y = b.y0; y < b.y1; y++) rows.add(`${b.d.ph}:${y}`);
  }
  assert.equal(rows.size, 3 * 20);
  assert.equal(refineChunks(t, r, 13, 1 << 23).length, 1);  // one chunk when the limit allows
});

test('row chunks (CPU refinement): every plane band once, a chunk holds whole map rows, in row order', () => {
  for (const step of [2, 4]) {
    const t = targetGeometry(23, 19, step);
    const r = { x0: 2, y0: 1, x1: 20, y1: 17 };
    const limit = step * 18 * 13 * 2;  // two texel rows (2·step map rows) of the visible width
    const chunks = refineRowChunks(t, r, 13, limit);
    const seen = new Map();
    let lastRow = -1;
    for (const c of chunks) {
      assert.ok(c.work <= limit);
      const mapRows = new Set();
      for (const b of c.bands) {
        const py = Math.floor(b.d.ph / step), j0 = b.d.q.y0 + b.y0 - b.d.y0;
        for (let y = b.y0; y < b.y1; y++) {
          const key = `${b.d.ph}:${y}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          mapRows.add(step * (j0 + y - b.y0) + py);
        }
      }
      // A chunk's map rows: all phases of its texel rows, after the chunk before's.
      const ys = [...mapRows].sort((a, b) => a - b);
      assert.ok(ys[0] > lastRow, `step ${step}: rows in order`);
      lastRow = ys[ys.length - 1];
    }
    const want = new Map();
    for (const d of phaseDraws(t, r, phasesOf(t, true).slice(1))) for (let y = d.y0; y < d.y1; y++) want.set(`${d.ph}:${y}`, 1);
    assert.deepEqual(seen, want);
    // Each plane's last band ends its draw (frame.js marks the plane done then).
    for (const d of phaseDraws(t, r, phasesOf(t, true).slice(1))) {
      assert.ok(chunks.some((c) => c.bands.some((b) => b.d.ph === d.ph && b.y1 === d.y1)));
    }
  }
});
