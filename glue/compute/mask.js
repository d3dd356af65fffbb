// A map turned into a mask by a threshold (issue 13): the pixels at least as near as it (map ≥ T,
// or ≤ T for a distance), and with `connected` only the 4-connected parts of the mask that
// hold a reference pixel or touch a reference region (a magic wand). app/analysis.py has the
// float64 definition the tests compare with.
import { nearIsLarge } from './similarity.js';

/**
 * mask (Uint8Array, 1 inside, row 0 = top) of a W × H map at threshold T; `references`: pixels
 * {x, y} and regions {x0, y0, x1, y1} (inclusive) that keep their parts when `connected`.
 * Returns {mask, count}.
 */
export function thresholdMask(map, W, H, metric, threshold, { connected = false, references = [] } = {}) {
  const N = W * H;
  const mask = new Uint8Array(N);
  const large = nearIsLarge(metric);
  for (let i = 0; i < N; i++) mask[i] = (large ? map[i] >= threshold : map[i] <= threshold) ? 1 : 0;
  if (connected) keepConnected(mask, W, H, references);
  let count = 0;
  for (let i = 0; i < N; i++) count += mask[i];
  return { mask, count };
}

// Keep only the 4-connected components of the mask that hold a seed: a flood fill from every
// reference pixel (a region seeds each of its pixels), then everything not reached is cleared.
function keepConnected(mask, W, H, references) {
  const kept = new Uint8Array(mask.length);
  const stack = [];
  const seed = (x, y) => {
    const i = y * W + x;
    if (mask[i] && !kept[i]) { kept[i] = 1; stack.push(i); }
  };
  for (const r of references) {
    if ('x0' in r) {
      for (let y = r.y0; y <= r.y1; y++) for (let x = r.x0; x <= r.x1; x++) seed(x, y);
    } else {
      seed(r.x, r.y);
    }
  }
  while (stack.length) {
    const i = stack.pop(), x = i % W, y = (i - x) / W;
    if (x > 0) seed(x - 1, y);
    if (x < W - 1) seed(x + 1, y);
    if (y > 0) seed(x, y - 1);
    if (y < H - 1) seed(x, y + 1);
  }
  mask.set(kept);
}
