// A decoder of dataset PNGs (glue/data/png.js decodeLayer), a few texture layers per message:
// {id, width, height, precision, layers: [{index, pngs}]} → {id, layers: [{index, layer
// (transferred), sums, squares}]} or {id, error}. The Python worker runs a few of these
// (pyworker/quick-open.js) while its Python starts.
import { decodeLayer } from './png.js';

self.onmessage = async ({ data: task }) => {
  try {
    const layers = [];
    for (const { index, pngs } of task.layers) {
      const { layer, sums, squares } = await decodeLayer({ ...task, pngs });
      layers.push({ index, layer: layer.buffer, sums, squares });
    }
    postMessage({ id: task.id, layers }, layers.map((l) => l.layer));
  } catch (err) {
    postMessage({ id: task.id, error: String(err?.message ?? err) });
  }
};
