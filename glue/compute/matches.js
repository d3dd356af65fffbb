// The best matches of a map (issue 16), as app/compare.py best_matches defines them: the
// nearest pixels first (largest values; euclidean: smallest), ties to the first in row-major
// order, none within `radius` map pixels (Euclidean) of one chosen before.
import { nearIsLarge } from './similarity.js';

/** [{x, y, value}] of the `k` best pixels of a (H·W, row-major) map `width` pixels wide. */
export function bestMatches(map, width, metric, k = 1, radius = 0) {
  const large = nearIsLarge(metric);
  const chosen = [];
  const r2 = radius * radius;
  const excluded = (p) => {
    const x = p % width, y = (p - x) / width;
    return chosen.some((c) => (x - c.x) ** 2 + (y - c.y) ** 2 <= r2);
  };
  // k passes over the map: k is small (at most MAX_MATCHES), a sort of the map is not needed.
  for (let pass = 0; pass < k; pass++) {
    let best = -1, value = 0;
    for (let p = 0; p < map.length; p++) {
      const v = map[p];
      if (v !== v) continue;  // NaN
      if (best >= 0 && !(large ? v > value : v < value)) continue;
      if (chosen.length && (chosen.some((c) => c.p === p) || (radius > 0 && excluded(p)))) continue;
      best = p;
      value = v;
    }
    if (best < 0) break;
    chosen.push({ p: best, x: best % width, y: Math.floor(best / width), value });
  }
  return chosen.map(({ x, y, value }) => ({ x, y, value }));
}
