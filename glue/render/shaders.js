// GLSL ES 3.00 sources for the renderer's passes (glue/render/). The similarity shader is
// generated per dataset (precision and layer count) so that its channel loop is fully
// unrolled: software WebGL (SwiftShader) is bound by shader arithmetic, and unrolling with
// constant indices removes the loop and indexing overhead (RENDERER.md, "Passes per frame").

export const HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp usampler2D;
precision highp usampler2DArray;
`;

// One triangle covering the viewport; no vertex buffers are needed.
export const FULLSCREEN_VS = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
`;

// Map targets (see RENDERER.md, "Map targets"): a target with step s = 2^k holds s x s phase
// planes of pw x ph texels side by side; plane (px, py) texel (i, j) is map pixel
// (s*i + px, s*j + py). Step 1 is a plain W x H map. A pass over one plane draws into
// that plane's texels; uOrigin is the plane's corner in the target.
export const PHASE_UNIFORMS = `uniform ivec2 uOrigin;
uniform ivec2 uPhase;
uniform int uShift;`;
export const PIXEL = '(((ivec2(gl_FragCoord.xy) - uOrigin) << uShift) + uPhase)';

// Where map pixel q lies in a target: uMask = s - 1 when every plane is computed, 0 to show
// plane (0, 0) alone (the preview, nearest-neighbour in s x s blocks).
const TEXEL_OF = 'ivec2 texelOf(ivec2 q) { return (q & uMask) * uPlane + (q >> uShift); }';

// Helpers shared by the similarity shaders.
//  - 64-bit unsigned arithmetic emulated with (hi, lo) pairs: GLSL ES 3.00 has no
//    umulExtended/uaddCarry. Used once per pixel, so its cost does not matter.
//  - atanPos: atan(y / x) for x, y >= 0 as a degree-8 polynomial in t^2 on [0, 1]
//    (least-squares fit, max error 8.5e-8 in float32), so accuracy does not depend
//    on the driver's built-in atan, whose precision GLSL ES leaves unspecified.
export const MATH = `
const float HALF_PI = 1.5707963267948966;

uvec2 mul64(uint a, uint b) {
  uint a0 = a & 0xFFFFu, a1 = a >> 16u, b0 = b & 0xFFFFu, b1 = b >> 16u;
  uint p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint mid = p01 + p10;
  uint midCarry = mid < p01 ? 0x10000u : 0u;
  uint lo = p00 + (mid << 16u);
  uint loCarry = lo < p00 ? 1u : 0u;
  return uvec2(p11 + (mid >> 16u) + midCarry + loCarry, lo);
}

// a - b, clamped at 0 (callers guarantee a >= b; the clamp only guards).
uvec2 sub64(uvec2 a, uvec2 b) {
  if (a.x < b.x || (a.x == b.x && a.y < b.y)) return uvec2(0u);
  uint borrow = a.y < b.y ? 1u : 0u;
  return uvec2(a.x - b.x - borrow, a.y - b.y);
}

float f64(uvec2 a) { return float(a.x) * 4294967296.0 + float(a.y); }

float atanPos(float y, float x) {
  float mx = max(x, y);
  float t = min(x, y) / mx;
  float z = t * t;
  float p = 2.398059703e-03;
  p = p * z - 1.415203046e-02;
  p = p * z + 3.934489191e-02;
  p = p * z - 7.194339484e-02;
  p = p * z + 1.047751680e-01;
  p = p * z - 1.415479928e-01;
  p = p * z + 1.998488307e-01;
  p = p * z - 3.333252370e-01;
  p = p * z + 9.999998808e-01;
  float r = t * p;
  return y > x ? HALF_PI - r : r;
}
`;

