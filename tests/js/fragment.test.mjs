// Links that reproduce a view (glue/model/fragment.js): round trips, and hostile fragments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFragment, fragmentOf, MAX_FRAGMENT } from '../../glue/model/fragment.js';
import { ViewModel, VIEW_DEFAULTS } from '../../glue/model/view.js';
import { zoomCenterOf, cameraAt } from '../../glue/render/camera.js';

const info = { width: 40, height: 26, features: 12, range: [-1, 3] };
const dataset = { info, layers: new Uint8Array(0), overlay: new Uint8Array(1) };
const CMAPS = ['fire', 'viridis', 'magma', 'cividis', 'grey'];

test('a view written into a fragment reads back the same', () => {
  const m = new ViewModel({ dataset });
  m.set({
    reference: { x: 3, y: 4 }, locked: true, pins: [{ x: 1, y: 2 }, { x: 39, y: 25 }], regions: [{ x0: 2, y0: 3, x1: 9, y1: 5 }],
    combine: 'mean', metric: 'correlation', values: 'zscore', colormap: 'viridis', stretch: 'absolute',
    threshold: 0.125, connected: true, mode: 'channel', channel: 11, overlayColour: true, opacity: 0.35,
  });
  const text = fragmentOf(m.state, { camera: { zoom: 2.5, center: { x: 10.25, y: 7.5 } } });
  const parsed = parseFragment(`#${text}`, info, CMAPS);
  assert.deepEqual(parsed.problems, []);
  const again = new ViewModel({ dataset });
  again.set(parsed.patch);
  for (const k of Object.keys(VIEW_DEFAULTS)) {
    if (!['hover', 'camera', 'dataset'].includes(k)) assert.deepEqual(again.state[k], m.state[k], k);
  }
  assert.equal(parsed.zoom, 2.5);
  assert.deepEqual(parsed.center, { x: 10.25, y: 7.5 });
  assert.equal(fragmentOf(new ViewModel({ dataset }).state), '');  // a fresh view writes nothing
  assert.equal(parseFragment('#ref=none', info).patch.pointer, false);
});

test('the PCA view and its settings round-trip; a fresh PCA setting writes nothing', () => {
  for (const pca of [
    { components: [2, 3, 4], scale: 'sigmoid', fit: 'foreground', threshold: -0.5, flip: true },
    { components: [7], scale: 'minmax', fit: 'region', threshold: 0, flip: false },
    { components: [1, 2, 3], scale: 'robust', fit: 'foreground', threshold: 0, flip: false },
  ]) {
    const m = new ViewModel({ dataset });
    m.set({ mode: 'pca', pca, pcaBackground: pca.fit === 'region', regions: [{ x0: 0, y0: 0, x1: 5, y1: 5 }] });
    const text = fragmentOf(m.state);
    assert.match(text, /view=pca/);
    const parsed = parseFragment(text, info, CMAPS);
    assert.deepEqual(parsed.problems, []);
    const again = new ViewModel({ dataset });
    again.set(parsed.patch);
    for (const k of ['mode', 'pca', 'pcaBackground', 'regions']) assert.deepEqual(again.state[k], m.state[k], `${text}: ${k}`);
  }
  const m = new ViewModel({ dataset });
  m.set({ mode: 'pca' });
  assert.equal(fragmentOf(m.state), 'view=pca');
  assert.deepEqual(parseFragment('pcscale=minmax', info).patch.pca, { ...VIEW_DEFAULTS.pca, scale: 'minmax' });
});

test('zoom and centre convert to a camera and back', () => {
  const cam = cameraAt(3, { x: 12.5, y: 4 }, 800, 600, 2);
  const back = zoomCenterOf(cam, 800, 600, 2);
  assert.equal(back.zoom, 3);
  assert.ok(Math.abs(back.center.x - 12.5) < 1e-12 && Math.abs(back.center.y - 4) < 1e-12);
});

test('hostile fragments: each bad value is named and left out, the rest applies', () => {
  const cases = [
    ['ref=40,0', /ref=.*not a pixel/], ['ref=-1,2', /not a pixel/], ['ref=1.5,2', /not a pixel/], ['ref=1,2,3', /not a pixel/],
    ['pins=' + Array.from({ length: 100000 }, () => '1,1').join(';'), /ignored/],
    ['pins=' + Array.from({ length: 17 }, () => '1,1').join(';'), /at most 16/],
    ['pins=1,1;<img src=x onerror=alert(1)>', /not pixels/], ['regions=1,2,3', /not rectangles/],
    ['regions=0,0,99,1', /not rectangles/], ['metric=%3Cscript%3E', /not one of/], ['values=true', null],
    ['threshold=NaN', /not a number/], ['threshold=1e999', /not a number/], ['threshold=Infinity', /not a number/],
    ['opacity=2', /not a number from 0 to 1/], ['zoom=0', /not a number/], ['center=1,2,3', /not a map point/],
    ['view=channel:12', /channel:K/], ['view=channel:-1', /channel:K/], ['connected=yes', /not 1 or 0/],
    ['overlay=red', /not grey or colour/], ['cmap=jet', /not one of/], ['stretch=log', /not one of/],
    ['combine=sum', /not one of/], ['%E0%A4%A=1', null], ['=&&==&x', null],
    ['view=pcb', /not similarity, pca or channel/], ['pc=1,2', /not one or three/], ['pc=0', /not one or three/],
    ['pc=13', /from 1 to 12/], ['pc=1,1,2', /different/], ['pc=1e3', /not one or three/], ['pcscale=log', /not one of/],
    ['pcfit=mask', /not all, region or foreground/], ['pcfit=foreground:NaN', /foreground\[:T/],
    ['pcfit=foreground:1e9', /foreground\[:T/], ['pcfit=all:3', /foreground\[:T/], ['pcfit=region:flip', /foreground\[:T/],
    ['pcbg=yes', /not 1 or 0/],
  ];
  for (const [fragment, problem] of cases) {
    const parsed = parseFragment(`#${fragment}&metric=cosine`, fragment === 'values=true' ? { ...info, range: null } : info, CMAPS);
    if (problem) {
      assert.equal(parsed.problems.length, 1, fragment.slice(0, 60));
      assert.match(parsed.problems[0], problem);
      assert.ok(parsed.problems[0].length < 200, 'a message quotes a shortened value');
    } else if (fragment === 'values=true') {
      assert.match(parsed.problems[0], /no range/);
    }
    if (fragment.length <= MAX_FRAGMENT) assert.equal(parsed.patch.metric, 'cosine', 'the rest applies');
    new ViewModel({ dataset }).set(parsed.patch);  // and what applies is valid
  }
});
