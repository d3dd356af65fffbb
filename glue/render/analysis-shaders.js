// GLSL for the analyses of issue 13 on the GPU: any values setting, any metric, a reference
// vector uploaded from the CPU. A value is t_c = a_c·(q_c − μ_c − γ_p) + b: the stored integer
// minus an offset first, so that what cancels (a mean taken off) cancels in the integers' own
// precision, then scaled (compute/values.js's a_c·q_c + b_c with μ_c = −b_c/a_c, or the scalar
// b of true values). γ_p is a pixel's own mean offset, for correlation where a is one scale.
// Float throughout, in forms that do not cancel where it matters:
//   chord  (angular, cosine, correlation): chord² = Σ_c (α_p·t_c + β_p − ρ_c)² with the pixel's
//          vector scaled to unit length (α_p = 1/|t_p|, β_p = 0) or centred on its mean and
//          scaled (γ_p the mean when a is one scale, else β_p = −m_p·α_p) and ρ the reference
//          treated alike; θ = 2·atan(h, √(1 − h²)), h = chord/2, is accurate at every angle
//   euclid |t_p − ρ|² = Σ_c (t_c − ρ_c)²
//   dot    Σ_c t_c·ρ_c
// α_p, β_p, γ_p come from a pass per values setting and metric (termsFS).
import { HEADER, MATH, PIXEL, PHASE_UNIFORMS, COMBINE, dataSamplers, channelLoop } from './shaders.js';

// Per-layer reference, scales and offsets, zero in padding channels; padding lanes are masked
// as well (`paddingOf`), since b and the per-pixel terms are not zero there.
const REF_BLOCK = (layers) => `layout(std140) uniform Ref {
  vec4 uInfo;          // x: 1 for a zero reference (angular, cosine, correlation: 0 everywhere); y: b; z: a (one scale)
  vec4 uR[${layers}];
  vec4 uA[${layers}];
  vec4 uM[${layers}];
};`;


// `* mask` for source layer l (a constant or a loop's index expression) when it is the last,
// whose lanes beyond the channel count are padding (C not a multiple of 4); '' otherwise.
function paddingOf(layers, features) {
  const n = features % 4;
  if (!n) return () => '';
  const mask = `vec4(${[0, 1, 2, 3].map((j) => (j < n ? '1.0' : '0.0')).join(', ')})`;
  const last = layers - 1;
  return (l) => (/^\d+$/.test(l) ? (Number(l) === last ? ` * ${mask}` : '') : ` * ((${l}) == ${last} ? ${mask} : vec4(1.0))`);
}

/**
 * The map of one reference vector: family 'chord' (uMetric 0 angular, 1 cosine or correlation),
 * 'euclid' or 'dot'. `oneScale`: every a_c is the same (uInfo.z), so the pixel's factor folds into
 * one number; `centred`: μ is not zero. Each variant spends as few operations per channel as its
 * arithmetic allows (software WebGL pays for every one): with α_p·t_c + β_p = k·(q_c − μ_c) + k0,
 * the chord form costs 2 or 3 per channel. Build with withDefine(..., 'COMBINE') to merge with
 * earlier references.
 */