// Packing: 8-bit RGBA layers -> one RGBA32UI texel holds 4 source layers (16 channels,
// byte b of component j = channel 4j+b); 16-bit -> 2 source layers (8 channels, low
// half first). Runs once at load, one draw per packed layer.
export function packFS(precision) {
  const body = precision === 8
    ? `uint w(int j, ivec2 p) {
  if (j >= uCount) return 0u;
  uvec4 s = texelFetch(uSrc, ivec3(p, uBase + j), 0);
  return s.r | (s.g << 8u) | (s.b << 16u) | (s.a << 24u);
}
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  o = uvec4(w(0, p), w(1, p), w(2, p), w(3, p));
}`
    : `uvec4 s(int j, ivec2 p) {
  if (j >= uCount) return uvec4(0u);
  return texelFetch(uSrc, ivec3(p, uBase + j), 0);
}
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  uvec4 a = s(0, p), b = s(1, p);
  o = uvec4(a.r | (a.g << 16u), a.b | (a.a << 16u), b.r | (b.g << 16u), b.b | (b.a << 16u));
}`;
  return `${HEADER}
uniform highp usampler2DArray uSrc;
uniform int uBase;
uniform int uCount;
out uvec4 o;
${body}
`;
}

// The packed data may be split over several texture arrays (a device's
// MAX_ARRAY_TEXTURE_LAYERS): packed texel g lives in array floor(g / perArray), layer
// g % perArray. `arrays` lists each array's layer count; the samplers are uData0, uData1, ...
export function dataSamplers(arrays) {
  return arrays.map((_, a) => `uniform highp usampler2DArray uData${a};`).join('\n');
}

// A loop over every packed texel of every array, `body` using the texel `t`.
function eachTexel(arrays, body) {
  return arrays.map((count, a) => `for (int g = 0; g < ${count}; ++g) {
    uvec4 t = texelFetch(uData${a}, ivec3(p, g), 0);
    ${body}
  }`).join('\n  ');
}

// Per-pixel squared norm, exact. 8 bit: sum of squares fits a uint (C < 66051).
// 16/32 bit: inverse norm as float, from exact 64-bit partial sums (each value split
// into 16-bit halves so every product fits 32 bits), so it is accurate to a few ulp.
export function normFS(precision, arrays) {
  if (precision === 8) {
    return `${HEADER}
${dataSamplers(arrays)}
out uvec4 o;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  uint n = 0u;
  ${eachTexel(arrays, `for (int j = 0; j < 4; ++j) {
      uvec4 b = (uvec4(t[j]) >> uvec4(0u, 8u, 16u, 24u)) & 255u;
      n += b.x * b.x + b.y * b.y + b.z * b.z + b.w * b.w;
    }`)}
  o = uvec4(n, 0u, 0u, 0u);
}
`;
  }
  const values = precision === 16
    ? `add(A, B, C, t[j] & 0xFFFFu); add(A, B, C, t[j] >> 16u);`
    : `add(A, B, C, t[j]);`;
  return `${HEADER}
${dataSamplers(arrays)}
out vec4 o;
void acc64(inout uvec2 a, uint x) {
  uint lo = a.y + x;
  a.x += lo < x ? 1u : 0u;
  a.y = lo;
}
float f64(uvec2 a) { return float(a.x) * 4294967296.0 + float(a.y); }
// v^2 = hi^2 * 2^32 + 2 hi lo * 2^16 + lo^2 with v = hi * 2^16 + lo.
void add(inout uvec2 A, inout uvec2 B, inout uvec2 C, uint v) {
  uint hi = v >> 16u, lo = v & 0xFFFFu;
  acc64(A, hi * hi);
  acc64(B, hi * lo);
  acc64(C, lo * lo);
}
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  uvec2 A = uvec2(0u), B = uvec2(0u), C = uvec2(0u);
  ${eachTexel(arrays, `for (int j = 0; j < 4; ++j) { ${values} }`)}
  float n = f64(A) * 4294967296.0 + f64(B) * 131072.0 + f64(C);
  o = vec4(n > 0.0 ? 1.0 / sqrt(n) : 0.0, 0.0, 0.0, 1.0);
}
`;
}

