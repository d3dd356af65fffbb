// View maths: where a W × H map lies on a canvas. A camera is {scale, offsetX, offsetY} in canvas
// drawing-buffer pixels, origin top-left: canvas = offset + scale · map (map pixels drawn
// nearest-neighbour). CSS pixels convert with canvas.width / canvas.clientWidth. Pure functions.

/** The camera that fits a W × H map into a cw × ch canvas with `padding` pixels around it, centred. */
export function fitCamera(W, H, cw, ch, padding = 10) {
  let scale = Math.min((cw - 2 * padding) / W, (ch - 2 * padding) / H);
  if (!(scale > 0)) scale = Math.min(cw / W, ch / H) || 1;
  return { scale, offsetX: (cw - scale * W) / 2, offsetY: (ch - scale * H) / 2 };
}

/** Zoom by `factor` keeping canvas point (cx, cy) where it is. */
export function zoomCamera({ scale, offsetX, offsetY }, cx, cy, factor) {
  return { scale: scale * factor, offsetX: cx - (cx - offsetX) * factor, offsetY: cy - (cy - offsetY) * factor };
}

export function panCamera(camera, dx, dy) {
  return { ...camera, offsetX: camera.offsetX + dx, offsetY: camera.offsetY + dy };
}

/** Map pixel {x, y} under canvas point (cx, cy) of a W × H map, or null outside the map. */
export function canvasToPixel({ scale, offsetX, offsetY }, W, H, cx, cy) {
  const x = Math.floor((cx - offsetX) / scale), y = Math.floor((cy - offsetY) / scale);
  return x >= 0 && y >= 0 && x < W && y < H ? { x, y } : null;
}

/** Canvas position of map point (x, y) (a pixel's top-left corner at integers). */
export function pixelToCanvas({ scale, offsetX, offsetY }, x, y) {
  return { x: offsetX + x * scale, y: offsetY + y * scale };
}

/** The map pixels a cw × ch canvas shows, {x0, y0, x1, y1} (x1, y1 exclusive), or null. */
export function visibleRect({ scale, offsetX, offsetY }, W, H, cw, ch) {
  const x0 = Math.max(0, Math.floor(-offsetX / scale));
  const y0 = Math.max(0, Math.floor(-offsetY / scale));
  const x1 = Math.min(W, Math.ceil((cw - offsetX) / scale));
  const y1 = Math.min(H, Math.ceil((ch - offsetY) / scale));
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : null;
}

/**
 * The canvas pixels whose centre lies on map rectangle [mx0, mx1) × [my0, my1) (offset +
 * mx0·scale − 0.5 ≤ c < offset + mx1·scale − 0.5), {x0, y0, x1, y1} clipped to the canvas
 * (possibly empty): the colour pass shades only these. Rectangles side by side (tiles) get
 * boxes that share their edge, neither gap nor overlap.
 */
export function mapOnCanvas({ scale, offsetX, offsetY }, mx0, my0, mx1, my1, cw, ch) {
  const at = (offset, m) => Math.ceil(offset + m * scale - 0.5);
  return {
    x0: Math.max(0, at(offsetX, mx0)), x1: Math.min(cw, at(offsetX, mx1)),
    y0: Math.max(0, at(offsetY, my0)), y1: Math.min(ch, at(offsetY, my1)),
  };
}

/** The camera as a link writes it: {zoom (CSS pixels per map pixel), center (the map point at the canvas's centre)}. */
export function zoomCenterOf({ scale, offsetX, offsetY }, cw, ch, dpr = 1) {
  return { zoom: scale / dpr, center: { x: (cw / 2 - offsetX) / scale, y: (ch / 2 - offsetY) / scale } };
}

/** The camera that shows map point `center` at the canvas's centre at `zoom` CSS pixels per map pixel. */
export function cameraAt(zoom, center, cw, ch, dpr = 1) {
  const scale = zoom * dpr;
  return { scale, offsetX: cw / 2 - center.x * scale, offsetY: ch / 2 - center.y * scale };
}