export function analysisFS({ precision, layers, packed, features, unrollLimit, arrays = [packed], family, oneScale, centred }) {
  const padding = paddingOf(layers, features);
  const q = (raw, l) => (centred ? `(vec4(${raw}) - uM[${l}])` : `vec4(${raw})`);
  const k = (l) => (oneScale ? 'k' : `(ab.x * uA[${l}])`);
  const scale = (l) => (oneScale ? 'uInfo.z' : `uA[${l}]`);
  const body = channelLoop({
    precision, layers, packed, unrollLimit, arrays,
    step: (raw, l) => {
      if (family === 'dot') return `a += (${scale(l)} * ${q(raw, l)} + uInfo.y) * uR[${l}];`;
      // euclid: uR holds ρ − b, so d = a·(q − μ) − (ρ − b) = t − ρ
      if (family === 'euclid') return `d = ${scale(l)} * ${q(raw, l)} - uR[${l}]; a += d * d;`;
      return `d = (${k(l)} * ${q(raw, l)} + k0 - uR[${l}])${padding(l)}; a += d * d;`;
    },
  });
  const finish = {
    chord: `float s = 0.0;
  if (ab.x > 0.0 && uInfo.x == 0.0) {
    float c2 = a.x + a.y + a.z + a.w;
    if (uMetric == 0) {
      float h = min(0.5 * sqrt(c2), 1.0);
      s = 1.0 - 2.0 * atanPos(h, sqrt(max(1.0 - h * h, 0.0))) / HALF_PI;
    } else {
      s = clamp(1.0 - 0.5 * c2, -1.0, 1.0);
    }
  }`,
    euclid: 'float s = sqrt(a.x + a.y + a.z + a.w);',
    dot: 'float s = a.x + a.y + a.z + a.w;',
  }[family];
  // α·t + β = k·(q − μ) + k0: k = α·a, k0 = α·(b − a·γ) + β (γ: one scale only, else 0).
  const terms = family !== 'chord' ? '' : `vec3 terms = texelFetch(uTerms, p, 0).rgb;
  vec2 ab = terms.xy;
  ${oneScale ? 'float k = ab.x * uInfo.z;\n  float k0 = ab.x * (uInfo.y - uInfo.z * terms.z) + ab.y;' : 'float k0 = ab.x * uInfo.y + ab.y;'}`;
  return `${HEADER}
${dataSamplers(arrays)}
uniform highp sampler2D uTerms;  // (α_p, β_p, γ_p) of the chord form
${PHASE_UNIFORMS}
uniform int uMetric;
${REF_BLOCK(layers)}
out vec4 o;
${MATH}
${COMBINE}
void main() {
  ivec2 p = ${PIXEL};
  ${terms}
  vec4 a = vec4(0.0), d;
  uvec4 t;
  ${body}
  ${finish}
  o = vec4(combined(s, p), 0.0, 0.0, 1.0);
}
`;
}

/**
 * (α_p, β_p, γ_p) per pixel for the chord form under the transform in Ref, for `mode`:
 *   'unit'    (angular, cosine) α = 1/|t|, β = γ = 0
 *   'integer' (correlation, one scale a) centred on the pixel's mean in the integers:
 *             γ = mean_c(q_c − μ_c), α = 1/|a·(q − μ − γ)|, β = 0 (b cancels: the map is drawn with b = 0)
 *   'values'  (correlation, a per channel) centred on the mean m of the values: α = 1/|t − m|, β = −m·α
 * α = 0 for a zero vector, or (centred) one whose spread is below what rounding leaves of a
 * constant one. Once per values setting and metric: loops suffice.
 */
export function termsFS({ precision, layers, packed, features, arrays = [packed], mode }) {
  const padding = paddingOf(layers, features);
  const pass = (body) => channelLoop({
    precision, layers, packed, unrollLimit: 0, arrays,
    step: (raw, l) => `q = (vec4(${raw}) - uM[${l}])${padding(l)}; v = (uA[${l}] * q + uInfo.y)${padding(l)}; ${body(l)}`,
  });
  const centre = {
    unit: `${pass(() => 'sq += v * v;')}
  float n = sum4(sq), spread = 0.0;`,
    integer: `${pass(() => 'qs += q;')}
  gam = sum4(qs) / ${features}.0;
  ${pass((l) => `c = uA[${l}] * (q - gam)${padding(l)}; sq += c * c; v = uA[${l}] * q; all2 += v * v;`)}
  float n = sum4(sq), spread = 1e-12 * sum4(all2);`,
    values: `${pass(() => 'vs += v;')}
  m = sum4(vs) / ${features}.0;
  ${pass((l) => `c = (v - m)${padding(l)}; sq += c * c; all2 += v * v;`)}
  float n = sum4(sq), spread = 1e-12 * sum4(all2);`,
  }[mode];
  return `${HEADER}
${dataSamplers(arrays)}
${REF_BLOCK(layers)}
out vec4 o;
float sum4(vec4 x) { return x.x + x.y + x.z + x.w; }
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec4 q, v, c, qs = vec4(0.0), vs = vec4(0.0), sq = vec4(0.0), all2 = vec4(0.0);
  uvec4 t;
  float gam = 0.0, m = 0.0;  // (not g: the loops' index)
  ${centre}
  float alpha = n > spread && n > 0.0 ? 1.0 / sqrt(n) : 0.0;
  o = vec4(alpha, -m * alpha, gam, 1.0);
}
`;
}

// The references drawn before, as the map (no pointer reference): uPrev scaled.
export const FINISH_FS = `${HEADER}
uniform highp sampler2D uPrev;
uniform float uScale;
${PHASE_UNIFORMS}
out vec4 o;
void main() {
  ivec2 p = ${PIXEL};
  o = vec4(texelFetch(uPrev, p, 0).r * uScale, 0.0, 0.0, 1.0);
}
`;