// Reference pass: writes the reference pixel's data into a 1-row RGBA32UI target,
// which is then copied on the GPU (readPixels into a buffer) into the uniform block
// the similarity shader reads. Texel 0 = info, texel 1 + l = source layer l.
//  8 bit: info.x = |r|^2 (exact); texel = the 4 raw channel values.
//  16/32: info.x = 1 for a zero reference; texel = float bits of r_i / |r|.
// Packed texel g at the reference pixel, from whichever array holds it (samplers cannot be
// indexed dynamically in GLSL ES 3.00).
function fetchRef(arrays) {
  let start = 0;
  const lines = arrays.map((count, a) => {
    const line = `if (g < ${start + count}) return texelFetch(uData${a}, ivec3(uRef, g - ${start}), 0);`;
    start += count;
    return line;
  });
  return `uvec4 fetchData(int g) {
  ${lines.join('\n  ')}
  return uvec4(0u);
}`;
}

export function refFS(precision, arrays) {
  if (precision === 8) {
    return `${HEADER}
${dataSamplers(arrays)}
uniform highp usampler2D uNorm;
uniform ivec2 uRef;
out uvec4 o;
${fetchRef(arrays)}
void main() {
  int i = int(gl_FragCoord.x);
  if (i == 0) { o = uvec4(texelFetch(uNorm, uRef, 0).r, 0u, 0u, 0u); return; }
  int l = i - 1;
  uint w = fetchData(l >> 2)[l & 3];
  o = uvec4(w & 255u, (w >> 8u) & 255u, (w >> 16u) & 255u, w >> 24u);
}
`;
  }
  const fetch = precision === 16
    ? `uvec4 t = fetchData(l >> 1);
  uint w0 = t[(l & 1) * 2], w1 = t[(l & 1) * 2 + 1];
  vec4 r = vec4(w0 & 0xFFFFu, w0 >> 16u, w1 & 0xFFFFu, w1 >> 16u);`
    : `vec4 r = vec4(fetchData(l));`;
  return `${HEADER}
${dataSamplers(arrays)}
uniform highp sampler2D uNorm;
uniform ivec2 uRef;
out uvec4 o;
${fetchRef(arrays)}
void main() {
  int i = int(gl_FragCoord.x);
  float ia = texelFetch(uNorm, uRef, 0).r;
  if (i == 0) { o = uvec4(ia > 0.0 ? 0u : 1u, floatBitsToUint(ia), 0u, 0u); return; }
  int l = i - 1;
  ${fetch}
  // Same expression as in the similarity shader, so r^ - p^ is exactly 0 at the reference.
  o = floatBitsToUint(r * ia);
}
`;
}

// The raw values of source layer l (4 channels) from packed texel t, as GLSL.
function layerExpr(precision, l, t) {
  if (precision === 8) {
    const c = `${t}.${'xyzw'[l & 3]}`;
    return `uvec4(${c} & 255u, (${c} >> 8u) & 255u, (${c} >> 16u) & 255u, ${c} >> 24u)`;
  }
  if (precision === 16) {
    const a = `${t}.${'xz'[l & 1]}`, b = `${t}.${'yw'[l & 1]}`;
    return `vec4(${a} & 0xFFFFu, ${a} >> 16u, ${b} & 0xFFFFu, ${b} >> 16u)`;
  }
  return `vec4(${t})`;
}

/**
 * Similarity shader for one dataset shape: output R32F = angular (uMetric 0) or
 * cosine (uMetric 1) similarity of pixel ivec2(gl_FragCoord.xy) * uStep.
 *
 * 8 bit: integer dot product D = sum p_i r_i (exact in uint32), then the exact
 * 64-bit sin^2 numerator |p|^2 |r|^2 - D^2, and angle = atan(sqrt(num), D): no
 * cancellation anywhere, so the error is float32 rounding of the last few steps.
 * 16/32 bit: products overflow 32 bits, so work in float on unit vectors:
 * chord^2 = sum (p_i / |p| - r^_i)^2, angle = 2 asin(chord / 2) (well-conditioned
 * near cos = 1, where acos(cos) magnifies rounding).
 */
