// Times the CPU maps in Node on this machine (glue/compute/cpu-kernel.js, cpu-analysis.js): the
// WebAssembly SIMD kernel alone, and a pointer move's whole map for the round-1 view (stored
// values, angular) and for the analyses (centred values, centred with 4 pins, z-scores),
// per dataset shape of the benchmark (synthetic data), median of 7 moves.
// Run: node scripts/bench_cpu_similarity.mjs. Not a test: nothing here asserts a time.
import os from 'node:os';
import { CpuKernel } from '../glue/compute/cpu-kernel.js';
import { CpuAnalysis } from '../glue/compute/cpu-analysis.js';
import { mapRequest } from '../glue/model/analysis.js';
import { VIEW_DEFAULTS } from '../glue/model/view.js';

const SHAPES = [[160, 106, 256, 8], [256, 512, 256, 8], [128, 256, 512, 8], [64, 128, 1024, 8],
  [128, 256, 512, 16], [512, 512, 512, 8]];
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const SETTINGS = {
  stored: { values: 'stored' },
  centred: { values: 'centred' },
  'centred + 4 pins': { values: 'centred', pins: [{ x: 1, y: 1 }, { x: 9, y: 3 }, { x: 4, y: 8 }, { x: 20, y: 11 }] },
  zscore: { values: 'zscore' },
};

console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`);
console.log(`| dataset (H×W×C @ bits) | set-up ms | kernel ms | ${Object.keys(SETTINGS).map((s) => `move: ${s} ms`).join(' | ')} |`);
console.log(`|---|---|---|${Object.keys(SETTINGS).map(() => '---').join('|')}|`);
for (const [H, W, C, P] of SHAPES) {
  const L = Math.ceil(C / 4);
  const layers = new (P === 8 ? Uint8Array : Uint16Array)(L * H * W * 4);
  for (let i = 0; i < layers.length; i++) layers[i] = (Math.imul(i, 2654435761) >>> (32 - P));
  const info = { width: W, height: H, features: C, precision: P, range: [-1, 1] };
  const mean = new Float64Array(C).fill(2 ** (P - 1)), std = new Float64Array(C).fill(2 ** (P - 2));
  const dataset = { info, layers, stats: { mean, std } };
  const t0 = performance.now();
  const kernel = new CpuKernel({ ...info, layers });
  const setup = performance.now() - t0;
  const k = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    kernel.dotsWith((i * 37) % (W * H));
    k.push(performance.now() - t);
  }
  const cells = [];
  for (const patch of Object.values(SETTINGS)) {
    const analysis = new CpuAnalysis(kernel, dataset);
    const view = { ...VIEW_DEFAULTS, dataset, ...patch };
    analysis.map(mapRequest({ ...view, reference: { x: 0, y: 0 } }));  // per-setting terms, the pins' map
    const m = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      analysis.map(mapRequest({ ...view, reference: { x: (i * 37) % W, y: (i * 53) % H } }));
      m.push(performance.now() - t);
    }
    cells.push(median(m).toFixed(2));
  }
  console.log(`| ${H}×${W}×${C} @${P} | ${setup.toFixed(0)} | ${median(k).toFixed(2)} | ${cells.join(' | ')} |`);
}
