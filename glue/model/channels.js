// What a channel is called, from a dataset's info and its optional `channel_axis` (metadata.json:
// {name, unit?, values?, labels?, fwhm?}; README, "The dataset format"). Pure functions, for the
// chart's axis and the read-outs. Channels are counted from 0, as everywhere on the page (the
// URL's view=channel:K, the chart); nothing is said that the data does not say.

/** A number as an axis shows it: five significant digits at most, no trailing zeros. */
export function axisNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(5)));
}

/** The dataset's channel axis if it is usable for `info.features` channels, else null. */
export function channelAxis(info) {
  const axis = info?.channel_axis;
  if (!axis || typeof axis !== 'object' || typeof axis.name !== 'string') return null;
  const fits = (list) => Array.isArray(list) && list.length === info.features;
  const values = fits(axis.values) ? axis.values : null;
  const labels = fits(axis.labels) ? axis.labels : null;
  if (!values && !labels) return null;
  return { name: axis.name, unit: typeof axis.unit === 'string' ? axis.unit : '', values, labels };
}

/** Channel k's value on the axis with its unit ("743.2 nm"), its label, or '' when there is none. */
export function channelValue(info, k) {
  const axis = channelAxis(info);
  if (!axis) return '';
  if (axis.values) return `${axisNumber(axis.values[k])}${axis.unit ? ` ${axis.unit}` : ''}`;
  return String(axis.labels[k]);
}

/**
 * What channel k is called: "channel 12" without an axis; with one "band 87 · 743.2 nm"
 * (wavelengths), "band 3 · Red" (band names), "band 87 · Red · 743.2 nm" (both); an axis of
 * another name ("time") keeps the word "channel".
 */
export function channelLabel(info, k) {
  const axis = channelAxis(info);
  if (!axis || !Number.isInteger(k) || k < 0 || k >= info.features) return `channel ${k}`;
  const word = ['wavelength', 'band'].includes(axis.name.toLowerCase()) ? 'band' : 'channel';
  const parts = [`${word} ${k}`];
  if (axis.labels && axis.values) parts.push(String(axis.labels[k]));
  parts.push(channelValue(info, k));
  return parts.join(' · ');
}

/** The axis in a few words, for a title or summary: "wavelength 400.02–2499 nm", "band names". */
export function axisSummary(info) {
  const axis = channelAxis(info);
  if (!axis) return '';
  if (!axis.values) return `${axis.name} names`;
  const lo = Math.min(...axis.values);
  const hi = Math.max(...axis.values);
  return `${axis.name} ${axisNumber(lo)}–${axisNumber(hi)}${axis.unit ? ` ${axis.unit}` : ''}`;
}