export function similarityFS({ precision, layers, packed, unrollLimit, arrays = [packed] }) {
  const isInt = precision === 8;
  const accType = isInt ? 'uvec4' : 'vec4';
  const body = channelLoop({
    precision, layers, packed, unrollLimit, arrays,
    step: (raw, l) => (isInt ? `a += ${raw} * uR[${l}];` : `d = ${raw} * ia - uR[${l}]; a += d * d;`),
  });
  const finish = isInt
    ? `uint D = a.x + a.y + a.z + a.w;
  uint np = texelFetch(uNorm, p, 0).r;
  uint nr = uInfo.x;
  float s = 0.0;
  if (np != 0u && nr != 0u) {
    uvec2 nn = mul64(np, nr);
    float x = float(D);
    if (uMetric == 0) {
      float y = sqrt(f64(sub64(nn, mul64(D, D))));
      s = 1.0 - min(atanPos(y, x) / HALF_PI, 1.0);
    } else {
      s = clamp(x / sqrt(f64(nn)), 0.0, 1.0);
    }
  }`
    : `float s = 0.0;
  if (ia > 0.0 && uInfo.x == 0u) {
    float c2 = a.x + a.y + a.z + a.w;
    if (uMetric == 0) {
      float h = min(0.5 * sqrt(c2), 1.0);
      float angle = 2.0 * atanPos(h, sqrt(max(1.0 - h * h, 0.0)));
      s = 1.0 - min(angle / HALF_PI, 1.0);
    } else {
      s = clamp(1.0 - 0.5 * c2, 0.0, 1.0);
    }
  }`;
  return `${HEADER}
${dataSamplers(arrays)}
uniform ${isInt ? 'highp usampler2D' : 'highp sampler2D'} uNorm;
${PHASE_UNIFORMS}
uniform int uMetric;
layout(std140) uniform Ref {
  uvec4 uInfo;
  ${isInt ? 'uvec4' : 'vec4'} uR[${layers}];
};
out vec4 o;
${MATH}
${COMBINE}
void main() {
  ivec2 p = ${PIXEL};
  ${isInt ? '' : 'float ia = texelFetch(uNorm, p, 0).r;\n  vec4 d;'}
  ${accType} a = ${accType}(0);
  uvec4 t;
  ${body}
  ${finish}
  o = vec4(combined(s, p), 0.0, 0.0, 1.0);
}
`;
}

/**
 * The loop over every source layer of a pixel p's packed texels, as GLSL: `step(raw, l)` is
 * the code for source layer l (a constant, or an index expression in a loop) whose raw values
 * are the expression `raw` (uvec4 at 8 bit, vec4 otherwise), fetched into the uvec4 t.
 * Fully unrolled up to `unrollLimit` texel fetches (software WebGL is bound by shader
 * arithmetic, and constant indices save the loop and indexing); beyond that one loop per
 * texture array over its whole texels, with an unrolled body, keeps compile times bounded.
 */
