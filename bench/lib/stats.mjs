// Small statistics helpers for the benchmarks.

/** Median of a non-empty list of numbers (mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function min(xs) {
  return xs.length === 0 ? NaN : Math.min(...xs);
}

export function max(xs) {
  return xs.length === 0 ? NaN : Math.max(...xs);
}

/** Formats an integer with thin grouping, e.g. 12345 -> "12 345". */
export function fmtInt(x) {
  if (!Number.isFinite(x)) return '–';
  return Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

export function fmtFixed(x, digits = 1) {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}
