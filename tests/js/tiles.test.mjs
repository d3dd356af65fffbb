// The tile grid of maps larger than the largest texture (glue/render/device.js): every pixel in
// exactly one tile, and tileIndexAt finds it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { tileGrid, tileIndexAt } from '../../glue/render/device.js';

test('tiles cover the map once, and tileIndexAt finds the tile of every pixel', () => {
  for (const [W, H, size] of [[37, 29, 16], [16, 16, 16], [17, 5, 8], [8193, 2, 8192], [5, 40, 8]]) {
    const tiles = tileGrid(W, H, size);
    assert.equal(tiles.length, Math.ceil(W / size) * Math.ceil(H / size));
    const seen = new Uint8Array(W * H);
    tiles.forEach((t, i) => {
      assert.ok(t.w >= 1 && t.w <= size && t.h >= 1 && t.h <= size);
      for (let y = t.y0; y < t.y0 + t.h; y++) {
        for (let x = t.x0; x < t.x0 + t.w; x++) {
          seen[y * W + x]++;
          if (W * H < 1e5) assert.equal(tileIndexAt(W, size, x, y), i);
        }
      }
    });
    assert.ok(seen.every((n) => n === 1), `${W}×${H} by ${size}`);
    assert.equal(tileIndexAt(W, size, W - 1, H - 1), tiles.length - 1);
  }
});
