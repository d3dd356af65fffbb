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
  assert.deepEqual(mapOnCanvas({ scale: 1.5, offsetX: 7.25, offsetY: -3 }, 24, 17, 48, 30), { x0: 7, x1: 43, y0: 0, y1: 22 });
});
