// What a channel is called (glue/model/channels.js), and the link loader's pure rules for the
// new inputs (glue/data/loader.js: what a link's file must be, an ENVI header's data file names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelLabel, channelValue, axisSummary, axisNumber, channelAxis } from '../../glue/model/channels.js';
import { linkKind, checkKind, enviDataCandidates, LoadError } from '../../glue/data/loader.js';

const info = (axis, features = 3) => ({ features, channel_axis: axis });

test('channel labels: none, wavelengths, band names, both, other axes', () => {
  assert.equal(channelLabel(info(undefined), 2), 'channel 2');
  assert.equal(channelLabel(info({ name: 'wavelength', unit: 'nm', values: [400, 743.21, 900] }), 1), 'band 1 · 743.21 nm');
  assert.equal(channelLabel(info({ name: 'wavelength', values: [0.4, 0.5, 0.6] }), 2), 'band 2 · 0.6');
  assert.equal(channelLabel(info({ name: 'band', labels: ['VV', 'VH', 'ratio'] }), 0), 'band 0 · VV');
  assert.equal(channelLabel(info({ name: 'wavelength', unit: 'nm', values: [1, 2, 3], labels: ['a', 'b', 'c'] }), 2),
    'band 2 · c · 3 nm');
  assert.equal(channelLabel(info({ name: 'time', unit: 's', values: [0, 0.5, 1] }), 1), 'channel 1 · 0.5 s');
  // an axis of the wrong length or kind is not used; an index off the axis says only its number
  assert.equal(channelLabel(info({ name: 'wavelength', values: [1, 2] }), 1), 'channel 1');
  assert.equal(channelLabel(info({ name: 'wavelength', values: [1, 2, 3] }), 7), 'channel 7');
  assert.equal(channelAxis(info('nm')), null);
  assert.equal(channelValue(info({ name: 'wavelength', unit: 'µm', values: [0.45, 1.5, 2.5] }), 1), '1.5 µm');
  assert.equal(channelValue(info(null), 1), '');
});

test('axis numbers and summaries', () => {
  assert.equal(axisNumber(400.019989), '400.02');
  assert.equal(axisNumber(2498.96), '2499');
  assert.equal(axisNumber(-0.000123456), '-0.00012346');
  assert.equal(axisSummary(info({ name: 'wavelength', unit: 'nm', values: [900, 400.02, 650] })), 'wavelength 400.02–900 nm');
  assert.equal(axisSummary(info({ name: 'band', labels: ['a', 'b', 'c'] })), 'band names');
  assert.equal(axisSummary(info(undefined)), '');
});

test('what a link must be, and where an ENVI header\'s data file may lie', () => {
  assert.equal(linkKind('/datasets/a.NPY'), 'npy');
  assert.equal(linkKind('cube.hdr'), 'envi-header');
  assert.equal(linkKind('x.npz'), 'zip');
  assert.equal(linkKind('000000015746.jpg.C1.npz.8.zip'), 'zip');
  assert.deepEqual(enviDataCandidates('cube.hdr').slice(0, 3), ['cube.img', 'cube.dat', 'cube.raw']);
  assert.equal(enviDataCandidates('cube.hdr').at(-1), 'cube');
  assert.equal(enviDataCandidates('scene.img.hdr')[0], 'scene.img');
  assert.equal(enviDataCandidates('my.folder/cube.hdr')[0], 'my.folder/cube.img');
  const bytes = (text) => new TextEncoder().encode(text);
  checkKind(bytes('ENVI\nsamples = 1'), '', 'u', 'envi-header');
  checkKind(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), '', 'u', 'npy');
  checkKind(new Uint8Array([1, 2, 3]), 'application/octet-stream', 'u', 'any');
  assert.throws(() => checkKind(bytes('<!doctype html><body>404'), 'text/html', 'u/x.npy', 'npy'),
    (err) => err instanceof LoadError && err.rule === 'not-npy' && /web page \(HTML\), not an \.npy file/.test(err.message));
  assert.throws(() => checkKind(bytes('samples = 4'), '', 'u/c.hdr', 'envi-header'),
    (err) => err.rule === 'envi-header' && /is not an ENVI header/.test(err.message));
  assert.throws(() => checkKind(bytes('<html><body>'), 'text/html', 'u/c.img', 'any'), /not a data file/);
});