export function channelLoop({ precision, layers, packed, unrollLimit, arrays = [packed], step }) {
  const perTexel = 128 / precision / 4; // source layers per packed texel: 4, 2, 1
  const lines = [];
  // Packed texel g: array `where[g][0]`, layer `where[g][1]` (see dataSamplers).
  const where = [];
  arrays.forEach((count, a) => { for (let k = 0; k < count; k++) where.push([a, k]); });
  const fullTexels = Math.floor(layers / perTexel);
  let g0 = 0;
  if (packed > unrollLimit && fullTexels > 0) {
    let start = 0;
    arrays.forEach((count, a) => {
      const n = Math.min(start + count, fullTexels) - start;
      if (n > 0) {
        const body = [];
        for (let j = 0; j < perTexel; j++) body.push(step(layerExpr(precision, j, 't'), `(${start} + g) * ${perTexel} + ${j}`));
        lines.push(`for (int g = 0; g < ${n}; ++g) {
    t = texelFetch(uData${a}, ivec3(p, g), 0);
    ${body.join('\n    ')}
  }`);
      }
      start += count;
    });
    g0 = fullTexels;
  }
  for (let g = g0; g < packed; g++) {
    lines.push(`t = texelFetch(uData${where[g][0]}, ivec3(p, ${where[g][1]}), 0);`);
    for (let l = g * perTexel; l < Math.min(layers, (g + 1) * perTexel); l++) lines.push(step(layerExpr(precision, l, 't'), `${l}`));
  }
  return lines.join('\n  ');
}

// Several references (issue 13): a map shader built with COMBINE merges its value with the
// map of the references drawn before it (uPrev, a plain W × H map: max, min or sum) and scales
// the result (1/count for a mean); without it the value goes out as it is.
export const COMBINE = `#ifdef COMBINE
uniform highp sampler2D uPrev;
uniform int uCombine;  // 1 max, 2 min, 3 sum
uniform float uScale;
float combined(float s, ivec2 p) {
  float q = texelFetch(uPrev, p, 0).r;
  return (uCombine == 1 ? max(q, s) : uCombine == 2 ? min(q, s) : q + s) * uScale;
}
#else
float combined(float s, ivec2 p) { return s; }
#endif`;

/** The same GLSL source with `#define name` (a build variant). */
export function withDefine(source, name) {
  return source.replace('#version 300 es\n', `#version 300 es\n#define ${name}\n`);
}

// Single-channel view: channel k's raw value / (2^P - 1).
// uSel = (packed layer, component, bit shift, -); uMask and uMax per precision.
export const CHANNEL_FS = `${HEADER}
uniform highp usampler2DArray uData;
${PHASE_UNIFORMS}
uniform ivec4 uSel;
uniform uint uMask;
uniform float uMax;
out vec4 o;
void main() {
  ivec2 p = ${PIXEL};
  uint w = texelFetch(uData, ivec3(p, uSel.x), 0)[uSel.y];
  o = vec4(float((w >> uint(uSel.z)) & uMask) / uMax, 0.0, 0.0, 1.0);
}
`;

// Min/max reduction: each output texel takes the (min, max) of a 4x4 block. The first pass
// reads samples of the R32F map: sample (u, v) < uCount is map pixel uStart + (u, v) * uStride,
// found in the target with texelOf (so a preview's samples are plane (0, 0)'s texels and a
// full map's are every pixel of the visible region, whatever the target's layout). Later
// passes read the previous pass's RG32F output, uCount texels from (0, 0).
export const REDUCE_FS = `${HEADER}
uniform highp sampler2D uSrc;
uniform int uFirst;
uniform ivec2 uCount;
uniform ivec2 uStart;
uniform int uStride;
uniform ivec2 uPlane;
uniform ivec2 uMask;
uniform int uShift;
out vec4 o;
${TEXEL_OF}
void main() {
  ivec2 b = ivec2(gl_FragCoord.xy) * 4;
  ivec2 e = min(b + 4, uCount);
  float mn = 3.0e38, mx = -3.0e38;
  for (int j = 0; j < 4; ++j) {
    for (int i = 0; i < 4; ++i) {
      ivec2 q = b + ivec2(i, j);
      if (q.x < e.x && q.y < e.y) {
        vec2 v;
        if (uFirst == 1) {
          v = vec2(texelFetch(uSrc, texelOf(uStart + q * uStride), 0).r);
        } else {
          v = texelFetch(uSrc, q, 0).rg;
        }
        mn = min(mn, v.x);
        mx = max(mx, v.y);
      }
    }
  }
  o = vec4(mn, mx, 0.0, 1.0);
}
`;

