// Numbers for people, one convention for the whole page (and app/units.py for Python, which
// gives the same text): bytes in SI units (1 kB = 1000 bytes), as browsers and file managers
// show download sizes.

/** 1234 → "1.2 kB", 5_500_000 → "5.50 MB", 1.5e9 → "1.50 GB". */
export function formatBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v) || v < 0) return `${n} bytes`;
  if (v < 1000) return `${Math.round(v)} B`;
  if (v < 1e6) return `${(v / 1e3).toFixed(v < 1e4 ? 1 : 0)} kB`;
  if (v < 1e9) return `${(v / 1e6).toFixed(v < 1e7 ? 2 : 1)} MB`;
  if (v < 1e12) return `${(v / 1e9).toFixed(2)} GB`;
  return `${(v / 1e12).toFixed(2)} TB`;
}

/** A value in a read-out: 4 decimals, or '–' where there is none. */
export const formatValue = (v) => (Number.isFinite(v) ? v.toFixed(4) : '–');
