// Numbers for people (glue/format.js): SI bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatValue } from '../../glue/format.js';

test('bytes in SI units', () => {
  const cases = [[0, '0 B'], [999, '999 B'], [1000, '1.0 kB'], [9999, '10.0 kB'], [10000, '10 kB'], [999999, '1000 kB'],
    [1e6, '1.00 MB'], [1572864, '1.57 MB'], [1e7, '10.0 MB'], [1.5e9, '1.50 GB'], [2e12, '2.00 TB']];
  for (const [n, text] of cases) assert.equal(formatBytes(n), text, String(n));
  assert.equal(formatBytes(-1), '-1 bytes');
});

test('values with four decimals, a dash for none', () => {
  assert.equal(formatValue(0.123456), '0.1235');
  assert.equal(formatValue(NaN), '–');
  assert.equal(formatValue(undefined), '–');
});
