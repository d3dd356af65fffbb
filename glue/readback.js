// What the view shows, read back: the page's scripting interface (window.ifealid.readMap and
// readMask, README "Scripting the page") and the notebook widget (viewer.map(), viewer.mask())
// share these, so both read the same numbers.

/**
 * What the view shows before colouring: {width, height, channels, values: Float32Array, row 0
 * at the top}; the PCA view's is its components' scores, channels = how many are shown
 * (interleaved, (H, W, channels) as the .npy export).
 */
export function readMapOf(view, renderer, pane = 0) {
  const { mode, pcaResult } = view.state;
  // (comparing datasets: pane k's, drawn by its own renderer)
  const dataset = pane ? view.state.others[pane - 1] : view.state.dataset;
  if (!dataset) throw new Error(`there is no pane ${pane}: ${1 + view.state.others.length} on screen`);
  const { info } = dataset;
  const channels = mode === 'pca' && pcaResult && !pcaResult.error ? pcaResult.components.length : 1;
  return { width: info.width, height: info.height, channels, values: renderer.readMap() };
}

/** The threshold's mask: Uint8Array (1 inside, row 0 at the top), or null without a threshold. */
export const readMaskOf = (renderer) => renderer.readMask();
