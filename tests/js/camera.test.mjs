// View maths (glue/render/camera.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitCamera, zoomCamera, panCamera, canvasToPixel, pixelToCanvas, visibleRect, mapOnCanvas } from '../../glue/render/camera.js';

test('fit centres the map with the padding on its tight side', () => {
  const c = fitCamera(24, 17, 56, 40, 10);
  const scale = Math.min(36 / 24, 20 / 17);
  assert.equal(c.scale, scale);
  assert.equal(c.offsetX, (56 - scale * 24) / 2);
  assert.equal(c.offsetY, (40 - scale * 17) / 2);
  assert.ok(fitCamera(24, 17, 10, 10, 10).scale > 0);  // a canvas smaller than the padding still shows the map
});

test('zoom keeps the point under the cursor; pan moves by the offset', () => {
  const c = fitCamera(24, 17, 56, 40, 10);
  const z = zoomCamera(c, 30.3, 20.7, 3);
  assert.equal(z.scale, c.scale * 3);
  assert.deepEqual(canvasToPixel(z, 24, 17, 30.3, 20.7), canvasToPixel(c, 24, 17, 30.3, 20.7));
  assert.deepEqual(panCamera(c, 5, -2), { ...c, offsetX: c.offsetX + 5, offsetY: c.offsetY - 2 });
});

test('canvas and map coordinates agree, and off the map is null', () => {
  const c = { scale: 4, offsetX: -20, offsetY: -12 };
  for (const [x, y] of [[5, 3], [18, 12], [7, 11]]) {
    const p = pixelToCanvas(c, x + 0.5, y + 0.5);
    assert.deepEqual(canvasToPixel(c, 24, 17, p.x, p.y), { x, y });
  }
  assert.equal(canvasToPixel(c, 24, 17, -30, 0), null);
  assert.equal(canvasToPixel({ scale: 1, offsetX: 0, offsetY: 0 }, 24, 17, 24, 0), null);
});

test('the visible rectangle and the shaded canvas pixels', () => {
  assert.deepEqual(visibleRect({ scale: 4, offsetX: -20, offsetY: -12 }, 24, 17, 56, 40), { x0: 5, y0: 3, x1: 19, y1: 13 });
  assert.equal(visibleRect({ scale: 4, offsetX: 500, offsetY: 0 }, 24, 17, 56, 40), null);
  // Canvas pixels whose centre lies on the map: x from 7.25 to 43.25 (centres 7.5 … 42.5), y
  // from -3 to 22.5 (centres 0.5 … 21.5).
  assert.deepEqual(mapOnCanvas({ scale: 1.5, offsetX: 7.25, offsetY: -3 }, 0, 0, 24, 17, 48, 30), { x0: 7, x1: 43, y0: 0, y1: 22 });
});

test('tiles side by side shade every canvas pixel of the map once', () => {
  // Awkward scales and offsets: the boxes of tiles 8 pixels wide tile the whole map's box exactly.
  for (const camera of [{ scale: 1.37, offsetX: 3.3, offsetY: -2.71 }, { scale: 0.3, offsetX: 0.49, offsetY: 0.5 },
    { scale: 7.001, offsetX: -40.2, offsetY: 1 / 3 }]) {
    const whole = mapOnCanvas(camera, 0, 0, 37, 29, 200, 150);
    const hits = new Uint8Array(200 * 150);
    for (let y0 = 0; y0 < 29; y0 += 8) {
      for (let x0 = 0; x0 < 37; x0 += 8) {
        const b = mapOnCanvas(camera, x0, y0, Math.min(37, x0 + 8), Math.min(29, y0 + 8), 200, 150);
        for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) hits[y * 200 + x]++;
      }
    }
    for (let y = 0; y < 150; y++) {
      for (let x = 0; x < 200; x++) {
        const inside = x >= whole.x0 && x < whole.x1 && y >= whole.y0 && y < whole.y1;
        assert.equal(hits[y * 200 + x], inside ? 1 : 0, `${JSON.stringify(camera)} at ${x}, ${y}`);
      }
    }
  }
});
