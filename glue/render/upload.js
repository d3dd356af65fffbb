// A dataset's data on the GPU: the packed texture arrays and every pixel's norm, made once at
// load. 32 bit goes up straight from the caller's array; 8 and 16 bit go through a small
// staging array a few source layers at a time (no CPU copy) and are packed on the GPU.
import { packFS, normFS } from './shaders.js';
import { UNIT, dataUnit, DeviceLimitError } from './device.js';
import { uploadChunk } from '../model/layout.js';
import { formatBytes } from '../format.js';

/**
 * Upload `layers` laid out as `layout`, split as `plan` says (device.js planDataset); for a
 * tile, `layout` is the tile's and `from` says where it lies in the layers' map ({ox, oy,
 * W, H}: GL's unpack parameters pick its rectangle out of them, no copy). Returns
 * {layout, plan, arrays, perArray, data (textures), norm, samplers, bindData(), release()}.
 * Norm: 8 bit, the exact Σp² (R32UI); 16/32 bit, 1/|p| (R32F, 0 for a zero vector).
 */
export function uploadDataset(gpu, layout, plan, layers, from = null) {
  const gl = gpu.gl;
  const { W, H, P } = layout;
  const src = from ?? { ox: 0, oy: 0, W, H };
  const owned = [];
  const own = (kind, obj) => { owned.push([kind, obj]); return obj; };
  const release = () => { for (const [kind, obj] of owned) gpu.delete(kind, obj); owned.length = 0; };
  const samplers = Object.fromEntries(plan.arrays.map((_, a) => [`uData${a}`, dataUnit(a)]));
  const gpuData = {
    layout, plan, arrays: plan.arrays, perArray: plan.perArray, samplers, release,
    data: null, norm: null,
    /** Every data array on its texture unit. */
    bindData() { gpuData.data.forEach((tex, a) => gpu.bind(dataUnit(a), gl.TEXTURE_2D_ARRAY, tex)); },
    /** The array and layer holding packed texel g. */
    texelAt(g) { return { array: gpuData.data[Math.floor(g / plan.perArray)], layer: g % plan.perArray }; },
  };
  try {
    // RGBA32UI holding 16 × uint8, 8 × uint16 or 4 × uint32 per texel, in as many texture
    // arrays as the device's layer limit needs.
    gpuData.data = plan.arrays.map((count) => own('texture', gpu.textureArray(gl.RGBA32UI, W, H, count)));
    if (gl.getError() === gl.OUT_OF_MEMORY) {
      throw new DeviceLimitError(`The GPU ran out of memory for this dataset (${W}×${H}×${layout.C} @ ${P} bit, about `
        + `${formatBytes(plan.bytes)}). ${plan.smaller ?? ''}`.trim(), plan);
    }
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    unpackFrom(gl, src);
    try {
      if (P === 32) {
        plan.arrays.forEach((count, a) => {
          gl.bindTexture(gl.TEXTURE_2D_ARRAY, gpuData.data[a]);
          gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, W, H, count, gl.RGBA_INTEGER, gl.UNSIGNED_INT,
            layers, a * plan.perArray * src.H * src.W * 4);
        });
      } else {
        packLayers(gpu, gpuData, layers, src);
      }
    } finally {
      unpackFrom(gl, null);
    }
    gpuData.norm = own('texture', gpu.texture2D(P === 8 ? gl.R32UI : gl.R32F, W, H));
    const normProg = gpu.program(normFS(P, plan.arrays), 'norm', samplers);
    const normFb = gpu.framebuffer(gpuData.norm);
    gl.useProgram(normProg.prog);
    gpuData.bindData();
    gpu.draw(normFb, 0, 0, W, H);
    gpu.delete('framebuffer', normFb);
    gpu.delete('program', normProg.prog);
  } catch (err) {
    release();
    throw err;
  }
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  return gpuData;
}

/**
 * GL's unpack parameters for uploads out of a larger map's rows: rectangle (ox, oy) of a
 * W × H map (layer after layer); null: back to the defaults (every other upload assumes them).
 */
export function unpackFrom(gl, src) {
  gl.pixelStorei(gl.UNPACK_ROW_LENGTH, src ? src.W : 0);
  gl.pixelStorei(gl.UNPACK_IMAGE_HEIGHT, src ? src.H : 0);
  gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, src ? src.ox : 0);
  gl.pixelStorei(gl.UNPACK_SKIP_ROWS, src ? src.oy : 0);
}

// 8/16 bit: a few source layers at a time into an RGBA8UI/RGBA16UI staging array (straight
// from the caller's array, at an offset), then one pack draw per packed layer.
function packLayers(gpu, gpuData, layers, src) {
  const gl = gpu.gl;
  const { layout } = gpuData;
  const { W, H, L, G, perTexel, P } = layout;
  const [fmt, type] = P === 8 ? [gl.RGBA8UI, gl.UNSIGNED_BYTE] : [gl.RGBA16UI, gl.UNSIGNED_SHORT];
  const { packedPerChunk, chunkLayers } = uploadChunk(layout);
  const staging = gpu.textureArray(fmt, W, H, chunkLayers);
  const prog = gpu.program(packFS(P), 'pack', { uSrc: UNIT.src });
  const fb = gpu.track('framebuffer', gl.createFramebuffer());
  try {
    gl.useProgram(prog.prog);
    gpu.bind(UNIT.src, gl.TEXTURE_2D_ARRAY, staging);
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.viewport(0, 0, W, H);
    for (let g0 = 0; g0 < G; g0 += packedPerChunk) {
      const s0 = g0 * perTexel;
      const n = Math.min(chunkLayers, L - s0);
      gl.texSubImage3D(gl.TEXTURE_2D_ARRAY, 0, 0, 0, 0, W, H, n, gl.RGBA_INTEGER, type, layers, s0 * src.H * src.W * 4);
      for (let g = g0; g < Math.min(G, g0 + packedPerChunk); g++) {
        const { array, layer } = gpuData.texelAt(g);
        gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, array, 0, layer);
        gl.uniform1i(prog.u.uBase, (g - g0) * perTexel);
        gl.uniform1i(prog.u.uCount, Math.min(perTexel, L - g * perTexel));
        gl.drawArrays(gl.TRIANGLES, 0, 3);
      }
    }
  } finally {
    gpu.delete('framebuffer', fb);
    gpu.delete('program', prog.prog);
    gpu.delete('texture', staging);
  }
}