// The colour pass's vertex shader: the full-screen triangle, plus the stretch's (min, max)
// read once per vertex instead of once per pixel (a texel fetch per pixel is what software
// rendering pays for).
export const COLOUR_VS = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
uniform highp sampler2D uStretch;
uniform int uRelative;
uniform vec2 uAbsolute;  // the fixed range, where the scale is not relative
flat out vec2 vRange;
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
  vRange = uRelative == 1 ? texelFetch(uStretch, ivec2(0), 0).rg : uAbsolute;
}
`;

// Shared by the colour shaders, so that one-pass and two-step colouring give the same bytes.
// A map value's colour and blend weight: stretch (vRange from COLOUR_VS; a flat map, max ==
// min, shows as v = 0), turned round for a distance (uReverse: near is bright), colour index
// min(255, floor(v * 256)) as in app/colormaps.py, and the overlay weight
// min(1, v + 1 - opacity) (1 without an overlay).
const HEAT_OF = `uniform highp sampler2D uLut;
uniform ivec2 uPlane;
uniform ivec2 uMask;
uniform int uShift;
uniform int uHasOverlay;
uniform float uOpacity;
uniform int uReverse;
flat in vec2 vRange;
${TEXEL_OF}
vec4 heatOf(float s) {
  vec2 mm = vRange;
  float v = mm.y > mm.x ? clamp((s - mm.x) / (mm.y - mm.x), 0.0, 1.0) : 0.0;
  if (uReverse == 1) v = 1.0 - v;
  int idx = min(255, int(v * 256.0));
  return vec4(texelFetch(uLut, ivec2(idx, 0), 0).rgb, uHasOverlay == 1 ? min(1.0, v + (1.0 - uOpacity)) : 1.0);
}`;

// The map pixel a canvas pixel shows: floor((c - offset) / scale), c from the top-left, less
// the origin of the tile being drawn (uTile; a map larger than the largest texture is drawn in
// tiles, each from textures of its own). The scissor admits only pixels whose centre lies on
// the tile; the clamp guards rounding. And the colour on the canvas: the heat over the overlay
// as it lies under this canvas pixel (prepared by BACKGROUND_FS for the view), and with MASK the
// threshold's mask over it: a translucent fill, and an outline along the edges of mask pixels
// whose neighbour is outside.
const ON_CANVAS = `uniform highp sampler2D uOverlay;
uniform vec3 uView;        // scale, offsetX, offsetY (canvas pixels)
uniform float uCanvasH;
uniform ivec4 uRect;       // computed rectangle of the tile x0, y0, x1, y1
uniform ivec2 uTile;       // the tile's origin in the map
ivec2 mapPixel() {
  vec2 c = vec2(gl_FragCoord.x, uCanvasH - gl_FragCoord.y);
  return clamp(ivec2((c - uView.yz) / uView.x) - uTile, uRect.xy, uRect.zw - 1);
}
#ifdef MASK
uniform highp sampler2D uMaskMap;  // R8: > 0 inside the mask; the tile and a 1-pixel border
uniform ivec2 uMapSize;            // the whole map's
const vec3 MASK_FILL = vec3(0.25, 0.85, 1.0);
const vec3 MASK_LINE = vec3(1.0, 1.0, 1.0);
bool inMask(ivec2 m) {
  ivec2 g = m + uTile;
  return all(greaterThanEqual(g, ivec2(0))) && all(lessThan(g, uMapSize)) && texelFetch(uMaskMap, m + 1, 0).r > 0.0;
}
vec3 masked(vec3 c) {
  vec2 pos = (vec2(gl_FragCoord.x, uCanvasH - gl_FragCoord.y) - uView.yz) / uView.x;
  ivec2 m = mapPixel();
  if (!inMask(m)) return c;
  vec2 f = (pos - vec2(m + uTile)) * uView.x;  // canvas pixels from the map pixel's top-left corner
  float w = min(1.5, 0.5 * uView.x), far = uView.x - w;
  bool edge = (f.x < w && !inMask(m - ivec2(1, 0))) || (f.x >= far && !inMask(m + ivec2(1, 0)))
    || (f.y < w && !inMask(m - ivec2(0, 1))) || (f.y >= far && !inMask(m + ivec2(0, 1)));
  return edge ? MASK_LINE : mix(c, MASK_FILL, 0.35);
}
#else
vec3 masked(vec3 c) { return c; }
#endif
vec4 onCanvas(vec4 h) {
#ifdef OVERLAY
  return vec4(masked(mix(texelFetch(uOverlay, ivec2(gl_FragCoord.xy), 0).rgb, h.rgb, h.a)), 1.0);
#else
  return vec4(masked(h.rgb), 1.0);
#endif
}`;

// The colour shaders in two builds, with and without the overlay: a uniform test would not
// spare the overlay's fetch, since software rendering evaluates both sides of a select.
export const withOverlay = (source) => withDefine(source, 'OVERLAY');

// Stretch + colour + overlay, drawn straight into the canvas in one pass.
export const COLOUR_FS = `${HEADER}
uniform highp sampler2D uSim;
${HEAT_OF}
${ON_CANVAS}
out vec4 o;
void main() {
  o = onCanvas(heatOf(texelFetch(uSim, texelOf(mapPixel()), 0).r));
}
`;

// Magnified views colour in two steps, since the colour pass costs per canvas pixel: HEAT_FS
// computes each visible map pixel's colour and blend weight once, at map resolution (RGBA32F,
// so nothing is rounded on the way), into a target of the visible rectangle's size (its texel
// (0, 0) is the rectangle's corner, uHeatAt), and BLIT_FS spreads them over the canvas with one
// fetch each from that and the overlay.
export const HEAT_FS = `${HEADER}
uniform highp sampler2D uSim;
uniform ivec2 uHeatAt;
${HEAT_OF}
out vec4 o;
void main() {
  o = heatOf(texelFetch(uSim, texelOf(ivec2(gl_FragCoord.xy) + uHeatAt), 0).r);
}
`;

// With PICTURE, uHeat is a picture of the map's own colours (the PCA view's RGB), laid over
// the overlay at the chosen opacity. uHeatAt: the map pixel of uHeat's texel (0, 0).
export const BLIT_FS = `${HEADER}
uniform highp sampler2D uHeat;
uniform ivec2 uHeatAt;
${ON_CANVAS}
#ifdef PICTURE
uniform float uOpacity;
#endif
out vec4 o;
void main() {
  vec4 h = texelFetch(uHeat, mapPixel() - uHeatAt, 0);
#ifdef PICTURE
  h.a = uOpacity;
#endif
  o = onCanvas(h);
}
`;

// The overlay resampled to the canvas for the current view (trilinear, greyscale unless
// in colour), drawn only when the view, the canvas or the overlay changes: the colour
// pass, which runs on every pointer move, then reads one texel per pixel instead.
export const BACKGROUND_FS = `${HEADER}
uniform highp sampler2D uOverlay;
uniform vec3 uView;        // scale, offsetX, offsetY (canvas pixels)
uniform float uCanvasH;
uniform ivec2 uSize;       // map W, H
uniform int uOverlayColour;
out vec4 o;
void main() {
  vec2 c = vec2(gl_FragCoord.x, uCanvasH - gl_FragCoord.y);
  vec2 m = (c - uView.yz) / uView.x;
  vec3 ov = texture(uOverlay, m / vec2(uSize)).rgb;
  // Rec. 709 luma, as CSS grayscale(1).
  if (uOverlayColour == 0) ov = vec3(dot(ov, vec3(0.2126, 0.7152, 0.0722)));
  o = vec4(ov, 1.0);
}
`;
