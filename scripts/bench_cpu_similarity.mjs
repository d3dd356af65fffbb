// Times glue/compute/cpu-similarity.js in Node on this machine: the WebAssembly SIMD kernel alone and
// map() with the angles, per dataset shape of the benchmark (synthetic data), median of 7.
// Run: node scripts/bench_cpu_similarity.mjs. Not a test: nothing here asserts a time.
import os from 'node:os';
import { CpuSimilarity } from '../glue/compute/cpu-similarity.js';

const SHAPES = [[160, 106, 256, 8], [256, 512, 256, 8], [128, 256, 512, 8], [64, 128, 1024, 8],
  [128, 256, 512, 16], [512, 512, 512, 8]];
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];

console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`);
console.log('| dataset (H×W×C @ bits) | set-up ms | kernel ms | map() ms |');
console.log('|---|---|---|---|');
for (const [H, W, C, P] of SHAPES) {
  const L = Math.ceil(C / 4);
  const layers = new (P === 8 ? Uint8Array : Uint16Array)(L * H * W * 4);
  for (let i = 0; i < layers.length; i++) layers[i] = (Math.imul(i, 2654435761) >>> (32 - P));
  const t0 = performance.now();
  const cs = new CpuSimilarity({ width: W, height: H, features: C, precision: P, layers });
  const setup = performance.now() - t0;
  const { ref, out, data } = cs._at;
  const kernel = P === 8 ? cs._k.dots : cs._k.dots16;
  const k = [], m = [];
  for (let i = 0; i < 7; i++) {
    let t = performance.now();
    kernel(data, cs.layout.L, cs._N4, ref, out, 0);
    k.push(performance.now() - t);
    t = performance.now();
    cs.map((i * 37) % W, (i * 53) % H, 'angular');
    m.push(performance.now() - t);
  }
  console.log(`| ${H}×${W}×${C} @${P} | ${setup.toFixed(0)} | ${median(k).toFixed(2)} | ${median(m).toFixed(2)} |`);
}
